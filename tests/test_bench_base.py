"""The shape every benchmark shares (omni_bench/bench/base.py): its Markdown table and result form."""

from __future__ import annotations

from omni_bench.bench import base, loss


def test_markdown_table_right_aligns_numbers_and_writes_none_as_dash():
    rows = [{"backend": "naive", "peak_mib": 1234.5, "tokens": 4096}, {"backend": "chunked", "peak_mib": None,
                                                                       "tokens": 4096}]
    assert base.markdown_table(("backend", "peak_mib", "tokens"), rows).splitlines() == [
        "| backend | peak_mib | tokens |", "|---|---:|---:|", "| naive | 1234.5 | 4,096 |", "| chunked | - | 4,096 |"]


def test_result_forms():
    result = base.BenchResult("loss", {"tokens": 8, "device": "cpu"}, ("backend", "seconds"),
                              [{"backend": "naive", "seconds": 0.5}], notes=("grads equal to 1e-6",))
    assert result.to_markdown() == ("### loss\n\ntokens=8, device=cpu\n\n| backend | seconds |\n|---|---:|\n"
                                    "| naive | 0.5 |\n\ngrads equal to 1e-6\n")
    assert result.to_dict() == {"name": "loss", "config": {"tokens": 8, "device": "cpu"},
                                "rows": [{"backend": "naive", "seconds": 0.5}], "notes": ["grads equal to 1e-6"]}


def test_one_probe_and_one_worker():
    assert loss._PeakRSS is base.PeakRSS and loss.run_worker is base.run_worker
