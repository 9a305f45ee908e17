"""Preemption: SIGTERM mid-run ends ``omni-bench train`` at a step boundary with a complete checkpoint,
``stopped.json`` and exit status 75; ``--resume`` then ends as the uninterrupted run does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from omni_bench.training.metrics import read_metrics
from omni_bench.training.preempt import PREEMPTED_EXIT, STOPPED_FILE

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # trains (tens of seconds)

FLAGS = ["--tiny", "--data", str(ROOT / "data" / "longvale_sft.json"), "--frames", "4", "--resize", "56x56",
         "--max-steps", "8", "--logging-steps", "1", "--save-steps", "100", "--learning-rate", "1e-3",
         "--lora-dropout", "0.05", "--no-progress"]


def _env() -> dict:
    return {**os.environ, "OMNI_BENCH_CACHE": os.environ.get("OMNI_BENCH_CACHE", str(ROOT / ".cache" / "omni_bench"))}


def _train(*extra: str, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "omni_bench.cli", "train", *FLAGS, *extra], cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _wait_for_step(proc, output: Path, step: int, limit: float = 600) -> None:
    """Poll metrics.jsonl until the row of ``step`` is there (the test's own bound: a hung run fails)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if any(row["step"] >= step for row in read_metrics(output)) if (output / "metrics.jsonl").exists() else False:
            return
        if proc.poll() is not None:
            pytest.fail(f"train ended before step {step}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"no metrics row for step {step}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_checkpoints_and_resume_equals_uninterrupted(tmp_path, sig):
    stopped = tmp_path / "stopped"
    proc = _train("--output", str(stopped), "--json")
    _wait_for_step(proc, stopped, 3)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)  # finishes its step and the checkpoint within the grace period
    assert proc.returncode == PREEMPTED_EXIT, err[-2000:]
    line = [ln for ln in err.splitlines() if ln.startswith("omni-bench:")]
    assert len(line) == 1 and f"stopped by {sig.name}" in line[0] and "--resume" in line[0], err[-2000:]
    assert "Traceback" not in err
    info = json.loads((stopped / STOPPED_FILE).read_text())
    assert info["signal"] == sig.name and info["exit_status"] == PREEMPTED_EXIT
    step = info["step"]
    assert 3 <= step < 8
    assert json.loads(out)["stopped"]["step"] == step
    checkpoint = stopped / f"checkpoint-{step}"
    assert info["checkpoint"] == checkpoint.name
    for name in ("adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json"):
        assert (checkpoint / name).is_file(), name
    assert not (stopped / ".partial").exists()
    assert not (stopped / "adapter").exists()  # the run is not finished
    assert [r["step"] for r in read_metrics(stopped)] == list(range(1, step + 1))

    resume = subprocess.run([sys.executable, "-m", "omni_bench.cli", "train", "--config", str(stopped / "config.json"),
                             "--resume", "--json"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert resume.returncode == 0, resume.stderr[-2000:]
    resumed = json.loads(resume.stdout)
    assert resumed["resumed_from"].endswith(checkpoint.name)
    assert not (stopped / STOPPED_FILE).exists()

    reference = subprocess.run([sys.executable, "-m", "omni_bench.cli", "train", *FLAGS, "--output",
                                str(tmp_path / "reference"), "--json"], cwd=ROOT, env=_env(), capture_output=True,
                               text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr[-2000:]
    uninterrupted = json.loads(reference.stdout)["metrics"]
    assert [r["step"] for r in resumed["metrics"]] == list(range(1, 9))
    for ours, theirs in zip(resumed["metrics"], uninterrupted):
        for key in ("loss", "grad_norm", "learning_rate"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-6, abs=1e-9), (ours["step"], key)
    assert uninterrupted[-1]["loss"] != uninterrupted[0]["loss"]

    from safetensors.torch import load_file

    ours = load_file(str(stopped / "adapter" / "adapter_model.safetensors"))
    theirs = load_file(str(tmp_path / "reference" / "adapter" / "adapter_model.safetensors"))
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key].allclose(theirs[key], rtol=1e-5, atol=1e-7), key


def test_dpo_stops_on_sigterm_and_resumes_to_the_uninterrupted_run(tmp_path, dpo_pairs):
    """--method dpo takes the same Trainer path: a SIGTERM (sent here by the run itself at the end of step 2)
    stops it with checkpoint-2; --resume ends where the uninterrupted run ends."""
    from omni_bench._torchvision import ensure_torchvision

    ensure_torchvision()
    from transformers import TrainerCallback

    from omni_bench.training.config import TrainConfig
    from omni_bench.training.preempt import Preempted
    from omni_bench.training.run import train

    def config(output: str) -> TrainConfig:
        return TrainConfig(method="dpo", tiny=True, data=str(dpo_pairs), media_root=str(ROOT / "data"),
                           frames=4, resize=(56, 56), max_steps=4, save_steps=100, logging_steps=1,
                           learning_rate=1e-2, output=str(tmp_path / output), progress=False)

    class Terminate(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2:
                os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Preempted) as caught:
        train(config("stopped"), callbacks=[Terminate()])
    assert signal.getsignal(signal.SIGTERM) == previous  # the handler is given back
    assert caught.value.step == 2 and caught.value.checkpoint == tmp_path / "stopped" / "checkpoint-2"
    assert (caught.value.checkpoint / "trainer_state.json").is_file()
    assert "resume with: omni-bench train --config" in str(caught.value)
    resumed = train(config("stopped").replace(resume=True))
    whole = train(config("whole"))
    assert [r["step"] for r in resumed.metrics] == [1, 2, 3, 4]
    for ours, theirs in zip(resumed.metrics, whole.metrics):
        for key in ("loss", "rewards/margins", "logps/chosen"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-6, abs=1e-9), (ours["step"], key)
