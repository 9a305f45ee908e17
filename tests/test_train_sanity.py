"""Sanity: LoRA overfits one sample fast, and training changes the adapter weights only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from omni_bench import load_processor, tiny_model
from omni_bench._torchvision import ensure_torchvision
from omni_bench.training.run import TrainConfig, train

ensure_torchvision()  # before transformers' Trainer imports its vision code (CPU torch)
pytestmark = pytest.mark.slow  # trains a tiny model for many steps
from transformers import TrainerCallback  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def scaled_head_checkpoint(folder: Path, profile: str = "qwen2.5-omni-7b", scale: float = 25.0) -> Path:
    """A tiny checkpoint directory whose LM head can move the loss.

    With random init the final RMSNorm output has norm ~8 and the head rows norm ~0.16, so no
    adapter can raise a logit by more than ~1.3 and the loss cannot leave ln(V) ~ 11.9 by much.
    Scaling the head (as trained heads are) gives the adapter room; the rest is the tiny model.
    """
    model = tiny_model(profile)
    with torch.no_grad():
        model.lm_head.weight.mul_(scale)
    model.save_pretrained(folder)
    load_processor(profile).save_pretrained(folder)
    return folder


class Snapshot(TrainerCallback):
    """A copy of the model's state dict taken when training begins."""

    state = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.state = {name: value.detach().clone() for name, value in model.state_dict().items()}


def test_overfit_one_sample_and_only_the_adapter_changes(tmp_path):
    checkpoint = scaled_head_checkpoint(tmp_path / "tiny-checkpoint")
    records = json.loads((ROOT / "data" / "longvale_sft.json").read_text())
    data = tmp_path / "one.json"
    data.write_text(json.dumps([r for r in records if r["id"] == "portrait_music"]))
    config = TrainConfig(model=str(checkpoint), data=str(data), media_root=str(ROOT / "data"), frames=4,
                         resize=(56, 56), max_steps=16, learning_rate=2e-3, lr_scheduler="constant",
                         logging_steps=1, save_steps=1000, output=str(tmp_path / "run"), progress=False)
    snapshot, pushed = Snapshot(), []
    result = train(config, callbacks=[snapshot, pushed.append])  # a TrainerCallback and a plain row hook
    assert pushed == list(result.metrics)  # the hook saw every metrics.jsonl row, as written
    losses = [row["loss"] for row in result.metrics]
    assert len(losses) == 16 and result.samples == 1
    assert losses[-1] < 0.5 * losses[0], losses

    after = result.model.state_dict()
    assert set(after) == set(snapshot.state)
    changed = {name for name, value in after.items() if not torch.equal(value, snapshot.state[name])}
    adapter = {name for name in after if ".lora_A." in name or ".lora_B." in name}
    assert changed == adapter  # every adapter matrix moved, nothing else did
    assert len(adapter) == 2 * 2 * 7
