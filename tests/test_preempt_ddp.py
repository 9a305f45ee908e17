"""Preemption under ``accelerate launch`` (2 CPU processes): a SIGTERM sent to rank 1 only stops both ranks at
the same step (rank 0 learns of it through the per-step all-reduce in omni_bench/training/preempt.py) with one
complete checkpoint; ``--resume`` under the same launch then trains like 1 process x the same global batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from launch import free_port, records

from omni_bench.training.metrics import read_metrics
from omni_bench.training.preempt import PREEMPTED_EXIT, STOPPED_FILE
from omni_bench.training.run import TrainConfig, train

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # spawns two training processes three times (minutes)
IDS = ("street_market", "portrait_music")  # one record per rank: the global batch is both, as 1 x batch 2


def _env() -> dict:
    return {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1",
            "OMNI_BENCH_CACHE": os.environ.get("OMNI_BENCH_CACHE", str(ROOT / ".cache" / "omni_bench"))}


def _launch(train_args: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(free_port()), "-m", "omni_bench.cli", "train", *train_args]
    return subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _finish(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """The launcher's output; a hang (the failure this test exists for) kills its process group and fails."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        pytest.fail(f"the launch did not end within {timeout} s: {err[-3000:]}")


def _rank_worker(launcher: subprocess.Popen, rank: int) -> psutil.Process:
    """The launcher's worker process with ``RANK=rank`` (the workers are children of the launcher)."""
    for child in psutil.Process(launcher.pid).children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank) and "omni_bench.cli" in child.cmdline():
                return child
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    pytest.fail(f"no worker of rank {rank} under the launcher")


def _wait_for_step(proc: subprocess.Popen, output: Path, step: int, limit: float = 900) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if (output / "metrics.jsonl").exists() and any(row["step"] >= step for row in read_metrics(output)):
            return
        if proc.poll() is not None:
            pytest.fail(f"the launch ended before step {step}: {proc.stderr.read()[-3000:]}")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"no metrics row for step {step}")


def test_sigterm_to_one_rank_stops_both_at_one_step_and_resume_matches(tmp_path):
    data = records(tmp_path, IDS)
    common = ["--tiny", "--data", str(data), "--media-root", str(ROOT / "data"), "--frames", "4", "--resize",
              "56x56", "--max-steps", "8", "--logging-steps", "1", "--save-steps", "100", "--learning-rate", "1e-3",
              "--lora-dropout", "0", "--dtype", "float32", "--batch-size", "1", "--no-progress", "--json"]
    stopped = tmp_path / "stopped"
    proc = _launch([*common, "--output", str(stopped)])
    _wait_for_step(proc, stopped, 3)
    worker = _rank_worker(proc, 1)
    other = _rank_worker(proc, 0)
    worker.send_signal(signal.SIGTERM)  # rank 0 is not signalled: it stops only through the all-reduce
    out, err = _finish(proc, 90)
    # each worker exits 75; accelerate launch (torch's elastic agent) reports a failed child as a ChildFailedError
    # naming each rank's exit code and itself exits 1
    assert proc.returncode == 1, err[-3000:]
    assert err.count(f"exitcode  : {PREEMPTED_EXIT} ") == 2, err[-3000:]
    assert not other.is_running() and not worker.is_running()
    # the one traceback is the launcher's report of the failed children, none from a worker
    assert err.count("Traceback") == 1 and "ChildFailedError" in err.split("Traceback")[1], err[-3000:]
    info = json.loads((stopped / STOPPED_FILE).read_text())
    step = info["step"]
    assert 3 <= step < 8 and info["exit_status"] == PREEMPTED_EXIT
    assert json.loads(out.strip().splitlines()[-1])["stopped"]["step"] == step  # printed by rank 0
    lines = [ln for ln in err.splitlines() if ln.startswith("omni-bench:")]
    assert len(lines) == 1 and f"after step {step} " in lines[0], err[-3000:]  # rank 0's one line
    assert sorted(p.name for p in stopped.glob("checkpoint-*")) == [f"checkpoint-{step}"] == [info["checkpoint"]]
    checkpoint = stopped / info["checkpoint"]
    for name in ("adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json",
                 "rng_state_0.pth", "rng_state_1.pth"):
        assert (checkpoint / name).is_file(), name  # both ranks saved at the same step
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == step
    assert not (stopped / "adapter").exists()
    assert [r["step"] for r in read_metrics(stopped)] == list(range(1, step + 1))

    resume = _launch(["--config", str(stopped / "config.json"), "--resume", "--json"])
    out, err = _finish(resume, 900)
    assert resume.returncode == 0, err[-3000:]
    resumed = json.loads(out.strip().splitlines()[-1])
    assert resumed["world_size"] == 2 and resumed["resumed_from"].endswith(checkpoint.name)
    assert not (stopped / STOPPED_FILE).exists()

    single = train(TrainConfig(tiny=True, data=str(data), media_root=str(ROOT / "data"), frames=4, resize=(56, 56),
                               max_steps=8, logging_steps=1, save_steps=100, learning_rate=1e-3, lora_dropout=0.0,
                               dtype="float32", batch_size=2, output=str(tmp_path / "single"), progress=False))
    assert single.world_size == 1
    assert [r["step"] for r in resumed["metrics"]] == [r["step"] for r in single.metrics] == list(range(1, 9))
    for ours, theirs in zip(resumed["metrics"], single.metrics):
        for key in ("loss", "grad_norm", "learning_rate"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-4), (ours["step"], key)
    assert single.metrics[-1]["loss"] != single.metrics[0]["loss"]
