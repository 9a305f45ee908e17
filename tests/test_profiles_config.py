"""Profiles hold the released checkpoints' config values, and the tiny models take them, value by value.

The expected numbers are the released config.json's (Qwen/Qwen2.5-VL-7B-Instruct, -3B-Instruct,
Qwen/Qwen2.5-Omni-7B, -3B), written out here independently of omni_bench.core.profiles.
"""

from __future__ import annotations

import pytest

import omni_bench  # noqa: F401  (prepares torchvision for transformers' model code)
from omni_bench.core.models import tiny_config
from omni_bench.core.profiles import get_profile

RELEASED = {
    "qwen2.5-vl-7b": dict(vocab_size=152064, tokens_per_second=2, max_position_embeddings=128000,
                          tie_word_embeddings=False),
    "qwen2.5-vl-3b": dict(vocab_size=151936, tokens_per_second=2, max_position_embeddings=128000,
                          tie_word_embeddings=True),
    "qwen2.5-omni-7b": dict(vocab_size=152064, position_id_per_seconds=25, seconds_per_chunk=2,
                            max_position_embeddings=32768, user_token_id=872),
    "qwen2.5-omni-3b": dict(vocab_size=151936, position_id_per_seconds=25, seconds_per_chunk=2,
                            max_position_embeddings=32768, user_token_id=872),
}
VL_IDS = dict(image_token_id=151655, video_token_id=151656, vision_start_token_id=151652, vision_end_token_id=151653)
OMNI_IDS = dict(audio_token_index=151646, image_token_index=151655, video_token_index=151656,
                audio_start_token_id=151647, audio_end_token_id=151648, vision_start_token_id=151652)


@pytest.mark.parametrize("name", sorted(RELEASED))
def test_profile_holds_the_released_values(name):
    p = get_profile(name)
    for key, value in RELEASED[name].items():
        if hasattr(p, key):
            assert getattr(p, key) == value, (name, key)
    assert p.mrope_section == (16, 24, 24) and p.rope_theta == 1e6
    assert (p.patch_size, p.temporal_patch_size, p.merge_size) == (14, 2, 2)
    assert p.special_tokens["<|endoftext|>"] == 151643 and p.special_tokens["<|im_end|>"] == 151645


@pytest.mark.parametrize("name", sorted(RELEASED))
@pytest.mark.parametrize("text_dims", [False, True])
def test_tiny_config_takes_every_value_from_the_profile(name, text_dims):
    p, c = get_profile(name), tiny_config(name, text_dims=text_dims)
    text, vision = c.text_config, c.vision_config
    released = RELEASED[name]
    assert text.vocab_size == released["vocab_size"]
    assert text.max_position_embeddings == released["max_position_embeddings"]
    assert text.rope_parameters["rope_theta"] == 1e6
    section = text.rope_parameters["mrope_section"]
    head_dim = text.hidden_size // text.num_attention_heads
    assert 2 * sum(section) == head_dim
    if text_dims:  # the real head: the checkpoint's sections exactly
        assert section == [16, 24, 24] and head_dim == 128
    assert (vision.patch_size, vision.temporal_patch_size, vision.spatial_merge_size) == (14, 2, 2)
    assert (text.pad_token_id, text.eos_token_id) == (151643, 151645)
    if p.family == "vl":
        assert vision.tokens_per_second == released["tokens_per_second"] == 2
        assert c.tie_word_embeddings is released["tie_word_embeddings"]
        assert {k: getattr(c, k) for k in VL_IDS} == VL_IDS
    else:
        assert c.position_id_per_seconds == 25 and c.seconds_per_chunk == 2 and c.user_token_id == 872
        assert {k: getattr(c, k) for k in OMNI_IDS} == OMNI_IDS


def test_tiny_vl_model_uses_two_temporal_ids_per_second():
    # the model object itself (what get_rope_index reads), not only the config
    from omni_bench import tiny_model

    model = tiny_model("qwen2.5-vl-7b")
    assert model.config.vision_config.tokens_per_second == 2
    assert model.model.config.vision_config.tokens_per_second == 2
