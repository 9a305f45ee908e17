"""Stage lines (omni_bench.core.stages): what a command does before its slow steps, on stderr.

``train`` names each step before its first optimizer step (importing, the processor, the
records, the samples, the model, step 1); ``--no-progress`` and ``OMNI_BENCH_PROGRESS=0``
silence them, a pipe without ``OMNI_BENCH_PROGRESS=1`` gets none, and only ``RANK`` 0 of a
launch prints them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from omni_bench.core.stages import stage, stages_wanted

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("env,progress,wanted", [
    ({"OMNI_BENCH_PROGRESS": "1"}, True, True),
    ({"OMNI_BENCH_PROGRESS": "1"}, False, False),  # --no-progress
    ({"OMNI_BENCH_PROGRESS": "0"}, True, False),
    ({}, True, False),  # captured stderr is not a terminal
    ({"OMNI_BENCH_PROGRESS": "1", "RANK": "1"}, True, False),  # not the main process of a launch
])
def test_when_stage_lines_are_printed(env, progress, wanted, monkeypatch, capsys):
    for name in ("OMNI_BENCH_PROGRESS", "RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert stages_wanted(progress) is wanted
    stage("plan", "reading the headers...", progress)
    assert capsys.readouterr().err == ("omni-bench plan: reading the headers...\n" if wanted else "")


TRAIN = ["train", "--tiny", "--data", "data/longvale_sft.json", "--frames", "4", "--resize", "56x56",
         "--max-steps", "1", "--logging-steps", "1"]
STAGES = ["importing torch", "loading the qwen2.5-omni-7b processor", "read 3 records from data/longvale_sft.json",
          "3 samples (0 records dropped); building the tiny random model", "starting step 1 of 1"]


@pytest.mark.slow
@pytest.mark.parametrize("progress", [True, False])
def test_train_names_its_steps_before_the_first_one(progress, tmp_path):
    argv = [*TRAIN, "--output", str(tmp_path / "run"), *(() if progress else ("--no-progress",))]
    env = dict(os.environ, OMNI_BENCH_PROGRESS="1")
    done = subprocess.run([sys.executable, "-m", "omni_bench.cli", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("omni-bench train: ")]
    if not progress:
        assert lines == []
        return
    assert len(lines) == len(STAGES), lines
    for line, want in zip(lines, STAGES):
        assert line.startswith(f"omni-bench train: {want}"), (line, want)
    assert done.stderr.index(lines[-1]) < done.stderr.index("\ntrain:")  # before the progress bar's first step
