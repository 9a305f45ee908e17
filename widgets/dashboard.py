"""The training dashboard: loss, learning rate, grad norm and peak memory of a run.

A run writes ``metrics.jsonl``, one JSON object per logging step with ``step``, ``loss``,
``learning_rate``, ``grad_norm``, ``tokens``, ``label_tokens`` and ``peak_mib`` (peak
memory in MiB). :func:`omni_bench.training.metrics.read_metrics_file` reads it (a half-written last line is left for the
next read); :class:`Dashboard` keeps the rows, re-reads only what was appended
(:meth:`Dashboard.refresh`), accepts rows pushed by a trainer (:meth:`Dashboard.log`)
and optionally polls in a thread. The text twin :func:`render_dashboard_text` summarises
the last row. Not covered: several runs in one plot, eval curves other than ``eval_loss``.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import ipywidgets as W
import numpy as np

from omni_bench.training.groups import read_groups
from omni_bench.training.metrics import read_metrics_file

from ._common import Root, contract, figure, png_bytes
from .grpo_group import draw_grpo_group

__all__ = ["show_dashboard", "render_dashboard_text", "draw_metrics", "smooth", "Dashboard",
           "PANELS"]

# panel title -> key in a metrics row
PANELS = {"loss": "loss", "learning rate": "learning_rate", "grad norm": "grad_norm", "peak memory (MiB)": "peak_mib"}
# a preference run (train --method dpo; trl's metric names) shows its reward margins and accuracy instead
PREFERENCE_PANELS = {"loss": "loss", "reward margins (chosen - rejected)": "rewards/margins",
                     "grad norm": "grad_norm", "reward accuracy": "rewards/accuracies"}
# a GRPO run (train --method grpo; trl's metric names) shows its group rewards and the sampling's entropy
GRPO_PANELS = {"loss": "loss", "reward (mean over the completions)": "reward", "reward std": "reward_std",
               "entropy": "entropy"}


def smooth(values, weight: float) -> np.ndarray:
    """Exponential moving average with bias correction (TensorBoard's smoothing); NaNs pass through.

    ``smooth([1, 3], 0.5) -> [1.0, 2.333...]``; ``weight=0`` returns the values unchanged.
    """
    values = np.asarray(values, dtype=float)
    out = np.full_like(values, np.nan)
    avg, norm = 0.0, 0.0
    for i, value in enumerate(values):
        if np.isnan(value):
            continue
        avg = weight * avg + (1 - weight) * value
        norm = weight * norm + (1 - weight)
        out[i] = avg / norm
    return out


def _column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([float(r[key]) if r.get(key) is not None else np.nan for r in rows], dtype=float)


def _x(rows: list[dict], x: str) -> np.ndarray:
    if x == "tokens":
        return np.nancumsum(_column(rows, "tokens"))
    steps = _column(rows, "step")
    return np.where(np.isnan(steps), np.arange(len(rows)), steps)


def _untrained_loss(vocab_size: int | None) -> float | None:
    """ln(V): the cross-entropy of a uniform guess over the vocabulary, an untrained model's loss."""
    return math.log(vocab_size) if vocab_size else None


def _draw_panel(ax, xs, ys, key: str, smoothing: float) -> None:
    """One panel: the raw values (faint, with the smoothed loss over them), markers when few."""
    marker = "o" if np.count_nonzero(~np.isnan(ys)) < 50 else None
    if not np.any(~np.isnan(ys)):
        ax.text(0.5, 0.5, "not logged yet", ha="center", va="center", transform=ax.transAxes, color="#999")
    elif key == "loss" and smoothing > 0:
        ax.plot(xs, ys, color="#4e79a7", alpha=0.35, linewidth=1, marker=marker, markersize=3, label="raw")
        ax.plot(xs, smooth(ys, smoothing), color="#4e79a7", linewidth=1.8, label=f"smoothed (EMA {smoothing:g})")
    else:
        ax.plot(xs, ys, color="#4e79a7", linewidth=1.5, marker=marker, markersize=3)


def draw_metrics(rows: list[dict], *, smoothing: float = 0.0, x: str = "step", title: str = "", width: float = 10.0,
                 vocab_size: int | None = None):
    """A 2 x 2 Figure of :data:`PANELS` against ``step`` (or cumulative ``tokens``).

    The loss panel shows the raw curve faintly and the smoothed one on top, with a legend (and
    ``eval_loss`` points when present); ``vocab_size`` adds the untrained reference ln(V) as a
    dashed line. Steps are whole numbers on the axis; a single row shows as points, and a panel
    with no values says so.
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    fig = figure(width, 4.6)
    axes = fig.subplots(2, 2, sharex=True).ravel()
    xs = _x(rows, x) if rows else np.zeros(0)
    reference = _untrained_loss(vocab_size)
    panels = (PREFERENCE_PANELS if any("rewards/margins" in r for r in rows)
              else GRPO_PANELS if any("reward_std" in r for r in rows) else PANELS)
    for ax, (name, key) in zip(axes, panels.items()):
        ys = _column(rows, key) if rows else np.zeros(0)
        _draw_panel(ax, xs, ys, key, smoothing)
        if key == "loss" and reference is not None:
            ax.axhline(reference, color="#e15759", linestyle="--", linewidth=1,
                       label=f"ln(V) = {reference:.2f} (untrained)")
        if key == "loss" and any(r.get("eval_loss") is not None for r in rows):
            ax.plot(xs, _column(rows, "eval_loss"), "o", color="#e15759", markersize=4, label="eval")
        if key == "loss" and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, frameon=False)
        if key == "learning_rate":
            ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.1e}"))
        ax.set_title(name, fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    if len(xs) == 1:  # one row: a window around it, not matplotlib's +-0.05 of a step
        axes[0].set_xlim(xs[0] - 1, xs[0] + 1)
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes[2:]:
        ax.set_xlabel("tokens seen" if x == "tokens" else "step", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def render_dashboard_text(rows: list[dict]) -> str:
    """Text twin: the last row in one line, plus the row count and the lowest loss.

    ``"step 20 · loss 1.2340 · lr 1.00e-04 · grad norm 0.812 · tokens 81,920 · label tokens 1,200 ·
    peak 10,240 MiB · 4 rows · best loss 1.2340 at step 20"``
    """
    if not rows:
        return "no metrics yet"
    last = rows[-1]
    tokens = sum(r.get("tokens") or 0 for r in rows)
    labels = sum(r.get("label_tokens") or 0 for r in rows)
    losses = [(r["loss"], r.get("step")) for r in rows if r.get("loss") is not None]
    best = min(losses, key=lambda p: p[0]) if losses else None
    parts = [f"step {_fmt(last.get('step'), 'd')}", f"loss {_fmt(last.get('loss'), '.4f')}",
             f"lr {_fmt(last.get('learning_rate'), '.2e')}", f"grad norm {_fmt(last.get('grad_norm'), '.3f')}",
             f"tokens {tokens:,}", f"label tokens {labels:,}", f"peak {_fmt(last.get('peak_mib'), ',.0f')} MiB",
             f"{len(rows)} rows"]
    if best is not None:
        parts.append(f"best loss {best[0]:.4f} at step {_fmt(best[1], 'd')}")
    if "rewards/margins" in last:  # train --method dpo: trl's reward metrics of the last row
        parts.append(f"reward margin {_fmt(last.get('rewards/margins'), '.4f')} · reward accuracy "
                     f"{_fmt(last.get('rewards/accuracies'), '.2f')}")
    if "reward_std" in last:  # train --method grpo: trl's reward metrics of the last row
        parts.append(f"reward {_fmt(last.get('reward'), '.4f')} · reward std {_fmt(last.get('reward_std'), '.4f')}"
                     f" · format failures {_fmt(last.get('format_failure_rate'), '.2f')}")
    return " · ".join(parts)


class Dashboard:
    """Rows of one run and how to get more: :meth:`refresh` (file), :meth:`log` (pushed rows).

    ``source`` is a run directory (its ``metrics.jsonl`` is read), a ``.jsonl`` file, or a
    list of rows. ``on_update`` callbacks run after every change (the widget redraws there).
    """

    def __init__(self, source, *, vocab_size: int | None = None):
        self.vocab_size = vocab_size  # draws ln(V), the untrained model's loss, on the loss panel
        self.rows: list[dict] = []
        self.skipped = 0  # lines of the file that were not JSON objects
        self.path: Path | None = None
        self._offset = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_update: list = []
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            self.path = path / "metrics.jsonl" if path.is_dir() or not path.suffix else path
            self.refresh()
        else:
            self.rows = [dict(r) for r in source]

    @property
    def name(self) -> str:
        return self.path.parent.name if self.path is not None else "metrics"

    def refresh(self) -> int:
        """Read rows appended to the file since the last read; return how many were new."""
        if self.path is None:
            return 0
        with self._lock:
            new, self._offset, skipped = read_metrics_file(self.path, self._offset)
            self.rows.extend(new)
            self.skipped += skipped
        if new:
            self._changed()
        return len(new)

    def log(self, row: dict | None = None) -> None:
        """Trainer hook: append ``row`` (one logging step), or with no row re-read the file."""
        if row is None:
            self.refresh()
            return
        with self._lock:
            self.rows.append(dict(row))
        self._changed()

    __call__ = log

    def _changed(self) -> None:
        for callback in list(self.on_update):
            callback()

    def start(self, seconds: float) -> None:
        """Poll the file every ``seconds`` in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(seconds):
                self.refresh()

        self._thread = threading.Thread(target=loop, name="omni-bench-dashboard", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    @property
    def polling(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def summary(self) -> str:
        bad = f" · {self.skipped} unreadable lines skipped" if self.skipped else ""
        return f"{self.name}: {render_dashboard_text(self.rows)}{bad}"

    def text(self) -> str:
        return render_dashboard_text(self.rows)

    def last_group(self):
        """A GRPO run's last recorded group (its folder's groups.jsonl, training/groups.py), else None."""
        groups = read_groups(self.path.parent) if self.path is not None else []
        return groups[-1] if groups else None

    def _repr_png_(self) -> bytes:  # a static copy of the curves for records read without a kernel
        return png_bytes(draw_metrics(self.rows, smoothing=0.6, vocab_size=self.vocab_size))

    def __repr__(self) -> str:
        return self.summary()


def show_dashboard(run_dir_or_metrics, *, display: bool = True, refresh_seconds: float | None = None,
                   vocab_size: int | None = None):
    """Training dashboard over a run directory, a ``metrics.jsonl`` or a list of rows.

    Controls: ``refresh`` (button: re-read the file), ``smoothing`` (loss EMA weight),
    ``x`` ("step" or "tokens"). ``vocab_size`` draws ln(V), the untrained loss. ``refresh_seconds``
    starts polling the file in a thread (``view.stop()`` ends it); a trainer can instead call ``view.log(row)`` or
    ``view.refresh()`` after each logging step. Returns the root widget, or with
    ``display=False`` ``{"widget", "controls", "view"}``; ``view`` is a :class:`Dashboard`. A GRPO run's folder
    also shows its last recorded group (``draw_grpo_group``) under the curves.
    """
    view = run_dir_or_metrics if isinstance(run_dir_or_metrics, Dashboard) else \
        Dashboard(run_dir_or_metrics, vocab_size=vocab_size)
    controls = {
        "refresh": W.Button(description="refresh", icon="refresh", layout=W.Layout(width="110px")),
        "smoothing": W.FloatSlider(value=0.6, min=0.0, max=0.99, step=0.01, description="smoothing",
                                   continuous_update=False),
        "x": W.ToggleButtons(options=["step", "tokens"], value="step", description="x axis",
                             style={"button_width": "70px"}),
    }
    summary = W.HTML()
    image = W.Image(format="png", layout=W.Layout(width="100%", max_width="1000px"))
    group_image = W.Image(format="png", layout=W.Layout(width="100%", max_width="1000px"))
    root = Root(view, children=[W.HBox([controls["refresh"], controls["smoothing"], controls["x"]]), summary, image])

    def redraw(*_) -> None:
        summary.value = f"<code>{view.summary()}</code>"
        fig = draw_metrics(view.rows, smoothing=controls["smoothing"].value, x=controls["x"].value,
                           title=str(view.path) if view.path else "", vocab_size=view.vocab_size)
        image.value = png_bytes(fig)
        group = view.last_group()  # a GRPO run: its last group's rollouts on the video's timeline
        if group is not None:
            group_image.value = png_bytes(draw_grpo_group(group))
            if group_image not in root.children:  # shown once the run has recorded a group
                root.children = (*root.children, group_image)

    controls["refresh"].on_click(lambda _: view.refresh())
    controls["smoothing"].observe(redraw, names="value")
    controls["x"].observe(redraw, names="value")
    view.on_update.append(redraw)
    redraw()
    if refresh_seconds:
        view.start(refresh_seconds)
    return contract(root, controls, display)
