"""The CLI as a user runs it: JSON on stdout, one-line errors with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from omni_bench.cli import main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "omni_bench.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=300)


def test_inspect_json(clips, capsys):
    assert main(["inspect", str(clips / "street_market.mkv"), "--frames", "8", "--answer", "A bar.", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sampled_frames"] == 8 and data["video_grid_thw"][0][0] == 4
    assert data["processor_fps"] == pytest.approx(1.0)  # 8 frames over 8 s
    assert data["label_tokens"] > 0 and data["labelled_text"].endswith("<|im_end|>")
    assert [k for k, _ in data["vision_runs"][:2]] == ["VIDEO", "AUDIO"]


def test_inspect_text_report(clips, capsys):
    assert main(["inspect", str(clips / "kitchen_talk.mkv"), "--frames", "6", "--resize", "224x224",
                 "--processor-fps", "2"]) == 0
    out = capsys.readouterr().out
    assert "video_grid_thw: [[3, 16, 16]]" in out and "fps handed to the processor: 2" in out


@pytest.mark.parametrize("kind", ["missing", "garbage", "truncated", "silent", "bad-resize"])
def test_errors_exit_2_with_one_line(kind, tmp_path, clips):
    args = {
        "missing": [str(tmp_path / "missing.mp4")],
        "silent": [str(clips / "silent_walk.mkv")],
        "bad-resize": [str(clips / "street_market.mkv"), "--resize", "big"],
    }.get(kind)
    if kind == "garbage":
        (tmp_path / "g.mp4").write_bytes(b"\x00garbage" * 64)
        args = [str(tmp_path / "g.mp4")]
    if kind == "truncated":
        (tmp_path / "t.mkv").write_bytes((clips / "kitchen_talk.mkv").read_bytes()[:40000])
        args = [str(tmp_path / "t.mkv")]
    result = _run("inspect", *args)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("omni-bench: error: "), result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
