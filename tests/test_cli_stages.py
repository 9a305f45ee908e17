"""Stage lines (omni_bench.core.stages): what a command does before its slow steps, on stderr.

``train`` names each step before its first optimizer step (importing, the processor, the
records, the samples, the model, step 1); ``--no-progress`` and ``OMNI_BENCH_PROGRESS=0``
silence them, a pipe gets them too (with no bar redraws: the progress bar becomes stage lines),
a Jupyter kernel only with ``OMNI_BENCH_PROGRESS=1``, and only ``RANK`` 0 of a launch prints them.
Each line ends with the seconds since the process started.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from omni_bench.core import stages
from omni_bench.core.stages import progress_bar, stage, stages_wanted

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("env,progress,wanted", [
    ({"OMNI_BENCH_PROGRESS": "1"}, True, True),
    ({"OMNI_BENCH_PROGRESS": "1"}, False, False),  # --no-progress
    ({"OMNI_BENCH_PROGRESS": "0"}, True, False),
    ({}, True, True),  # captured stderr is not a terminal: a log gets the stage lines
    ({"OMNI_BENCH_PROGRESS": "1", "RANK": "1"}, True, False),  # not the main process of a launch
])
def test_when_stage_lines_are_printed(env, progress, wanted, monkeypatch, capsys):
    for name in ("OMNI_BENCH_PROGRESS", "RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert stages_wanted(progress) is wanted
    stage("plan", "reading the headers...", progress)
    err = capsys.readouterr().err
    if not wanted:
        assert err == ""
        return
    match = re.fullmatch(r"omni-bench plan: reading the headers\.\.\. \((\d+\.\d) s\)\n", err)
    assert match, err
    assert float(match.group(1)) == pytest.approx(stages.elapsed(), abs=60)  # since the process began


def test_a_notebook_kernel_gets_stage_lines_only_when_asked(monkeypatch):
    monkeypatch.delenv("OMNI_BENCH_PROGRESS", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.setattr(stages, "_in_notebook", lambda: True)
    assert not stages_wanted()
    monkeypatch.setenv("OMNI_BENCH_PROGRESS", "1")
    assert stages_wanted()


def test_a_piped_progress_bar_is_stage_lines_not_redraws(monkeypatch, capsys):
    monkeypatch.delenv("OMNI_BENCH_PROGRESS", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    clock = iter([0.0, 1.0, 2.0, 15.0, 16.0, 17.0])
    monkeypatch.setattr(stages, "_clock", lambda: next(clock))
    bar = progress_bar("eval", 6, unit="queries")
    for _ in range(6):
        bar.update(1)
    bar.set_postfix(loss="0.5")
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert "\r" not in "".join(lines)
    # the first step, the first one LINE_EVERY_S seconds later, the last
    assert [re.sub(r" \(\d+\.\d s\)$", "", line) for line in lines] == [
        "omni-bench eval: 1/6 queries", "omni-bench eval: 4/6 queries", "omni-bench eval: 6/6 queries"]
    quiet = progress_bar("eval", 2, progress=False)
    quiet.update(2)
    quiet.close()
    assert capsys.readouterr().err == ""


TRAIN = ["train", "--tiny", "--data", "data/longvale_sft.json", "--frames", "4", "--resize", "56x56",
         "--max-steps", "1", "--logging-steps", "1"]
STAGES = ["importing torch", "loading the qwen2.5-omni-7b processor", "read 3 records from data/longvale_sft.json",
          "3 samples (0 records dropped); building the tiny random model", "starting step 1 of 1"]


@pytest.mark.slow
@pytest.mark.parametrize("progress", [True, False])
def test_train_names_its_steps_before_the_first_one(progress, tmp_path):
    argv = [*TRAIN, "--output", str(tmp_path / "run"), *(() if progress else ("--no-progress",))]
    env = {k: v for k, v in os.environ.items() if k != "OMNI_BENCH_PROGRESS"}  # piped: as a job's log gets it
    done = subprocess.run([sys.executable, "-m", "omni_bench.cli", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("omni-bench train: ")]
    if not progress:
        assert lines == []
        return
    assert "\r" not in done.stderr  # no bar redraws in a log
    assert len(lines) == len(STAGES) + 1, lines  # the stages, then the progress bar's one line (1 of 1 steps)
    for line, want in zip(lines, STAGES):
        assert line.startswith(f"omni-bench train: {want}"), (line, want)
    assert lines[-1].startswith("omni-bench train: 1/1 steps"), lines[-1]
    seconds = [float(re.search(r"\((\d+\.\d) s\)$", line).group(1)) for line in lines]
    assert seconds == sorted(seconds)  # one clock, from the process's start


def test_track_shows_an_iterable_as_stage_lines_in_a_log_and_nothing_in_a_notebook(monkeypatch, capsys):
    from omni_bench.core.stages import track

    monkeypatch.delenv("OMNI_BENCH_PROGRESS", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert list(track(range(3), "validate", unit="records")) == [0, 1, 2]
    lines = [re.sub(r" \(\d+\.\d s\)$", "", line) for line in capsys.readouterr().err.splitlines()]
    assert lines == ["omni-bench validate: 1/3 records", "omni-bench validate: 3/3 records"]
    monkeypatch.setattr(stages, "_in_notebook", lambda: True)  # None: not in a notebook
    assert list(track(range(3), "validate", unit="records")) == [0, 1, 2]
    assert capsys.readouterr().err == ""
