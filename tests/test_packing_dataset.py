"""Dataset-level packing (``--pack-dataset``): every sample once per epoch, rows within the budget, the
collator rebuilds the sampler's rows, a dataset-packed step's loss equals the padded one, and the CLI run."""

from __future__ import annotations

import json
import random

import pytest
import test_packing
import torch
from test_packing import DATA, _lora_model, _loss_and_grads

from omni_bench.data.dataset import OmniCollator
from omni_bench.data.packing import PackedBatchSampler, format_packing_report, pack_rows

case = test_packing.case  # the fixture: (profile, processor, items of the 3 bundled records, tiny model)


def _random_lengths(seed: int) -> tuple[list[int], int]:
    rng = random.Random(seed)
    capacity = rng.randint(50, 400)
    return [rng.randint(1, capacity) for _ in range(rng.randint(1, 90))], capacity


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("rows_per_batch", [1, 3])
def test_every_sample_once_per_epoch_in_rows_within_the_budget(seed, rows_per_batch):
    lengths, capacity = _random_lengths(seed)
    sampler = PackedBatchSampler(lengths, capacity, rows_per_batch=rows_per_batch, seed=seed)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)  # what a DataLoader draws: lists of dataset indices
        assert len(batches) == len(sampler)
        assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
        rows = sampler.rows()
        assert all(sum(lengths[i] for i in row) <= capacity for row in rows)
        assert sum(len(b) for b in sampler.batches()) == len(rows) and len(sampler.batches()) == len(batches)
        report = sampler.report()
        assert report["every_sample_once"] and report["samples"] == len(lengths) and report["over_capacity"] == 0
        assert report["rows"] == len(rows) == len(pack_rows(lengths, capacity))  # the rows depend on the lengths
        assert report["fill_fraction"] == pytest.approx(sum(lengths) / (len(rows) * capacity))


def test_a_long_sample_gets_a_row_of_its_own_and_is_reported():
    sampler = PackedBatchSampler([30, 5, 4, 9], 10, shuffle=False)
    assert [30] in [[sampler.lengths[i] for i in row] for row in sampler.rows()]
    assert sampler.report()["over_capacity"] == 1
    assert "1 longer than a row" in format_packing_report(sampler.report())


def test_sampler_order_is_deterministic_under_the_seed():
    lengths, capacity = _random_lengths(3)

    def draw(seed, epoch):
        sampler = PackedBatchSampler(lengths, capacity, rows_per_batch=2, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert draw(0, 0) == draw(0, 0) and draw(0, 1) == draw(0, 1)
    assert draw(0, 0) != draw(1, 0) and draw(0, 0) != draw(0, 1)


@pytest.mark.parametrize("seed", range(12))
def test_the_collators_first_fit_rebuilds_the_samplers_rows(seed):
    # the collator packs a batch's items (listed in the epoch's order) first-fit decreasing again
    lengths, capacity = _random_lengths(seed)
    sampler = PackedBatchSampler(lengths, capacity, rows_per_batch=3, seed=seed)
    for batch, rows in zip(sampler, sampler.batches()):
        rebuilt = [sorted(batch[p] for p in row) for row in pack_rows([lengths[i] for i in batch], capacity)]
        assert sorted(rebuilt) == sorted(sorted(row) for row in rows)


def test_report_padding_counts_each_batchs_longest_row():
    sampler = PackedBatchSampler([6, 4, 5, 5, 3], 10, rows_per_batch=2, shuffle=False)
    report = sampler.report()  # rows 6+4 and 5+5 in one batch (no padding), 3 alone
    assert report["rows"] == 3 and report["batches"] == 2
    assert report["padding_fraction"] == 0.0 and report["fill_fraction"] == pytest.approx(23 / 30)
    assert report["padded_padding_fraction"] == pytest.approx(1 - 23 / (2 * 6 + 2 * 5 + 3))
    assert report["samples_per_row"] == {"mean": 5 / 3, "min": 1, "max": 2}


@pytest.mark.slow
def test_a_dataset_packed_step_has_the_padded_loss_and_gradients(case):
    # 12 samples (the 3 bundled records, 4 times), packed across the dataset, 2 rows per micro-batch
    profile, processor, items, _ = case
    dataset = items * 4
    lengths = [len(it["input_ids"]) for it in dataset]
    capacity = max(lengths) + min(lengths)
    sampler = PackedBatchSampler(lengths, capacity, rows_per_batch=2, seed=5)
    model = _lora_model(profile)
    collator = OmniCollator(processor, packing=True, max_total_tokens=capacity)
    batch_indices = next(iter(sampler))
    chosen = [dataset[i] for i in batch_indices]
    packed = collator(chosen)
    assert len(collator.last_rows) == len(sampler.batches()[0]) == 2
    assert packed["input_ids"].shape[1] <= capacity
    padded_loss, padded = _loss_and_grads(model, OmniCollator(processor)(chosen))
    loss, grads = _loss_and_grads(model, packed)
    assert abs(float(loss) - float(padded_loss)) <= 1e-5 * abs(float(padded_loss))
    assert grads.keys() == padded.keys()
    for name, grad in grads.items():
        scale = float(padded[name].abs().max())
        assert scale > 0 and float((grad - padded[name]).abs().max()) <= 1e-5 * scale, name


def _sample_tokens(profile: str, budget: int) -> list[int]:
    from omni_bench import LayoutSettings
    from omni_bench.data.dataset import OmniSFTDataset
    from omni_bench.data.records import load_longvale_sft

    dataset = OmniSFTDataset(load_longvale_sft(DATA / "longvale_sft.json"), media_root=DATA,
                             settings=LayoutSettings(profile=profile, frames=4, resize=(56, 56)),
                             max_total_tokens=budget)
    return [dataset.sample(i).input_tokens for i in range(len(dataset))]


@pytest.mark.slow
@pytest.mark.parametrize(("profile", "budget"), [("qwen2.5-omni-7b", 700), ("qwen2.5-vl-7b", 150)])
def test_cli_train_pack_dataset_sees_every_sample_once_per_epoch(tmp_path, capsys, profile, budget):
    from omni_bench.cli import main

    lengths = _sample_tokens(profile, budget)
    rows = pack_rows(lengths, budget)
    assert 1 < len(rows) < len(lengths)  # the budget packs two samples in a row, not all three
    argv = ["train", "--tiny", "--profile", profile, "--data", str(DATA / "longvale_sft.json"), "--frames", "4",
            "--resize", "56x56", "--max-steps", str(2 * len(rows)), "--batch-size", "1", "--lora-dropout", "0",
            "--max-total-tokens", str(budget), "--logging-steps", "1", "--save-steps", "100",
            "--output", str(tmp_path / "run"), "--no-progress", "--pack-dataset", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    report = result["packing"]
    assert report["rows"] == len(rows) and report["every_sample_once"] and report["samples"] == len(lengths)
    assert result["config"]["pack_dataset"] is True
    metrics = result["metrics"]
    assert [r["step"] for r in metrics] == list(range(1, 2 * len(rows) + 1))
    for epoch in range(2):  # one row per step; an epoch's steps hold every sample's tokens once
        steps = metrics[epoch * len(rows):(epoch + 1) * len(rows)]
        assert sum(r["tokens"] for r in steps) == sum(lengths)
        assert sorted(r["tokens"] for r in steps) == sorted(sum(lengths[i] for i in row) for row in rows)
        assert all(r["tokens"] <= budget for r in steps)
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in metrics)


def test_pack_dataset_needs_a_row_budget(capsys):
    from omni_bench import OmniBenchError, TrainConfig
    from omni_bench.cli import main

    with pytest.raises(OmniBenchError, match=r"--pack-dataset .* --max-total-tokens"):
        TrainConfig(tiny=True, data="x.json", pack_dataset=True)
    assert main(["train", "--tiny", "--data", str(DATA / "longvale_sft.json"), "--pack-dataset"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--max-total-tokens N" in err[0]


@pytest.mark.slow
def test_a_resumed_pack_dataset_run_continues_the_same_rows(tmp_path, capsys):
    # resumed mid-epoch (checkpoint-3: the first batch of epoch 1) it skips the trained rows, as uninterrupted
    from omni_bench.cli import main

    argv = ["train", "--tiny", "--profile", "qwen2.5-omni-7b", "--data", str(DATA / "longvale_sft.json"),
            "--frames", "4", "--resize", "56x56", "--lora-dropout", "0", "--max-total-tokens", "700",
            "--logging-steps", "1", "--save-steps", "1", "--no-progress", "--pack-dataset",
            "--lr-scheduler", "constant", "--learning-rate", "1e-2", "--json"]

    def run(out, steps, *extra):
        assert main([*argv, "--output", str(tmp_path / out), "--max-steps", str(steps), *extra]) == 0
        return json.loads(capsys.readouterr().out)["metrics"]

    whole = run("whole", 5)
    run("cut", 3)
    resumed = run("cut", 5, "--resume")
    assert [r["tokens"] for r in resumed] == [r["tokens"] for r in whole]
    for a, b in zip(whole, resumed):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-6, abs=0)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-6, abs=0)
