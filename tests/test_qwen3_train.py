"""``omni-bench train --tiny`` from the CLI for each Qwen3 family: finite losses, the adapter saved."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from omni_bench.cli import main

DATA = Path(__file__).resolve().parent.parent / "data" / "longvale_sft.json"


@pytest.mark.slow
@pytest.mark.parametrize("profile, extra, trainable", [
    ("qwen3-vl-8b", ["--no-audio"], "trainable 32,768"),  # 7 projections x 2 layers
    ("qwen3-omni-30b-a3b", [], "trainable 20,480"),  # attention only: the experts are not nn.Linear
])
def test_tiny_train_run_from_the_cli(profile, extra, trainable, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--tiny", "--profile", profile, *extra, "--data", str(DATA), "--frames", "4", "--resize",
            "64x64", "--max-steps", "3", "--logging-steps", "1", "--save-steps", "100", "--output", str(out),
            "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert trainable in text
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(math.isfinite(r["loss"]) and math.isfinite(r["grad_norm"]) for r in rows)
    assert all(r["tokens"] > r["label_tokens"] > 0 for r in rows)
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((out / "config.json").read_text())["profile"] == profile
