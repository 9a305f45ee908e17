"""Hostile inputs through the command line (issue 17): every case is a real ``python -m omni_bench.cli``
run under a timeout, and must exit 2 with exactly one stderr line that names the input, no traceback.

Inputs are made here: ffmpeg clips and bytes surgery on them (zeroed middle, truncation, garbage
header), annotation and metadata files written by hand (Latin-1, deep nesting, strings for numbers),
a file where a run folder should be. validate and budget also check that nothing is lost:
``inputs == accounted + problems``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ffmpeg_media import ClipSpec, make_clip, requires_ffmpeg

pytestmark = pytest.mark.slow  # ~40 subprocesses of a few seconds each; CI runs them all

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 240  # seconds per command: a hang fails the test instead of blocking CI


def run_cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "omni_bench.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)


def answered(*args, cwd: Path) -> dict:
    """The JSON report of a command that must answer (exit 0, no traceback) despite bad inputs."""
    done = run_cli(*args, cwd=cwd)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)


def refused(done: subprocess.CompletedProcess, *named: str) -> str:
    """The one stderr line of a refused command, after checking exit 2, one line, no traceback, inputs named.

    ``inspect`` prints its stage lines ("omni-bench inspect: loading the ... processor") on stderr before the
    slow steps; those are progress, not the error, and are left out of the count.
    """
    lines = [line for line in done.stderr.strip().splitlines()
             if not (line.startswith("omni-bench inspect: ") and "error:" not in line)]
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert len(lines) == 1, done.stderr
    for name in named:
        assert name in lines[0], (name, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile_cli")


@pytest.fixture(scope="module")
def clip(work) -> Path:
    return make_clip(ClipSpec("mp4", "h264", "aac", seconds=4.0, fps="10", width=64, height=48), work)


@pytest.fixture(scope="module")
def damaged(work, clip) -> dict[str, Path]:
    """Bytes surgery on a good clip: zeroed middle third, first half only, a garbage header."""
    data = clip.read_bytes()
    n = len(data)
    out = {"zeroed": bytearray(data), "truncated": data[: n // 2], "garbage": bytearray(data)}
    out["zeroed"][n // 3: 2 * n // 3] = bytes(2 * n // 3 - n // 3)
    out["garbage"][:64] = b"\xff" * 64
    paths = {}
    for name, content in out.items():
        paths[name] = work / f"{name}.mp4"
        paths[name].write_bytes(bytes(content))
    return paths


@requires_ffmpeg
@pytest.mark.parametrize("which", ["zeroed", "truncated", "garbage"])
def test_inspect_refuses_a_damaged_clip_in_one_line(work, damaged, which):
    refused(run_cli("inspect", damaged[which], "--frames", 8, "--profile", "qwen2.5-omni-3b", cwd=work),
            damaged[which].name)


@requires_ffmpeg
def test_a_file_named_like_a_flag_gets_the_double_dash_hint_and_works_after_it(work, clip):
    dashed = work / "-clip.mp4"
    dashed.write_bytes(clip.read_bytes())
    line = refused(run_cli("plan", "-clip.mp4", cwd=work), "-clip.mp4")
    assert '"--"' in line
    assert run_cli("plan", "--", "-clip.mp4", cwd=work).returncode == 0


@requires_ffmpeg
def test_inspect_refuses_a_request_past_the_context_before_decoding(work):
    long_clip = make_clip(ClipSpec("mp4", "h264", "aac", seconds=80, fps="10", width=64, height=48), work)
    line = refused(run_cli("inspect", long_clip, "--fps", "1e9", "--profile", "qwen2.5-omni-3b", cwd=work),
                   long_clip.name, "32,768")
    assert "input ids" in line
    refused(run_cli("inspect", long_clip, "--fps", "1e9", "--sampling", "fps", cwd=work), long_clip.name)


FLAG_CASES = [  # (argv, what the line must name)
    (["plan", "--duration", "nan", "--width", 64, "--height", 48, "--native-fps", 10], ["--duration", "> 0"]),
    (["plan", "--duration", 8, "--width", 64, "--height", 48, "--native-fps", 10, "--seconds-per-chunk", "nan"],
     ["--seconds-per-chunk", "nan"]),
    (["plan", "--duration", 8, "--width", 64, "--height", 48, "--native-fps", 10, "--position-id-per-seconds",
      "inf"], ["--position-id-per-seconds"]),
    (["plan", "--duration", 8, "--width", 64, "--height", 48, "--native-fps", 10, "--processor-fps", "inf"],
     ["--processor-fps"]),
    (["plan", "--duration", 8, "--width", 64, "--height", 48, "--native-fps", 10, "--min-pixels", 9000,
      "--max-pixels", 100], ["--min-pixels", "--max-pixels"]),
    (["plan", "--duration", 8, "--width", 64, "--height", 48, "--native-fps", 10, "--min-pixels", -1],
     ["--min-pixels", ">= 1"]),
    (["plan", "--duration", 8, "--width", 64, "--height", 48, "--native-fps", 10, "--max-pixels", 0],
     ["--max-pixels"]),
    (["plan", "--duration", 8, "--width", 64, "--height", 48, "--native-fps", 10, "--fps", 1, "--min-frames", 9,
      "--max-frames", 4], ["--min-frames", "--max-frames"]),
    (["plan", "--duration", 8, "--width", "ten", "--height", 48, "--native-fps", 10], ["--width", "'ten'"]),
    (["samplers", "--total-frames", 0, "--native-fps", 10], ["--total-frames"]),
    (["budget", "x.mp4", "--max-total-tokens", -5], ["--max-total-tokens", ">= 1"]),
    (["validate", "x.json", "--max-total-tokens", "nan"], ["--max-total-tokens"]),
    (["train", "--tiny", "--data", "x.json", "--learning-rate", "nan"], ["--learning-rate"]),
    (["train", "--tiny", "--data", "x.json", "--lora-dropout", 1], ["--lora-dropout", "[0, 1)"]),
    (["bench", "loss", "--tokens", 0], ["--tokens"]),
    (["bench", "loss", "--vocab", 0], ["--vocab"]),
    (["bench", "loss", "--chunk-size", 0], ["--chunk-size"]),
    (["bench", "step", "--tokens", 0], ["--tokens"]),
    (["bench", "step", "--layers", 0], ["--layers"]),
    (["eval", "score", "log.jsonl", "--annotations", "a.json", "--examples", -1], ["--examples"]),
    (["eval", "run", "--tiny", "--annotations", "a.json", "--batch-size", 0], ["--batch-size", ">= 1"]),
    (["eval", "run", "--tiny", "--annotations", "a.json", "--fps", "nan"], ["--fps"]),
]


@pytest.mark.parametrize(("argv", "named"), FLAG_CASES, ids=[" ".join(map(str, a[:1] + a[-2:])) for a, _ in FLAG_CASES])
def test_bad_numbers_are_refused_where_parsed_with_the_bound(work, argv, named):
    refused(run_cli(*argv, cwd=work), *named)


def test_bench_cuda_without_cuda_is_one_line(work):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    refused(run_cli("bench", "loss", "--device", "cuda", "--tokens", 8, "--hidden", 8, "--vocab", 16, cwd=work),
            "--device cuda")


def test_annotation_files_that_cannot_be_read(work):
    latin = work / "latin1.json"
    latin.write_bytes('[{"id": "café", "conversations": []}]'.encode("latin-1"))
    deep = work / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    folder = work / "a_folder.json"
    folder.mkdir(exist_ok=True)
    for path, said in ((latin, "UTF-8"), (deep, "nested"), (folder, "folder")):
        assert said in refused(run_cli("validate", path, "--profile", "qwen2.5-omni-3b", cwd=work), path.name)


@requires_ffmpeg
def test_validate_lists_a_broken_line_and_bad_records_and_checks_the_rest(work, clip):
    (work / "v.mp4").write_bytes(clip.read_bytes())
    good = {"video": "v.mp4", "conversations": [{"from": "human", "value": "<video>\nWhat?"},
                                                {"from": "gpt", "value": "A test pattern."}]}
    listy = {**good, "conversations": [good["conversations"][0], {"from": "gpt", "value": ["a", "list"]}]}
    lines = [json.dumps(good), "{not json", json.dumps(listy), json.dumps(good)]
    data = work / "mixed.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = answered("validate", data, "--media-root", work, "--profile", "qwen2.5-omni-3b", "--frames", 4,
                      "--json", cwd=work)
    assert report["total"] == 4 == report["valid"] + len(report["problems"])
    assert [p["reason"] for p in report["problems"]] == ["bad-line", "turn-value"]
    assert "line 2" in report["problems"][0]["message"]


@requires_ffmpeg
def test_validate_a_negative_duration_is_one_problem_not_an_abort(work, clip):
    (work / "a.mp4").write_bytes(clip.read_bytes())
    (work / "b.mp4").write_bytes(clip.read_bytes())
    annotations = {"a": {"duration": 4.0, "timestamps": [[0.0, 2.0]], "sentences": ["A pattern."]},
                   "b": {"duration": -5.0, "timestamps": [[1.0, 2.0]], "sentences": ["A pattern."]},
                   "c": {"duration": 4.0, "timestamps": [[0.0, 2.0], [2.0, 3.0]], "sentences": ["One."]}}
    path = work / "annotations.json"
    path.write_text(json.dumps(annotations), encoding="utf-8")
    report = answered("validate", path, "--media-root", work, "--profile", "qwen2.5-omni-3b", "--frames", 4, "--json",
                      cwd=work)
    assert report["total"] == 3 == report["valid"] + len(report["problems"])
    assert {p["source"]: p["reason"] for p in report["problems"]} == {"b": "duration", "c": "events"}


def test_budget_metadata_with_a_string_width_and_a_nan_duration_lists_both(work):
    records = [{"path": "ok", "duration": 8, "width": 64, "height": 48, "native_fps": 10, "has_audio": False},
               {"path": "str-width", "duration": 8, "width": "64", "height": 48, "native_fps": 10},
               {"path": "nan-duration", "duration": float("nan"), "width": 64, "height": 48, "native_fps": 10}]
    path = work / "meta.json"
    path.write_text(json.dumps(records), encoding="utf-8")  # NaN is written as the NaN literal
    result = answered("budget", path, "--no-audio", "--profile", "qwen2.5-omni-3b", "--json", cwd=work)
    assert result["inputs"] == 3 == result["budgeted"] + len(result["problems"])
    assert {p["source"]: p["reason"] for p in result["problems"]} == {"str-width": "bad-number",
                                                                      "nan-duration": "bad-number"}


def test_train_refuses_an_output_that_is_a_file_and_a_config_with_a_string_number(work):
    data = work / "train.json"
    data.write_text("[]", encoding="utf-8")
    taken = work / "a_file"
    taken.write_text("x", encoding="utf-8")
    refused(run_cli("train", "--tiny", "--data", data, "--output", taken, cwd=work), "a_file")
    config = work / "config.json"
    config.write_text(json.dumps({"tiny": True, "data": str(data), "max_steps": "ten"}), encoding="utf-8")
    refused(run_cli("train", "--config", config, cwd=work), "config.json", "--max-steps", "'ten'")


@requires_ffmpeg
def test_validate_notes_mismatched_track_lengths_and_silent_audio_and_keeps_the_good_record(work, clip):
    specs = {"short_audio": ClipSpec("mkv", "h264", "aac", seconds=6.0, fps="10", width=64, height=48,
                                     audio_seconds=2.0),
             "silent": ClipSpec("mkv", "h264", "aac", seconds=2.0, fps="10", width=64, height=48, silent=True)}
    for name, spec in specs.items():
        (work / f"{name}.mkv").write_bytes(make_clip(spec, work).read_bytes())
    (work / "good.mp4").write_bytes(clip.read_bytes())
    turns = [{"from": "human", "value": "<video>\nWhat?"}, {"from": "gpt", "value": "A test pattern."}]
    records = [{"video": f"{name}", "conversations": turns} for name in ("short_audio.mkv", "silent.mkv", "good.mp4")]
    path = work / "tracks.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    report = answered("validate", path, "--media-root", work, "--profile", "qwen2.5-omni-3b", "--frames", 4, "--json",
                      cwd=work)
    assert report["total"] == 3 == report["valid"] + len(report["problems"]) and report["valid"] == 1
    assert [p["reason"] for p in report["problems"]] == ["track-lengths", "silent-audio"]


@requires_ffmpeg
def test_samplers_and_budget_on_a_damaged_clip(work, damaged):
    refused(run_cli("samplers", damaged["garbage"], cwd=work), "garbage.mp4")
    result = answered("budget", damaged["garbage"], damaged["truncated"], "--json", cwd=work)
    assert result["inputs"] == 2 == result["budgeted"] + len(result["problems"])
