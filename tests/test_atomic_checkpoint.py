"""Atomic checkpoints (training/checkpoint.py): a checkpoint that does not fit on the disk is one line and a
non-zero exit, leaves no half-written checkpoint, and --resume continues from the previous one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from omni_bench.core.errors import OmniBenchError
from omni_bench.training.checkpoint import PARTIAL_DIR, _no_space, disk_full_error
from omni_bench.training.run import last_checkpoint

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--tiny", "--data", str(ROOT / "data" / "longvale_sft.json"), "--frames", "4", "--resize", "56x56",
         "--max-steps", "4", "--save-steps", "2", "--logging-steps", "1", "--no-progress"]


def _env() -> dict:
    return {**os.environ, "OMNI_BENCH_CACHE": os.environ.get("OMNI_BENCH_CACHE", str(ROOT / ".cache" / "omni_bench"))}


def _mount(folder: Path, size: str, *, remount: bool = False) -> subprocess.CompletedProcess:
    options = f"remount,size={size}" if remount else f"size={size}"
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                          text=True)


def test_a_partial_checkpoint_is_never_resumed(tmp_path):
    (tmp_path / PARTIAL_DIR / "checkpoint-6").mkdir(parents=True)
    (tmp_path / PARTIAL_DIR / "checkpoint-6" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-4").mkdir()  # killed before trainer_state.json (a run of an older version)
    assert last_checkpoint(tmp_path) is None
    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-2" / "trainer_state.json").write_text("{}")
    assert last_checkpoint(tmp_path) == tmp_path / "checkpoint-2"


def test_the_disk_full_line_and_its_detection(tmp_path):
    error = disk_full_error(tmp_path / "checkpoint-4", 3 * 2**20, 2**19, tmp_path / "checkpoint-2")
    assert isinstance(error, OmniBenchError) and error.reason == "disk-full"
    assert str(error) == (f"{tmp_path / 'checkpoint-4'}: no space left on the disk for checkpoint-4 (a checkpoint "
                          "takes about 3.0 MiB, 0.5 MiB free); free space or move --output, then --resume continues "
                          "from checkpoint-2")
    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError as exc:
            raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed") from exc
    except RuntimeError as wrapped:
        assert _no_space(wrapped)
    assert not _no_space(RuntimeError("file write failed"))


@pytest.mark.slow  # trains 4 tiny steps twice
def test_a_full_disk_stops_in_one_line_and_the_previous_checkpoint_resumes(tmp_path):
    if shutil.which("mount") is None:
        pytest.skip("no mount command: a small tmpfs cannot be made")
    disk = tmp_path / "disk"
    disk.mkdir()
    # a tiny run's checkpoint takes about 450 KB: 700 KB hold the first and not the second
    mounted = _mount(disk, "700k")
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here (needs root / CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        run = disk / "run"
        proc = subprocess.run([sys.executable, "-m", "omni_bench.cli", "train", *FLAGS, "--output", str(run)],
                              cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
        assert proc.returncode == 2, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.startswith("omni-bench: error:")]
        assert len(lines) == 1, proc.stderr[-3000:]
        assert f"{run / 'checkpoint-4'}: no space left on the disk for checkpoint-4" in lines[0]
        assert "MiB free" in lines[0] and "--resume continues from checkpoint-2" in lines[0]
        assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-2"]
        assert not (run / PARTIAL_DIR).exists()  # the half-written one is gone
        assert last_checkpoint(run) == run / "checkpoint-2"

        assert _mount(disk, "8m", remount=True).returncode == 0  # space freed
        resumed = subprocess.run([sys.executable, "-m", "omni_bench.cli", "train", "--config",
                                  str(run / "config.json"), "--resume", "--json"], cwd=ROOT, env=_env(),
                                 capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        result = json.loads(resumed.stdout)
        assert result["resumed_from"] == str(run / "checkpoint-2")
        assert [row["step"] for row in result["metrics"]] == [1, 2, 3, 4]
        assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
        assert (run / "adapter" / "adapter_model.safetensors").is_file()
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
