"""``omni-bench train --packing`` gives the padded run's loss and grad norm step for step (tiny Omni and VL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omni_bench.cli import main

DATA = Path(__file__).resolve().parent.parent / "data"


def _run(out: Path, profile: str, budget: int, *extra: str) -> list[dict]:
    argv = ["train", "--tiny", "--profile", profile, "--data", str(DATA / "longvale_sft.json"), "--frames", "4",
            "--resize", "56x56", "--max-steps", "3", "--batch-size", "3", "--lora-dropout", "0",
            "--max-total-tokens", str(budget), "--logging-steps", "1", "--save-steps", "100", "--output", str(out),
            "--no-progress", *extra]
    assert main(argv) == 0
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize(("profile", "budget"), [("qwen2.5-omni-7b", 700), ("qwen2.5-vl-7b", 150)])
def test_packed_run_equals_the_padded_run_step_for_step(tmp_path, profile, budget):
    # budget: every sample fits, the three of a batch do not fit one row, so packing makes two rows
    padded = _run(tmp_path / "padded", profile, budget)
    packed = _run(tmp_path / "packed", profile, budget, "--packing")
    assert [r["step"] for r in packed] == [r["step"] for r in padded] == [1, 2, 3]
    assert json.loads((tmp_path / "packed" / "config.json").read_text())["packing"] is True
    for a, b in zip(padded, packed):
        assert b["tokens"] == a["tokens"] and b["label_tokens"] == a["label_tokens"]
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5, abs=0)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-5, abs=0)
        assert a["grad_norm"] > 0
    assert packed[-1]["loss"] != packed[0]["loss"]  # the adapter trained
