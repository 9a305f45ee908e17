"""Decoding real files: metadata, only-the-sampled-frames decoding, 16 kHz audio, clear errors."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from omni_bench import OmniBenchError, probe, read_audio, read_frames, write_clip


def test_probe_reads_what_the_writer_wrote(clip_with_sound):
    info = probe(clip_with_sound)
    assert (info.native_fps, info.width, info.height, info.has_audio) == (25.0, 320, 180, True)
    assert info.total_frames == round(6.37 * 25)
    assert info.duration == pytest.approx(info.total_frames / 25)
    assert info.audio_seconds == pytest.approx(6.37)


def test_decord_and_pyav_decode_the_same_frames(clip_with_sound):
    indices = [0, 1, 57, 100, 158]
    by_decord = read_frames(clip_with_sound, indices, backend="decord")
    by_pyav = read_frames(clip_with_sound, indices, backend="pyav")
    assert by_decord.shape == (5, 180, 320, 3) and by_decord.dtype == np.uint8
    np.testing.assert_array_equal(by_decord, by_pyav)
    # frames differ from one another: the pattern moves
    assert not np.array_equal(by_decord[0], by_decord[-1])


def test_audio_is_exact_at_16khz(clip_with_sound):
    audio = read_audio(clip_with_sound)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.shape[0] == round(6.37 * 16000)
    assert 0.05 < float(np.abs(audio).max()) <= 1.0


def test_clip_writer_is_deterministic(tmp_path):
    digests = []
    for name in ("a.mkv", "b.mkv"):
        write_clip(tmp_path / name, seconds=1.5, fps=10, width=64, height=48, seed=7)
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_bundled_data_is_what_the_script_writes(clips, tmp_path):
    write_clip(tmp_path / "street_market.mkv", seconds=8.0, fps=25.0, width=320, height=180, audio=True,
               tone_hz=440.0)
    assert (tmp_path / "street_market.mkv").read_bytes() == (clips / "street_market.mkv").read_bytes()


@pytest.fixture()
def bad_files(tmp_path, clip_with_sound):
    silent = tmp_path / "silent.mkv"
    write_clip(silent, seconds=1.0, fps=10, width=64, height=48, audio=False)
    truncated = tmp_path / "truncated.mkv"
    truncated.write_bytes(clip_with_sound.read_bytes()[:20000])
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video" * 100)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    return {"silent": silent, "truncated": truncated, "garbage": garbage, "empty": empty,
            "missing": tmp_path / "missing.mp4"}


def test_every_bad_file_raises_one_line_naming_it(bad_files):
    cases = {
        "missing": (lambda p: probe(p), "file not found"),
        "empty": (lambda p: probe(p), "file is empty"),
        "garbage": (lambda p: probe(p), "not a readable media file"),
        "truncated": (lambda p: read_frames(p, [0, probe(p).total_frames - 1]), "truncated"),
        "silent": (lambda p: read_audio(p), "no audio track"),
    }
    for name, (call, words) in cases.items():
        with pytest.raises(OmniBenchError) as info:
            call(bad_files[name])
        message = str(info.value)
        assert str(bad_files[name]) in message and words in message, message
        assert "\n" not in message


def test_empty_audio_track(tmp_path):
    import av

    path = tmp_path / "empty_audio.mkv"
    with av.open(str(path), "w", format="matroska") as container:
        video = container.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = container.add_stream("pcm_s16le", rate=16000)
        sound.layout = "mono"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
    assert probe(path).has_audio
    with pytest.raises(OmniBenchError, match="audio track is empty"):
        read_audio(path)
