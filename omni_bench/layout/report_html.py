"""A layout and its alignment as one self-contained report file: HTML (or Markdown) to keep and share.

:func:`report_html` writes one HTML page with nothing outside it: the verdict banner (the
alignment verdict, the size line and the warnings of :mod:`omni_bench.layout.verdict`, the same
lines as the CLI report), the figures handed in as PNG bytes (inlined as ``data:`` URIs), and
the whole text report (``omni-bench inspect``'s) in a ``<pre>``. :func:`report_markdown` is
the same in Markdown (the images inlined the same way, which GitHub and JupyterLab render).
:func:`write_report` picks the format from the file's suffix.

This module draws nothing: figures come from ``omni_bench_widgets`` (``omni-bench inspect
--html`` asks it for the inspector figure and the alignment timeline when it is installed).
A training run's report is :mod:`omni_bench.training.run_report` (it shares :func:`data_uri` and
:data:`REPORT_STYLE`).
"""

from __future__ import annotations

import base64
import html
import os

__all__ = ["report_html", "report_markdown", "write_report", "report_path", "data_uri", "REPORT_STYLE"]

REPORT_STYLE = ("body{font-family:system-ui,sans-serif;max-width:1060px;margin:24px auto;color:#222}"
          "pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}"
          ".banner{border-left:4px solid #b71c1c;background:#fdecea;padding:6px 10px;font-size:13px}"
          ".banner.ok{border-color:#2e7d32;background:#eef7ee}"
          "figure{margin:12px 0}figcaption{font-size:12px;color:#555}img{max-width:100%}")


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...``: a PNG inside the page, nothing fetched."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _blocks(layout, timing):
    from omni_bench.layout.verdict import banner_lines, layout_alignment, report_text

    timing = timing if timing is not None else layout_alignment(layout)
    banner, ok = banner_lines(layout, timing)
    return banner, ok, report_text(layout, timing)


def _title(layout, title):
    return title or f"token layout of {os.path.basename(layout.media) if layout.media else layout.source}"


def report_html(layout, *, timing=None, images=(), title: str | None = None, notes=()) -> str:
    """The HTML page: title, banner, ``notes`` (lines), ``images`` (``(caption, png bytes)`` pairs), text report."""
    banner, ok, text = _blocks(layout, timing)
    esc = html.escape
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{esc(_title(layout, title))}</title>",
             f"<style>{REPORT_STYLE}</style></head><body>", f"<h1>{esc(_title(layout, title))}</h1>",
             f"<div class='banner{' ok' if ok else ''}'>" + "<br>".join(esc(line) for line in banner) + "</div>"]
    parts += [f"<p>{esc(line)}</p>" for line in notes]
    for caption, png in images:
        parts.append(f"<figure><img alt='{esc(caption)}' src='{data_uri(png)}'>"
                     f"<figcaption>{esc(caption)}</figcaption></figure>")
    parts += ["<h2>Report</h2>", f"<pre>{esc(text)}</pre>", "</body></html>"]
    return "\n".join(parts) + "\n"


def report_markdown(layout, *, timing=None, images=(), title: str | None = None, notes=()) -> str:
    """The same report in Markdown: banner lines as a quote, images inline, the text report fenced."""
    banner, _, text = _blocks(layout, timing)
    parts = [f"# {_title(layout, title)}", "", *(f"> {line}  " for line in banner), ""]
    parts += [*(f"{line}" for line in notes), ""] if notes else []
    for caption, png in images:
        parts += [f"![{caption}]({data_uri(png)})", "", f"*{caption}*", ""]
    parts += ["## Report", "", "```text", text, "```"]
    return "\n".join(parts) + "\n"


def report_path(path, fmt: str | None = None) -> tuple[str, str]:
    """``(path, "html" | "markdown")``: the format asked for, else the suffix's; refuses an unknown suffix
    or a folder that does not exist (checked before any work, so a typo costs nothing)."""
    from omni_bench.core.errors import OmniBenchError

    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if fmt is None:
        if suffix not in (".html", ".htm", ".md", ".markdown"):
            raise OmniBenchError(f"{path}: a report is .html or .md, got {suffix or 'no suffix'!r}", source=path,
                                 reason="bad-settings")
        fmt = "html" if suffix in (".html", ".htm") else "markdown"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OmniBenchError(f"{path}: folder {folder} does not exist", source=path, reason="bad-output")
    return path, fmt


def write_report(path, layout, *, fmt: str | None = None, **kwargs) -> str:
    """Write :func:`report_html` or :func:`report_markdown` (``fmt``, default: from the suffix) to ``path``."""
    from omni_bench.core.errors import OmniBenchError

    path, fmt = report_path(path, fmt)
    text = report_html(layout, **kwargs) if fmt == "html" else report_markdown(layout, **kwargs)
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise OmniBenchError(f"{path}: cannot write the report ({exc.strerror})", source=path,
                             reason="bad-output") from None
    return path
