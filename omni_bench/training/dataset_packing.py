"""Dataset-level packing in a training run (``omni-bench train --pack-dataset``): sampler, loader, report.

With ``pack_dataset`` the run packs the whole dataset, not one micro-batch at a time: every
sample's token count is known from planning (``dataset.sample(i).input_tokens``, nothing decoded),
:class:`~omni_bench.data.packing.PackedBatchSampler` packs them first-fit decreasing into rows of
at most ``max_total_tokens`` each epoch (samples shuffled with ``seed + epoch``, rows shuffled,
every sample in exactly one row), and a micro-batch is ``batch_size`` such rows. The collator
(``OmniCollator(packing=True, max_total_tokens=...)``) rebuilds those very rows from a batch's
samples and gives them transformers' packed ``position_ids`` (:mod:`omni_bench.data.packing`), so
the loss is the token-weighted loss of the same samples padded. Where a decoded sample is longer
than planned (its audio track decodes to more samples than the container said), the collator
keeps every row within ``max_total_tokens`` by its own packing, which may then differ from the
sampler's rows; the report is of the planned lengths.

The DataLoader is the Trainer's own, with the sampler as its ``batch_sampler``, prepared by
accelerate: resuming skips the batches already trained (``skip_first_batches``), and the Trainer
calls the sampler's ``set_epoch``. Under several processes accelerate deals the micro-batches
out in turn (process p takes batches p, p + n, ...; the last ones are repeated so every process
has as many), as it does for any batch sampler.

The report (:meth:`~omni_bench.data.packing.PackedBatchSampler.report`: rows, fill, samples per
row, padding against padded batches) is the run's ``packing`` (``RunResult.packing``, its JSON and
text form) and a stage line on stderr (:func:`omni_bench.core.stages.stage`). Left out: a row count
that changes between epochs (the rows of first-fit decreasing depend on the lengths only, so it does not).
"""

from __future__ import annotations

from omni_bench.core.stages import stage

__all__ = ["row_sampler", "packed_dataloader", "attach_dataset_packing"]


def row_sampler(dataset, config):
    """The :class:`~omni_bench.data.packing.PackedBatchSampler` of a planned dataset under ``config``."""
    from omni_bench.data.packing import PackedBatchSampler

    lengths = [dataset.sample(i).input_tokens for i in range(len(dataset))]
    return PackedBatchSampler(lengths, config.max_total_tokens, rows_per_batch=config.batch_size, seed=config.seed)


def packed_dataloader(trainer, sampler):
    """The Trainer's training DataLoader with ``sampler`` as its batch sampler (workers seeded as the Trainer's)."""
    from functools import partial

    from torch.utils.data import DataLoader
    from transformers.trainer_utils import seed_worker

    args = trainer.args
    loader = DataLoader(trainer.train_dataset, batch_sampler=sampler, collate_fn=trainer.data_collator,
                        num_workers=args.dataloader_num_workers, pin_memory=args.dataloader_pin_memory,
                        persistent_workers=args.dataloader_persistent_workers and args.dataloader_num_workers > 0,
                        worker_init_fn=partial(seed_worker, num_workers=args.dataloader_num_workers,
                                               rank=args.process_index))
    return trainer.accelerator.prepare(loader)


def attach_dataset_packing(trainer, dataset, config, is_main: bool) -> dict | None:
    """Give ``trainer`` the dataset's row sampler when ``config.pack_dataset``; its report (None otherwise)."""
    if not config.pack_dataset:
        return None
    from omni_bench.data.packing import format_packing_report

    sampler = row_sampler(dataset, config)
    trainer.row_sampler = sampler
    report = sampler.report()
    if is_main:
        stage("train", format_packing_report(report), config.progress)
    return report
