"""Hostile inputs of issue 24 (items 5-7) not covered by test_preempt / test_bad_samples /
test_atomic_checkpoint / test_eval_log_resume: a file the process may not read, and bad numbers given to
``omni_bench.plan``. Each case runs under a timeout or is a direct, cheap call."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import omni_bench
from omni_bench.core.errors import OmniBenchError

ROOT = Path(__file__).resolve().parent.parent
DROP_READ_CAPS = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                  "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.parametrize("duration", [float("nan"), float("inf"), "ten", None])
def test_plan_with_a_bad_duration_raises_one_error(duration):
    with pytest.raises(OmniBenchError) as caught:
        omni_bench.plan(duration=duration, width=640, height=360, native_fps=25, frames=4)
    assert caught.value.reason == "bad-metadata" and "\n" not in str(caught.value)


@pytest.mark.parametrize("field", ["width", "native_fps"])
def test_plan_with_a_non_finite_size_or_rate_raises_one_error(field):
    values = dict(duration=10.0, width=640, height=360, native_fps=25)
    values[field] = float("nan")
    with pytest.raises(OmniBenchError, match="finite"):
        omni_bench.plan(**values, frames=4)


def _unreadable_copy(tmp_path: Path) -> Path:
    clip = tmp_path / "locked.mkv"
    shutil.copy(ROOT / "data" / "clips" / "silent_walk.mkv", clip)
    clip.chmod(0)
    return clip


def _without_read_override(code: str, *args: str) -> subprocess.CompletedProcess:
    """``python -c code`` with the capabilities that let root read any file dropped (as a non-root user runs)."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed: cannot drop dac_override")
    probe = subprocess.run([*DROP_READ_CAPS, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop capabilities here: {probe.stderr.strip()}")
    return subprocess.run([*DROP_READ_CAPS, sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, "OMNI_BENCH_PROGRESS": "0"})


def test_a_file_without_read_permission_is_one_line(tmp_path):
    clip = _unreadable_copy(tmp_path)
    code = ("import sys\nfrom omni_bench.core.errors import OmniBenchError\n"
            "from omni_bench.core.media import probe, read_frames, read_audio\n"
            "for call in (probe, lambda p: read_frames(p, [0]), read_audio):\n"
            "    try:\n        call(sys.argv[1])\n    except OmniBenchError as exc:\n"
            "        print(exc.reason, exc)\n")
    done = _without_read_override(code, str(clip))
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines == [f"unreadable {clip}: cannot read (Permission denied); check the file's permissions"] * 3
    assert "ERROR" not in done.stderr  # no decoder spoke first


def test_the_cli_says_permission_denied_in_one_line(tmp_path):
    clip = _unreadable_copy(tmp_path)
    done = _without_read_override("import sys\nfrom omni_bench.cli import main\nsys.exit(main(sys.argv[1:]))",
                                  "inspect", str(clip), "--frames", "4")
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == (f"omni-bench: error: {clip}: cannot read (Permission denied); "
                                                    "check the file's permissions")
    assert "Traceback" not in done.stderr


def test_budget_lists_every_folder_entry_it_did_not_budget(tmp_path):
    from omni_bench.layout.budget import budget_dataset
    from omni_bench.layout.settings import LayoutSettings

    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(ROOT / "data" / "clips" / "silent_walk.mkv", folder / "good.mkv")
    (folder / "a.mp4").symlink_to(folder / "b.mp4")
    (folder / "b.mp4").symlink_to(folder / "a.mp4")  # a.mp4 -> b.mp4 -> a.mp4
    (folder / "gone.mp4").symlink_to(folder / "nothing.mp4")
    os.mkfifo(folder / "pipe.mp4")
    (folder / "clip.mp4").mkdir()  # a folder named like a video
    (folder / "linked").symlink_to(tmp_path)
    (folder / "notes.txt").write_text("not media")
    result = budget_dataset([folder], LayoutSettings(profile="qwen2.5-omni-3b", use_audio=False, frames=4))
    assert [Path(s).name for s in result.sources] == ["good.mkv"]
    assert {Path(name).name: why for name, why in result.skipped} == {
        "a.mp4": "a symlink loop", "b.mp4": "a symlink loop", "gone.mp4": "a symlink to nothing",
        "pipe.mp4": "a FIFO (named pipe), not a file", "clip.mp4": "a folder named like a video",
        "linked": "a symlink to a folder (not followed)",
        "notes.txt": "no video suffix and no container signature"}
    text = str(result)
    assert "7 other entries in the folders skipped: a.mp4 (a symlink loop)" in text


def test_a_decord_call_that_does_not_return_falls_back_to_pyav_within_its_bound(monkeypatch):
    import threading

    from omni_bench.core import media

    release = threading.Event()

    def stuck(path, indices):  # a decord call that never returns (until the test ends)
        release.wait(60)
        raise RuntimeError("released")

    clip = ROOT / "data" / "clips" / "street_market.mkv"
    expected = media.read_frames(clip, [0, 5, 9], backend="pyav")
    monkeypatch.setattr(media, "_read_decord", stuck)
    monkeypatch.setattr(media, "DECORD_SECONDS", 0.2)
    monkeypatch.setattr(media, "DECORD_SECONDS_PER_FRAME", 0.0)
    try:
        assert (media.read_frames(clip, [0, 5, 9]) == expected).all()  # auto: PyAV decoded them instead
        with pytest.raises(OmniBenchError, match=r"did not return within 0\.2 s") as caught:
            media.read_frames(clip, [0], backend="decord")
        assert caught.value.reason == "undecodable"
    finally:
        release.set()


FLAKY_REWARD = '''
def flaky(completions, targets, durations, **kwargs):
    """Raises on the kitchen prompt's completions (target "From 10 to 70."), else varies with the text."""
    if "From 10 to 70." in targets:
        raise ValueError("no score for this prompt")
    return [len(set(c)) / (len(c) + 1) for c in completions]
'''


def _grpo_prompts(tmp_path: Path) -> Path:
    question = "<video>\nAt which time interval in the video can we see the white bar cross the middle?"
    prompts = [{"id": id_, "video": f"clips/{clip}.mkv",
                "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]}
               for id_, clip, answer in (("street", "street_market", "From 40 to 60."),
                                         ("kitchen", "kitchen_talk", "From 10 to 70."))]
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps(prompts))
    (tmp_path / "flaky_reward.py").write_text(FLAKY_REWARD)
    return path


def _train_grpo(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    """``omni-bench train --method grpo`` on the two prompts with the flaky reward, under a timeout."""
    command = [sys.executable, "-m", "omni_bench.cli", "train", "--method", "grpo", "--tiny",
               "--data", str(_grpo_prompts(tmp_path)), "--media-root", str(ROOT / "data"), "--frames", "4",
               "--resize", "56x56", "--max-steps", "2", "--logging-steps", "1", "--save-steps", "100",
               "--learning-rate", "1e-2", "--batch-size", "1", "--grad-accum", "1", "--lora-dropout", "0",
               "--dtype", "float32", "--num-generations", "4", "--max-completion-length", "6",
               "--reward-funcs", "flaky_reward:flaky", "--no-progress", "--json", "--output", str(tmp_path / "run"),
               *extra]
    env = {**os.environ, "OMNI_BENCH_PROGRESS": "0", "PYTHONPATH": str(tmp_path)}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_grpo_reward_fault_skips_the_group_and_lists_it(tmp_path):
    """A user reward that raises on one prompt costs that prompt's group: the run completes, the group's step
    has no update (loss 0, grad norm 0, all-equal rewards counted by frac_reward_zero_std) and the prompt is
    listed like a bad sample (problems.jsonl, --json dropped, reason "reward", its step)."""
    from omni_bench.training.bad_samples import read_problems

    done = _train_grpo(tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    metrics = result["metrics"]
    assert [r["step"] for r in metrics] == [1, 2]
    rows = read_problems(tmp_path / "run")
    assert [(r["record"], r["reason"]) for r in rows] == [("kitchen", "reward")]
    assert "flaky_reward:flaky" in rows[0]["message"] and "no score" in rows[0]["message"]
    faulted = next(r for r in metrics if r["step"] == rows[0]["step"])
    other = next(r for r in metrics if r["step"] != rows[0]["step"])
    assert faulted["loss"] == 0.0 and faulted["grad_norm"] == 0.0 and faulted["frac_reward_zero_std"] == 1.0
    assert faulted["reward_faults"] == 1.0 and other["reward_faults"] == 0.0
    assert other["grad_norm"] > 0.0  # the good prompt's group trained
    dropped = [d for d in result["dropped"] if d["reason"] == "reward"]
    assert [d["source"] for d in dropped] == ["kitchen"] and f"step {rows[0]['step']}" in dropped[0]["message"]


@pytest.mark.slow
def test_grpo_reward_faults_count_toward_max_bad_samples(tmp_path):
    done = _train_grpo(tmp_path, "--max-bad-samples", "0")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "--max-bad-samples 0" in done.stderr and "problems.jsonl" in done.stderr


def _ffmpeg_clip(out: Path, *filters: str) -> Path:
    """A 4 s, 10 fps testsrc clip written by ffmpeg (under a timeout), with extra output options."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "4",
                    *filters, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out)], check=True, timeout=120)
    return out


@pytest.mark.parametrize("header, words", [("00:00:03.000000000", "the header says 3.00 s of video"),
                                           ("00:00:04.900000000", "the header says 4.90 s of video")])
def test_a_header_that_disagrees_with_the_stream_is_noted(tmp_path, header, words):
    """A Matroska DURATION tag patched off the stream (shorter, or longer by less than the truncated bound):
    probe uses the packets' 4 s and notes both figures (before, it used them silently)."""
    from omni_bench.core.media import probe

    clip = _ffmpeg_clip(tmp_path / "clip.mkv")
    assert probe(clip).notes == ()  # the honest header
    data = clip.read_bytes()
    assert data.count(b"00:00:04.000000000") == 1
    patched = tmp_path / "patched.mkv"
    patched.write_bytes(data.replace(b"00:00:04.000000000", header.encode()))
    info = probe(patched)
    assert info.duration == 4.0 and info.total_frames == 40
    assert len(info.notes) == 1 and words in info.notes[0] and "packets span 4.00 s" in info.notes[0]
    assert "notes" not in info.to_dict()  # the metadata fields only (plan takes them)


def test_a_variable_frame_rate_clip_is_noted_with_how_far_off(tmp_path):
    """Frames 0-19 every 0.05 s, then every 0.2 s: the nominal times (index / average rate) are off from the
    real timestamps; the note says by how much (the largest gap, computed here from the packets' times)."""
    import av

    from omni_bench.core.media import probe

    clip = _ffmpeg_clip(tmp_path / "vfr.mp4", "-vf", "setpts='if(lt(N,20),N*0.05,1+(N-20)*0.2)/TB'",
                        "-fps_mode", "vfr")
    info = probe(clip)
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stamps = sorted(float(p.pts * stream.time_base) for p in container.demux(stream) if p.size)
    off = max(abs(t - stamps[0] - i / info.native_fps) for i, t in enumerate(stamps))
    assert off > 1.5 / info.native_fps  # the clip is variable-rate indeed
    assert len(info.notes) == 1 and "variable frame rate" in info.notes[0] and f"up to {off:.3f} s" in info.notes[0]
    assert probe(_ffmpeg_clip(tmp_path / "cfr.mp4")).notes == ()  # a constant-rate clip has none


@pytest.mark.slow
def test_validate_prints_the_header_note(tmp_path):
    clip = _ffmpeg_clip(tmp_path / "clip.mkv")
    clip.write_bytes(clip.read_bytes().replace(b"00:00:04.000000000", b"00:00:03.000000000"))
    data = tmp_path / "data.json"
    data.write_text(json.dumps([{"id": "a", "video": "clip.mkv", "conversations": [
        {"from": "human", "value": "<video>\nWhat moves?"}, {"from": "gpt", "value": "A bar."}]}]))
    done = subprocess.run([sys.executable, "-m", "omni_bench.cli", "validate", str(data), "--media-root",
                           str(tmp_path), "--no-audio"], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "OMNI_BENCH_PROGRESS": "0"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert ("a: clip.mkv: the header says 3.00 s of video but its packets span 4.00 s (40 frames); "
            "the packets' 4.00 s are used") in done.stdout
