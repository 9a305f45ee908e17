"""Profiles build transformers' own processors with the checkpoints' settings, cached on disk."""

from __future__ import annotations

import pytest

from omni_bench import OmniBenchError, load_processor
from omni_bench.core.processor import cache_dir
from omni_bench.core.profiles import PROFILES


def test_omni_settings(omni_processor):
    from transformers import Qwen2_5OmniProcessor, WhisperFeatureExtractor

    assert isinstance(omni_processor, Qwen2_5OmniProcessor)
    fe = omni_processor.feature_extractor
    assert isinstance(fe, WhisperFeatureExtractor)
    assert (fe.feature_size, fe.sampling_rate, fe.hop_length, fe.n_fft, fe.chunk_length) == (128, 16000, 160, 400, 300)
    assert fe.nb_max_frames == 30000
    vp = omni_processor.video_processor
    assert (vp.patch_size, vp.temporal_patch_size, vp.merge_size) == (14, 2, 2)
    assert (vp.size.shortest_edge, vp.size.longest_edge) == (128 * 28 * 28, 768 * 28 * 28)
    ip = omni_processor.image_processor
    assert (ip.size.shortest_edge, ip.size.longest_edge) == (3136, 12845056)
    assert omni_processor.seconds_per_chunk == 2.0 and omni_processor.position_id_per_seconds == 25


def test_chat_template_renders_like_the_release(omni_processor, vl_processor):
    messages = [{"role": "user", "content": [{"type": "video", "video": "v"}, {"type": "text", "text": "Describe."}]},
                {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]}]
    omni = omni_processor.apply_chat_template(messages, tokenize=False)
    assert omni == ("<|im_start|>system\nYou are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, "
                    "capable of perceiving auditory and visual inputs, as well as generating text and speech."
                    "<|im_end|>\n<|im_start|>user\n<|vision_bos|><|VIDEO|><|vision_eos|>Describe.<|im_end|>\n"
                    "<|im_start|>assistant\nA cat.<|im_end|>\n")
    vl = vl_processor.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert vl == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                  "<|vision_start|><|video_pad|><|vision_end|>Describe.<|im_end|>\n<|im_start|>assistant\n")
    with_system = [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]}, *messages]
    assert omni_processor.apply_chat_template(with_system, tokenize=False).startswith(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n")


def test_profiles_are_cached_on_disk(omni_processor):
    folder = cache_dir() / "processors"
    built = {p.name.rsplit("-v", 1)[0] for p in folder.iterdir() if (p / "omni_bench_profile.json").is_file()}
    assert "qwen2.5-omni-7b" in built
    assert load_processor("qwen2.5-omni-7b") is omni_processor  # same object within a process


@pytest.mark.slow
def test_checkpoint_directory_goes_through_autoprocessor(omni_processor, tmp_path):
    omni_processor.save_pretrained(tmp_path)
    again = load_processor(str(tmp_path))
    assert type(again) is type(omni_processor)
    text = "<|im_start|>user\nHello world<|im_end|>"
    assert again.tokenizer(text).input_ids == omni_processor.tokenizer(text).input_ids


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_builds(name):
    proc = load_processor(name)
    assert proc.tokenizer("Hello world").input_ids == [9707, 1879]


def test_unknown_profile_is_one_line_error():
    with pytest.raises(OmniBenchError, match="unknown profile 'qwen9'"):
        load_processor("qwen9")
    with pytest.raises(OmniBenchError, match="no such checkpoint directory"):
        load_processor("/nonexistent/ckpt")
