"""``train --method dpo --resume``: a DPO run stopped at a checkpoint and resumed reproduces the
uninterrupted run, trl's metrics included (the data order, the optimizer and the adapter restored).
The stopped and resumed run uses ``--precompute-ref-log-probs`` (the reference's log-probs computed
once and kept in the run folder, read back on resume), the uninterrupted one the reference pass of
every step: the two give the same steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omni_bench.training.config import TrainConfig
from omni_bench.training.run import train

pytestmark = pytest.mark.slow  # three short training runs

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("loss", "grad_norm", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
        "logps/chosen", "logps/rejected")


def _config(tmp_path: Path, data: Path, output: str, max_steps: int, **changes) -> TrainConfig:
    # a constant learning rate: max_steps changes between the two halves, the schedule must not
    return TrainConfig(method="dpo", tiny=True, data=str(data), media_root=str(ROOT / "data"), frames=4,
                       resize=(56, 56), max_steps=max_steps, save_steps=2, logging_steps=1, learning_rate=1e-2,
                       lr_scheduler="constant", output=str(tmp_path / output), progress=False, **changes)


def test_stopped_and_resumed_equals_uninterrupted(tmp_path, dpo_pairs):
    whole = train(_config(tmp_path, dpo_pairs, "whole", 3))
    first = train(_config(tmp_path, dpo_pairs, "halves", 2, precompute_ref_log_probs=True))
    assert [c.name for c in first.checkpoints] == ["checkpoint-2"]
    table = json.loads((tmp_path / "halves" / "ref_logps.json").read_text())
    assert len(table["chosen"]) == len(table["rejected"]) == 2
    resumed = train(_config(tmp_path, dpo_pairs, "halves", 3, precompute_ref_log_probs=True).replace(resume=True))
    assert resumed.resumed_from.name == "checkpoint-2"
    assert [r["step"] for r in resumed.metrics] == [r["step"] for r in whole.metrics] == [1, 2, 3]
    for ours, theirs in zip(resumed.metrics, whole.metrics):
        for key in KEYS:
            assert ours[key] == pytest.approx(theirs[key], rel=1e-5, abs=1e-6), (ours["step"], key)
    assert whole.metrics[2]["rewards/margins"] != pytest.approx(0.0, abs=1e-7)  # step 3 compares trained weights
