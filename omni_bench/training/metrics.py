"""A run's ``metrics.jsonl``: one reader for the trainer, the resume logic and the dashboard,
and the run folder's plots (drawn by the views package when it is installed).

The trainer appends one JSON object per optimizer step. :func:`read_metrics_file` reads it
from a byte offset, tolerating a half-written last line (left for the next read) and
skipping lines that are not JSON objects; :func:`read_metrics` is the whole file of a run
folder. :func:`write_plots` asks :func:`omni_bench_widgets.plots.plot_metrics` for the
PNG curves; without the views package installed a run simply has no plots - the core
package never imports matplotlib itself.
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


def read_metrics(output_dir: str | os.PathLike) -> list[dict]:
    """The rows of a run folder's ``metrics.jsonl`` (empty list if there is none)."""
    return read_metrics_file(Path(output_dir) / METRICS_FILE)[0]


def write_plots(rows, folder: str | os.PathLike, plot=None) -> dict[str, Path]:
    """The run's curves written into ``folder`` by ``plot(rows, folder)``; by default the views
    package's ``plot_metrics``, or nothing (``{}``) when ``omni_bench_widgets`` is not installed."""
    if plot is None:
        try:
            from omni_bench_widgets.plots import plot_metrics as plot
        except ImportError:
            return {}
    return plot(rows, folder)
