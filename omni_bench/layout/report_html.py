"""A layout and its alignment as one self-contained report file: HTML (or Markdown) to keep and share.

:func:`report_html` writes one HTML page with nothing outside it: the verdict banner (the
alignment verdict, the size line and the warnings of :mod:`omni_bench.layout.verdict`, the same
lines as the CLI report), the figures handed in as PNG bytes (inlined as ``data:`` URIs), and
the whole text report (``omni-bench inspect``'s) in a ``<pre>``. :func:`report_markdown` is
the same in Markdown (the images inlined the same way, which GitHub and JupyterLab render).
:func:`write_report` picks the format from the file's suffix.

This module draws nothing and writes no HTML of its own: it lists the report's blocks
(:func:`layout_blocks`) for the one page writer, :mod:`omni_bench.core.pages`, which a training
run's report (:mod:`omni_bench.training.run_report`) uses too. Figures come from the views
(``omni_bench_widgets``): ``omni-bench inspect --html`` asks them for the inspector figure and the
alignment timeline.
"""

from __future__ import annotations

import os

from omni_bench.core.pages import REPORT_STYLE, data_uri, html_page, markdown_page, report_path, write_page
from omni_bench.layout.verdict import banner_lines, layout_alignment, report_text

__all__ = ["report_html", "report_markdown", "write_report", "report_path", "data_uri", "REPORT_STYLE",
           "layout_blocks"]


def _title(layout, title):
    return title or f"token layout of {os.path.basename(layout.media) if layout.media else layout.source}"


def layout_blocks(layout, *, timing=None, images=(), notes=()) -> list:
    """The report's blocks (:mod:`omni_bench.core.pages`): banner, ``notes`` (lines), ``images``
    (``(caption, png bytes)`` pairs), then the whole text report."""
    timing = timing if timing is not None else layout_alignment(layout)
    banner, ok = banner_lines(layout, timing)
    return [("banner", (banner, ok)), ("lines", list(notes)), ("figures", list(images)), ("heading", "Report"),
            ("pre", report_text(layout, timing))]


def report_html(layout, *, timing=None, images=(), title: str | None = None, notes=()) -> str:
    """The HTML page: title, banner, ``notes`` (lines), ``images`` (``(caption, png bytes)`` pairs), text report."""
    return html_page(_title(layout, title), layout_blocks(layout, timing=timing, images=images, notes=notes))


def report_markdown(layout, *, timing=None, images=(), title: str | None = None, notes=()) -> str:
    """The same report in Markdown: banner lines as a quote, images inline, the text report fenced."""
    return markdown_page(_title(layout, title), layout_blocks(layout, timing=timing, images=images, notes=notes))


def write_report(path, layout, *, fmt: str | None = None, timing=None, images=(), title: str | None = None,
                 notes=()) -> str:
    """Write :func:`report_html` or :func:`report_markdown` (``fmt``, default: from the suffix) to ``path``."""
    path, fmt = report_path(path, fmt)  # checked before the report is built
    return write_page(path, _title(layout, title), layout_blocks(layout, timing=timing, images=images, notes=notes),
                      fmt=fmt)
