"""The inspector's log-mel row: the processor's own ``input_features`` under the AUDIO tokens.

The features are compared for equality with the tensor transformers' processor returns when
omni_bench calls it (``processor_call``, as ``inspect`` does) on kitchen_talk.mkv, for
Qwen2.5-Omni (padded to 300 s) and Qwen3-Omni (padded to the clip); the switch is driven
headlessly and checked on the figure and on its text twin.
"""

from __future__ import annotations

import numpy as np
import pytest

from omni_bench import LayoutSettings, load_processor, plan, probe, read_audio, read_frames
from omni_bench.core.processor import resolve_profile
from omni_bench.layout.frames import resize_frames, sample_indices
from omni_bench.layout.processor_call import conversation, processor_call
from omni_bench_widgets import show_layout
from omni_bench_widgets.log_mel import FRAMES_PER_SECOND, log_mel_runs, processor_log_mel
from omni_bench_widgets.media_strip import audio_runs

ANSWER = "A cook talks in a kitchen while the pan sizzles."


def _processor_features(processor, info, settings):
    """``input_features[0, :, :valid]`` of the processor call ``inspect`` makes on ``info``'s clip."""
    resolved = settings.resolve(resolve_profile(processor))
    indices = sample_indices(info, resolved, resolved.profile.temporal_patch_size)
    frames = resize_frames(read_frames(info.path, indices), resolved.resize, resolved.profile.factor)
    audio = read_audio(info.path, sampling_rate=resolved.profile.sampling_rate)
    text = processor.apply_chat_template(conversation(resolved), tokenize=False, add_generation_prompt=True)
    out = processor_call(processor, resolved, text, frames, audio, len(indices) / info.duration, indices=indices,
                         native_fps=info.native_fps)
    valid = int(out["feature_attention_mask"][0].sum())
    return out["input_features"][0, :, :valid].numpy(), audio, resolved.profile.sampling_rate


@pytest.mark.parametrize("profile", ["qwen2.5-omni-7b", "qwen3-omni-30b-a3b"])
def test_log_mel_is_the_processors_input_features(clips, profile):
    processor = load_processor(profile)
    info = probe(clips / "kitchen_talk.mkv")
    expected, audio, rate = _processor_features(processor, info, LayoutSettings(profile=profile, frames=4,
                                                                                resize=(56, 56)))
    mel = processor_log_mel(processor, audio, rate)
    assert mel.dtype == np.float32 and mel.shape == expected.shape
    assert np.array_equal(mel, expected)
    assert mel.shape[0] == processor.feature_extractor.feature_size == 128


@pytest.fixture(scope="module")
def kitchen(clips, omni_processor):
    info = probe(clips / "kitchen_talk.mkv")
    settings = LayoutSettings(frames=16, processor_fps=2.0, answer=ANSWER)
    return info, settings, plan(info, settings, processor=omni_processor)


def test_switch_draws_the_log_mel_under_the_audio_tokens(kitchen, omni_processor):
    info, settings, layout = kitchen
    ui = show_layout(layout, meta=info, settings=settings, display=False)
    view, controls = ui["view"], ui["controls"]
    assert controls["audio_view"].options == ("waveform", "log-mel") and view.audio_view == "waveform"
    assert "audio" in view.figure().panels and view.media_cache.log_mels == 0  # nothing computed until asked
    controls["audio_view"].value = "log-mel"
    assert view.audio_view == "log-mel" and view.media_cache.log_mels == 1
    mel = view.log_mel
    assert np.array_equal(mel, processor_log_mel(omni_processor, read_audio(info.path), 16000))
    start, stop = view.selection = (43, 1300)
    fig = view.figure()
    assert list(fig.panels) == ["overview", "selection", "frames", "log-mel", "temporal"]
    row = fig.panels["log-mel"]
    assert row.get_xlim() == (start, stop) and row.get_ylim() == (0, 128)
    clock = view.clock
    runs = audio_runs(layout, start, stop)
    assert len(row.images) == len(runs) > 1
    for (a, b), image in zip(runs, row.images):  # each AUDIO run: its seconds' mel frames over its tokens
        f0 = round(clock.times[a, 0] * FRAMES_PER_SECOND)
        f1 = round(clock.times[b - 1, 1] * FRAMES_PER_SECOND)
        assert image.get_extent() == [a, b, 0, 128]
        assert np.array_equal(image.get_array(), mel[:, f0:f1])
        assert image.get_label() == f"log-mel {f0}:{f1}"
    bounds = [c for c in row.collections if c.get_label() == "chunk boundary"]
    assert len(bounds) == 1  # the chunk bounds are dashed on this row too
    assert view.media_cache.log_mels == 1  # redrawing computes nothing again
    controls["audio_view"].value = "waveform"
    assert "audio" in view.figure().panels and "log-mel" not in view.figure().panels


def test_log_mel_text_twin(kitchen):
    info, settings, layout = kitchen
    ui = show_layout(layout, meta=info, settings=settings, display=False)
    view, controls = ui["view"], ui["controls"]
    controls["audio_view"].value = "log-mel"
    where = np.flatnonzero(view.clock.chunk == 1)
    view.selection = (int(where[0]), int(where[-1]) + 1)  # the second chunk: 2.00-4.00 s of audio
    runs = log_mel_runs(layout, view.clock, view.log_mel, *view.selection)
    assert [(f0, f1) for *_, f0, f1 in runs] == [(200, 400)]
    tokens = runs[0][1] - runs[0][0]
    assert tokens == 50
    assert view.log_mel_text() == (f"log-mel input_features [128, {view.log_mel.shape[1]}]: frames 200-400 "
                                   f"(2.00 s) under 50 AUDIO tokens in 1 run")
    assert view.log_mel.shape[1] == layout.stats.mel_frames
    view.selection = (0, 5)
    assert view.log_mel_text().endswith("no AUDIO tokens in the selection")
