"""LoRA fine-tuning of the Qwen2.5-Omni thinker / Qwen2.5-VL on annotated video, with the fused loss.

``train(TrainConfig(...))`` is the LongVALE notebook's training setup made reproducible:

* **model**: a checkpoint directory (``model``), or the random-init tiny model of a profile
  (``tiny=True``, CPU smoke runs). Audio and vision towers are frozen; LoRA goes on the
  *text* model's attention and MLP projections only. The towers have their own ``q/k/v``
  and ``gate/up/down_proj`` modules, so the targets are a regex restricted to the text
  decoder's layers (:func:`lora_target_regex`), never a bare name list.
* **memory**: the loss is computed from hidden states by :mod:`omni_bench.training.fused` (no N x V
  logits); gradient checkpointing is on, with ``enable_input_require_grads()`` - the LongVALE notebook's
  ``loss.requires_grad == False`` - and the first step checks ``loss.requires_grad``.
* **loop**: transformers' ``Trainer``; bf16 on CUDA, float32 on CPU; a progress bar; the
  loss is normalised by the label tokens of the whole optimizer step, across gradient
  accumulation and processes (``num_items_in_batch``), so 2 processes x batch 1 train
  exactly like 1 process x batch 2.
* **run directory** (``output``): ``config.json`` (the resolved :class:`TrainConfig`),
  ``metrics.jsonl`` (one row per logging step: step, loss, learning_rate, grad_norm,
  tokens, label_tokens, peak_mib, epoch), ``checkpoint-N/`` (adapter, optimizer,
  scheduler, RNG: what resuming needs), ``adapter/`` (the final LoRA adapter, peft
  ``save_pretrained``) and ``loss.png`` / ``learning_rate.png`` / ``grad_norm.png``.
* **resume** (``resume=True``): continues from the last *complete* checkpoint; rows of
  ``metrics.jsonl`` after that step are dropped first, so nothing is recorded twice. The
  continued run reproduces the uninterrupted one step for step.
* **scale out**: the same command under ``accelerate launch`` (DDP, DeepSpeed, FSDP; see
  ``docs/training.md`` and ``configs/``).

``tokens`` / ``label_tokens`` count the non-padding input tokens and the labelled tokens of
the logging window, over all processes. ``peak_mib`` is the peak since the run started on
the main process: resident set size on CPU, ``torch.cuda.max_memory_allocated`` on CUDA.

Left out: evaluation during training, full fine-tuning and tower training,
QLoRA / quantised bases, the Omni talker. The tests run DDP, FSDP2 and DeepSpeed ZeRO-2 / ZeRO-3
on 2 CPU processes with gloo (:mod:`omni_bench.training.distributed`), not on GPUs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from omni_bench._torchvision import ensure_torchvision
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.processor import load_processor
from omni_bench.core.stages import progress_bar, stage
from omni_bench.eval.memory import check_grpo_memory
from omni_bench.layout.labels import IGNORE_INDEX
from omni_bench.training.bad_samples import SkippingDataset, truncate_problems
from omni_bench.training.checkpoint import atomic_checkpoints
from omni_bench.training.config import ADAPTER_DIR, CONFIG_FILE, RESUMABLE_CHANGES, TrainConfig
from omni_bench.training.dataset_packing import attach_dataset_packing, packed_dataloader
from omni_bench.training.distributed import adapter_state_dict, parallelism_of, shard_on_cpu, sharded_fsdp_save
from omni_bench.training.lock import check_output_dir, run_lock
from omni_bench.training.metrics import METRICS_FILE, read_metrics, write_plots
from omni_bench.training.preempt import STOPPED_FILE, preempt_callback, preemptible, record_stop
from omni_bench.training.prepare import prepare_model, resolve_dtype

__all__ = ["RunResult", "train", "last_checkpoint"]

@dataclass(frozen=True)
class RunResult:
    """What a training run left in its run directory."""

    output_dir: Path  # the run directory
    config: TrainConfig  # the resolved config (also in config.json)
    metrics: tuple[dict, ...]  # the rows of metrics.jsonl, in step order
    adapter_dir: Path  # the final LoRA adapter (peft save_pretrained)
    checkpoints: tuple[Path, ...]  # resumable checkpoints, oldest first
    plots: dict = field(default_factory=dict)  # "loss" / "learning_rate" / "grad_norm" -> PNG path
    resumed_from: Path | None = None  # the checkpoint this invocation continued from
    trainable_parameters: int = 0  # parameters the optimizer updated (the adapter)
    total_parameters: int = 0  # all parameters of the model with its adapter
    samples: int = 0  # training samples (records that made a sample)
    dropped: tuple = ()  # records that made no sample (omni_bench.core.problems.Problem)
    world_size: int = 1  # processes that trained
    parallelism: str = "single"  # how: "single", "ddp", "fsdp", "deepspeed-zero2" / "-zero3" (as run, not as asked)
    packing: dict | None = None  # --pack-dataset: the rows' report (PackedBatchSampler.report)
    parity: dict | None = None  # --method grpo: the rollout = replay audit over the run (training/rollout.py)
    model: object = field(default=None, repr=False, compare=False)  # the trained peft model, in memory

    @property
    def steps(self) -> int:
        """The last optimizer step recorded."""
        return int(self.metrics[-1]["step"]) if self.metrics else 0

    @property
    def final_loss(self) -> float | None:
        return float(self.metrics[-1]["loss"]) if self.metrics else None

    def to_dict(self) -> dict:
        return {"output_dir": str(self.output_dir), "config": self.config.to_dict(), "metrics": list(self.metrics),
                "adapter_dir": str(self.adapter_dir), "checkpoints": [str(c) for c in self.checkpoints],
                "plots": {k: str(v) for k, v in self.plots.items()},
                "resumed_from": None if self.resumed_from is None else str(self.resumed_from),
                "trainable_parameters": self.trainable_parameters, "total_parameters": self.total_parameters,
                "samples": self.samples, "dropped": [d.to_dict() for d in self.dropped],
                "world_size": self.world_size, "parallelism": self.parallelism, "packing": self.packing,
                **({} if self.parity is None else {"parity": self.parity})}

    def __str__(self) -> str:
        share = 100 * self.trainable_parameters / max(self.total_parameters, 1)
        lines = [f"run {self.output_dir}: {self.steps} steps, {self.samples} samples, "
                 f"{self.world_size} process{'es' if self.world_size > 1 else ''}"
                 + (f" ({self.parallelism})" if self.world_size > 1 else "")
                 + (f", resumed from {self.resumed_from.name}" if self.resumed_from else ""),
                 f"trainable {self.trainable_parameters:,} / {self.total_parameters:,} parameters ({share:.3f}%)"]
        for drop in self.dropped:
            lines.append(f"dropped {drop.source}: {drop.reason}")
        if self.packing:
            from omni_bench.data.packing import format_packing_report

            lines.append(format_packing_report(self.packing))
        lines.append(f"{'step':>6} {'loss':>9} {'lr':>10} {'grad_norm':>10} {'tokens':>8} {'labels':>7} "
                     f"{'peak_mib':>9}")
        for row in self.metrics:
            grad = row.get("grad_norm")
            lines.append(f"{row['step']:>6} {row['loss']:>9.4f} {row['learning_rate']:>10.3e} "
                         f"{'-' if grad is None else format(grad, '.4f'):>10} {row['tokens']:>8} "
                         f"{row['label_tokens']:>7} {row['peak_mib']:>9.0f}")
        last = self.metrics[-1] if self.metrics else {}
        if "rewards/accuracies" in last or "reward" in last:  # --method dpo / grpo: trl's metrics of the last step
            lines.append("last step: " + ", ".join(f"{key} {last[key]:.4f}" for key in _METHOD_METRICS if key in last))
        lines.append(f"adapter: {self.adapter_dir}")
        if self.checkpoints:
            lines.append("checkpoints: " + ", ".join(c.name for c in self.checkpoints))
        if self.plots:
            lines.append("plots: " + ", ".join(Path(p).name for p in self.plots.values()))
        return "\n".join(lines)


# --------------------------------------------------------------------------- run directory


def last_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The newest ``checkpoint-N`` that was written completely (its ``trainer_state.json``
    is saved last), or None. A run killed while saving leaves a partial folder; it is skipped.
    """
    found = []
    for path in Path(output_dir).glob("checkpoint-*"):
        if path.name.split("-")[-1].isdigit() and (path / "trainer_state.json").is_file():
            found.append((int(path.name.split("-")[-1]), path))
    return max(found)[1] if found else None


def _checkpoints(output_dir: Path) -> tuple[Path, ...]:
    found = [(int(p.name.split("-")[-1]), p) for p in output_dir.glob("checkpoint-*")
             if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()]
    return tuple(p for _, p in sorted(found))


def _truncate_metrics(output_dir: Path, step: int) -> None:
    """Keep only the rows up to ``step`` (what the checkpoint being resumed had seen)."""
    rows = [row for row in read_metrics(output_dir) if row["step"] <= step]
    (output_dir / METRICS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _check_run_dir(config: TrainConfig, output_dir: Path) -> Path | None:
    """The checkpoint to resume from (None: a fresh run); refuses to mix two runs in one folder."""
    checkpoint = last_checkpoint(output_dir)
    rows = read_metrics(output_dir)
    if checkpoint is None and rows:  # a run that stopped before its first checkpoint: nothing to resume
        raise OmniBenchError(f"{output_dir} holds a run that stopped before its first checkpoint ({len(rows)} "
                             "metrics rows, no complete checkpoint-N): nothing to resume; delete the folder or "
                             "choose another --output", source=str(output_dir), reason="no-checkpoint")
    if not config.resume:
        if checkpoint is not None:
            raise OmniBenchError(f"{output_dir} already holds a run; pass --resume to continue it or choose "
                                 "another --output", source=str(output_dir), reason="run-exists")
        return None
    if checkpoint is None:
        raise OmniBenchError(f"{output_dir}: no complete checkpoint to resume from (--save-steps sets how "
                             "often one is written); start the run again without --resume",
                             source=str(output_dir), reason="no-checkpoint")
    saved_file = output_dir / CONFIG_FILE
    if saved_file.is_file():
        # read back through TrainConfig: a setting added since has its default, an older run's relative paths
        # are resolved here as the run resolves its own (absolute)
        saved = json.loads(json.dumps(TrainConfig.from_file(saved_file).absolute().to_dict()))
        now = json.loads(json.dumps(config.to_dict()))
        changed = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved.get(k) != now[k])
        if changed:
            raise OmniBenchError(f"{output_dir}: --resume with different settings ({', '.join(changed)}) would "
                                 "not continue the same run; use the run's config.json (--config)",
                                 source=str(output_dir), reason="resume-mismatch")
    return checkpoint


def _peak_mib() -> float:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --------------------------------------------------------------------------- Trainer pieces


def _make_trainer_class():
    """Trainer with the fused loss semantics, token counting and the first-step gradient check."""
    import torch
    from transformers import Trainer

    class FusedLossTrainer(Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # Our fused forward takes num_items_in_batch and normalises by it, for Omni and VL alike
            # (Qwen2.5-VL's class says accepts_loss_kwargs=False for its own logits path).
            self.model_accepts_loss_kwargs = True
            self._loss_shifts_labels = True  # count labels[..., 1:], the targets of a causal LM
            self.window = {"tokens": 0, "label_tokens": 0}  # since the last logged row
            self.checked_grad = False

        def get_train_dataloader(self):  # --pack-dataset: the row sampler's batches (training/dataset_packing.py)
            sampler = getattr(self, "row_sampler", None)
            return super().get_train_dataloader() if sampler is None else packed_dataloader(self, sampler)

        def create_accelerator_and_postprocess(self):
            super().create_accelerator_and_postprocess()
            if shard_on_cpu(self.accelerator):  # FSDP asked for on CPU processes (training/distributed.py)
                self.is_fsdp_enabled = True

        def save_model(self, output_dir=None, _internal_call=False):
            if not sharded_fsdp_save(self):
                return super().save_model(output_dir, _internal_call)
            # sharded FSDP: the adapter is gathered (every process) and written once, in peft's layout, as
            # a single-process run writes it; the checkpoint's DCP shards (for resuming) are saved as well
            return self._save(output_dir or self.args.output_dir, state_dict=adapter_state_dict(self.model))

        def get_batch_samples(self, epoch_iterator, num_batches, device):
            batches, num_items = super().get_batch_samples(epoch_iterator, num_batches, device)
            counts = torch.zeros(2, dtype=torch.long)
            for batch in batches:
                counts[0] += int(batch["attention_mask"].sum())
                counts[1] += int(batch["labels"].ne(IGNORE_INDEX).sum())
            if self.args.world_size > 1:
                counts = self.accelerator.gather(counts.to(device)).reshape(-1, 2).sum(0).cpu()
            self.window["tokens"] += int(counts[0])
            self.window["label_tokens"] += int(counts[1])
            return batches, num_items

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            from omni_bench.training.packed import packed_model_inputs

            inputs = packed_model_inputs(inputs, model)  # packed batches: no mask across samples
            result = super().compute_loss(model, inputs, return_outputs=return_outputs,
                                          num_items_in_batch=num_items_in_batch)
            loss = result[0] if return_outputs else result
            if model.training and not self.checked_grad:
                _check_loss_requires_grad(loss)
                self.checked_grad = True
            return result

    return FusedLossTrainer


def _check_loss_requires_grad(loss) -> None:
    """The LongVALE notebook's silent failure, made loud: a loss without a graph trains nothing."""
    if not loss.requires_grad:
        raise OmniBenchError(
            "the loss does not require grad: no trainable parameter is reached (with gradient checkpointing "
            "and frozen embeddings call model.enable_input_require_grads(); check --lora-targets)",
            reason="no-grad")


# What a method logs beside the loss (--method dpo: training.dpo.DPO_METRICS, trl's names), in metrics.jsonl
_METHOD_METRICS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
                   "logps/rejected", "reward", "reward_std", "frac_reward_zero_std", "completions/mean_length",
                   "completions/clipped_ratio", "kl", "clip_ratio", "entropy", "format_failure_rate", "degenerate_rate",
                   "parity/checked", "parity/position_ids_equal", "parity/max_logprob_diff")  # grpo: training.grpo


def _make_callbacks(trainer, output_dir: Path, config: TrainConfig, is_main: bool, listeners=()):
    from transformers import TrainerCallback

    class MetricsWriter(TrainerCallback):
        """One metrics.jsonl row per logging step (main process only), then ``listener(row)`` for each listener."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs:
                return
            row = {"step": int(state.global_step), "loss": float(logs["loss"]),
                   "learning_rate": float(logs.get("learning_rate", float("nan"))),
                   "grad_norm": None if logs.get("grad_norm") is None else float(logs["grad_norm"]),
                   "tokens": trainer.window["tokens"], "label_tokens": trainer.window["label_tokens"],
                   "peak_mib": round(_peak_mib(), 1), "epoch": round(float(logs.get("epoch", state.epoch or 0)), 4)}
            row.update({key: float(logs[key]) for key in logs  # --method dpo / grpo: trl's names
                        if key in _METHOD_METRICS or key == "reward_faults"  # grpo: groups skipped (reward failed)
                        or (key.startswith("rewards/") and key.endswith("/mean"))})
            trainer.window.update(tokens=0, label_tokens=0)
            if is_main:
                with open(output_dir / METRICS_FILE, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")
                for listener in listeners:
                    listener(dict(row))

    class Progress(TrainerCallback):
        """A progress bar over optimizer steps with the last logged loss (stage lines when stderr is a log)."""

        bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            if is_main and config.progress:
                self.bar = progress_bar("train", state.max_steps, initial=state.global_step, unit="steps")

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.bar is not None and logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{logs['loss']:.4f}")

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return [MetricsWriter(), Progress()]


def _training_arguments(config: TrainConfig, output_dir: Path, dtype):
    import torch
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    return TrainingArguments(
        output_dir=str(output_dir), max_steps=config.max_steps, per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler, warmup_steps=config.warmup_steps, weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm, logging_strategy="steps",
        logging_steps=min(config.logging_steps, config.max_steps),  # a run shorter than one logging period still logs
        save_strategy="steps", save_steps=config.save_steps, save_total_limit=config.save_total_limit,
        seed=config.seed, bf16=dtype == torch.bfloat16, use_cpu=not cuda, report_to="none",
        remove_unused_columns=False, dataloader_num_workers=config.num_workers, dataloader_pin_memory=cuda,
        disable_tqdm=True,  # our own progress bar; activation checkpointing is set on the model, before LoRA
        ddp_find_unused_parameters=False, average_tokens_across_devices=True, save_only_model=False,
    )


# --------------------------------------------------------------------------- train


def train(config: TrainConfig, *, callbacks=(), plot=None) -> RunResult:
    """Fine-tune a LoRA adapter as ``config`` says and return what the run directory holds.

    ``callbacks``: extra ``transformers.TrainerCallback`` s (notebooks: live plots, early stop), or
    plain callables, each called with every metrics row once it is written (main process only),
    e.g. a live dashboard over the run directory: ``callbacks=[lambda row: view.refresh()]``.
    ``plot(rows, folder)`` draws the run's curves into its folder at the end (the views'
    ``omni_bench_widgets.plot_metrics``, what ``omni-bench train`` passes; None: no plots).
    Raises :class:`~omni_bench.core.errors.OmniBenchError` for user errors (missing files, a run
    directory that already holds a run without ``resume``, no sample left after planning).

    >>> result = train(TrainConfig(tiny=True, data="data/longvale_sft.json", frames=4,
    ...                            resize=(56, 56), max_steps=5, logging_steps=1, output="runs/tiny"))  # doctest: +SKIP
    >>> print(result)                                                                                   # doctest: +SKIP
    """
    _data_path(config)  # a missing --data is one line before torch is imported
    ensure_torchvision()
    config, data_path, dtype = _resolved_config(config)
    output_dir = Path(config.output)
    check_output_dir(output_dir)
    args = _training_arguments(config, output_dir, dtype)  # sets up the process group under accelerate
    is_main = args.process_index == 0
    with run_lock(output_dir, held=is_main):  # a second run on this --output is refused (training/lock.py)
        return _train_locked(config, data_path, dtype, args, output_dir, callbacks, plot)


def _train_locked(config: TrainConfig, data_path: Path, dtype, args, output_dir: Path, callbacks,
                  plot=None) -> RunResult:
    """:func:`train` once the run folder is locked: check it, prepare, train, collect."""
    from accelerate import PartialState
    from transformers import set_seed
    from transformers.utils import logging as hf_logging

    is_main = args.process_index == 0
    resume_from = _check_run_dir(config, output_dir)

    PartialState().wait_for_everyone()  # every process has read the run directory before it changes
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        if is_main:
            _start_run_dir(config, output_dir, resume_from)
        set_seed(config.seed)
        dataset, collator = _training_data(config, data_path)
        # an item that fails to decode mid-run is skipped and listed, up to --max-bad-samples (training/bad_samples.py)
        dataset = SkippingDataset(dataset, output_dir=output_dir, max_bad=config.max_bad_samples, write=is_main,
                                  resumed_from=resume_from)
        stage("train", f"{len(dataset)} samples ({len(dataset.dropped)} records dropped); building the "
                       f"{'tiny random' if config.tiny else config.model or config.profile} model...", config.progress)
        model = prepare_model(config, dtype)
        if config.packing or config.pack_dataset:  # the model's rope values (a checkpoint may differ from its profile)
            from omni_bench.data.packing import RopeConfig

            collator.rope = RopeConfig.of_model(model)
        trainable, total = model.get_nb_trainable_parameters()
        trainer = _make_trainer(model, args, dataset, collator, output_dir, config, is_main, callbacks)
        if config.method == "grpo":  # the largest prompt's rollout and replay against --max-memory (eval/memory.py)
            check_grpo_memory(trainer.model, dataset.sft.planned, config.grpo,
                              gradient_checkpointing=config.gradient_checkpointing, progress=config.progress)
        packing = attach_dataset_packing(trainer, dataset, config, is_main)  # --pack-dataset: rows, their report
        stage("train", f"starting step {1 if resume_from is None else int(resume_from.name.split('-')[-1]) + 1}"
                       f"{'' if args.max_steps <= 0 else f' of {args.max_steps}'}...", config.progress)
        dataset.trainer = trainer  # the step of a skipped sample
        with preemptible() as stop:  # SIGTERM / SIGINT: finish the step, checkpoint, stop (training/preempt.py)
            trainer.add_callback(preempt_callback(stop))
            trainer.train(resume_from_checkpoint=None if resume_from is None else str(resume_from))
        if stop.signal is not None and trainer.state.global_step < trainer.state.max_steps:
            step = int(trainer.state.global_step)
            saved = output_dir / f"checkpoint-{step}"
            raise record_stop(output_dir, stop, step, saved if saved.is_dir() else None,
                              f"omni-bench train --config {output_dir / CONFIG_FILE} --resume", write=is_main)
        trainer.save_model(str(output_dir / ADAPTER_DIR))
        if is_main:
            (output_dir / STOPPED_FILE).unlink(missing_ok=True)  # the run is complete
        rows = read_metrics(output_dir)
        plots = write_plots(rows, output_dir, plot) if is_main else {}
    finally:
        hf_logging.set_verbosity(level)
    return RunResult(output_dir=output_dir, config=config, metrics=tuple(rows), adapter_dir=output_dir / ADAPTER_DIR,
                     checkpoints=_checkpoints(output_dir), plots=plots, resumed_from=resume_from,
                     trainable_parameters=int(trainable), total_parameters=int(total), samples=len(dataset),
                     dropped=tuple(dataset.dropped) + tuple(dataset.problems()), world_size=args.world_size,
                     parallelism=parallelism_of(trainer), packing=packing, model=model,
                     parity=getattr(trainer, "parity", None))


def _data_path(config: TrainConfig) -> Path:
    """``--data`` as a Path; one-line OmniBenchError when it is missing or not a regular file."""
    data_path = Path(config.data)
    if not data_path.exists():
        raise OmniBenchError(f"{data_path}: annotation file not found", source=str(data_path), reason="missing")
    if not data_path.is_file():  # a pipe (/dev/stdin) or a folder: a run re-reads its data on --resume
        raise OmniBenchError(f"{data_path}: --data must be a regular file (a run re-reads it on --resume); "
                             "save the annotations to a file first", source=str(data_path), reason="not-a-file")
    return data_path


def _resolved_config(config: TrainConfig):
    """The config as the run records it (media root and dtype filled in), the data file, the dtype."""
    data_path = _data_path(config)
    dtype = resolve_dtype(config)
    # the resolved config: what config.json records and what a resumption must match
    # paths absolute, so the run's config.json works as --config from any folder
    config = config.absolute().replace(dtype=str(dtype).replace("torch.", ""))
    return config, data_path, dtype


def _start_run_dir(config: TrainConfig, output_dir: Path, resume_from: Path | None) -> None:
    """Write the resolved config; when resuming, drop the metrics rows past the checkpoint."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=1) + "\n", encoding="utf-8")
    if resume_from is not None:
        _truncate_metrics(output_dir, int(resume_from.name.split("-")[-1]))
        truncate_problems(output_dir, int(resume_from.name.split("-")[-1]))  # the skips past it come again


def _training_data(config: TrainConfig, data_path: Path):
    """The planned dataset of the records and its collator; raises when no record makes a sample."""
    if config.method == "dpo":  # preference pairs, the media once per pair (training/dpo.py)
        from omni_bench.training.dpo import preference_data

        return preference_data(config, data_path)
    if config.method == "grpo":  # the records' prompts, G completions each (training/grpo.py)
        from omni_bench.training.grpo import prompt_data

        return prompt_data(config, data_path)
    from omni_bench.data.dataset import OmniCollator, OmniSFTDataset

    stage("train", f"loading the {config.model or config.profile} processor (transformers)...", config.progress)
    processor = load_processor(config.model or config.profile)
    settings = config.layout_settings()
    records = config.dataset.read()  # as validate reads them: format, task, time format, split turns
    formats = ", ".join(dict.fromkeys(r.source for r in records))  # the format auto chose (validate says it too)
    stage("train", f"read {len(records)} records from {data_path} as {formats}; building the samples...",
          config.progress)
    dataset = OmniSFTDataset(records, media_root=config.media_root, settings=settings, processor=processor,
                             max_total_tokens=config.max_total_tokens)
    if len(dataset) == 0:
        reasons = "; ".join(f"{d.source}: {d.reason}" for d in dataset.dropped[:3])
        raise OmniBenchError(f"{data_path}: no record makes a training sample ({reasons})",
                             source=str(data_path), reason="no-samples")
    return dataset, OmniCollator(processor, settings=settings, packing=config.packing or config.pack_dataset,
                                 max_total_tokens=config.max_total_tokens)


def _make_trainer(model, args, dataset, collator, output_dir: Path, config: TrainConfig, is_main: bool, callbacks):
    """transformers' Trainer with omni_bench's callbacks (metrics rows, progress) instead of its printers;
    ``callbacks`` are TrainerCallbacks (added as they are) or callables (called with each metrics row)."""
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback

    trainer_class, extra = atomic_checkpoints(_make_trainer_class()), {}  # checkpoints renamed when complete
    if config.method == "dpo":  # trl's DPO loss and metrics on the same Trainer (training/dpo.py)
        from omni_bench.training.dpo import make_dpo_trainer_class

        trainer_class, extra = make_dpo_trainer_class(trainer_class), {"preference": config.preference}
    if config.method == "grpo":  # rollout, rewards and trl's GRPO loss on the same Trainer (training/grpo.py)
        from omni_bench.training.grpo import make_grpo_trainer_class

        trainer_class, extra = make_grpo_trainer_class(trainer_class), {"grpo": config.grpo, "task": config.task,
                                                                         "processor": dataset.sft.processor}
    trainer = trainer_class(model=model, args=args, train_dataset=dataset, data_collator=collator, **extra)
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    hooks = [c for c in callbacks if isinstance(c, (TrainerCallback, type))]
    listeners = [c for c in callbacks if not isinstance(c, (TrainerCallback, type))]
    for callback in _make_callbacks(trainer, output_dir, config, is_main, listeners) + hooks:
        trainer.add_callback(callback)
    return trainer
