"""``bench loss --cce``: Apple's Cut Cross-Entropy measured beside ours, gradients equal to transformers' path."""

from __future__ import annotations

import pytest

pytest.importorskip("cut_cross_entropy")


@pytest.mark.slow
def test_cce_runs_beside_naive_and_chunked_with_equal_gradients():
    from omni_bench.bench.loss import bench_loss, format_bench_loss

    result = bench_loss(64, 32, 1000, chunk_size=16, seed=1, backends=("naive", "chunked", "cce"))
    assert result["max_grad_diff"] < 1e-6  # every backend's hidden and weight gradients against naive's
    assert result["cce"]["loss"] == pytest.approx(result["naive"]["loss"], abs=1e-5)
    assert result["cce"]["grad_checksum"] == pytest.approx(result["naive"]["grad_checksum"], abs=1e-4)
    text = format_bench_loss(result)
    assert "| cce " in text and "chunked / cce: peak" in text
