"""Hostile inputs through the public functions (issue 17): one error type, bounded decoding, nothing lost.

Library calls are made directly (cheap); the one that used to hang (PyAV seeking back to the same key
frame of a long GOP) runs in a subprocess under a timeout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ffmpeg_media import ClipSpec, make_clip, requires_ffmpeg

from omni_bench.core.errors import OmniBenchError

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("content", "said"), [
    ('[{"id": "café"}]'.encode("latin-1"), "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"{broken", "not JSON"),
])
def test_load_records_raises_one_error_naming_the_file(tmp_path, content, said):
    from omni_bench.data.records import load_records

    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(OmniBenchError, match=said) as caught:
        load_records(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_a_broken_json_lines_line_is_one_record_with_a_defect(tmp_path):
    from omni_bench.data.records import load_records

    path = tmp_path / "data.jsonl"
    path.write_text('{"id": "a", "video": "a.mp4"}\n{"id": \n{"id": "c", "video": "c.mp4"}\n', encoding="utf-8")
    records = load_records(path)
    assert [r.id for r in records] == ["a", "data:1", "c"]
    assert [r.defects[0][0] if r.defects else None for r in records] == [None, "bad-line", None]
    assert "line 2" in records[1].defects[0][1]


def test_annotation_defects_are_noted_not_raised():
    from omni_bench.data.records import load_records

    records = load_records({"neg": {"duration": -5, "timestamps": [[1, 2]], "sentences": ["x"]},
                            "back": {"duration": 8, "timestamps": [[6, 2]], "sentences": ["x"]},
                            "short": {"duration": 8, "timestamps": [[0, 1], [2, 3]], "sentences": ["x"]},
                            "nan": {"duration": 8, "timestamps": [[float("nan"), 3]], "sentences": ["x"]}})
    assert [r.defects[0][0] for r in records] == ["duration", "interval", "events", "events"]
    assert "-5" in records[0].defects[0][1] and "before it starts" in records[1].defects[0][1]


@requires_ffmpeg
def test_pyav_decoding_of_a_long_gop_ends(tmp_path):
    clip = make_clip(ClipSpec("mp4", "h264", None, seconds=8.0, fps="10", width=64, height=48), tmp_path)
    long_gop = tmp_path / "long_gop.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(clip), "-c:v", "libx264",
                    "-g", "300", str(long_gop)], check=True, timeout=120)
    code = ("import sys; from omni_bench.core.media import read_frames; "
            f"print(read_frames({str(long_gop)!r}, [0, 40, 79], backend='pyav').shape)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(3, 48, 64, 3)"


@requires_ffmpeg
def test_audio_and_video_tracks_of_different_lengths_and_silent_audio(tmp_path):
    from omni_bench.core.media import probe
    from omni_bench.data.content import check_silence, check_tracks

    short_audio = make_clip(ClipSpec("mkv", "h264", "aac", seconds=10.0, fps="10", width=64, height=48,
                                     audio_seconds=3.0), tmp_path)
    with pytest.raises(OmniBenchError, match="audio track is 3") as caught:
        check_tracks(probe(short_audio))
    assert caught.value.reason == "track-lengths"
    silent = make_clip(ClipSpec("mkv", "h264", "pcm", seconds=2.0, fps="10", width=64, height=48, silent=True),
                       tmp_path)
    check_tracks(probe(silent))  # equal lengths: fine
    with pytest.raises(OmniBenchError, match="silent") as caught:
        check_silence(str(silent))
    assert caught.value.reason == "silent-audio"


@requires_ffmpeg
def test_budget_folder_walk_accounts_for_every_media_looking_file(tmp_path):
    from omni_bench.layout.budget import budget_dataset
    from omni_bench.layout.settings import LayoutSettings

    clip = make_clip(ClipSpec("mp4", "h264", None, seconds=2.0, fps="10", width=64, height=48), tmp_path)
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("UPPER.MP4", "phone.3gp", "camera.mts", "no_suffix"):
        (folder / name).write_bytes(clip.read_bytes())  # the same MP4 bytes: "no_suffix" is found by content
    (folder / "broken.MKV").write_bytes(b"\x1a\x45\xdf\xa3 not really")
    (folder / "notes.txt").write_text("not media", encoding="utf-8")
    result = budget_dataset([folder], LayoutSettings(profile="qwen2.5-omni-3b", use_audio=False, frames=4))
    assert result.total == 5 == len(result.sources) + len(result.problems)
    assert sorted(Path(s).name for s in result.sources) == ["UPPER.MP4", "camera.mts", "no_suffix", "phone.3gp"]
    assert [Path(p.source).name for p in result.problems] == ["broken.MKV"]
    assert [Path(name).name for name, _ in result.skipped] == ["notes.txt"]
    assert "notes.txt" in str(result)


def test_two_runs_on_one_folder_the_second_is_refused(tmp_path):
    from omni_bench.training.lock import run_lock

    with run_lock(tmp_path / "run"):
        with pytest.raises(OmniBenchError, match="another run is writing") as caught:
            with run_lock(tmp_path / "run"):
                pass
        assert caught.value.reason == "run-locked"
    with run_lock(tmp_path / "run"):  # released when the first run ends
        pass


def test_run_lock_is_released_when_its_process_is_killed(tmp_path):
    code = ("import os, sys, time; from pathlib import Path; from omni_bench.training.lock import run_lock\n"
            f"with run_lock(Path({str(tmp_path / 'run')!r})):\n    print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        from omni_bench.training.lock import run_lock

        with pytest.raises(OmniBenchError, match=f"pid {holder.pid}"):
            with run_lock(tmp_path / "run"):
                pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with run_lock(tmp_path / "run"):  # kill -9 leaves no stale lock
        pass


def test_a_run_config_with_a_string_number_names_the_file(tmp_path):
    from omni_bench.training.config import TrainConfig

    path = tmp_path / "config.json"
    path.write_text(json.dumps({"tiny": True, "data": "x.json", "max_steps": "ten"}), encoding="utf-8")
    with pytest.raises(OmniBenchError, match=r"config.json: --max-steps must be a whole number >= 1, got 'ten'"):
        TrainConfig.from_file(path)


@pytest.mark.parametrize("data", ["/dev/stdin", "folder", "missing.json"])
def test_train_names_data_that_is_not_a_regular_file(tmp_path, data):
    from omni_bench.training.config import TrainConfig
    from omni_bench.training.run import train

    (tmp_path / "folder").mkdir()
    path = data if data.startswith("/") else str(tmp_path / data)
    said = "annotation file not found" if data == "missing.json" else "--data must be a regular file"
    with pytest.raises(OmniBenchError, match=rf"^{path}: {said}"):
        train(TrainConfig(tiny=True, data=path, output=str(tmp_path / "run"), max_steps=1))
    assert not (tmp_path / "run").exists()  # refused before the run folder is made


@pytest.mark.parametrize("call", ["bench_loss", "bench_step"])
def test_bench_functions_refuse_zero_tokens(call):
    from omni_bench.bench.loss import bench_loss
    from omni_bench.bench.step import bench_step

    with pytest.raises(OmniBenchError, match="--tokens must be a whole number >= 1, got 0"):
        (bench_loss(0, 8, 16) if call == "bench_loss" else bench_step("qwen2.5-omni-3b", 0))


def test_every_number_field_of_the_settings_dataclasses_has_a_range():
    """A new int / float field must say its range in FIELD_BOUNDS: its flag, config key and library value are
    then refused when not finite or out of range, with the bound in the message."""
    from omni_bench.cli.flags import field_flags, number_type
    from omni_bench.core.numbers import FIELD_BOUNDS
    from omni_bench.eval.run import EvalConfig
    from omni_bench.layout.settings import LayoutSettings
    from omni_bench.training.config import TrainConfig

    numeric = {name for cls in (LayoutSettings, TrainConfig, EvalConfig)
               for name, spec in field_flags(cls).items() if spec.kind in ("int", "float")}
    assert sorted(numeric - set(FIELD_BOUNDS)) == []
    import argparse

    for name in sorted(numeric):
        with pytest.raises(argparse.ArgumentTypeError, match="must be a"):
            number_type(name, float)("nan")
    with pytest.raises(OmniBenchError, match=r"--fps must be a finite number > 0, got inf"):
        LayoutSettings(fps=float("inf"))
