"""The timeline of the LongVALE notebook's misaligned 256.89 s sample and its fix, headless (Agg), on artists.

The figure it checks is the one ``scripts/draw_timeline_doc.py`` saves as
``docs/timeline_longvale_sample.png``; the test writes it to a temporary folder, never into the
work tree. The alignments come from the planner's arithmetic
(``media_plan``): no processor, nothing decoded.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from omni_bench import LayoutSettings, alignment, recommend
from omni_bench.layout.plan import media_plan
from omni_bench_widgets.timeline import LANES, draw_timeline, draw_timeline_pair

LVN_META = dict(duration=256.89, width=640, height=360, native_fps=25.0)
LVN_SETTINGS = LayoutSettings(frames=50, resize=(224, 224), processor_fps=2.0)


@pytest.fixture(scope="module")
def pair():
    misaligned = alignment(media_plan(LVN_META, LVN_SETTINGS))
    fixed_settings = recommend(LVN_META, LVN_SETTINGS).apply(LVN_SETTINGS)
    return misaligned, alignment(media_plan(LVN_META, fixed_settings))


def _patches(ax, lane: str):
    return [p for p in ax.patches if (p.get_gid() or "").startswith(lane + "-")]


def _drift_lines(ax):
    (collection,) = [c for c in ax.collections if c.get_gid() == "drift"]
    return collection.get_segments()


def test_misaligned_lvn_sample_draws_every_chunk_with_slanted_joins(pair):
    misaligned, _ = pair
    ax = draw_timeline(misaligned)
    assert misaligned.verdict == "misaligned"
    video = _patches(ax, "VIDEO")
    audio = _patches(ax, "AUDIO")
    assert len(video) == sum(c.video_tokens > 0 for c in misaligned.chunks) == 13  # 12 x 128 + 64 tokens
    assert len(audio) == sum(c.audio_tokens > 0 for c in misaligned.chunks) == 129  # 6422 tokens / 50
    assert {p.get_y() + p.get_height() / 2 for p in video} == {LANES["VIDEO"]}
    assert {p.get_y() + p.get_height() / 2 for p in audio} == {LANES["AUDIO"]}
    # the video lane spans the whole clip (frame 0 .. end), the audio chunks paired with it only 26 s
    assert min(p.get_x() for p in video) == 0.0
    assert max(p.get_x() + p.get_width() for p in video) == pytest.approx(256.89)
    joins = _drift_lines(ax)
    assert len(joins) == 13
    assert max(top[0] - bottom[0] for top, bottom in joins) == pytest.approx(misaligned.max_drift)
    assert ax.get_xlim()[1] >= 256.89
    assert "misaligned" in ax.get_title(loc="left")


def test_fixed_lvn_sample_joins_are_nearly_vertical(pair):
    misaligned, fixed = pair
    assert fixed.verdict == "aligned"
    assert fixed.recommendation.changes == {}
    ax = draw_timeline(fixed)
    joins = _drift_lines(ax)
    assert len(joins) == sum(c.video_tokens > 0 and c.audio_tokens > 0 for c in fixed.chunks)
    assert max(abs(top[0] - bottom[0]) for top, bottom in joins) <= fixed.tolerance
    assert max(abs(top[0] - bottom[0]) for top, bottom in joins) < misaligned.max_drift / 10
    assert len(_patches(ax, "VIDEO")) == sum(c.video_tokens > 0 for c in fixed.chunks)


def test_pair_shares_the_time_axis_and_saves_as_png(pair, tmp_path):
    fig = draw_timeline_pair(*pair)
    top, bottom = fig.axes
    assert top.get_xlim() == bottom.get_xlim()
    assert top.get_title(loc="left").startswith("before: misaligned")
    assert "pass --sampling fps --fps 0.2" in top.get_title(loc="left")
    assert bottom.get_title(loc="left").startswith("after: aligned")
    fig.savefig(tmp_path / "timeline.png", metadata={"Software": None})
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_video_only_layout_uses_the_claimed_lane():
    silent = alignment(media_plan(dict(LVN_META, has_audio=False), LVN_SETTINGS.replace(use_audio=False)))
    ax = draw_timeline(silent)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["claimed", "VIDEO"]
    assert len(_patches(ax, "VIDEO")) == len(_patches(ax, "AUDIO")) == 25  # one row per grid step


@pytest.mark.slow
def test_timeline_never_loads_pyplot():
    code = ("import sys; from omni_bench_widgets.timeline import draw_timeline; "
            "from omni_bench import alignment; from omni_bench.layout.plan import media_plan; "
            "draw_timeline(alignment(media_plan(dict(duration=8, width=64, height=64, native_fps=25))))"
            ".figure.canvas.draw(); assert 'matplotlib.pyplot' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
