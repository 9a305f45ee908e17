"""inspect() against transformers' own processor output on real decoded clips."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from omni_bench import LayoutSettings, OmniBenchError, inspect, read_audio, read_frames
from omni_bench._torchvision import ensure_torchvision

ANSWER = "A white bar crosses the frame."


def _reference_indices(info, nframes):
    """qwen-vl-utils' own frame choice for {"nframes": n}."""
    ensure_torchvision()
    import torch
    from qwen_vl_utils.vision_process import smart_nframes

    count = smart_nframes({"nframes": nframes}, total_frames=info.total_frames, video_fps=info.native_fps)
    return torch.linspace(0, info.total_frames - 1, count).round().long().tolist()


def _reference_output(processor, path, nframes, answer=ANSWER, audio=True, fps=None):
    """Call transformers' processor directly, the documented 5.23 way, on the same decoded media."""
    from omni_bench import probe

    info = probe(path)
    indices = _reference_indices(info, nframes)
    frames = read_frames(path, indices)
    messages = [{"role": "user", "content": [{"type": "video", "video": str(path)},
                                             {"type": "text", "text": "Describe the video."}]},
                {"role": "assistant", "content": [{"type": "text", "text": answer}]}]
    text = processor.apply_chat_template(messages, tokenize=False)
    kwargs = dict(text=[text], videos=[frames], return_tensors="pt",
                  videos_kwargs={"fps": fps or len(indices) / info.duration, "cap_pixels_per_frame": False})
    if audio:
        kwargs.update(audio=[read_audio(path)], audio_from_video_indices=[0], load_audio_from_video=True)
    return processor(**kwargs), info


def _runs_between(ids, start_id, end_id, names):
    ids = list(ids)
    span = ids[ids.index(start_id) + 1: ids.index(end_id)]
    return [(names[k], len(list(g))) for k, g in itertools.groupby(span) if k in names]


@pytest.fixture(scope="module")
def layout(clip_with_sound):
    return inspect(str(clip_with_sound), LayoutSettings(frames=8, answer=ANSWER))


def test_input_ids_equal_the_processors(layout, omni_processor, clip_with_sound):
    out, _ = _reference_output(omni_processor, clip_with_sound, 8)
    assert list(layout.input_ids) == out["input_ids"][0].tolist()
    assert [list(g) for g in layout.stats.video_grid_thw] == out["video_grid_thw"].tolist()
    assert layout.stats.pixel_values_videos_shape == tuple(out["pixel_values_videos"].shape)
    assert layout.stats.input_features_shape == tuple(out["input_features"].shape) == (1, 128, 30000)
    assert layout.stats.mel_frames == int(out["feature_attention_mask"].sum())


def test_vision_runs_interleave_by_time_chunk(layout, omni_processor):
    tok = omni_processor.tokenizer
    names = {tok.convert_tokens_to_ids("<|VIDEO|>"): "VIDEO", tok.convert_tokens_to_ids("<|AUDIO|>"): "AUDIO"}
    expected = _runs_between(layout.input_ids, tok.convert_tokens_to_ids("<|vision_bos|>"),
                             tok.convert_tokens_to_ids("<|vision_eos|>"), names)
    assert list(layout.vision_runs) == expected
    kinds = [kind for kind, _ in layout.vision_runs]
    assert kinds[:4] == ["VIDEO", "AUDIO", "VIDEO", "AUDIO"]
    assert all(a != b for a, b in itertools.pairwise(kinds))  # alternating, adjacent runs merged


def test_totals_match_grid_and_audio_formula(layout):
    (t, h, w), = layout.stats.video_grid_thw
    video_total = sum(n for kind, n in layout.vision_runs if kind == "VIDEO")
    audio_total = sum(n for kind, n in layout.vision_runs if kind == "AUDIO")
    assert video_total == t * h * w // 4 == layout.stats.video_tokens
    mel = math.ceil(round(6.37 * 16000) / 160)  # from the clip's duration: 10 ms per mel frame
    assert audio_total == ((mel - 1) // 2 + 1 - 2) // 2 + 1 == layout.stats.audio_tokens
    assert layout.stats.audio_tokens_formula == audio_total
    assert not layout.notes


def test_labels_are_the_answer_only(layout, omni_processor):
    tok = omni_processor.tokenizer
    assert layout.stats.label_tokens == len(tok.encode(ANSWER, add_special_tokens=False)) + 1
    assert layout.labelled_text == ANSWER + "<|im_end|>"
    media = {tok.convert_tokens_to_ids(t) for t in ("<|VIDEO|>", "<|AUDIO|>", "<|IMAGE|>")}
    labelled = [i for i, lab in zip(layout.input_ids, layout.labels) if lab != -100]
    assert not media & set(labelled)


@pytest.mark.slow
def test_fps_handed_to_the_processor(clip_with_sound, omni_processor):
    sampled = inspect(str(clip_with_sound), frames=8)
    assert sampled.stats.processor_fps == pytest.approx(8 / sampled.stats.duration)
    assert sampled.stats.sampled_fps == pytest.approx(sampled.stats.processor_fps)
    stock = inspect(str(clip_with_sound), frames=8, processor_fps=2.0, answer=ANSWER)
    assert stock.stats.second_per_grid == 1.0
    out, _ = _reference_output(omni_processor, clip_with_sound, 8, answer=ANSWER, fps=2.0)
    assert list(stock.input_ids) == out["input_ids"][0].tolist()
    assert stock.vision_runs != sampled.vision_runs  # 1.59 s grids vs the stock 1.0 s assumption


def test_explicit_resize_and_no_audio(clip_with_sound):
    layout = inspect(str(clip_with_sound), frames=10, resize=(224, 224), use_audio=False)
    assert [list(g) for g in layout.stats.video_grid_thw] == [[5, 16, 16]]
    assert list(layout.vision_runs) == [("VIDEO", 5 * 64)]
    assert layout.stats.input_features_shape is None and layout.stats.audio_tokens == 0


def test_vl_profile(clips, vl_processor):
    layout = inspect(str(clips / "street_market.mkv"), frames=4, profile="qwen2.5-vl-7b", answer=ANSWER)
    (t, h, w), = layout.stats.video_grid_thw
    assert list(layout.vision_runs) == [("VIDEO", t * h * w // 4)]
    assert layout.labelled_text.endswith("<|im_end|>")


def test_report_text(layout):
    text = str(layout)
    assert text.startswith("========== Omni Batch Debug ==========")
    for needle in ("pixel_values_videos: [", "video_grid_thw: [[", "valid mel frames: 637",
                   "├─ VIDEO × ", "├─ AUDIO × ", "[ASSISTANT]", f'*"{ANSWER}<|im_end|>"'):
        assert needle in text, needle


def test_json_has_the_documented_fields(layout):
    data = layout.to_dict()
    for key in ("input_ids", "label_tokens", "labelled_text", "video_grid_thw", "video_tokens", "audio_tokens",
                "vision_runs", "sampled_frames", "sampled_fps", "processor_fps", "second_per_grid"):
        assert key in data
    assert data["input_ids"] == len(layout.input_ids)
    assert data["vision_runs"][0][0] == "VIDEO"


def test_bad_inputs(tmp_path, clips):
    with pytest.raises(OmniBenchError, match="no audio track"):
        inspect(str(clips / "silent_walk.mkv"))
    assert inspect(str(clips / "silent_walk.mkv"), use_audio=False, frames=4).stats.audio_tokens == 0
    with pytest.raises(OmniBenchError, match="file not found"):
        inspect(str(tmp_path / "nope.mkv"))
    with pytest.raises(OmniBenchError, match="cannot sample"):
        inspect(str(clips / "silent_walk.mkv"), frames=500, use_audio=False)


@pytest.mark.slow
def test_model_runs_on_the_output(clip_with_sound, omni_processor):
    """The tiny thinker takes the very tensors inspect inspected, with labels on the expanded ids."""
    import torch

    from omni_bench import tiny_model

    out, _ = _reference_output(omni_processor, clip_with_sound, 4)
    layout = inspect(str(clip_with_sound), frames=4, answer=ANSWER)
    model = tiny_model("qwen2.5-omni-7b")
    labels = torch.tensor([layout.labels])
    with torch.no_grad():
        result = model(**out, labels=labels, use_audio_in_video=True)
    assert torch.isfinite(result.loss)
    assert abs(float(result.loss) - np.log(152064)) < 1.0  # random init: close to uniform


def test_vl_processor_is_told_the_sampled_fps(clips):
    """Qwen2.5-VL reads fps from video metadata, not videos_kwargs: second_per_grid_ts must follow it."""
    sampled = inspect(str(clips / "street_market.mkv"), frames=4, profile="qwen2.5-vl-7b")
    assert sampled.stats.second_per_grid == pytest.approx(2 / (4 / 8.0))
    stock = inspect(str(clips / "street_market.mkv"), frames=4, profile="qwen2.5-vl-7b", processor_fps=2.0)
    assert stock.stats.second_per_grid == pytest.approx(1.0)
