"""The sampler views, drawn headlessly: assertions on the artists, not on pixels."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import AxesImage

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.media import probe
from omni_bench.sampling.comparison import compare_samplers
from omni_bench_widgets.samplers import draw_sampler_thumbnails, draw_samplers, thumbnail_picks

CLIPS = Path(__file__).resolve().parents[1] / "data" / "clips"


def artist(ax, label):
    for a in [*ax.collections, *ax.texts]:
        if a.get_label() == label:
            return a
    return None


def test_one_row_per_sampler_with_its_timestamps():
    c = compare_samplers(300, 30.0, frames=50)
    fig = draw_samplers(c)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [r.name for r in reversed(c.rows)]
    for y, row in zip(range(len(c.rows) - 1, -1, -1), c.rows):
        offsets = artist(ax, f"{row.name} frames").get_offsets()
        np.testing.assert_allclose(offsets[:, 0], row.sampling.timestamps)
        assert set(offsets[:, 1]) == {y}
    assert artist(ax, "transformers frames").get_offsets()[:, 0].max() == pytest.approx(294 / 30)
    assert artist(ax, "qwen-vl-utils frames").get_offsets()[:, 0].max() == pytest.approx(299 / 30)
    assert artist(ax, "transformers out of range") is None
    assert "50 frames asked" in ax.get_title()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_overrun_refusal_and_repeats_are_drawn():
    ax = draw_samplers(compare_samplers(17, 30.0, frames=14)).axes[0]
    overrun = artist(ax, "transformers out of range").get_offsets()
    np.testing.assert_allclose(overrun[:, 0], [17 / 30])
    ax = draw_samplers(compare_samplers(20, 30.0, frames=30)).axes[0]
    assert artist(ax, "qwen-vl-utils refused").get_text().startswith("refused: qwen-vl-utils: nframes")
    assert artist(ax, "transformers refused") is not None
    assert len(artist(ax, "fps repeated").get_offsets()) == 10


def test_draws_into_a_given_axes_and_a_subset():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert draw_samplers(compare_samplers(300, 30.0), ax, names=["uniform", "fps"]) is fig
    assert [t.get_text() for t in ax.get_yticklabels()] == ["fps", "uniform"]


def test_thumbnail_picks():
    assert thumbnail_picks(range(0, 100, 10), 4) == [0, 30, 60, 90]
    assert thumbnail_picks([0, 0, 5, 9], 8) == [0, 5, 9]


def test_thumbnails_of_a_real_clip():
    path = CLIPS / "street_market.mkv"
    info = probe(path)
    c = compare_samplers(info.total_frames, info.native_fps, frames=8)
    fig = draw_sampler_thumbnails(path, c, max_thumbs=4)
    images = [ax for ax in fig.axes if any(isinstance(a, AxesImage) for a in ax.get_children())]
    assert len(images) == 4 * len(c.rows)
    titles = {ax.get_title() for ax in images}
    assert f"#199 {199 / 25:.1f}s" in titles  # qwen-vl-utils keeps the last frame
    first = next(ax for ax in images if ax.get_title().startswith("#0 "))
    picture = next(a for a in first.get_children() if isinstance(a, AxesImage)).get_array()
    assert picture.shape == (info.height, info.width, 3)


def test_thumbnails_refuse_a_comparison_for_another_clip():
    with pytest.raises(OmniBenchError, match="has 200 frames but the comparison is for 300"):
        draw_sampler_thumbnails(CLIPS / "street_market.mkv", compare_samplers(300, 30.0))


def test_no_pyplot_anywhere():
    code = ("import sys, omni_bench, omni_bench.sampling.samplers, omni_bench_widgets.samplers as w;"
            "w.draw_samplers(omni_bench.compare_samplers(300, 30.0));"
            "print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
