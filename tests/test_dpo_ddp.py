"""DPO under ``accelerate launch`` on 2 CPU processes (gloo).

* 2 processes x 1 pair train like 1 process x 2 pairs: the same loss, grad norm and trl metrics
  (each process's mean over its pairs, the gradients averaged; the metrics gathered);
* a process whose pair has no media (text only) while the other's has a video with its audio does
  not hang the run (the towers are frozen and run outside the gradient reduction).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from launch import launch, result

from omni_bench.training.run import TrainConfig, train

pytestmark = pytest.mark.slow  # spawns worker processes and trains (minutes)

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "<video>\nAt which time interval in the video can we see the white bar cross the middle of the frame?"


def _pairs(tmp_path: Path, text_only: bool = False) -> Path:
    pairs = [{"id": "street", "video": "clips/street_market.mkv",
              "conversations": [{"from": "human", "value": QUESTION}], "chosen": "From 40 to 60.",
              "rejected": "From 00 to 99, the whole video."},
             {"id": "kitchen", "video": "clips/kitchen_talk.mkv",
              "conversations": [{"from": "human", "value": "<video>\nWhat is heard?"}],
              "chosen": "A voice.", "rejected": "Nothing."}]
    if text_only:
        pairs[1] = {"id": "text", "conversations": [{"from": "human", "value": "Say when the bar crosses."}],
                    "chosen": "From 40 to 60.", "rejected": "Never."}
    path = tmp_path / ("mixed.json" if text_only else "pairs.json")
    path.write_text(json.dumps(pairs))
    return path


def _args(data: Path, output: Path, batch: int) -> list[str]:
    return ["--method", "dpo", "--tiny", "--data", str(data), "--media-root", str(ROOT / "data"), "--frames", "4",
            "--resize", "56x56", "--max-steps", "2", "--logging-steps", "1", "--save-steps", "100",
            "--learning-rate", "1e-2", "--batch-size", str(batch), "--dtype", "float32", "--no-progress", "--json",
            "--output", str(output)]


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    data = _pairs(tmp_path)
    ddp = result(launch(None, _args(data, tmp_path / "ddp", 1), timeout=500))
    assert ddp["world_size"] == 2
    single = train(TrainConfig(method="dpo", tiny=True, data=str(data), media_root=str(ROOT / "data"), frames=4,
                               resize=(56, 56), max_steps=2, logging_steps=1, save_steps=100, learning_rate=1e-2,
                               batch_size=2, dtype="float32", output=str(tmp_path / "single"), progress=False))
    assert [r["step"] for r in ddp["metrics"]] == [r["step"] for r in single.metrics] == [1, 2]
    for ours, theirs in zip(ddp["metrics"], single.metrics):
        for key in ("loss", "grad_norm", "rewards/chosen", "rewards/rejected", "rewards/margins",
                    "rewards/accuracies", "logps/chosen", "logps/rejected"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-4, abs=1e-6), (ours["step"], key)
    assert single.metrics[1]["rewards/margins"] != pytest.approx(0.0, abs=1e-7)  # step 2 compares an update


def test_a_process_without_media_does_not_hang_the_other(tmp_path):
    proc = launch(None, _args(_pairs(tmp_path, text_only=True), tmp_path / "mixed", 1), timeout=500)
    assert proc.returncode is not None, "the 2-process DPO run hung (killed at the timeout)"
    run = result(proc)
    assert run["world_size"] == 2 and [r["step"] for r in run["metrics"]] == [1, 2]
    assert run["metrics"][0]["loss"] == pytest.approx(0.6931472, abs=1e-6)
