"""The real processor's side of the planner-equality tests (test_planner_equality.py, test_qwen3_plan.py).

:func:`reference` calls transformers' processor through ``processor_call`` the way ``inspect``
does - the sampled frame indices and the native fps included (Qwen3-VL writes its timestamps
from them) - on synthetic media: uint8 frames of the native size (or of the ``--resize`` size,
made by inspect's own resize) and float32 audio of ``round(audio_seconds x sampling rate)``
samples, then reads the output with ``layout_from_output`` like a real clip's.
:func:`assert_same` is the comparison: the planner's layout equals that, id for id, stat for stat.
:func:`zero_fbank` stands in for Whisper's log-mel spectrogram (the costly part, whose values no count
depends on); :func:`assert_zero_features_change_no_count` proves that on a case.
Not a test module itself.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from omni_bench.core.processor import resolve_profile
from omni_bench.layout.frames import resize_frames, sample_indices
from omni_bench.layout.plan import media_info
from omni_bench.layout.processor_call import conversation, layout_from_output, processor_call
from omni_bench.layout.settings import LayoutSettings
from omni_bench.layout.token_layout import with_audio_track

__all__ = ["reference", "assert_same", "zero_fbank", "assert_zero_features_change_no_count"]


def _frames(info, settings: LayoutSettings, n: int, factor: int, noise: bool) -> np.ndarray:
    if settings.resize is not None:
        return resize_frames(np.zeros((n, 8, 8, 3), np.uint8), settings.resize, factor)
    if noise and info.height * info.width <= 320 * 320:  # small native frames: real pixel values (seeded)
        return np.random.default_rng(n).integers(0, 256, (n, info.height, info.width, 3), dtype=np.uint8)
    return np.zeros((n, info.height, info.width, 3), np.uint8)


def reference(processor, meta: dict, settings: LayoutSettings, *, noise_frames: bool = False):
    """(processor output, its layout) for synthetic media with this metadata.

    ``noise_frames``: native-size frames of at most 320 x 320 pixels hold seeded random pixels
    instead of zeros (no count may depend on them)."""
    info = media_info(meta)
    resolved = settings.resolve(resolve_profile(processor))
    profile = resolved.profile
    indices = sample_indices(info, resolved, profile.temporal_patch_size)
    frames = _frames(info, settings, len(indices), profile.factor, noise_frames)
    rate = profile.sampling_rate
    audio = np.zeros(int(round(info.audio_seconds * rate)), np.float32) if resolved.use_audio else None
    text = processor.apply_chat_template(conversation(settings), tokenize=False,
                                         add_generation_prompt=settings.answer is None)
    processor_fps = settings.processor_fps or len(indices) / info.duration
    out = processor_call(processor, resolved, text, frames, audio, processor_fps, indices=indices,
                         native_fps=info.native_fps)
    layout = layout_from_output(out, processor, resolved, info=info, indices=indices, processor_fps=processor_fps,
                                use_audio=resolved.use_audio)
    # as inspect does: the track's full length, and a note when the 300 s cap cut it
    layout = with_audio_track(layout, None if audio is None else len(audio), rate, profile.hop_length)
    return out, dataclasses.replace(layout, media=None)  # metadata has no file


def assert_same(planned, out, ref) -> None:
    """The planner's layout equals the processor's: runs, grid, every id, every stat."""
    assert planned.vision_runs == ref.vision_runs
    assert [list(g) for g in planned.stats.video_grid_thw] == out["video_grid_thw"].tolist()
    assert list(planned.input_ids) == out["input_ids"][0].tolist()
    assert planned.stats.video_tokens == ref.stats.video_tokens
    assert planned.stats.audio_tokens == ref.stats.audio_tokens
    assert planned.stats.pixel_values_videos_shape == tuple(out["pixel_values_videos"].shape)
    if "input_features" in out:
        assert planned.stats.input_features_shape == tuple(out["input_features"].shape)
        assert planned.stats.mel_frames == int(out["feature_attention_mask"].sum())
    else:
        assert planned.stats.input_features_shape is None
    assert dataclasses.replace(planned, source="processor") == ref  # labels, segments, all stats


def zero_fbank(self, waveform, device="cpu"):
    """Zeros of the shape of ``WhisperFeatureExtractor._torch_extract_fbank_features``: [batch, mel, samples // hop]."""
    return np.zeros((*waveform.shape[:-1], self.feature_size, waveform.shape[-1] // self.hop_length), np.float32)


def assert_zero_features_change_no_count(processor, meta: dict, settings: LayoutSettings, monkeypatch) -> None:
    """With :func:`zero_fbank` in place of the real log-mel, the ids, the feature mask and the shapes stay."""
    from transformers import WhisperFeatureExtractor

    real, _ = reference(processor, meta, settings)
    monkeypatch.setattr(WhisperFeatureExtractor, "_torch_extract_fbank_features", zero_fbank)
    fast, _ = reference(processor, meta, settings)
    assert fast["input_ids"].tolist() == real["input_ids"].tolist()
    assert fast["feature_attention_mask"].tolist() == real["feature_attention_mask"].tolist()
    assert fast["input_features"].shape == real["input_features"].shape
