"""Tiny Qwen3-VL and Qwen3-Omni thinker models: real vocabulary, forward with labels, generate,
LoRA, the fused loss, and rope positions equal to transformers' get_rope_index."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omni_bench.core.models import tiny_model
from omni_bench.core.processor import load_processor, resolve_profile
from omni_bench.core.tokens import token_ids
from omni_bench.families.qwen3_omni import token_interleave_runs
from omni_bench.families.qwen3_rope import omni_merge_disagrees, qwen3_omni_rope_positions, qwen3_vl_rope_positions
from omni_bench.layout.labels import assistant_labels
from omni_bench.layout.processor_call import conversation, processor_call
from omni_bench.layout.settings import LayoutSettings

VL, OMNI = "qwen3-vl-8b", "qwen3-omni-30b-a3b"
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")


@pytest.fixture(scope="module")
def models():
    return {VL: tiny_model(VL), OMNI: tiny_model(OMNI)}


def batch(name: str, *, frames: int = 4, processor_fps: float = 2.0, native_fps: float = 20.0, seconds: float = 2.0,
          answer: str | None = "A dog runs.", size=(64, 96)) -> dict:
    """The real processor's output for a small random clip (labels on the assistant turn)."""
    processor = load_processor(name)
    settings = LayoutSettings(profile=name, frames=frames, resize=size, answer=answer, use_audio=name == OMNI)
    r = settings.resolve(resolve_profile(processor))
    rng = np.random.default_rng(frames)
    video = rng.integers(0, 256, (frames, *size, 3), dtype=np.uint8)
    audio = (rng.standard_normal(int(seconds * 16000)) * 0.1).astype(np.float32) if r.use_audio else None
    text = processor.apply_chat_template(conversation(r), tokenize=False, add_generation_prompt=answer is None)
    indices = [round(i * native_fps * seconds / frames) for i in range(frames)]
    out = dict(processor_call(processor, r, text, video, audio, processor_fps, indices=indices, native_fps=native_fps))
    out.pop("video_metadata", None)
    if r.use_audio:
        out["use_audio_in_video"] = True
    if answer is not None:
        out["labels"] = torch.tensor(assistant_labels(out["input_ids"][0].numpy(), token_ids(processor)))[None]
    return out


@pytest.mark.parametrize("name,vocab", [(VL, 151936), (OMNI, 152064)])
def test_forward_with_labels_and_generate(name, vocab, models):
    model = models[name]
    assert model.get_output_embeddings().weight.shape == (vocab, 64)
    inputs = batch(name)
    with torch.no_grad():
        out = model(**inputs)
    assert out.logits.shape == (1, inputs["input_ids"].shape[1], vocab)
    assert abs(float(out.loss) - np.log(vocab)) < 1.0  # random weights: about uniform over the real vocabulary
    prompt = batch(name, answer=None)
    prompt.pop("use_audio_in_video", None)
    kwargs = {"use_audio_in_video": True} if name == OMNI else {}
    with torch.no_grad():
        generated = model.generate(**prompt, **kwargs, max_new_tokens=3, do_sample=False)
    assert generated.shape == (1, prompt["input_ids"].shape[1] + 3)
    assert generated[0, :prompt["input_ids"].shape[1]].tolist() == prompt["input_ids"][0].tolist()


def test_omni_thinker_is_a_mixture_of_experts(models):
    text = models[OMNI].config.text_config
    assert (text.num_experts, text.num_experts_per_tok) == (4, 2)
    experts = models[OMNI].model.language_model.layers[0].mlp.experts
    assert type(experts).__name__ == "Qwen3OmniMoeThinkerTextExperts"
    assert models[OMNI].config.position_id_per_seconds == 13


@pytest.mark.parametrize("name", [VL, OMNI])
def test_fused_loss_equals_the_models(name):
    from omni_bench.training.fused import enable_fused_loss

    model = tiny_model(name)
    inputs = batch(name)
    with torch.no_grad():
        expected = float(model(**inputs).loss)
        enable_fused_loss(model, backend="chunked")
        fused = model(**inputs)
    assert fused.logits is None and model._omni_fused_loss.calls == 1
    assert float(fused.loss) == pytest.approx(expected, rel=1e-5)


def test_lora_vl_trains_the_decoder_projections():
    from omni_bench.training.prepare import adapt_model

    model = adapt_model(tiny_model(VL), gradient_checkpointing=False, lora_r=4)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n and ".language_model.layers." in n for n in names)
    assert any("mlp.down_proj" in n for n in names) and not any(".visual." in n for n in names)
    loss = model(**batch(VL)).loss
    loss.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if p.requires_grad)


def test_lora_omni_leaves_the_experts_frozen():
    """The MoE experts are fused 3-D tensors, not nn.Linear: peft cannot wrap them, so the
    default targets' gate/up/down_proj do not exist in the thinker's layers; LoRA goes on the
    attention projections and the experts and router stay frozen."""
    from omni_bench.core.errors import OmniBenchError
    from omni_bench.training.prepare import adapt_model

    with pytest.raises(OmniBenchError, match="no gate_proj, up_proj, down_proj"):
        adapt_model(tiny_model(OMNI), gradient_checkpointing=False)
    model = adapt_model(tiny_model(OMNI), gradient_checkpointing=False, lora_r=4, lora_targets=ATTENTION)
    trained = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trained and all("lora_" in n and ".self_attn." in n for n in trained)
    experts = [p for n, p in model.named_parameters() if ".mlp.experts." in n or ".mlp.gate." in n]
    assert experts and not any(p.requires_grad for p in experts)
    model(**batch(OMNI)).loss.backward()


@pytest.mark.parametrize("frames,size", [(4, (64, 96)), (7, (96, 64)), (2, (32, 32))])
def test_vl_rope_equals_get_rope_index(frames, size, models):
    model, ids = models[VL], token_ids(load_processor(VL))
    inputs = batch(VL, frames=frames, size=size)
    expected, _ = model.model.get_rope_index(inputs["input_ids"], inputs["mm_token_type_ids"],
                                             video_grid_thw=inputs["video_grid_thw"])
    ours = qwen3_vl_rope_positions(inputs["input_ids"][0], video_token=ids.video, image_token=ids.image,
                                   video_grid_thw=inputs["video_grid_thw"].tolist())
    assert ours.tolist() == expected[:, 0].tolist()


@pytest.mark.parametrize("frames,processor_fps,seconds", [(4, 2.0, 2.0), (6, 0.7, 8.6), (5, 3.0, 1.7)])
def test_omni_rope_equals_get_rope_index(frames, processor_fps, seconds, models):
    model, ids = models[OMNI], token_ids(load_processor(OMNI))
    inputs = batch(OMNI, frames=frames, processor_fps=processor_fps, seconds=seconds)
    audio_len = int(inputs["feature_attention_mask"].sum())
    expected, _ = model.get_rope_index(inputs["input_ids"], video_grid_thw=inputs["video_grid_thw"],
                                       attention_mask=inputs["attention_mask"], use_audio_in_video=True,
                                       audio_seqlens=inputs["feature_attention_mask"].sum(-1),
                                       second_per_grids=inputs["video_second_per_grid"])
    audio_tokens = int((inputs["input_ids"] == ids.audio).sum())
    ours = qwen3_omni_rope_positions(inputs["input_ids"][0], ids=ids, video_grid_thw=inputs["video_grid_thw"].tolist(),
                                     second_per_grid=float(inputs["video_second_per_grid"][0]),
                                     audio_tokens=audio_tokens, ids_per_second=13, use_audio_in_video=True)
    assert audio_len > 0 and ours.tolist() == expected[:, 0].tolist()


def test_omni_float32_rope_merge_can_disagree_with_the_processor():
    """The processor merges video and audio tokens comparing float64 times, the rope comparing
    float32 positions: where a grid step's time lands within float32 rounding of an integer the
    two orders differ, and one video and one audio token get each other's positions. At the
    default 13 ids per second, 2 fps agrees; 1.43 and 0.39 fps do not."""
    assert not omni_merge_disagrees((16, 2, 2), 2 / 2.0, 3000, 13)
    assert omni_merge_disagrees((16, 2, 2), 2 / 1.43, 3000, 13)
    assert omni_merge_disagrees((16, 2, 2), 2 / 0.39, 3000, 13)
    runs = token_interleave_runs((16, 2, 2), 2 / 1.43, 3000, position_id_per_seconds=13)
    assert sum(n for k, n in runs if k == "AUDIO") == 3000 and sum(n for k, n in runs if k == "VIDEO") == 16
