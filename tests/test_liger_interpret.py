"""The Liger backend, checked without a GPU: Liger-Kernel's own Triton kernel run by Triton's
interpreter on CPU (see ``tests/liger_interpret_check.py``), against transformers' loss.

On CUDA, ``tests/test_loss.py::test_liger_matches_transformers_on_cuda`` checks the compiled
kernel the same way. Skipped where liger-kernel (and so Triton) is not installed; the
``dev`` extra installs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # trains or spawns worker processes (seconds to minutes)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def interpreted(tmp_path_factory) -> dict:
    pytest.importorskip("liger_kernel")
    pytest.importorskip("triton")
    out = tmp_path_factory.mktemp("liger")
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONWARNINGS": "ignore",
           "OMNI_BENCH_CACHE": os.environ.get("OMNI_BENCH_CACHE", str(ROOT / ".cache" / "omni_bench"))}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "liger_interpret_check.py"), str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_liger_function_equals_transformers_loss(interpreted):
    cases = interpreted["function"]
    assert len(cases) == 8 and interpreted["function_calls"] == 8  # every case went through Liger
    for case in cases:
        assert case["liger"] == pytest.approx(case["naive"], rel=1e-5), case
        assert case["max_grad_diff"] < 1e-5, case
    # num_items_in_batch really changes the reduction (sum / 37 instead of the mean)
    assert {c["num_items_in_batch"] for c in cases} == {None, 37}
    assert len({round(c["naive"], 4) for c in cases}) == 8


def test_liger_in_the_models_equals_the_logits_path(interpreted):
    assert [row["model"] for row in interpreted["model"]] == ["qwen2.5-omni-7b", "qwen2.5-vl-7b"]
    assert interpreted["model_calls"] == 2
    for row in interpreted["model"]:
        assert row["same_parameters"] and row["parameters"] > 0
        assert row["liger"] == pytest.approx(row["naive"], rel=1e-5), row
        assert row["max_grad_diff"] < 1e-4, row


def test_training_with_liger_follows_the_chunked_run(interpreted):
    runs = interpreted["training"]
    assert interpreted["training_calls"] >= 3  # at least one Liger call per step
    assert [r["step"] for r in runs["liger"]] == [r["step"] for r in runs["chunked"]] == [1, 2, 3]
    for ours, theirs in zip(runs["liger"], runs["chunked"]):
        assert ours["label_tokens"] == theirs["label_tokens"]
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-5), ours
        assert ours["grad_norm"] == pytest.approx(theirs["grad_norm"], rel=1e-4), ours
