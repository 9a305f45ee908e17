"""Data parallelism: ``accelerate launch`` with 2 CPU processes (gloo) x batch 1 trains like 1 x batch 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from launch import scaled_checkpoint

from omni_bench.training.run import TrainConfig, train

pytestmark = pytest.mark.slow  # trains or spawns worker processes (seconds to minutes)

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _checkpoint(folder: Path) -> Path:
    """The tiny Omni thinker with its LM head scaled x25 (tests/launch.py)."""
    return scaled_checkpoint(folder)


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    checkpoint = _checkpoint(tmp_path / "tiny-checkpoint")
    records = json.loads((ROOT / "data" / "longvale_sft.json").read_text())
    data = tmp_path / "two.json"
    # two records of different lengths and label counts (20 and 14): a per-process mean averaged
    # over processes would differ from the token-weighted mean of one process
    data.write_text(json.dumps([r for r in records if r["id"] in ("street_market", "portrait_music")]))
    common = ["--model", str(checkpoint), "--data", str(data), "--media-root", str(ROOT / "data"), "--frames", "4",
              "--resize", "56x56", "--max-steps", "3", "--logging-steps", "1", "--save-steps", "100",
              "--learning-rate", "1e-3", "--lora-dropout", "0", "--dtype", "float32", "--no-progress", "--json"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1",
           "OMNI_BENCH_CACHE": os.environ.get("OMNI_BENCH_CACHE", str(ROOT / ".cache" / "omni_bench"))}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(_free_port()), "-m", "omni_bench.cli", "train"]
    proc = subprocess.run(launch + common + ["--batch-size", "1", "--output", str(tmp_path / "ddp")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = json.loads(proc.stdout.strip().splitlines()[-1])  # printed by the main process only
    assert ddp["world_size"] == 2

    single = train(TrainConfig(model=str(checkpoint), data=str(data), media_root=str(ROOT / "data"), frames=4,
                               resize=(56, 56), max_steps=3, logging_steps=1, save_steps=100, learning_rate=1e-3,
                               lora_dropout=0.0, dtype="float32", batch_size=2, output=str(tmp_path / "single"),
                               progress=False))
    assert single.world_size == 1
    assert [r["step"] for r in ddp["metrics"]] == [r["step"] for r in single.metrics] == [1, 2, 3]
    for ours, theirs in zip(ddp["metrics"], single.metrics):
        for key in ("loss", "grad_norm", "learning_rate"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-4), (ours["step"], key)
        assert (ours["tokens"], ours["label_tokens"]) == (theirs["tokens"], theirs["label_tokens"]) == (561, 34)
    losses = [r["loss"] for r in single.metrics]
    assert losses[2] < losses[0] - 0.5  # the steps moved the weights, so the later losses compare updates too
