"""Save an inspector view, or any layout, as a self-contained report (HTML or Markdown).

:func:`layout_images` draws what the report shows - the inspector figure (with the clip's
frames and audio when the file is there) and the alignment timeline - as PNG bytes;
:func:`save_report` hands them to :func:`omni_bench.layout.report_html.write_report`.
``InspectorView.save(path)`` and ``omni-bench inspect CLIP --html FILE`` both end here.
:func:`run_figures` draws a training run's curves for :func:`omni_bench.training.run_report.write_run_report`
(``omni-bench report RUN_DIR --html FILE`` hands it over; the core never imports the views).
"""

from __future__ import annotations

from omni_bench.layout.report_html import write_report
from omni_bench.layout.verdict import layout_alignment

from ._common import png_bytes
from .layout_figure import draw_layout
from .layout_text import clock_of, default_selection
from .media_strip import MediaCache, render_media_text, selection_media
from .plots import metric_figure
from .timeline import draw_timeline

__all__ = ["layout_images", "save_report", "save_layout_report", "run_images", "run_figures"]


def layout_images(layout, selection=None, *, clock=None, media=None, timing=None,
                  log_mel=None) -> list[tuple[str, bytes]]:
    """``[(caption, png), ...]``: the inspector figure (its audio row the log-mel with ``log_mel``), then the
    alignment timeline (when there is one)."""
    clock = clock if clock is not None else clock_of(layout)
    selection = selection if selection is not None else default_selection(layout)
    images = [(f"token strip, selection {selection[0]}:{selection[1]}",
               png_bytes(draw_layout(layout, selection, clock=clock, media=media, log_mel=log_mel)))]
    if timing is not None and timing.chunks:
        images.append(("VIDEO and AUDIO chunks in real time (lines join each chunk's video start to its audio "
                       "start)", png_bytes(draw_timeline(timing).figure)))
    return images


def save_report(view, path, *, fmt=None) -> str:
    """Write an :class:`~omni_bench_widgets.inspector.InspectorView` as a report; returns the path."""
    log_mel = view.log_mel if view.audio_view == "log-mel" else None
    images = layout_images(view.layout, view.selection, clock=view.clock, media=view.media, timing=view.alignment,
                           log_mel=log_mel)
    notes = [f"selection {view.selection[0]}:{view.selection[1]}: {view.media_text()}"]
    if log_mel is not None:
        notes.append(view.log_mel_text())
    return write_report(path, view.layout, fmt=fmt, timing=view.alignment, images=images, notes=notes)


def save_layout_report(layout, path, *, fmt=None, media_path=None) -> str:
    """Write a layout's report (the CLI's ``--html`` / ``--markdown``), frames and audio from its clip."""
    timing, clock = layout_alignment(layout), clock_of(layout)
    media = MediaCache().media(layout, media_path)
    selection = default_selection(layout)
    picked = selection_media(layout, clock, media, *selection)
    notes = [f"selection {selection[0]}:{selection[1]}: "
             f"{render_media_text(picked, media.sampling_rate if media else 16000)}"]
    images = layout_images(layout, selection, clock=clock, media=media, timing=timing)
    return write_report(path, layout, fmt=fmt, timing=timing, images=images, notes=notes)


def run_figures(record) -> list[tuple[str, bytes]]:
    """:func:`run_images` of a :class:`~omni_bench.training.run_report.RunRecord`: what
    ``omni_bench.write_run_report(..., figures=run_figures)`` inlines."""
    return run_images(record.metrics, vocab_size=record.vocab_size)


def run_images(rows, *, vocab_size: int | None = None, smoothing: float = 0.6) -> list[tuple[str, bytes]]:
    """``[(caption, png), ...]``: loss (raw, smoothed, ln(V)), grad norm and learning rate against the step."""
    captions = {"loss": f"training loss per step: raw and smoothed (EMA {smoothing:g})"
                        + (", ln(V) dashed: an untrained model's loss" if vocab_size else ""),
                "grad_norm": "grad norm per step (before clipping)", "learning_rate": "learning rate per step"}
    images = []
    for key, caption in captions.items():
        fig = metric_figure(rows, key, vocab_size=vocab_size, smoothing=smoothing)
        if fig is not None:
            images.append((caption, png_bytes(fig)))
    return images
