"""The Qwen3 profiles build transformers' own processors offline, with the checkpoints' values."""

from __future__ import annotations

import random

import pytest

from omni_bench.core.processor import load_processor, profile_of
from omni_bench.core.profiles import get_profile
from omni_bench.families.qwen3_omni import qwen3_omni_audio_tokens
from omni_bench.families.qwen3_vl import grid_timestamps, volume_resize

QWEN3 = ["qwen3-vl-2b", "qwen3-vl-4b", "qwen3-vl-8b", "qwen3-omni-30b-a3b"]


@pytest.mark.parametrize("name", QWEN3)
def test_processor_is_transformers_own_and_reloads(name):
    from transformers import AutoProcessor

    processor = load_processor(name)
    expected = "Qwen3OmniMoeProcessor" if "omni" in name else "Qwen3VLProcessor"
    assert type(processor).__name__ == expected
    again = AutoProcessor.from_pretrained(processor.tokenizer.name_or_path)  # the cached folder, as a checkpoint
    assert type(again).__name__ == expected
    assert type(again.video_processor).__name__ == type(processor.video_processor).__name__
    assert processor.tokenizer("Hello world").input_ids == [9707, 1879]
    profile = get_profile(name)
    assert profile_of(processor) is profile
    for token, index in profile.special_tokens.items():
        assert processor.tokenizer.convert_tokens_to_ids(token) == index, token
    assert processor.tokenizer.eos_token == "<|im_end|>"


@pytest.mark.parametrize("name", QWEN3)
def test_processor_settings_are_the_checkpoints(name):
    processor = load_processor(name)
    image, video = processor.image_processor, processor.video_processor
    assert (image.patch_size, image.merge_size, image.temporal_patch_size) == (16, 2, 2)
    assert (video.patch_size, video.merge_size, video.temporal_patch_size) == (16, 2, 2)
    assert list(image.image_mean) == [0.5, 0.5, 0.5] == list(video.image_std)
    if "omni" in name:
        assert (image.size["shortest_edge"], image.size["longest_edge"]) == (3136, 12845056)
        fe = processor.feature_extractor
        assert (fe.feature_size, fe.hop_length, fe.n_fft, fe.sampling_rate) == (128, 160, 400, 16000)
        assert processor.position_id_per_seconds == 13.0 and processor.n_window == 50
        assert processor.tokenizer.audio_token == "<|audio_pad|>"
        assert processor.audio_token_id == 151675 and processor.video_token_id == 151656
    else:
        assert (image.size["shortest_edge"], image.size["longest_edge"]) == (65536, 16777216)
        assert (video.size["shortest_edge"], video.size["longest_edge"]) == (4096, 25165824)
        assert (video.fps, video.min_frames, video.max_frames) == (2.0, 4, 768)
        assert processor.video_token_id == 151656 and processor.vision_start_token_id == 151652


@pytest.mark.parametrize("name", ["qwen3-vl-8b", "qwen3-omni-30b-a3b"])
def test_templates_have_no_default_system_prompt(name):
    processor = load_processor(name)
    messages = [{"role": "user", "content": [{"type": "video", "video": "v.mp4"}, {"type": "text", "text": "Hi"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "Yes."}]}]
    text = processor.apply_chat_template(messages, tokenize=False)
    assert text == ("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>Hi<|im_end|>\n"
                    "<|im_start|>assistant\nYes.<|im_end|>\n")
    system = [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]}, messages[0]]
    text = processor.apply_chat_template(system, tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n")
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_volume_resize_equals_transformers():
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import smart_resize

    rng = random.Random(5)
    for _ in range(20000):
        frames, h, w = rng.randint(2, 800), rng.randint(8, 4000), rng.randint(8, 4000)
        lo = rng.choice([4096, 65536, 1024 * 128])
        hi = rng.choice([25165824, 1024 * 768, lo * 2, 1024 * 768 * 64])
        try:
            expected = smart_resize(frames, h, w, factor=32, min_pixels=lo, max_pixels=hi)
        except ValueError:
            with pytest.raises(ValueError):
                volume_resize(frames, h, w, min_pixels=lo, max_pixels=hi)
            continue
        assert volume_resize(frames, h, w, min_pixels=lo, max_pixels=hi) == expected, (frames, h, w, lo, hi)


def test_timestamps_equal_the_processors():
    processor = load_processor("qwen3-vl-8b")
    rng = random.Random(7)
    for _ in range(300):
        count = rng.randint(1, 40)
        indices = sorted(rng.sample(range(2000), count))
        fps = rng.choice([25.0, 29.97, 23.976, 2.0, 60.0])
        assert grid_timestamps(indices, fps) == processor._calculate_timestamps(list(indices), fps, 2)


def test_audio_tokens_equal_the_processors():
    import torch
    from transformers.models.qwen3_omni_moe.processing_qwen3_omni_moe import _get_feat_extract_output_lengths

    lengths = torch.arange(1, 40000)
    expected = _get_feat_extract_output_lengths(lengths, 50).tolist()
    assert [qwen3_omni_audio_tokens(int(n)) for n in lengths] == expected
    assert qwen3_omni_audio_tokens(25689) == 3340  # the LongVALE notebook's 256.89 s: ~13 per second


def test_timestamp_tokens_count_the_real_tokenizer():
    from omni_bench.families.qwen3_vl import timestamp_text, timestamp_tokens

    tokenizer = load_processor("qwen3-vl-8b").tokenizer
    for tenths in [*range(2000), 99999, 123456, 7654321]:
        seconds = tenths / 10
        ids = tokenizer(timestamp_text(seconds), add_special_tokens=False)["input_ids"]
        assert len(ids) == timestamp_tokens(seconds), seconds


def test_thinking_template_wraps_the_last_reply_and_opens_the_generation():
    from omni_bench.layout.plan import plan
    from omni_bench.layout.settings import LayoutSettings

    processor = load_processor("qwen3-vl-8b-thinking")
    video = {"type": "video", "video": "v.mp4"}
    messages = [{"role": "user", "content": [video, {"type": "text", "text": "Hi"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "Yes."}]},
                {"role": "user", "content": [{"type": "text", "text": "More?"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "No."}]}]
    text = processor.apply_chat_template(messages, tokenize=False)
    assert text == ("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>Hi<|im_end|>\n"
                    "<|im_start|>assistant\nYes.<|im_end|>\n<|im_start|>user\nMore?<|im_end|>\n"
                    "<|im_start|>assistant\n<think>\n\n</think>\n\nNo.<|im_end|>\n")
    prompt = processor.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n<think>\n")
    assert type(processor).__name__ == "Qwen3VLProcessor" and processor.video_processor.size["longest_edge"] == 25165824
    layout = plan(dict(duration=4, width=64, height=64, native_fps=25, has_audio=False),
                  LayoutSettings(profile="qwen3-vl-8b-thinking", frames=4, use_audio=False, answer="Ok."),
                  processor=processor)
    assert layout.labelled_text.startswith("<think>\n\n</think>\n\nOk.")  # the empty thinking block is trained on
