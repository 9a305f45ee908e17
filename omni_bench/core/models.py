"""Tiny, randomly initialised Qwen2.5-Omni thinkers and Qwen2.5-VL models for CPU work.

``tiny_model("qwen2.5-omni-7b")`` is transformers' real
``Qwen2_5OmniThinkerForConditionalGeneration`` (or ``Qwen2_5_VLForConditionalGeneration``)
with the profile's vocabulary size, special-token ids, patching and TMRoPE settings, and
every width and depth shrunk so that forward with labels, ``generate`` and LoRA run on a
laptop CPU in seconds. The weights are random (seeded): losses are meaningful for
overfitting and memory studies, not for quality. Pass ``text_dims=True`` to keep the
profile's real text width/depth (for GPU memory studies). Not covered: the talker and
token2wav halves of Qwen2.5-Omni. The Qwen3 profiles give ``Qwen3VLForConditionalGeneration``
and the MoE ``Qwen3OmniMoeThinkerForConditionalGeneration`` (4 experts, 2 per token; docs/qwen3.md).
"""

from __future__ import annotations

from omni_bench._torchvision import ensure_torchvision
from omni_bench.core.profiles import DEFAULT_PROFILE, Profile, get_profile
from omni_bench.families import family_of
from omni_bench.families.base import TINY

__all__ = ["tiny_model", "tiny_config", "checkpoint_values", "mrope_section", "TINY"]


def tiny_config(profile: Profile | str, *, text_dims: bool = False, layers: int | None = None):
    """The transformers config of the tiny model for a profile (see module docstring).

    ``layers`` overrides the text decoder's depth (the tiny one, or the profile's with ``text_dims``).
    Every checkpoint value the positions depend on comes from the profile:
    ``tiny_config("qwen2.5-vl-7b").vision_config.tokens_per_second -> 2`` (transformers' default is 4).
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    return checkpoint_values(_family_config(profile, text_dims=text_dims, layers=layers), profile)


def mrope_section(profile: Profile, head_dim: int) -> list[int]:
    """The profile's mrope_section for a head of ``head_dim`` (scaled when the head is shrunk).

    >>> from omni_bench.core.profiles import get_profile
    >>> mrope_section(get_profile("qwen2.5-vl-7b"), 128), mrope_section(get_profile("qwen2.5-vl-7b"), 16)
    ([16, 24, 24], [2, 3, 3])
    """
    sections = list(profile.mrope_section)
    if 2 * sum(sections) == head_dim:
        return sections
    rest = [s * (head_dim // 2) // sum(sections) for s in sections[1:]]
    return [head_dim // 2 - sum(rest), *rest]


def checkpoint_values(config, profile: Profile):
    """Set the profile's checkpoint values on a built config wherever it has the field; return it.

    Covers what the family's config constructor leaves at transformers' defaults: VL's
    ``vision_config.tokens_per_second``, Omni's ``position_id_per_seconds`` / ``seconds_per_chunk`` /
    ``user_token_id``, and the embeddings' tying.
    """
    vision = getattr(config, "vision_config", None)
    if vision is not None and hasattr(vision, "tokens_per_second"):
        vision.tokens_per_second = profile.tokens_per_second
    for name, value in (("position_id_per_seconds", int(profile.position_id_per_seconds)),
                        ("seconds_per_chunk", int(profile.seconds_per_chunk)),
                        ("user_token_id", profile.user_token_id)):
        if hasattr(config, name):
            setattr(config, name, value)
    for part in (config, getattr(config, "text_config", None)):
        if part is not None and hasattr(part, "tie_word_embeddings"):
            part.tie_word_embeddings = profile.tie_word_embeddings
    return config


def _family_config(profile: Profile, *, text_dims: bool, layers: int | None):
    hidden = profile.hidden_size if text_dims else TINY["hidden"]
    heads = profile.num_attention_heads if text_dims else TINY["heads"]
    head_dim = hidden // heads
    mrope = mrope_section(profile, head_dim)
    text = dict(
        vocab_size=profile.vocab_size, hidden_size=hidden,
        intermediate_size=profile.intermediate_size if text_dims else TINY["intermediate"],
        num_hidden_layers=layers or (profile.num_hidden_layers if text_dims else TINY["layers"]),
        num_attention_heads=heads,
        num_key_value_heads=profile.num_key_value_heads if text_dims else TINY["kv_heads"],
        max_position_embeddings=profile.max_position_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": profile.rope_theta, "mrope_section": mrope},
        tie_word_embeddings=profile.tie_word_embeddings, pad_token_id=profile.special_tokens["<|endoftext|>"],
        eos_token_id=profile.special_tokens["<|im_end|>"],
    )
    vision = dict(depth=TINY["vision_depth"], hidden_size=TINY["vision_hidden"], intermediate_size=64,
                  num_heads=2, patch_size=profile.patch_size, spatial_merge_size=profile.merge_size,
                  temporal_patch_size=profile.temporal_patch_size, out_hidden_size=hidden,
                  fullatt_block_indexes=[TINY["vision_depth"] - 1], window_size=112)
    return family_of(profile).tiny_config(profile, text=text, vision=vision, hidden=hidden)


def tiny_model(name: str = DEFAULT_PROFILE, *, seed: int = 0, text_dims: bool = False, dtype=None,
               layers: int | None = None):
    """A randomly initialised Omni thinker / VL model with the profile's real vocabulary size.

    >>> model = tiny_model("qwen2.5-omni-7b")        # doctest: +SKIP
    >>> model.get_output_embeddings().weight.shape    # doctest: +SKIP
    torch.Size([152064, 64])
    """
    import torch

    ensure_torchvision()
    profile = get_profile(name)
    config = tiny_config(profile, text_dims=text_dims, layers=layers)
    torch.manual_seed(seed)
    model = family_of(profile).tiny_model_class()(config)
    if dtype is not None:
        model = model.to(dtype)
    model.eval()
    return model
