"""The curves of a training run as PNG files in its folder (matplotlib's object API, no pyplot).

``omni_bench.training`` writes them through :func:`omni_bench.training.metrics.write_plots`
when this package is installed.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["plot_metrics"]


def plot_metrics(rows, folder: str | os.PathLike) -> dict[str, Path]:
    """Write ``loss.png``, ``learning_rate.png`` and ``grad_norm.png`` for metric rows into folder.

    Uses matplotlib's object API (``Figure``), never pyplot's global state. Returns the
    written paths by metric name; metrics with no values are skipped.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    folder = Path(folder)
    out = {}
    for key, label in (("loss", "training loss"), ("learning_rate", "learning rate"), ("grad_norm", "grad norm")):
        points = [(row["step"], row[key]) for row in rows if row.get(key) is not None]
        if not points:
            continue
        steps, values = zip(*points)
        fig = Figure(figsize=(5.0, 3.0), dpi=100)
        ax = fig.add_subplot()
        ax.plot(steps, values, marker="o" if len(points) <= 40 else None, markersize=3)
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if key == "learning_rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
        fig.tight_layout()
        path = folder / f"{key}.png"
        fig.savefig(path)
        out[key] = path
    return out
