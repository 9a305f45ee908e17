"""The inspector on Qwen3-VL and Qwen3-Omni layouts, headless, asserted on its text twin.

The bundled kitchen_talk.mkv (12 s, 15 fps, with audio) at 8 frames: 4 grid steps of 220 VIDEO
tokens, 3 s each by the sampled fps; Qwen3-Omni's 156 AUDIO tokens (13 per second) merged 39
after each step; Qwen3-VL's `<0.9 seconds>` ... `<11.1 seconds>` written before each step.
"""

from __future__ import annotations

import ast
import re

import pytest

from omni_bench.core.media import probe
from omni_bench.core.processor import load_processor
from omni_bench.layout.plan import plan
from omni_bench.layout.settings import LayoutSettings
from omni_bench_widgets import show_layout
from omni_bench_widgets.layout_text import clock_of, default_selection, render_selection_text

CLIP = "data/clips/kitchen_talk.mkv"
VL, OMNI = "qwen3-vl-8b", "qwen3-omni-30b-a3b"
ROW = re.compile(r"^(\d+)(?:-(\d+))?\s+(\w+)\s+\w+\s+\S+\s+(\S+)\s+\S+\s+(-|[\d.]+-[\d.]+ s)\s+(.*)$")


@pytest.fixture(scope="module")
def layouts():
    settings = LayoutSettings(frames=8, answer="A tone plays.")
    info = probe(CLIP)
    return {p: plan(info, settings.replace(profile=p)) for p in (VL, OMNI)}


def _rows(text: str) -> list[dict]:
    """The table's rows: first and last position, kind, chunk, time, token."""
    rows = []
    for line in text.splitlines()[2:]:
        m = ROW.match(line)
        assert m, f"unparsed row: {line!r}"
        lo, hi, kind, chunk, time, token = m.groups()
        rows.append(dict(lo=int(lo), hi=int(hi or lo), kind=kind, chunk=chunk, time=time, token=token))
    return rows


def _whole(layout) -> list[dict]:
    n = len(layout.input_ids)
    tokenizer = load_processor(layout.profile).tokenizer  # as the inspector decodes text rows
    return _rows(render_selection_text(layout, 0, n, max_rows=n, tokenizer=tokenizer, clock=clock_of(layout)))


def _count(rows, kind: str) -> int:
    return sum(int(r["token"].rsplit("× ", 1)[1]) for r in rows if r["kind"] == kind)


@pytest.mark.parametrize("profile", [VL, OMNI])
def test_rows_cover_every_token_and_count_the_layouts_tokens(layouts, profile):
    layout = layouts[profile]
    rows = _whole(layout)
    assert [p for r in rows for p in range(r["lo"], r["hi"] + 1)] == list(range(len(layout.input_ids)))
    assert _count(rows, "VIDEO") == layout.stats.video_tokens == 880
    assert _count(rows, "AUDIO") == layout.stats.audio_tokens == (156 if profile == OMNI else 0)
    assert {r["chunk"] for r in rows} == {"-"}  # no 2 s chunks in either family


def test_qwen3_vl_shows_each_grid_steps_timestamp(layouts):
    layout = layouts[VL]
    rows = _whole(layout)
    text = "".join(ast.literal_eval(r["token"]) for r in rows if r["kind"] in ("text", "special"))
    assert re.findall(r"<[\d.]+ seconds>", text) == [f"<{t:.1f} seconds>" for t in layout.stats.timestamps]
    assert list(layout.stats.timestamps) == [0.9, 4.3, 7.7, 11.1]
    video = [r for r in rows if r["kind"] == "VIDEO"]
    assert [r["hi"] - r["lo"] + 1 for r in video] == [220] * 4  # one row per grid step
    starts = [f"{t:.2f}" for t in layout.stats.frame_times[::2]]
    assert [r["time"].split("-")[0] for r in video] == starts  # each step from its first frame's real time


def test_qwen3_omni_audio_rows_are_13_tokens_per_second(layouts):
    """Each AUDIO run of 39 tokens covers 3 s (not 39 x 40 ms = 1.56 s, Qwen2.5-Omni's rate)."""
    rows = _whole(layouts[OMNI])
    audio = [r for r in rows if r["kind"] == "AUDIO"]
    assert [r["token"] for r in audio] == ["AUDIO × 39"] * 4
    assert [r["time"] for r in audio] == [f"{3 * k:.2f}-{3 * (k + 1):.2f} s" for k in range(4)]


@pytest.mark.parametrize("profile", [VL, OMNI])
def test_show_layout_headless_on_qwen3(layouts, profile):
    layout = layouts[profile]
    out = show_layout(layout, display=False)
    view = out["view"]
    rows = _rows(view.selection_text())
    assert (rows[0]["lo"], rows[-1]["hi"] + 1) == default_selection(layout)  # the selection it opens with
    kinds = {r["kind"] for r in rows}
    assert "VIDEO" in kinds and ("AUDIO" in kinds) == (profile == OMNI)
    banner = view.verdict_text()
    assert "size: " in banner and "drift per chunk" not in banner
    assert f"{len(layout.input_ids):,} input ids" in banner
