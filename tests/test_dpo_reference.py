"""The right reference, and a DPO step on tiny Qwen2.5-Omni with audio in video.

* from a base model the reference is the model with its adapter disabled (the base);
* from an SFT adapter (``--init-adapter``) it is a frozen copy of that adapter (``"ref"``), never the
  base: at the first step the policy equals it, so the implicit rewards are 0 and the sigmoid loss is
  ln 2, while the base scores the replies differently; after a step the copy has not moved.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from omni_bench import tiny_model
from omni_bench.core.processor import load_processor
from omni_bench.data.preference import PreferencePair
from omni_bench.layout.settings import LayoutSettings
from omni_bench.training.config import PreferenceSettings
from omni_bench.training.dpo import DPO_METRICS, dpo_step, pair_logprobs, reference_policy
from omni_bench.training.preference_batch import PreferenceCollator, PreferenceDataset
from omni_bench.training.prepare import adapt_model

pytestmark = pytest.mark.slow  # tiny Omni models and a decoded clip

CLIPS = Path(__file__).resolve().parent.parent / "data" / "clips"
PROFILE = "qwen2.5-omni-7b"


@pytest.fixture(scope="module")
def batch():
    processor = load_processor(PROFILE)
    settings = LayoutSettings(profile=PROFILE, frames=4, resize=(56, 56))
    pair = PreferencePair(0, "street", (("human", "<video>\nWhen does the white bar cross the middle?"),),
                          "From 40 to 60.", "From 00 to 99.", videos=(str(CLIPS / "street_market.mkv"),),
                          use_audio_in_video=True)
    dataset = PreferenceDataset([pair], settings=settings, processor=processor)
    out = PreferenceCollator(processor, settings=settings)([dataset[0]])
    assert out["use_audio_in_video"] is True and out["input_features"] is not None  # audio in video
    return out


def _adapted(init_adapter=None):
    return adapt_model(tiny_model(PROFILE), gradient_checkpointing=True, lora_r=4, lora_alpha=8, lora_dropout=0.0,
                       init_adapter=init_adapter)


def _base_logps(batch):
    with torch.no_grad():
        return pair_logprobs(tiny_model(PROFILE), batch)[0]


@pytest.fixture(scope="module")
def sft_adapter(tmp_path_factory):
    """An adapter folder as an SFT run leaves it, with weights far from zero."""
    model = _adapted()
    torch.manual_seed(1)
    for name, param in model.named_parameters():
        if "lora_" in name:
            torch.nn.init.normal_(param, std=0.5)
    folder = tmp_path_factory.mktemp("sft") / "adapter"
    model.save_pretrained(str(folder))
    return folder


def test_from_the_base_the_reference_is_the_base(batch):
    model = _adapted()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(param, std=0.5)  # an adapter that changes the scores
        with reference_policy(model):
            reference = pair_logprobs(model, batch)[0]
        policy = pair_logprobs(model, batch)[0]
    base = _base_logps(batch)
    assert torch.allclose(reference.chosen, base.chosen, atol=1e-5)
    assert torch.allclose(reference.rejected, base.rejected, atol=1e-5)
    assert not torch.allclose(policy.chosen, base.chosen, atol=1e-3)  # the adapter is on outside the context


def test_from_an_sft_adapter_the_reference_is_its_frozen_copy(batch, sft_adapter):
    model = _adapted(init_adapter=sft_adapter)
    assert set(model.peft_config) == {"default", "ref"} and model.active_adapter == "default"
    assert all(not p.requires_grad for n, p in model.named_parameters() if ".ref." in n)
    assert any(p.requires_grad for n, p in model.named_parameters() if ".default." in n)
    step = dpo_step(model, batch, PreferenceSettings())
    # step 1: the policy is the SFT adapter, the reference its copy: rewards 0, loss ln 2
    assert float(step.chosen_rewards.abs().max()) == 0.0 and float(step.rejected_rewards.abs().max()) == 0.0
    assert float(step.loss.detach()) == pytest.approx(math.log(2), abs=1e-6)
    assert step.encodings.videos == 1 and step.encodings.audios == 1  # one tower pass for both passes
    base = _base_logps(batch)
    assert abs(float(step.reference.chosen[0]) - float(base.chosen[0])) > 1e-2  # never the base
    # one optimizer step on the adapter: the policy moves, the reference copy does not
    ref_before = {n: p.detach().clone() for n, p in model.named_parameters() if ".ref." in n}
    step.loss.backward()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    optimizer.step()
    after = dpo_step(model, batch, PreferenceSettings())
    assert all(torch.equal(p, ref_before[n]) for n, p in model.named_parameters() if ".ref." in n)
    assert torch.allclose(after.reference.chosen, step.reference.chosen, atol=1e-5)
    assert float(after.chosen_rewards[0] - after.rejected_rewards[0]) > 0  # the step raised the margin


def test_a_dpo_training_step_on_omni_with_audio_in_video(batch, tmp_path):
    """One step of the DPO Trainer itself: trl's metrics logged, the sigmoid loss ln 2 at step 1."""
    from transformers import Trainer, TrainingArguments

    from omni_bench.training.dpo import make_dpo_trainer_class

    rows = []
    model = _adapted()
    trainer_class = make_dpo_trainer_class(Trainer)
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=1, logging_steps=1,
                             report_to="none", use_cpu=True, save_strategy="no", remove_unused_columns=False,
                             disable_tqdm=True)
    trainer = trainer_class(model=model, args=args, train_dataset=[batch], data_collator=lambda items: items[0])
    original = trainer.log
    trainer.log = lambda logs, start_time=None: (original(logs, start_time), rows.append(dict(logs)))
    trainer.train()
    logged = [r for r in rows if "loss" in r]
    assert logged and all(key in logged[0] for key in DPO_METRICS)
    assert logged[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert logged[0]["rewards/margins"] == 0.0 and logged[0]["grad_norm"] > 0
