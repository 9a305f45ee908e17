"""The curves of a training run as PNG files in its folder (matplotlib's object API, no pyplot).

``omni_bench.training`` writes them through :func:`omni_bench.training.metrics.write_plots`
when this package is installed.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["plot_metrics", "metric_figure", "METRICS"]


def plot_metrics(rows, folder: str | os.PathLike, *, vocab_size: int | None = None,
                 smoothing: float = 0.6) -> dict[str, Path]:
    """Write ``loss.png``, ``learning_rate.png`` and ``grad_norm.png`` for metric rows into folder.

    Uses matplotlib's object API (``Figure``), never pyplot's global state. Returns the
    written paths by metric name; metrics with no values are skipped. The figures are
    :func:`metric_figure`'s.
    """
    folder = Path(folder)
    out = {}
    for key in METRICS:
        fig = metric_figure(rows, key, vocab_size=vocab_size, smoothing=smoothing)
        if fig is None:
            continue
        path = folder / f"{key}.png"
        fig.savefig(path)
        out[key] = path
    return out


METRICS = {"loss": "training loss", "learning_rate": "learning rate", "grad_norm": "grad norm"}  # key -> axis


def metric_figure(rows, key: str, *, vocab_size: int | None = None, smoothing: float = 0.6):
    """One metric against the step (a :class:`~.picture.Picture`), or None when no row has a value for ``key``.

    The loss has its raw and smoothed (EMA ``smoothing``) curves in a legend, and ``vocab_size``
    adds ln(V), the loss of an untrained model, as a dashed line. Steps are whole numbers.
    """
    import math

    from matplotlib.ticker import MaxNLocator

    from .dashboard import smooth  # (ipywidgets loads with it: the package needs it anyway)
    from .picture import figure

    label = METRICS[key]
    points = [(row["step"], row[key]) for row in rows if row.get(key) is not None]
    if not points:
        return None
    steps, values = zip(*points)
    fig = figure(5.0, 3.0)
    ax = fig.add_subplot()
    marker = "o" if len(points) <= 40 else None
    if key == "loss" and len(points) > 2 and smoothing > 0:
        ax.plot(steps, values, marker=marker, markersize=3, alpha=0.35, label="raw")
        ax.plot(steps, smooth(values, smoothing), color="C0", linewidth=1.8, label=f"smoothed (EMA {smoothing:g})")
    else:
        ax.plot(steps, values, marker=marker, markersize=3, label="raw" if key == "loss" else None)
    if key == "loss" and vocab_size:
        ax.axhline(math.log(vocab_size), color="#e15759", linestyle="--", linewidth=1,
                   label=f"ln(V) = {math.log(vocab_size):.2f} (untrained)")
    if key == "loss":
        ax.legend(fontsize=7, frameon=False)
    if len(points) == 1:
        ax.set_xlim(steps[0] - 1, steps[0] + 1)
    ax.set_xlabel("step")
    ax.set_ylabel(label)
    ax.set_title(label)
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if key == "learning_rate":
        ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    fig.tight_layout()
    return fig
