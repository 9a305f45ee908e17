"""Helpers of the multi-process tests: ``accelerate launch`` of ``omni-bench train`` on 2 CPU processes.

The processes use gloo; CUDA is hidden (``CUDA_VISIBLE_DEVICES=""``) rather than passing ``--cpu``,
with which accelerate starts a single process (see omni_bench/training/distributed.py). Every launch
runs in its own process group under a timeout, and the whole group is killed when it runs out, so a
hang (the failure these tests exist for) ends the test instead of the CI job.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs the CLI; with --no-idle-towers first, the idle towers' dummy forward is left out
# (what the mixed-modality test compares against, and shows failing under FSDP).
CLI_SCRIPT = """
import sys
import omni_bench  # noqa: F401  (prepares torchvision before transformers' Trainer)
if sys.argv[1] == "--no-idle-towers":
    del sys.argv[1]
    import omni_bench.training.towers as towers
    towers.install_idle_towers = lambda model, family=None: None
from omni_bench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _script() -> str:
    """:data:`CLI_SCRIPT` as a file (accelerate launch runs a script path or a module)."""
    with tempfile.NamedTemporaryFile("w", suffix="_train.py", prefix="omni_bench_", delete=False) as handle:
        handle.write(CLI_SCRIPT)
    return handle.name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scaled_checkpoint(folder: Path) -> Path:
    """The tiny Omni thinker with its LM head scaled x25 (one step moves the loss visibly, see
    tests/test_train_sanity.py), saved with its processor as a checkpoint directory."""
    import torch

    from omni_bench import load_processor, tiny_model

    model = tiny_model("qwen2.5-omni-7b")
    with torch.no_grad():
        model.lm_head.weight.mul_(25)
    model.save_pretrained(folder)
    load_processor("qwen2.5-omni-7b").save_pretrained(folder)
    return folder


def records(tmp_path: Path, ids, name: str = "data.json", extra=()) -> Path:
    """A data file of the bundled LongVALE records ``ids`` (in that order) and ``extra`` records."""
    bundled = {r["id"]: r for r in json.loads((ROOT / "data" / "longvale_sft.json").read_text())}
    path = tmp_path / name
    path.write_text(json.dumps([*extra, *(bundled[i] for i in ids)]))
    return path


def launch(config: str | None, train_args: list[str], *, timeout: float, idle_towers: bool = True,
           processes: int = 2) -> subprocess.CompletedProcess:
    """``accelerate launch [--config_file configs/<config>] --num_processes 2 ... omni-bench train
    <train_args>``; fp32 (``--mixed_precision no``). Returns the completed process, or one with
    returncode None when the timeout killed the group."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1",
           "OMNI_BENCH_CACHE": os.environ.get("OMNI_BENCH_CACHE", str(ROOT / ".cache" / "omni_bench"))}
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    command += ["--config_file", str(ROOT / "configs" / config)] if config else ["--multi_gpu"]
    command += ["--num_processes", str(processes), "--num_machines", "1", "--mixed_precision", "no",
                "--dynamo_backend", "no", "--main_process_port", str(free_port()), _script()]
    command += ([] if idle_towers else ["--no-idle-towers"]) + ["train", *train_args]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return subprocess.CompletedProcess(command, None, out, err)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def result(proc: subprocess.CompletedProcess) -> dict:
    """The run's ``--json`` object (printed last, by the main process only)."""
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
