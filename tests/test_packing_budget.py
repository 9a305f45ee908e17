"""How a dataset would pack, in the budget report: first-fit decreasing as defined, no torch on that path."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from omni_bench import LayoutSettings, budget
from omni_bench.cli import main
from omni_bench.layout.budget_packing import dataset_packing, pack_rows

CLIPS = str(Path(__file__).resolve().parent.parent / "data" / "clips")


def _plain_first_fit_decreasing(lengths, capacity):
    # the definition, written as plainly as it reads: longest first, into the first open row it fits
    rows, room = [], []
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        for r in range(len(rows)):
            if lengths[index] <= room[r]:
                rows[r].append(index)
                room[r] -= lengths[index]
                break
        else:
            rows.append([index])
            room.append(capacity - lengths[index])
    return rows


@pytest.mark.parametrize("seed", range(40))
def test_pack_rows_is_first_fit_decreasing(seed):
    rng = random.Random(seed)
    capacity = rng.randint(1, 200)
    lengths = [rng.randint(1, 260) for _ in range(rng.randint(0, 150))]  # some longer than a row
    assert pack_rows(lengths, capacity) == _plain_first_fit_decreasing(lengths, capacity)


def test_dataset_packing_counts_rows_fill_and_samples_per_row():
    lengths = [700, 300, 650, 350, 100, 900, 1200]  # 1200 is over a 1000-token row
    d = dataset_packing(lengths, 1000)
    assert d["over"] == 1 and d["samples"] == 6 and d["tokens"] == 3000
    rows = pack_rows([n for n in lengths if n <= 1000], 1000)
    assert d["packed"]["rows"] == len(rows) == 3  # 900+100, 700+300, 650+350
    assert d["packed"]["fill_fraction"] == 1.0 and d["packed"]["padding_fraction"] == 0.0
    assert d["padded"]["rows"] == 6 and d["padded"]["fill_fraction"] == pytest.approx(3000 / 6000)
    assert d["packed"]["samples_per_row"] == {"mean": 2.0, "max": 2}


def test_budget_reports_how_the_dataset_packs(capsys):
    metas = [dict(duration=d, width=640, height=360, native_fps=25.0, has_audio=True) for d in (12, 40, 95, 300, 31)]
    settings = LayoutSettings(fps=0.5, resize=(56, 56), use_audio=False)
    result = budget(metas, settings, max_total_tokens=600)
    d = result.to_dict()["packing"]
    assert d == json.loads(json.dumps(dataset_packing(result.total_tokens, 600)))
    assert d["packed"]["rows"] == len(pack_rows([int(n) for n in result.total_tokens if n <= 600], 600))
    assert d["packed"]["rows"] < d["padded"]["rows"]
    assert "rows of 600 tokens" in str(result) and "packed" in str(result)
    assert "packing" not in budget(metas, settings).to_dict()  # no row size, no packing report


def test_budget_cli_prints_the_packing_lines(capsys):
    assert main(["budget", CLIPS, "--frames", "16", "--max-total-tokens", "4096"]) == 0
    text = capsys.readouterr().out
    assert "rows of 4,096 tokens (3 samples):" in text
    assert main(["budget", CLIPS, "--frames", "16", "--max-total-tokens", "4096", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["packing"]["packed"]["rows"] <= out["packing"]["padded"]["rows"] == out["budgeted"]


def test_the_budget_path_does_not_import_torch():
    code = ("import sys; from omni_bench.layout.budget import budget; from omni_bench import LayoutSettings\n"
            "b = budget([dict(duration=30.0, width=640, height=360, native_fps=25.0)], LayoutSettings(frames=8),"
            " max_total_tokens=2048)\n"
            "assert 'packing' in b.to_dict() and str(b)\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
