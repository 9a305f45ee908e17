"""Frame samplers drawn: which frames each rule keeps, on a time axis and as thumbnails.

* :func:`draw_samplers` puts every sampler of a :class:`~omni_bench.sampling.comparison.SamplerComparison`
  on one row of a shared time axis: a tick per kept frame, a red cross per index past the
  last frame, a ring where a frame is taken more than once, and the refusal text for a rule
  that refused the request. Dashed lines mark the first and the last frame.
* :func:`draw_sampler_thumbnails` decodes the chosen frames of a real clip
  (:func:`omni_bench.core.media.read_frames`, once for all rows) and shows up to ``max_thumbs`` per
  sampler, evenly picked from its choice and always including its first and last.

Both return a :class:`~.picture.Picture` (a ``matplotlib.figure.Figure`` on the Agg canvas that a
notebook shows as a picture; never pyplot). The text twin is
``str(comparison)``. Not covered: interactivity (the comparison is cheap: recompute and redraw).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.media import probe, read_frames

from .picture import figure

__all__ = ["draw_samplers", "draw_sampler_thumbnails", "thumbnail_picks", "SAMPLER_COLOURS"]

SAMPLER_COLOURS = {
    "qwen-vl-utils": "#4e79a7", "transformers": "#f28e2b", "llama-factory": "#59a14f",
    "qwen2.5-vl-finetune": "#b07aa1", "uniform": "#76b7b2", "fps": "#9c755f",
}
_OVERRUN = "#d62728"


def draw_samplers(comparison, ax=None, *, names=None):
    """One row per sampler on a time axis (seconds); returns the Figure.

    Artists carry labels tests can find: ``"<name> frames"`` (kept in-range frames, offsets =
    (timestamp, row)), ``"<name> out of range"``, ``"<name> repeated"`` and ``"<name> refused"``.
    """
    rows = [r for r in comparison.rows if names is None or r.name in names]
    if ax is None:
        fig = figure(9.0, 0.45 * len(rows) + 1.3)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    last = (comparison.total_frames - 1) / comparison.native_fps
    span = comparison.total_frames / comparison.native_fps
    for y, row in zip(range(len(rows) - 1, -1, -1), rows):
        colour = SAMPLER_COLOURS.get(row.name, "#555555")
        if row.sampling is None:
            ax.text(0.0, y, f"refused: {row.error}", va="center", ha="left", fontsize=7, color="#777777",
                    label=f"{row.name} refused")
            continue
        s = row.sampling
        inside = [t for i, t in zip(s.indices, s.timestamps) if 0 <= i < s.total_frames]
        outside = [t for i, t in zip(s.indices, s.timestamps) if not 0 <= i < s.total_frames]
        ax.scatter(inside, [y] * len(inside), marker="|", s=140, linewidths=1.4, color=colour,
                   label=f"{row.name} frames")
        if outside:
            ax.scatter(outside, [y] * len(outside), marker="x", s=50, color=_OVERRUN,
                       label=f"{row.name} out of range")
        repeated = [i / s.native_fps for i, k in Counter(s.indices).items() if k > 1]
        if repeated:
            ax.scatter(repeated, [y] * len(repeated), marker="o", s=60, facecolors="none", edgecolors=colour,
                       label=f"{row.name} repeated")
    ax.axvline(0.0, color="#999999", linestyle="--", linewidth=0.8)
    ax.axvline(last, color="#999999", linestyle="--", linewidth=0.8, label="last frame")
    ax.axvspan(last, span + 0.02 * span, color="#f3d6d6", alpha=0.5, linewidth=0)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r.name for r in reversed(rows)])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlim(-0.02 * span, span + 0.02 * span)
    ax.set_xlabel("seconds")
    request = comparison.request
    asked = f"{request['frames']} frames" if request.get("frames") is not None else f"{request['fps']:g} fps"
    ax.set_title(f"{comparison.total_frames} frames at {comparison.native_fps:g} fps: {asked} asked",
                 fontsize=10)
    fig.tight_layout()
    return fig


def thumbnail_picks(indices, max_thumbs: int) -> list[int]:
    """Up to ``max_thumbs`` of the unique in-order indices, evenly spread, first and last kept.

    ``thumbnail_picks(range(0, 100, 10), 4) -> [0, 30, 60, 90]``.
    """
    unique = list(dict.fromkeys(int(i) for i in indices))
    if len(unique) <= max_thumbs:
        return unique
    positions = np.rint(np.linspace(0, len(unique) - 1, max_thumbs)).astype(int)
    return [unique[p] for p in positions]


def draw_sampler_thumbnails(path, comparison, *, names=None, max_thumbs: int = 6, backend: str = "auto",
                            thumb_width: float = 1.6):
    """Thumbnails of the frames each sampler keeps from the clip at ``path``; returns the Figure.

    Frames past the video's end (transformers' extra index) are left out of the pictures.
    Raises OmniBenchError when the clip's frame count is not the comparison's.
    """
    info = probe(path)
    if info.total_frames != comparison.total_frames:
        raise OmniBenchError(f"{info.path}: has {info.total_frames} frames but the comparison is for "
                             f"{comparison.total_frames}; compare_samplers(probe(path).total_frames, ...)",
                             source=info.path, reason="mismatch")
    rows = [r for r in comparison.rows if r.sampling is not None and (names is None or r.name in names)]
    picks = {r.name: thumbnail_picks([i for i in r.sampling.indices if 0 <= i < info.total_frames], max_thumbs)
             for r in rows}
    wanted = sorted({i for chosen in picks.values() for i in chosen})
    frames = dict(zip(wanted, read_frames(info.path, wanted, backend=backend))) if wanted else {}
    aspect = info.height / info.width
    names_in = 0.075 * max((len(r.name) for r in rows), default=8) + 0.3  # the name column, never clipped
    width = thumb_width * max_thumbs + names_in + 0.1
    fig = figure(width, (thumb_width * aspect + 0.35) * max(len(rows), 1) + 0.3)
    grid = fig.add_gridspec(max(len(rows), 1), max_thumbs, left=names_in / width, right=0.99, top=0.95,
                            bottom=0.02, wspace=0.05, hspace=0.35)
    for r, row in enumerate(rows):
        for c in range(max_thumbs):
            ax = fig.add_subplot(grid[r, c])
            ax.set_axis_off()
            if c == 0:
                ax.text(-0.08, 0.5, row.name, transform=ax.transAxes, ha="right", va="center", fontsize=8,
                        color=SAMPLER_COLOURS.get(row.name, "#555555"))
            if c < len(picks[row.name]):
                index = picks[row.name][c]
                ax.imshow(frames[index])
                ax.set_title(f"#{index} {index / info.native_fps:.1f}s", fontsize=7)
    return fig
