"""A run's ``metrics.jsonl``: one reader for the trainer, the resume logic, the report and the dashboard.

The trainer appends one JSON object per optimizer step. :func:`read_metrics_file` reads it
from a byte offset, tolerating a half-written last line (left for the next read) and
skipping lines that are not JSON objects: ``(rows, next_offset, skipped)``, what the live
dashboard polls; :func:`read_metrics` (``omni_bench.read_metrics``, the one public reader) is the
rows of a whole run folder or file. :func:`write_plots` writes the PNG curves that the
``plot`` it is handed draws (``omni_bench_widgets.plot_metrics``, which ``omni-bench train``
passes): this package never imports the views or matplotlib, so a library ``train()`` run
writes plots only when given a ``plot``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["METRICS_FILE", "read_metrics", "read_metrics_file", "write_plots"]

METRICS_FILE = "metrics.jsonl"  # one JSON object per step, in a run folder


def read_metrics_file(path: str | os.PathLike, offset: int = 0) -> tuple[list[dict], int, int]:
    """Rows of a ``metrics.jsonl`` from byte ``offset`` on: ``(rows, next_offset, skipped)``.

    A last line without its newline (the trainer is writing it) is left for the next read;
    blank lines are ignored; lines that are not JSON objects are skipped and counted. A
    missing file gives ``([], offset, 0)``.
    """
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset, 0
    end = data.rfind(b"\n") + 1
    rows, skipped = [], 0
    for line in data[:end].decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict):
            rows.append(row)
        else:
            skipped += 1
    return rows, offset + end, skipped


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The rows of a run's ``metrics.jsonl``: ``path`` is the run folder or the file itself (empty list if
    there is none). The one public reader; :func:`read_metrics_file` is the incremental one under it."""
    path = Path(path)
    return read_metrics_file(path if path.is_file() else path / METRICS_FILE)[0]


def write_plots(rows, folder: str | os.PathLike, plot=None) -> dict[str, Path]:
    """The run's curves written into ``folder`` by ``plot(rows, folder)`` (``{name: path}``); nothing
    (``{}``) without a ``plot`` (the views' ``omni_bench_widgets.plot_metrics`` draws them)."""
    return {} if plot is None else plot(rows, folder)
