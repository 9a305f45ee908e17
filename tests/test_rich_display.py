"""Every ``draw_*`` of omni_bench_widgets shows as a picture in a notebook, and a view shows once.

The names are walked from ``omni_bench_widgets.__all__``: a new ``draw_*`` without an entry in
``BUILDERS`` fails :func:`test_every_draw_function_is_covered`. Each figure goes through
IPython's own display formatter (what JupyterLab's kernel and nbval call), which must give an
``image/png`` that is a real PNG of the figure's size. The kernel test runs a real notebook
kernel (nbclient) on the cell forms a reader writes: a bare ``draw_*(...)`` and a bare
``show_eval(...)`` as a cell's last expression.
"""

from __future__ import annotations

import io
import json
import struct
import sys

import pytest

pytest.importorskip("ipywidgets")

import omni_bench_widgets as widgets
from omni_bench import alignment, plan, recommend
from omni_bench.layout.plan import media_plan
from omni_bench.sampling.comparison import compare_samplers

PNG = b"\x89PNG\r\n\x1a\n"
META = dict(duration=8.0, width=64, height=64, native_fps=25.0)
ANNOTATIONS = {"v1": {"duration": 10.0, "timestamps": [[0.0, 2.0], [2.0, 10.0]], "sentences": ["A door.", "A dog."]}}
ANSWERS = [("v1", 0, "From 00 to 20."), ("v1", 1, "no idea")]


def _grounding_files(tmp_path):
    """A two-query grounding log and its annotations (one answer right, one unparseable)."""
    log, ann = tmp_path / "log.jsonl", tmp_path / "ann.json"
    log.write_text("".join(json.dumps(dict(video_id=v, task="grounding", query_id=0, answer=a, info={"sentence_id": s}))
                           + "\n" for v, s, a in ANSWERS))
    ann.write_text(json.dumps(ANNOTATIONS))
    return log, ann


def _grounding_rows(tmp_path):
    return widgets.grounding_rows(*_grounding_files(tmp_path))


def _pair():
    from omni_bench import LayoutSettings

    settings = LayoutSettings(frames=50, resize=(224, 224), processor_fps=2.0)
    meta = dict(duration=256.89, width=640, height=360, native_fps=25.0)
    fixed = recommend(meta, settings).apply(settings)
    return alignment(media_plan(meta, settings)), alignment(media_plan(meta, fixed))


def _group():
    """A GRPO group of three completions (one right, one off, one unparseable): training/groups.py's record."""
    from omni_bench.training.groups import group_record

    return group_record(step=1, index=0, record="v1", video="v1.mkv", question="When?", duration=10.0,
                        task="grounding", target="From 20 to 50.", completions=["From 20 to 50.", "From 60 to 90.",
                                                                                 "no idea"],
                        rewards={"grounding_iou": [1.0, 0.0, 0.0]}, advantages=[1.15, -0.58, -0.58],
                        lengths=[8, 8, 4], truncated=[False, False, False])


# draw_* name -> the call (tmp_path, clips) that draws it on the smallest input it takes
BUILDERS = {
    "draw_layout": lambda tmp, clips: widgets.draw_layout(plan(META, frames=4)),
    "draw_layouts": lambda tmp, clips: widgets.draw_layouts({"4 frames": plan(META, frames=4),
                                                             "2 frames": plan(META, frames=2)}),
    "draw_metrics": lambda tmp, clips: widgets.draw_metrics([{"step": 1, "loss": 2.0, "learning_rate": 1e-4,
                                                              "grad_norm": 1.0}]),
    "draw_timeline": lambda tmp, clips: widgets.draw_timeline(alignment(media_plan(META))),
    "draw_timeline_pair": lambda tmp, clips: widgets.draw_timeline_pair(*_pair()),
    "draw_samplers": lambda tmp, clips: widgets.draw_samplers(compare_samplers(200, 25.0, frames=8)),
    "draw_sampler_thumbnails": lambda tmp, clips: widgets.draw_sampler_thumbnails(
        clips / "street_market.mkv", compare_samplers(200, 25.0, frames=4), max_thumbs=2),
    "draw_iou_histogram": lambda tmp, clips: widgets.draw_iou_histogram(_grounding_rows(tmp)),
    "draw_span_timelines": lambda tmp, clips: widgets.draw_span_timelines(_grounding_rows(tmp)),
    "draw_grpo_group": lambda tmp, clips: widgets.draw_grpo_group(_group()),
}


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG
    return struct.unpack(">II", data[16:24])  # IHDR: width, height


def test_every_draw_function_is_covered():
    names = {n for n in widgets.__all__ if n.startswith("draw_")}
    assert names == set(BUILDERS)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_draw_returns_a_picture_ipython_displays(name, tmp_path, clips):
    from IPython.core.formatters import DisplayFormatter

    drawn = BUILDERS[name](tmp_path, clips)
    data, _ = DisplayFormatter().format(drawn)
    assert "image/png" in data, f"{name} returned {type(drawn).__name__} with no picture: {sorted(data)}"
    fig = getattr(drawn, "figure", drawn)  # a view drawn on one Axes returns the Axes
    size = fig.get_size_inches() * fig.dpi
    assert _png_size(data["image/png"]) == pytest.approx(tuple(size), abs=1)  # pixels: inches x dpi, rounded
    assert fig.axes and callable(fig.savefig)  # still a matplotlib Figure for the code that uses one
    assert repr(fig).startswith("<Figure size ")  # the text line nbval compares, as a plain Figure writes it


def test_the_picture_is_rendered_once_and_again_after_a_change():
    fig = widgets.draw_samplers(compare_samplers(200, 25.0, frames=8))
    first = fig._repr_png_()
    assert fig._repr_png_() is first  # cached: the second display does not draw again
    fig.axes[0].set_title("changed")
    second = fig._repr_png_()
    assert second is not first and second != first and second.startswith(PNG)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # savefig keeps working on the same object
    assert buf.getvalue().startswith(PNG)


@pytest.mark.slow
def test_drawing_never_loads_pyplot(tmp_path, clips):
    """Every builder drawn and rendered in a fresh interpreter (pytest's plugins may load pyplot here)."""
    import subprocess
    from pathlib import Path

    code = ("import sys, pathlib; sys.path.insert(0, sys.argv[1]); import test_rich_display as t; "
            "[b(pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3]))._repr_png_() for b in t.BUILDERS.values()]; "
            "print('matplotlib.pyplot' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(tmp_path), str(clips)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"


def _notebook_cells(tmp_path) -> list[str]:
    log, ann = _grounding_files(tmp_path)
    return [
        "from omni_bench_widgets import draw_iou_histogram, grounding_rows, show_eval\n"
        f"rows = grounding_rows({str(log)!r}, {str(ann)!r})",
        "draw_iou_histogram(rows)",
        "show_eval(rows)",
        "view = show_eval(rows, title='kept')",
        "view",  # a later cell shows the kept root again: once
    ]


@pytest.mark.slow
def test_in_a_kernel_a_figure_is_a_png_and_a_view_renders_once(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in _notebook_cells(tmp_path)])
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    outputs = [cell.outputs for cell in nb.cells]
    assert [o.output_type for o in outputs[1]] == ["execute_result"]
    assert _png_size(__import__("base64").b64decode(outputs[1][0].data["image/png"]))[0] == 500
    for i in (2, 3, 4):  # one widget each: the factory's display, no echo of the returned root
        views = [o for o in outputs[i] if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert len(views) == 1, (i, outputs[i])
        assert len(outputs[i]) == 1
    assert outputs[2][0].data["text/plain"] == "grounding: 2 queries · mIoU 50.0 · unparseable 1"
    assert outputs[4][0].data["text/plain"].startswith("kept: 2 queries")


def test_layouts_side_by_side_share_one_token_axis_and_count_every_token():
    layouts = {"4 frames": plan(META, frames=4), "2 frames": plan(META, frames=2)}
    fig = widgets.draw_layouts(layouts)
    assert len(fig.axes) == 2
    assert {ax.get_xlim() for ax in fig.axes} == {(0, len(layouts["4 frames"].input_ids))}
    lines = widgets.render_layouts_text(layouts).splitlines()
    for line, (name, layout) in zip(lines, layouts.items()):
        head, counts = line.split(": ")
        assert head.split() == [name.split()[0], name.split()[1], f"{len(layout.input_ids):,}", "tokens"]
        by_kind = dict(part.rsplit(" ", 1) for part in counts.split(", "))
        assert sum(int(v.replace(",", "")) for v in by_kind.values()) == len(layout.input_ids)
        assert int(by_kind["VIDEO"].replace(",", "")) == layout.stats.video_tokens > 0
        assert int(by_kind.get("AUDIO", "0").replace(",", "")) == layout.stats.audio_tokens
        assert fig.axes[list(layouts).index(name)].get_title(loc="left").startswith(f"{name} · ")
