"""Timeline of a sample's VIDEO and AUDIO chunks in real time: see the drift, then see it fixed.

:func:`draw_timeline` draws one :class:`omni_bench.layout.alignment.Alignment` on a matplotlib
Axes: real seconds on x, one lane of VIDEO chunks (the seconds their frames really cover)
above one lane of AUDIO chunks (40 ms per token); a line joins each chunk's video start to
its audio start, so a drift is a slanted line and an aligned sample has vertical ones.
Chunks alternate two shades so neighbours stand apart; every rectangle carries a ``gid``
(``"VIDEO-7"``, ``"AUDIO-7"``) and the joining lines are one ``LineCollection`` with gid
``"drift"``, so tests can find them. Without interleaved audio the lower lane shows the
seconds the position ids claim instead.

:func:`draw_timeline_pair` puts a misaligned sample above its fixed version on a shared
time axis. The text twin is ``str(alignment)``.

Figures are :class:`~.picture.Picture` objects (a ``matplotlib.figure.Figure`` on the Agg canvas
that a notebook shows as a picture), never pyplot; nothing here is imported by ``omni_bench``.
Not covered: interaction (zoom / hover).
"""

from __future__ import annotations

__all__ = ["draw_timeline", "draw_timeline_pair", "LANES"]

LANES = {"VIDEO": 1.0, "AUDIO": 0.0}  # lane centre on the y axis
_HEIGHT = 0.36  # lane thickness
_COLOURS = {"VIDEO": ("#f28e2b", "#c4661b"), "AUDIO": ("#59a14f", "#3d7a35"), "claimed": ("#9da3ab", "#6b7079")}


def _new_axes(width: float = 10.0, height: float = 3.0):
    from .picture import PictureAxes, figure

    return figure(width, height, layout="constrained").add_subplot(1, 1, 1, axes_class=PictureAxes)


def draw_timeline(alignment, ax=None, *, title: str | None = None):
    """Draw one Alignment (see module docstring) and return the Axes (in a notebook, its picture).

    ``ax``: an Axes to draw on (default: a new Figure of 10 x 3 inches). A legend under the axes
    explains the shades and the lines. ``title``
    defaults to the alignment's summary line.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Rectangle

    ax = ax if ax is not None else _new_axes()
    lower = "AUDIO" if alignment.interleaved else "claimed"
    end = 0.0
    joins = []
    for chunk in alignment.chunks:
        shade = chunk.index % 2
        spans = (("VIDEO", chunk.video_span, "VIDEO"),
                 (lower, chunk.audio_span if alignment.interleaved else chunk.claimed_span, "AUDIO"))
        for kind, span, lane in spans:
            if span is None:
                continue
            y = LANES[lane] - _HEIGHT / 2
            ax.add_patch(Rectangle((span[0], y), max(span[1] - span[0], 1e-6), _HEIGHT,
                                   facecolor=_COLOURS[kind][shade], edgecolor="white", linewidth=0.4,
                                   gid=f"{lane}-{chunk.index}"))
            end = max(end, span[1])
        reference = chunk.audio_span if alignment.interleaved else chunk.claimed_span
        if chunk.video_span is not None and reference is not None:
            joins.append([(chunk.video_span[0], LANES["VIDEO"] - _HEIGHT / 2),
                          (reference[0], LANES["AUDIO"] + _HEIGHT / 2)])
    worst = alignment.worst_chunk
    colours = ["#d62728" if worst is not None and abs(j[0][0] - j[1][0]) > alignment.tolerance else "#333333"
               for j in joins]
    ax.add_collection(LineCollection(joins, colors=colours, linewidths=0.8, gid="drift"))
    ax.set_xlim(0, end * 1.01 if end else 1.0)
    ax.set_ylim(-0.6, 1.6)
    ax.set_yticks([LANES["AUDIO"], LANES["VIDEO"]], [lower, "VIDEO"])
    ax.set_xlabel("real time (s)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.set_title(title if title is not None else alignment.summary, fontsize=9, loc="left")
    _legend(ax, alignment, lower)
    return ax


def _legend(ax, alignment, lower: str) -> None:
    """What the shades and lines mean: neighbouring chunks alternate shades; a line per chunk, red past tolerance."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    reference = "audio" if alignment.interleaved else "claimed"
    handles = [Patch(facecolor=_COLOURS["VIDEO"][0], label="VIDEO chunk (even)"),
               Patch(facecolor=_COLOURS["VIDEO"][1], label="VIDEO chunk (odd)"),
               Patch(facecolor=_COLOURS[lower][0], label=f"{lower if lower == 'AUDIO' else 'claimed time'} chunk"),
               Line2D([], [], color="#333333", linewidth=0.8, label=f"video start -> {reference} start"),
               Line2D([], [], color="#d62728", linewidth=0.8, label=f"drift over {alignment.tolerance:g} s")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=len(handles), fontsize=7,
              frameon=False)


def draw_timeline_pair(misaligned, fixed, *, titles: tuple[str, str] | None = None):
    """A misaligned sample above its fixed version, sharing the time axis; returns the Figure.

    ``titles`` default to each alignment's verdict line prefixed with "before:" / "after:"
    and, for the fixed one, the recommendation that produced it.
    """
    import textwrap

    from .picture import figure

    fig = figure(10, 5.2, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    if titles is None:
        advice = textwrap.fill(misaligned.recommendation.line, width=120)  # long CLI flags: wrap, don't clip
        titles = (f"before: {misaligned.summary}\n{advice}", f"after: {fixed.summary}")
    draw_timeline(misaligned, top, title=titles[0])
    draw_timeline(fixed, bottom, title=titles[1])
    right = max(top.get_xlim()[1], bottom.get_xlim()[1])
    top.set_xlim(0, right)
    return fig
