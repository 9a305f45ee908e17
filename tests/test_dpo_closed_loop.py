"""The DPO closed loop's chain from the CLI (issue 22 item 11), the commands of docs/preference.md:

1. ``train --config configs/train_tiny_grounding_start.json``: an under-trained SFT start A on the
   bundled grounding data (answers in the form, mIoU well below 90);
2. ``pairs --adapter A``: on-policy pairs with the command's defaults (K sampled replies per
   question scored by IoU, best against worst past the margin);
3. ``train --config configs/dpo_tiny_grounding.json --init-adapter A --data P``: DPO from A, the
   reference a frozen copy of A; preference accuracy reaches 1.0;
4. ``eval run --adapter B``: the DPO adapter reloads and answers every question.

What is NOT asserted: that mIoU(B) >= mIoU(A) + 10, the issue's goal. No DPO setting tried has
reached it yet (docs/preference.md, "The closed loop on the tiny model: not reached yet", has the
measured table); this test keeps the chain itself working while that is worked on.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "longvale_grounding.json"
CLIPS = ROOT / "data" / "clips"
START = ROOT / "configs" / "train_tiny_grounding_start.json"
DPO = ROOT / "configs" / "dpo_tiny_grounding.json"


def _cli(*args: str) -> dict:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMNI_BENCH_PROGRESS": "0"}
    done = subprocess.run([sys.executable, "-m", "omni_bench.cli", *args, "--json"], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _miou(output: Path, run: Path) -> float:
    result = _cli("eval", "run", "--annotations", str(DATA), "--media-root", str(CLIPS), "--adapter", str(run),
                  "--task", "grounding", "--prompts", "training", "--max-new-tokens", "16", "--no-progress",
                  "--output", str(output))
    grounding = result["scores"]["tasks"]["grounding"]
    return grounding["metrics"]["mIoU"], grounding["unparseable"]


@pytest.mark.slow
def test_sft_start_then_pairs_then_dpo_from_the_cli(tmp_path):
    start, tuned, pairs = tmp_path / "A", tmp_path / "B", tmp_path / "P.json"
    _cli("train", "--config", str(START), "--output", str(start), "--no-progress")
    before, unparseable = _miou(tmp_path / "A.jsonl", start)
    assert before < 90 and unparseable <= 3  # an under-trained start that already answers in the form
    made = _cli("pairs", "--annotations", str(DATA), "--media-root", str(CLIPS), "--task", "grounding",
                "--adapter", str(start), "--output", str(pairs), "--no-progress")
    assert made["source"] == "on-policy" and made["kept"] >= 5
    assert all(p["chosen_score"] >= p["rejected_score"] + 0.3 for p in made["pairs"])
    trained = _cli("train", "--config", str(DPO), "--init-adapter", str(start), "--data", str(pairs), "--output",
                   str(tuned), "--no-progress")
    rows = trained["metrics"]
    assert rows[-1]["rewards/accuracies"] == 1.0
    assert rows[-1]["rewards/margins"] > rows[0]["rewards/margins"] > 0 and rows[-1]["loss"] < rows[0]["loss"]
    result = _cli("eval", "run", "--annotations", str(DATA), "--media-root", str(CLIPS), "--adapter", str(tuned),
                  "--task", "grounding", "--prompts", "training", "--max-new-tokens", "16", "--no-progress",
                  "--output", str(tmp_path / "B.jsonl"))
    assert result["answered"] == 9
