"""omni_bench.bench.loss at a tiny size: result shape, gradient agreement, the memory probe.

No wall-clock assertions here: timings depend on the machine and its load.
"""

from __future__ import annotations

import json
import mmap
import os
import time

import pytest

from omni_bench.bench import loss as bench
from omni_bench.bench.loss import bench_loss, format_bench_loss


@pytest.fixture(scope="module")
def tiny_result() -> dict:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")  # tiny tensors: one thread per worker is steadier
        return bench_loss(64, 32, 1000, chunk_size=16, seed=1)


@pytest.mark.slow
def test_bench_loss_result_shape(tiny_result):
    result = json.loads(json.dumps(tiny_result))  # plain JSON all the way down
    for backend in ("naive", "chunked"):
        row = result[backend]
        assert set(row) == {"peak_mib", "seconds", "cpu_seconds", "baseline_mib", "loss", "grad_checksum"}
        assert all(isinstance(value, float) for value in row.values())
        assert row["seconds"] > 0
    assert (result["tokens"], result["hidden"], result["vocab"]) == (64, 32, 1000)
    assert result["device"] == "cpu" and result["dtype"] == "float32" and result["chunk_size"] == 16
    assert "liger" not in result
    assert {"ratio_peak", "ratio_seconds", "ratio_cpu_seconds", "max_grad_diff"} <= set(result)


@pytest.mark.slow
def test_bench_loss_backends_agree(tiny_result):
    assert tiny_result["max_grad_diff"] < 1e-6
    assert tiny_result["naive"]["loss"] == pytest.approx(tiny_result["chunked"]["loss"], abs=1e-5)
    assert tiny_result["naive"]["grad_checksum"] == pytest.approx(
        tiny_result["chunked"]["grad_checksum"], abs=1e-4
    )


@pytest.mark.slow
def test_format_bench_loss(tiny_result):
    text = format_bench_loss(tiny_result)
    assert "N=64 H=32 V=1000" in text
    assert "| naive " in text and "| chunked " in text
    assert "max |grad difference|" in text


def _fresh_pages(size: int) -> mmap.mmap:
    """An anonymous mapping of ``size`` bytes with every page written, so every page is resident.

    A direct mapping, not a tensor: the C allocator may hand a tensor memory that an earlier
    test freed and that is still resident, which would not move the RSS at all.
    """
    block = mmap.mmap(-1, size)
    page = os.sysconf("SC_PAGE_SIZE")
    for offset in range(0, size, page):
        block[offset] = 1
    return block


def test_peak_rss_probe_counts_memory_still_held():
    probe = bench._PeakRSS()
    probe.start()
    before = probe.peak
    block = _fresh_pages(64 * 2**20)
    peak = probe.stop()
    block.close()
    assert peak - before >= 60 * 2**20


def test_peak_rss_probe_keeps_the_peak_after_the_memory_is_freed():
    probe = bench._PeakRSS()
    probe.start()
    before = probe.peak
    block = _fresh_pages(64 * 2**20)
    deadline = time.monotonic() + 10
    while probe.peak - before < 60 * 2**20 and time.monotonic() < deadline:
        time.sleep(0.005)  # let the sampling thread (or the kernel's high-water mark) see it
    block.close()
    peak = probe.stop()
    assert peak - before >= 60 * 2**20
    assert bench._rss_bytes() - before < 60 * 2**20  # freed: only the recorded peak remembers it


@pytest.mark.slow
def test_failing_worker_raises_with_its_error():
    with pytest.raises(RuntimeError, match="backend 'nonexistent'"):
        bench_loss(8, 8, 16, backends=("nonexistent",))


def test_main_usage():
    assert bench.main(["something"]) == 2


def test_best_of_keeps_shortest_times_and_largest_peak():
    runs = [
        {"peak_mib": 10.0, "seconds": 3.0, "cpu_seconds": 5.0, "loss": 1.0},
        {"peak_mib": 12.0, "seconds": 2.0, "cpu_seconds": 6.0, "loss": 1.0},
    ]
    assert bench._best_of(runs) == {"peak_mib": 12.0, "seconds": 2.0, "cpu_seconds": 5.0, "loss": 1.0}


def test_repeats_must_be_positive():
    from omni_bench.core.errors import OmniBenchError

    with pytest.raises(OmniBenchError, match="--repeats must be a whole number >= 1, got 0"):
        bench_loss(8, 8, 16, repeats=0)


@pytest.mark.slow
def test_cli_bench_loss_json(capsys):
    """`omni-bench bench loss --json` prints the documented object, gradients equal across paths."""
    import json

    from omni_bench.cli import main

    assert main(["bench", "loss", "--tokens", "64", "--hidden", "32", "--vocab", "1000", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["naive"]) >= {"peak_mib", "seconds"} and set(data["chunked"]) >= {"peak_mib", "seconds"}
    assert data["naive"]["loss"] == pytest.approx(data["chunked"]["loss"], rel=1e-5)
    assert data["max_grad_diff"] < 1e-5 and data["device"] == "cpu"
