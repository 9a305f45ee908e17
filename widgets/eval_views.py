"""Views of a grounding evaluation: what each query got, how the IoUs spread, where the spans fall.

The input is the rows :func:`omni_bench.score` keeps for every scored grounding answer
(``Scores.rows``: :class:`omni_bench.eval.grounding.GroundingRow`), or anything they come
from: a :class:`~omni_bench.eval.score.Scores`, an :class:`~omni_bench.eval.run.EvalRun`, or
a log file with its annotations (:func:`grounding_rows`). Spans are shares of the video,
shown as LongVALE's two-digit relative times (``00``-``100``).

* :func:`render_grounding_table_text` / :func:`grounding_table_html` - one line per query:
  video, event, query, true span, predicted span (``-`` when unparseable), IoU;
* :func:`draw_iou_histogram` - the IoUs in ten bins of 0.1 (the last one holds 1.0), the
  R1 thresholds as dashed lines; text twin :func:`render_iou_histogram_text`;
* :func:`draw_span_timelines` - per video, one lane per event: the true span as a grey bar,
  the predicted one as a coloured bar over it (gids ``"true-<video>-<n>"`` /
  ``"pred-<video>-<n>"`` so tests can find them); text twin :func:`render_span_timelines_text`;
* :func:`show_eval` - the three in one widget (factory contract of :mod:`omni_bench_widgets`).

Figures are :class:`~.picture.Picture` objects (a ``matplotlib.figure.Figure`` on the Agg canvas
that a notebook shows as a picture), never pyplot. Not
covered: dense and segment captioning (their scores have no per-query span to draw).
"""

from __future__ import annotations

import html
import os

import numpy as np

from omni_bench import OmniBenchError, score
from omni_bench.eval.grounding import THRESHOLDS

from ._common import Root, contract, figure, png_bytes

__all__ = ["grounding_rows", "render_grounding_table_text", "grounding_table_html", "iou_counts",
           "render_iou_histogram_text", "draw_iou_histogram", "render_span_timelines_text",
           "draw_span_timelines", "EvalView", "show_eval"]

_BINS = 10  # IoU histogram bins of 0.1; 1.0 falls in the last
_TRUE, _PRED = "#bab0ac", "#4e79a7"
_BAR_WIDTH = 50  # characters of a text timeline


def grounding_rows(source, annotations=None, *, parse: str = "longvale") -> tuple:
    """The scored grounding rows of ``source``: a Scores, an EvalRun, a row sequence, or a log
    path (then ``annotations``, a path or the loaded dict, is required)."""
    if hasattr(source, "scores"):  # EvalRun
        source = source.scores
    if hasattr(source, "rows") and hasattr(source, "tasks"):  # Scores
        return tuple(source.rows)
    if isinstance(source, (str, os.PathLike)):
        if annotations is None:
            raise OmniBenchError(f"{source}: pass annotations= to score a log", reason="bad-settings")
        return tuple(score(source, annotations, task="grounding", parse=parse).rows)
    return tuple(source)


def _two_digits(span) -> str:
    return "-" if span is None else f"{round(span[0] * 100):02d}-{round(span[1] * 100):02d}"


def render_grounding_table_text(rows, *, width: int = 44) -> str:
    """One line per query: ``video  event  query  true  predicted  IoU`` (spans in percent of the video)."""
    rows = grounding_rows(rows)
    if not rows:
        return "no grounding answers"
    name = max(5, *(len(r.video_id) for r in rows))
    lines = [f"{'video':<{name}}  ev  {'query':<{width}}  true    pred    IoU"]
    for r in rows:
        query = r.sentence if len(r.sentence) <= width else r.sentence[:width - 1] + "…"
        lines.append(f"{r.video_id:<{name}}  {r.sentence_id:>2}  {query:<{width}}  {_two_digits(r.true):<6}  "
                     f"{_two_digits(r.predicted):<6}  {r.iou:.2f}")
    mean = sum(r.iou for r in rows) / len(rows) * 100
    lines.append(f"{len(rows)} queries · mIoU {mean:.1f} · unparseable {sum(r.predicted is None for r in rows)}")
    return "\n".join(lines)


def grounding_table_html(rows) -> str:
    """The per-query table as HTML (the answer verbatim in each row's tooltip)."""
    rows = grounding_rows(rows)
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{h}</th>"
                   for h in ("video", "event", "query", "true", "predicted", "IoU"))
    body = []
    for r in rows:
        shade = f"rgba(78,121,167,{0.15 + 0.6 * r.iou:.2f})"
        cells = (r.video_id, str(r.sentence_id), r.sentence, _two_digits(r.true), _two_digits(r.predicted))
        tds = "".join(f"<td style='padding:2px 8px'>{html.escape(c)}</td>" for c in cells)
        body.append(f"<tr title='{html.escape(r.answer, quote=True)}'>{tds}"
                    f"<td style='padding:2px 8px;background:{shade}'>{r.iou:.2f}</td></tr>")
    return f"<table style='border-collapse:collapse;font-size:12px'><tr>{head}</tr>{''.join(body)}</table>"


def iou_counts(rows) -> np.ndarray:
    """How many IoUs fall in each of the ten bins ``[0, 0.1), ..., [0.9, 1.0]``."""
    ious = np.array([r.iou for r in grounding_rows(rows)], dtype=float)
    return np.histogram(ious, bins=_BINS, range=(0.0, 1.0))[0]


def render_iou_histogram_text(rows) -> str:
    """Text twin of the histogram: one line per bin, ``0.9-1.0  ######  6``."""
    counts = iou_counts(rows)
    if counts.sum() == 0:
        return "no grounding answers"
    scale = 30 / counts.max()
    return "\n".join(f"{i / _BINS:.1f}-{(i + 1) / _BINS:.1f}  {'#' * round(c * scale):<30}  {c}"
                     for i, c in enumerate(counts))


def draw_iou_histogram(rows, *, title: str = "", width: float = 5.0):
    """The IoUs in ten bins with the R1 thresholds (0.3 / 0.5 / 0.7) dashed; returns the Figure."""
    from matplotlib.ticker import MaxNLocator

    counts = iou_counts(rows)
    fig = figure(width, 3.0)
    ax = fig.add_subplot()
    ax.bar(np.arange(_BINS) / _BINS, counts, width=1 / _BINS, align="edge", color=_PRED, edgecolor="white")
    for m in THRESHOLDS:
        ax.axvline(m, color="#999", linestyle="--", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("IoU (dashed: R1@0.3 / 0.5 / 0.7)", fontsize=8)
    ax.set_ylabel("queries", fontsize=8)
    ax.set_title(title or f"{int(counts.sum())} grounding answers", fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def _by_video(rows) -> dict[str, list]:
    videos: dict[str, list] = {}
    for r in grounding_rows(rows):
        videos.setdefault(r.video_id, []).append(r)
    return videos


def _bar(span) -> str:
    line = [" "] * _BAR_WIDTH
    if span is not None:
        start, end = sorted(span)
        first = min(_BAR_WIDTH - 1, max(0, int(start * _BAR_WIDTH)))
        last = min(_BAR_WIDTH, max(first + 1, round(end * _BAR_WIDTH)))
        line[first:last] = "=" * (last - first)
    return "|" + "".join(line) + "|"


def render_span_timelines_text(rows) -> str:
    """Text twin of the timelines: per video, each event's true and predicted span as bars over 0-100 %."""
    videos = _by_video(rows)
    if not videos:
        return "no grounding answers"
    lines = []
    for video, items in videos.items():
        lines.append(f"{video}")
        for r in items:
            lines.append(f"  {r.sentence_id:>2} true {_bar(r.true)} {_two_digits(r.true)}")
            lines.append(f"     pred {_bar(r.predicted)} {_two_digits(r.predicted)}  IoU {r.iou:.2f}")
    return "\n".join(lines)


def draw_span_timelines(rows, *, title: str = "", width: float = 10.0):
    """Per video, one lane per event: the true span (grey) and the predicted one (blue, thinner) on
    the video's 0-100 % axis; an unparseable answer is marked ``?`` at the lane's end; ``title``
    above them all. Returns the Figure."""
    from matplotlib.patches import Rectangle

    videos = _by_video(rows)
    fig = figure(width, 0.5 + sum(0.35 * len(v) + 0.5 for v in videos.values()) if videos else 1.0)
    axes = fig.subplots(max(1, len(videos)), 1, squeeze=False).ravel()
    for ax, (video, items) in zip(axes, videos.items()):
        for lane, r in enumerate(items):
            ax.add_patch(Rectangle((r.true[0], lane - 0.35), r.true[1] - r.true[0], 0.7, facecolor=_TRUE,
                                   gid=f"true-{video}-{r.sentence_id}"))
            if r.predicted is None:
                ax.text(1.01, lane, "?", va="center", fontsize=8, color="#d62728")
            else:
                start, end = sorted(r.predicted)
                ax.add_patch(Rectangle((start, lane - 0.15), max(end - start, 0.003), 0.3, facecolor=_PRED,
                                       gid=f"pred-{video}-{r.sentence_id}"))
        ax.set_xlim(0, 1.05)
        ax.set_ylim(len(items) - 0.5, -0.5)
        ax.set_yticks(range(len(items)), [f"{r.sentence_id}: IoU {r.iou:.2f}" for r in items], fontsize=7)
        ax.set_title(video, fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[-1].set_xlabel("share of the video (grey: true span, blue: predicted)", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    fig.tight_layout()
    return fig


class EvalView:
    """The rows behind :func:`show_eval`; ``text()`` is the three text twins."""

    def __init__(self, rows, title: str = ""):
        self.rows = grounding_rows(rows)
        self.title = title

    def summary(self) -> str:
        if not self.rows:
            return f"{self.title or 'grounding'}: no answers"
        mean = sum(r.iou for r in self.rows) / len(self.rows) * 100
        bad = sum(r.predicted is None for r in self.rows)
        return f"{self.title or 'grounding'}: {len(self.rows)} queries · mIoU {mean:.1f} · unparseable {bad}"

    def text(self) -> str:
        return "\n\n".join((render_grounding_table_text(self.rows), render_iou_histogram_text(self.rows),
                            render_span_timelines_text(self.rows)))

    def __repr__(self) -> str:
        return self.summary()


def show_eval(source, annotations=None, *, title: str = "", display: bool = True):
    """Per-query table, IoU histogram and span timelines of a grounding evaluation in tabs.

    ``source``: as :func:`grounding_rows` takes it. Controls: ``tabs`` (0 table, 1 histogram,
    2 timelines). Returns the root widget, or with ``display=False`` ``{"widget", "controls", "view"}``.
    """
    import ipywidgets as W

    view = EvalView(grounding_rows(source, annotations), title)
    table = W.HTML(grounding_table_html(view.rows))
    histogram = W.Image(value=png_bytes(draw_iou_histogram(view.rows)), format="png",
                        layout=W.Layout(max_width="520px"))
    timelines = W.Image(value=png_bytes(draw_span_timelines(view.rows)), format="png",
                        layout=W.Layout(width="100%", max_width="1000px"))
    tabs = W.Tab(children=[table, histogram, timelines])
    for i, name in enumerate(("per query", "IoU histogram", "timelines")):
        tabs.set_title(i, name)
    root = Root(view, children=[W.HTML(f"<code>{html.escape(view.summary())}</code>"), tabs])
    return contract(root, {"tabs": tabs}, display)
