"""``omni-bench bench dpo``: the media once per pair against the duplicated path, in one run.

What is checked is what does not depend on the machine's speed: the counts (the clip decoded and
processed once, the towers run once per step, against once per row and pass) and that both ways
give the same log-probs; the seconds and peak memory are reported, not asserted.
"""

from __future__ import annotations

import json

import pytest

from omni_bench.cli import main

pytestmark = pytest.mark.slow  # two worker processes, each training a tiny Omni model


def test_bench_dpo_counts_and_logprobs(tmp_path, capsys):
    markdown = tmp_path / "dpo.md"
    assert main(["bench", "dpo", "--seconds", "10", "--steps", "1", "--json", "--markdown", str(markdown)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["media_decodes"] == {"ours": 1, "duplicated": 2}
    assert summary["media_encodes"] == {"ours": 1, "duplicated": 2}
    assert summary["media_encodes_per_step"] == {"ours": 1, "duplicated": 4}
    assert summary["max_logprob_diff"] <= 1e-5  # per reply token
    assert summary["max_summed_logprob_diff"] <= 1e-4  # sums near -170 in float32: a few ulps (1.5e-5 each)
    assert set(summary["seconds"]) == {"ours", "duplicated"} and all(v > 0 for v in summary["seconds"].values())
    assert "| ours | 1 | 1 | 1 |" in markdown.read_text()
