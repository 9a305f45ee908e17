"""``bench packing``: the padding it reports is the batches' own, the lengths are the planner's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from omni_bench import LayoutSettings, budget
from omni_bench.bench.packing import _batches, _dataset_batches, _sequences, bench_packing, longvale_like_lengths
from omni_bench.cli import main


def test_lengths_are_the_planners_over_10_s_to_10_min():
    durations, lengths = longvale_like_lengths(64, seed=3)
    assert durations.min() >= 10 and durations.max() <= 600 and durations.max() / durations.min() > 10
    metas = [dict(duration=float(d), width=640, height=360, native_fps=25.0, has_audio=True) for d in durations]
    expected = budget(metas, LayoutSettings(fps=0.5, resize=(56, 56), use_audio=False)).total_tokens
    assert np.array_equal(lengths, expected)


def test_packed_batches_hold_every_token_once_and_restart_positions():
    import torch

    lengths = [40, 7, 25, 12, 30]
    batches = _batches(lengths, 5, 45, torch.Generator().manual_seed(0), 1000)
    (tokens, padded, packed), = batches
    assert tokens == sum(lengths) and int(padded["attention_mask"].sum()) == sum(lengths)
    real = padded["input_ids"][padded["attention_mask"].bool()]
    text = packed["position_ids"][0]
    starts = (text == 0).sum()  # one restart per sample plus one per padded row tail
    assert packed["input_ids"].shape[1] <= 45 and starts >= len(lengths)
    assert sorted(real.tolist()) == sorted(packed["input_ids"][packed["labels"] != -100].tolist()
                                           + [int(padded["input_ids"][i, 0]) for i in range(5)])


def test_dataset_packed_batches_are_the_samplers_rows_with_every_sample_once():
    import torch

    from omni_bench.data.packing import PackedBatchSampler

    lengths = [40, 7, 25, 12, 30, 18, 3, 44]
    seqs = _sequences(lengths, torch.Generator().manual_seed(0), 1000)
    sampler = PackedBatchSampler(lengths, 45, rows_per_batch=2, seed=0)
    batches = _dataset_batches(seqs, sampler)
    assert len(batches) == len(sampler.batches()) == 3  # 5 rows, 2 per batch
    seen = []
    for batch, rows in zip(batches, sampler.batches()):
        assert batch["input_ids"].shape[:2] == (len(rows), max(sum(lengths[i] for i in row) for row in rows))
        for r, row in enumerate(rows):
            used = sum(lengths[i] for i in row)
            assert torch.equal(batch["input_ids"][r, :used], torch.cat([seqs[i] for i in row]))
            assert torch.equal(batch["position_ids"][0, r, :used], torch.cat([torch.arange(lengths[i]) for i in row]))
            seen += row
    assert sorted(seen) == list(range(len(lengths)))


@pytest.mark.slow
def test_bench_reports_both_layouts_side_by_side(capsys):
    result = bench_packing(lengths=[60, 8, 30, 22], batch_size=4, capacity=64)
    assert result["padded"]["slots"] == 4 * 60 and result["packed"]["slots"] == 2 * 60  # rows 60 / 8+30+22
    assert result["packed"]["padding_fraction"] < result["padded"]["padding_fraction"] / 2
    dataset = result["dataset_packed"]  # the same two rows, packed across the set, 2 rows per batch
    assert dataset["slots"] == 2 * 60 and dataset["rows_per_batch"] == 2 and dataset["every_sample_once"]
    for kind in ("padded", "packed", "dataset_packed"):
        assert result[kind]["tokens_per_second"] > 0 and result[kind]["seconds"] > 0
    assert main(["bench", "packing", "--samples", "4", "--batch-size", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"padded", "packed", "dataset_packed"} and out["samples"] == 4
    assert {"padding_fraction", "tokens_per_second"} <= set(out["packed"])
