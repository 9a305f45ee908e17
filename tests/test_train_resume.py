"""Resume: a run killed mid-way and resumed reproduces the uninterrupted run step for step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from omni_bench.training.config import TrainConfig
from omni_bench.training.metrics import read_metrics
from omni_bench.training.run import train

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # trains or spawns worker processes (seconds to minutes)

# Runs train() and SIGKILLs itself at the end of step 4, after step 3 was logged and
# checkpoint-2 saved, before step 4 is logged or saved: a crash with a metrics row
# (step 3) beyond the last checkpoint.
KILLED_RUN = """
import os, signal, sys
from omni_bench._torchvision import ensure_torchvision
ensure_torchvision()  # before transformers' Trainer imports its vision code (CPU torch)
from transformers import TrainerCallback
from omni_bench.training.run import TrainConfig, train

class Kill(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 4:
            os.kill(os.getpid(), signal.SIGKILL)

train(TrainConfig.from_file(sys.argv[1]), callbacks=[Kill()])
"""


def _config(output: Path) -> TrainConfig:
    # three records, so step 4 starts the second epoch (the data order must be reproduced);
    # LoRA dropout on, so the restored RNG state matters too
    return TrainConfig(tiny=True, data=str(ROOT / "data" / "longvale_sft.json"), frames=4, resize=(56, 56),
                       max_steps=4, save_steps=2, logging_steps=1, learning_rate=1e-3, lora_dropout=0.05,
                       output=str(output), progress=False)


def test_killed_and_resumed_equals_uninterrupted(tmp_path):
    killed = _config(tmp_path / "killed")
    config_file = tmp_path / "killed.json"
    config_file.write_text(json.dumps(killed.to_dict()))
    env = {**os.environ, "OMNI_BENCH_CACHE": os.environ.get("OMNI_BENCH_CACHE", str(ROOT / ".cache" / "omni_bench"))}
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN, str(config_file)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert [r["step"] for r in read_metrics(killed.output)] == [1, 2, 3]
    assert sorted(p.name for p in Path(killed.output).glob("checkpoint-*")) == ["checkpoint-2"]
    assert not (Path(killed.output) / "adapter").exists()

    resumed = train(killed.replace(resume=True))
    assert resumed.resumed_from.name == "checkpoint-2"
    reference = train(_config(tmp_path / "reference"))

    # the row of step 3 written before the kill was dropped, then steps 3 and 4 recorded once
    assert [r["step"] for r in resumed.metrics] == [1, 2, 3, 4]
    for ours, theirs in zip(resumed.metrics, reference.metrics):
        for key in ("loss", "grad_norm", "learning_rate"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-6, abs=1e-9), (ours["step"], key)
        assert (ours["tokens"], ours["label_tokens"]) == (theirs["tokens"], theirs["label_tokens"])
    assert reference.metrics[-1]["loss"] != reference.metrics[0]["loss"]
    assert (Path(killed.output) / "adapter" / "adapter_model.safetensors").is_file()
