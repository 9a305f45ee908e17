"""One writer of self-contained report pages: HTML (or Markdown) with nothing outside the file.

A report is a title and a list of blocks; :func:`html_page` and :func:`markdown_page` write
the same blocks in the two formats, :func:`write_page` picks the format from the file's suffix
(:func:`report_path`, checked before any work) and writes it. The layout report
(:mod:`omni_bench.layout.report_html`) and the training run's (:mod:`omni_bench.training.run_report`)
are both such lists. Figures come in as PNG bytes and are inlined as ``data:`` URIs
(:func:`data_uri`); this module draws nothing (the views, ``omni_bench_widgets``, draw them).

Blocks, each a ``(kind, payload)`` pair:

* ``("heading", text)`` - a section title (``<h2>`` / ``##``);
* ``("banner", (lines, ok))`` - the verdict banner (red, green when ``ok``; a quote in Markdown);
* ``("lines", lines)`` / ``("bullets", lines)`` - paragraphs (Markdown: plain lines / a list);
* ``("figures", [(caption, png bytes), ...])``;
* ``("pre", text)`` - preformatted text (a ``text`` fence in Markdown);
* ``("table", (head, rows))`` - a row ``None`` is an elided stretch ("...").

>>> print(markdown_page("run", [("heading", "Data"), ("bullets", ["3 samples"]), ("pre", "a  b")]), end="")
# run
<BLANKLINE>
## Data
<BLANKLINE>
- 3 samples
<BLANKLINE>
```text
a  b
```
"""

from __future__ import annotations

import base64
import html
import os

from omni_bench.core.errors import OmniBenchError

__all__ = ["html_page", "markdown_page", "write_page", "report_path", "data_uri", "REPORT_STYLE"]

REPORT_STYLE = ("body{font-family:system-ui,sans-serif;max-width:1060px;margin:24px auto;color:#222}"
                "pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}"
                ".banner{border-left:4px solid #b71c1c;background:#fdecea;padding:6px 10px;font-size:13px}"
                ".banner.ok{border-color:#2e7d32;background:#eef7ee}"
                "figure{margin:12px 0}figcaption{font-size:12px;color:#555}img{max-width:100%}"
                "td,th{padding:0 8px;text-align:right;font-size:12px}")


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...``: a PNG inside the page, nothing fetched.

    >>> data_uri(b"png")
    'data:image/png;base64,cG5n'
    """
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _html_block(kind: str, payload) -> str:
    esc = html.escape
    if kind == "heading":
        return f"<h2>{esc(payload)}</h2>"
    if kind == "banner":
        lines, ok = payload
        return f"<div class='banner{' ok' if ok else ''}'>" + "<br>".join(esc(line) for line in lines) + "</div>"
    if kind in ("lines", "bullets"):
        return "".join(f"<p>{esc(line)}</p>" for line in payload)
    if kind == "figures":
        return "\n".join(f"<figure><img alt='{esc(caption)}' src='{data_uri(png)}'>"
                         f"<figcaption>{esc(caption)}</figcaption></figure>" for caption, png in payload)
    if kind == "pre":
        return f"<pre>{esc(payload)}</pre>"
    if kind == "table":
        head, rows = payload
        out = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>"]
        out += [f"<tr><td colspan='{len(head)}'>...</td></tr>" if row is None else
                "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows]
        return "".join(out) + "</table>"
    raise ValueError(f"unknown report block {kind!r}")


def html_page(title: str, blocks) -> str:
    """One HTML page with nothing outside it: the title, then each block (see the module docstring)."""
    esc = html.escape
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{esc(title)}</title>",
             f"<style>{REPORT_STYLE}</style></head><body>", f"<h1>{esc(title)}</h1>"]
    parts += [_html_block(kind, payload) for kind, payload in blocks]
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def _markdown_block(kind: str, payload) -> list[str]:
    cell = lambda text: str(text).replace("|", "\\|")  # noqa: E731
    if kind == "heading":
        return [f"## {payload}", ""]
    if kind == "banner":
        return [*(f"> {line}  " for line in payload[0]), ""]
    if kind == "lines":
        return [*payload, ""] if payload else []
    if kind == "bullets":
        return [*(f"- {line}" for line in payload), ""]
    if kind == "figures":
        return [line for caption, png in payload for line in (f"![{caption}]({data_uri(png)})", "", f"*{caption}*", "")]
    if kind == "pre":
        return ["```text", payload, "```", ""] if payload else []
    if kind == "table":
        head, rows = payload
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(["..."] * len(head)) + " |" if row is None else
                "| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
        return [*out, ""]
    raise ValueError(f"unknown report block {kind!r}")


def markdown_page(title: str, blocks) -> str:
    """The same page in Markdown (images inlined as ``data:`` URIs, which GitHub and JupyterLab render)."""
    lines = [f"# {title}", ""]
    for kind, payload in blocks:
        lines += _markdown_block(kind, payload)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def report_path(path, fmt: str | None = None) -> tuple[str, str]:
    """``(path, "html" | "markdown")``: the format asked for, else the suffix's; refuses an unknown suffix
    or a folder that does not exist (checked before any work, so a typo costs nothing)."""
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


def write_page(path, title: str, blocks, *, fmt: str | None = None) -> str:
    """Write :func:`html_page` or :func:`markdown_page` (``fmt``, default: from the suffix) to ``path``."""
    path, fmt = report_path(path, fmt)
    text = html_page(title, blocks) if fmt == "html" else markdown_page(title, blocks)
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise OmniBenchError(f"{path}: cannot write the report ({exc.strerror})", source=path,
                             reason="bad-output") from None
    return path
