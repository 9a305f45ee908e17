"""``omni-bench bench grpo --json`` on a short clip: one tower pass and one prefill per group against G,
the same completions and log-probs (no wall-clock assertion)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # two worker processes, each a GRPO step on a tiny Omni model

ROOT = Path(__file__).resolve().parent.parent
G = 4


def test_bench_grpo_json(tmp_path):
    table = tmp_path / "grpo.md"
    command = [sys.executable, "-m", "omni_bench.cli", "bench", "grpo", "--seconds", "10", "--num-generations",
               str(G), "--json", "--markdown", str(table)]
    done = subprocess.run(command, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    towers, prefill = result["tower_forwards"], result["prefill_tokens"]
    assert towers == {"ours": 1, "duplicated": 2 * G}  # rollout and replay, per row on the duplicated path
    assert towers["ours"] * G <= towers["duplicated"]
    assert prefill["ours"] * G == prefill["duplicated"] and prefill["ours"] <= 2 / G * prefill["duplicated"]
    assert result["media_processed"] == {"ours": 1, "duplicated": G}
    decoder = result["decoder_tokens"]  # the replay shares the prompt's pass (G full rows: over half the duplicated)
    assert decoder["ours"] <= decoder["duplicated"] / 2
    assert result["same_completions"] is True and result["max_logprob_diff"] <= 1e-5
    for way in ("ours", "duplicated"):
        parity = result["parity"][way]
        assert parity["checked"] > 0 and parity["position_ids_equal"] == 1.0 and parity["max_logprob_diff"] <= 1e-5
    assert "| ours |" in table.read_text() and "| duplicated |" in table.read_text()
