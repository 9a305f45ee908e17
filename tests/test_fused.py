"""The fused-loss wiring equals the models' own loss path: same loss, same gradients, same generate."""

from __future__ import annotations

import pytest
import torch

from omni_bench import LayoutSettings, OmniBenchError, tiny_model
from omni_bench._torchvision import ensure_torchvision
from omni_bench.training.fused import disable_fused_loss, enable_fused_loss, fused_loss_enabled, use_fused_loss
from omni_bench.training.prepare import lora_target_regex

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
# Base parameters that also get gradients: the LM head (through the fused loss's weight gradient),
# the final norm, and one parameter in each tower (through the multimodal positions).
BASE_PARAMS = {
    "qwen2.5-omni-7b": ("lm_head.weight", "model.language_model.norm.weight",
                        "model.visual.blocks.0.attn.q.weight", "model.audio_tower.layers.0.fc1.weight"),
    "qwen2.5-vl-7b": ("lm_head.weight", "model.language_model.norm.weight", "model.visual.blocks.0.attn.qkv.weight"),
}


def _batch(processor, profile: str, items=(0, 2)):
    """Two bundled LongVALE records of different lengths, through the real dataset and collator."""
    ensure_torchvision()
    from omni_bench.data.dataset import OmniCollator, OmniSFTDataset
    from omni_bench.data.records import load_records

    settings = LayoutSettings(profile=profile, frames=4, resize=(56, 56))
    dataset = OmniSFTDataset(load_records(str(ROOT / "data" / "longvale_sft.json")), media_root=ROOT / "data",
                             settings=settings, processor=processor)
    return OmniCollator(processor, settings=settings)([dataset[i] for i in items])


def _lora_model(profile: str):
    from peft import LoraConfig, get_peft_model

    model = tiny_model(profile, seed=1)
    # init_lora_weights=False: B is random too, so the adapter changes the forward from step 0
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=lora_target_regex(model),
                        init_lora_weights=False)
    model = get_peft_model(model, config)
    for name in BASE_PARAMS[profile]:
        model.get_base_model().get_parameter(name).requires_grad_(True)
    model.train()
    return model


def _loss_and_grads(model, batch, **extra):
    model.zero_grad(set_to_none=True)
    out = model(**batch, **extra)
    out.loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    return out, grads


def _assert_same(reference, fused):
    (ref_out, ref_grads), (out, grads) = reference, fused
    torch.testing.assert_close(out.loss, ref_out.loss.float(), rtol=1e-5, atol=1e-6)
    assert set(grads) == set(ref_grads)
    assert sum("lora_" in name for name in grads) >= 4
    for name, grad in ref_grads.items():
        assert grad.abs().sum() > 0, name  # every compared gradient is actually exercised
        scale = grad.abs().max().item()
        torch.testing.assert_close(grads[name], grad, rtol=1e-4, atol=1e-6 * max(scale, 1.0), msg=name)


@pytest.mark.parametrize("profile, processor_fixture", [("qwen2.5-omni-7b", "omni_processor"),
                                                        ("qwen2.5-vl-7b", "vl_processor")])
@pytest.mark.slow
def test_loss_and_gradients_equal_the_models_own(profile, processor_fixture, request):
    batch = _batch(request.getfixturevalue(processor_fixture), profile)
    assert (batch["attention_mask"] == 0).any()  # right padding is exercised
    model = _lora_model(profile)
    reference = _loss_and_grads(model, batch)
    assert reference[0].logits.shape[-1] == 152064
    head_calls = []
    hook = model.get_base_model().lm_head.register_forward_hook(lambda *a: head_calls.append(1))
    with use_fused_loss(model, backend="chunked", chunk_size=7) as state:
        fused = _loss_and_grads(model, batch)
    hook.remove()
    assert fused[0].logits is None and head_calls == [] and state.calls == 1  # no N x V logits
    _assert_same(reference, fused)
    # Trainer's gradient-accumulation mode: the sum over labels divided by num_items_in_batch
    reference = _loss_and_grads(model, batch, num_items_in_batch=torch.tensor(50))
    with use_fused_loss(model, backend="chunked", chunk_size=7):
        fused = _loss_and_grads(model, batch, num_items_in_batch=torch.tensor(50))
    _assert_same(reference, fused)
    assert not fused_loss_enabled(model)
    assert model(**batch).logits is not None  # restored


@pytest.mark.slow
def test_generate_unchanged(omni_processor):
    from omni_bench.core.media import probe, read_audio, read_frames
    from omni_bench.core.processor import resolve_profile
    from omni_bench.layout.frames import sample_indices
    from omni_bench.layout.processor_call import conversation, processor_call

    settings = LayoutSettings(frames=4, answer=None)
    resolved = settings.resolve(resolve_profile(omni_processor))
    profile = resolved.profile
    info = probe(str(ROOT / "data" / "clips" / "portrait_music.mkv"))
    indices = sample_indices(info, settings)
    frames = read_frames(info.path, indices)
    audio = read_audio(info.path, sampling_rate=profile.sampling_rate)
    text = omni_processor.apply_chat_template(conversation(settings), tokenize=False, add_generation_prompt=True)
    batch = dict(processor_call(omni_processor, resolved, text, frames, audio, len(indices) / info.duration))
    model = _lora_model("qwen2.5-omni-7b").eval()
    kwargs = dict(max_new_tokens=5, do_sample=False, use_audio_in_video=True)
    with torch.no_grad():
        plain = model.generate(**batch, **kwargs)
        enable_fused_loss(model)
        wired = model.generate(**batch, **kwargs)
        logits = model(**batch, use_audio_in_video=True).logits
    assert torch.equal(plain, wired) and plain.shape[1] == batch["input_ids"].shape[1] + 5
    assert logits is not None  # without labels the original forward runs
    disable_fused_loss(model)
    assert not fused_loss_enabled(model)


def test_lora_on_the_head_is_refused():
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_model("qwen2.5-omni-7b"), LoraConfig(r=2, target_modules=["lm_head"]))
    with pytest.raises(OmniBenchError, match=r"not a plain nn\.Linear"):
        enable_fused_loss(model)
    with pytest.raises(OmniBenchError, match="loss backend"):
        enable_fused_loss(tiny_model("qwen2.5-omni-7b"), backend="fast")
