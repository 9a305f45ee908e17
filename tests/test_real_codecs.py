"""Header-only numbers against the real decoder and processor, on clips ffmpeg wrote (issue 11 items 2, 3).

For every clip: ``probe`` (container and packets, nothing decoded) must give the frame count that
decord and PyAV decode and the 16 kHz sample count ``read_audio`` returns; ``plan`` and ``budget``
on that probe must equal ``inspect``, which decodes the file and runs transformers' real processor.
"""

from __future__ import annotations

import dataclasses
import random
import wave

import av
import numpy as np
import pytest
from ffmpeg_media import ClipSpec, make_clip, requires_ffmpeg

import omni_bench
from omni_bench.core.media import AUDIO_RATE, probe, read_audio
from omni_bench.core.packets import flac_block_size, opus_packet_samples, resampled_length
from omni_bench.layout.budget import budget_dataset
from omni_bench.layout.settings import LayoutSettings

pytestmark = requires_ffmpeg

# codec x container pairs ffmpeg can write, at durations and rates that do not divide evenly
AUDIO_CLIPS = [
    ClipSpec("mkv", "h264", "aac", 11.3, "30"),
    ClipSpec("mp4", "h264", "aac", 11.3, "30"),
    ClipSpec("mov", "h264", "aac", 4.7, "30", sample_rate=48000),
    ClipSpec("avi", "h264", "aac", 11.3, "30"),
    ClipSpec("mkv", "h264", "mp3", 29.9, "30"),
    ClipSpec("mp4", "h264", "mp3", 29.9, "30"),
    ClipSpec("avi", "mpeg4", "mp3", 6.35, "30000/1001"),
    ClipSpec("mov", "h264", "mp3", 4.7, "30", sample_rate=48000),
    ClipSpec("mkv", "h264", "opus", 4.7, "30", sample_rate=48000),
    ClipSpec("webm", "vp9", "opus", 4.7, "30", sample_rate=48000),
    ClipSpec("mp4", "h264", "opus", 4.7, "30", sample_rate=48000),
    ClipSpec("mkv", "h264", "vorbis", 11.3, "30"),
    ClipSpec("webm", "vp8", "vorbis", 4.45, "24000/1001"),
    ClipSpec("mkv", "h264", "flac", 11.3, "30"),
    ClipSpec("mkv", "hevc", "flac", 3.7, "60000/1001", sample_rate=48000),
    ClipSpec("mkv", "h264", "pcm", 7.3, "30", sample_rate=22050),
    ClipSpec("mov", "h264", "pcm", 3.1, "60000/1001"),
    ClipSpec("avi", "mjpeg", "pcm", 2.9, "25"),
]

# containers, fractional durations, NTSC rates and variable frame rates
FRAME_CLIPS = [
    ClipSpec("mkv", "h264", "mp3", 29.9, "30"),  # the clip that crashed inspect
    ClipSpec("mkv", "h264", "aac", 9.95, "24000/1001"),
    ClipSpec("webm", "vp9", "opus", 7.7, "30000/1001", sample_rate=48000),
    ClipSpec("mp4", "h264", "aac", 5.3, "24000/1001"),
    ClipSpec("mov", "h264", "pcm", 3.1, "60000/1001"),
    ClipSpec("avi", "mpeg4", "mp3", 6.35, "30000/1001"),
    ClipSpec("mp4", "h264", "aac", 4.45, "60000/1001"),
    ClipSpec("mkv", "h264", "aac", 8.2, "30", vfr=True),
    ClipSpec("mp4", "h264", "aac", 8.2, "30", vfr=True),
    ClipSpec("webm", "vp9", "opus", 6.1, "30000/1001", sample_rate=48000, vfr=True),
    ClipSpec("avi", "mpeg4", "pcm", 5.5, "30000/1001", vfr=True),
]

SMALL = LayoutSettings(frames=4, resize=(56, 56))


def _decoded_frames(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


@pytest.fixture(scope="module")
def ffmpeg_dir(tmp_path_factory):
    """ffmpeg-written clips, shared by this module's tests."""
    return tmp_path_factory.mktemp("ffmpeg_codec_clips")


@pytest.fixture(scope="module")
def processor():
    return omni_bench.load_processor("qwen2.5-omni-7b")


@pytest.mark.parametrize("spec", AUDIO_CLIPS, ids=lambda s: s.name)
def test_header_audio_length_is_the_decoded_length(spec, ffmpeg_dir):
    path = make_clip(spec, ffmpeg_dir)
    info = probe(path)
    assert info.audio_uncertainty == 0
    assert round(info.audio_seconds * AUDIO_RATE) == len(read_audio(path))


@pytest.mark.parametrize("spec", AUDIO_CLIPS, ids=lambda s: s.name)
def test_header_budget_and_plan_equal_the_processor(spec, ffmpeg_dir, processor):
    path = make_clip(spec, ffmpeg_dir)
    real = omni_bench.inspect(str(path), SMALL, processor=processor)
    planned = omni_bench.plan(probe(path), SMALL, processor=processor)
    budgeted = budget_dataset([path], SMALL, processor=processor).budget
    assert real.stats.audio_tokens > 0
    assert planned.stats.audio_tokens == real.stats.audio_tokens
    assert planned.stats.audio_tokens_uncertainty == 0
    assert int(budgeted.audio_tokens[0]) == real.stats.audio_tokens
    assert int(budgeted.audio_tokens_uncertainty[0]) == 0
    assert int(budgeted.total_tokens[0]) == len(real.input_ids)
    assert planned.stats.mel_frames == real.stats.mel_frames
    assert dataclasses.replace(planned, source="processor") == real


def test_the_issue_s_aac_case_budgets_what_the_processor_gives(ffmpeg_dir, processor):
    """11.3 s of 44.1 kHz AAC in MP4: the container's duration (11.3 s, 282 tokens) leaves out the decoder's
    1024 priming samples and its last full frame; the processor gets 283 tokens, and so does the probe."""
    path = make_clip(ClipSpec("mp4", "h264", "aac", 11.3, "30"), ffmpeg_dir)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        container_seconds = float(stream.duration * stream.time_base)
    header_tokens = omni_bench.plan(probe(path), SMALL, processor=processor, audio_seconds=container_seconds)
    real = omni_bench.inspect(str(path), SMALL, processor=processor)
    exact = omni_bench.plan(probe(path), SMALL, processor=processor)
    assert (header_tokens.stats.audio_tokens, real.stats.audio_tokens) == (282, 283)
    assert exact.stats.audio_tokens == 283


@pytest.mark.parametrize("spec", FRAME_CLIPS, ids=lambda s: s.name)
def test_frame_count_is_what_the_decoders_decode(spec, ffmpeg_dir):
    import decord

    path = make_clip(spec, ffmpeg_dir)
    info = probe(path)
    assert info.total_frames == len(decord.VideoReader(str(path))) == _decoded_frames(path)


@pytest.mark.parametrize("spec", FRAME_CLIPS, ids=lambda s: s.name)
def test_inspect_runs_and_plan_equals_it(spec, ffmpeg_dir, processor):
    """Default fps sampling reaches the last frame (index total - 1): it must exist."""
    path = make_clip(spec, ffmpeg_dir)
    settings = LayoutSettings(resize=(56, 56))
    real = omni_bench.inspect(str(path), settings, processor=processor)
    planned = omni_bench.plan(probe(path), settings, processor=processor)
    assert real.stats.frame_indices[-1] == probe(path).total_frames - 1
    assert dataclasses.replace(planned, source="processor") == real
    assert planned.input_ids == real.input_ids and planned.stats.video_grid_thw == real.stats.video_grid_thw


@pytest.mark.parametrize("spec", FRAME_CLIPS, ids=lambda s: s.name)
def test_the_pyav_reader_numbers_frames_as_decoding_in_order_does(spec, ffmpeg_dir):
    """read_frames(backend="pyav") seeks; frame i must be the i-th frame of a plain decode, last one included."""
    from omni_bench.core.media import read_frames

    path = make_clip(spec, ffmpeg_dir)
    total = probe(path).total_frames
    wanted = sorted({0, 1, total // 3, total // 2 + 1, total - 2, total - 1})
    with av.open(str(path)) as container:
        every = [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]
    got = read_frames(path, wanted, backend="pyav")
    assert len(every) == total
    for frame, i in zip(got, wanted):
        assert np.array_equal(frame, every[i]), i


def _write_wav(path, samples: int, rate: int) -> None:
    data = (np.sin(np.arange(samples) * 0.05) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(data.tobytes())


def test_resampled_length_equals_read_audio(tmp_path):
    """The length formula against read_audio's own resampler, at many lengths and rates."""
    rng = random.Random(11)
    for k in range(40):
        rate = rng.choice([8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000])
        samples = rng.choice([rng.randint(1, 5000), rng.randint(5000, 2_000_000)])
        path = tmp_path / f"{k}.wav"
        _write_wav(path, samples, rate)
        expected = resampled_length(samples, rate)
        if expected == 0:  # a few samples only: the resampler's filter keeps them all
            with pytest.raises(omni_bench.OmniBenchError, match="empty"):
                read_audio(path)
        else:
            assert expected == len(read_audio(path)), (samples, rate)


def test_packet_header_rules():
    assert opus_packet_samples(bytes([0xFC])) == 960  # CELT 20 ms
    assert opus_packet_samples(bytes([0x18])) == 2880  # config 3: SILK 60 ms
    assert opus_packet_samples(bytes([0xFD])) == 1920  # code 1: two CELT 20 ms frames
    assert opus_packet_samples(bytes([0x7B, 0x05])) == 5 * 960  # config 15 (hybrid 20 ms), code 3, 5 frames
    assert flac_block_size(bytes([0xFF, 0xF8, 0x69, 0x08, 0x00, 0x2C])) == 45  # code 6: 8-bit size - 1
    assert flac_block_size(bytes([0xFF, 0xF8, 0x79, 0x08, 0xC2, 0x80, 0x11, 0xFF])) == 0x11FF + 1  # 2-byte number


@pytest.mark.parametrize("container", ["mov", "mkv"])
def test_a_codec_without_an_exact_rule_reports_its_uncertainty(container, ffmpeg_dir, processor):
    """ALAC: no fixed frame size and no parser rule here, so the count comes from packet
    timestamps; the plan says "±N" and the processor's count lies within it."""
    path = make_clip(ClipSpec(container, "h264", "alac", 6.7, "30"), ffmpeg_dir)
    info = probe(path)
    assert info.audio_uncertainty > 0
    assert abs(round(info.audio_seconds * AUDIO_RATE) - len(read_audio(path))) <= info.audio_uncertainty
    planned = omni_bench.plan(info, SMALL, processor=processor)
    real = omni_bench.inspect(str(path), SMALL, processor=processor)
    spread = planned.stats.audio_tokens_uncertainty
    assert spread >= 1 and abs(planned.stats.audio_tokens - real.stats.audio_tokens) <= spread
    assert f"±{spread}" in str(planned) and any("±" in note for note in planned.notes)
    budgeted = budget_dataset([path], SMALL, processor=processor)
    assert int(budgeted.budget.audio_tokens_uncertainty[0]) == spread
    assert f"±{spread}" in str(budgeted)


def test_the_inspectors_live_replan_shows_the_processors_counts(ffmpeg_dir, processor):
    """The inspector re-plans from the probe; on the AAC clip the container's duration got wrong it
    now shows the run it started from, token for token."""
    pytest.importorskip("ipywidgets")
    from omni_bench_widgets.inspector import InspectorView

    path = make_clip(ClipSpec("mp4", "h264", "aac", 11.3, "30"), ffmpeg_dir)
    real = omni_bench.inspect(str(path), SMALL, processor=processor)
    view = InspectorView(real, probe(path), SMALL)
    view.replan(SMALL)
    assert view.error is None and view.planner == "plan"
    assert view.layout.input_ids == real.input_ids
    assert (view.layout.stats.audio_tokens, view.layout.stats.mel_frames) == (real.stats.audio_tokens,
                                                                              real.stats.mel_frames)
