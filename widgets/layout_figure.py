"""The inspector's figure (no ipywidgets, so the CLI's ``--html`` report can draw it too).

Panels, top to bottom:

1. **overview** (minimap) of the whole sequence: kind, role and labelled bands. Runs narrower
   than :data:`MIN_RUN_PX` pixels are widened to it, so on a 50,000-token layout the 14
   labelled tokens and the assistant turn stay visible; labelled runs also get a red marker
   above the strip and each role run wide enough for it its name. A black frame marks the
   selection.
2. **selection**: the same bands for the selected tokens only (the zoom), white lines between
   tokens when there are at most 200.
3. **frames** (with decoded media): each grid step's first sampled frame over its VIDEO tokens;
4. **audio** (with decoded media and audio): the waveform under each AUDIO run, or with
   ``audio_view="log-mel"`` the **log-mel** row: the processor's ``input_features`` frames
   under each AUDIO run (:mod:`.log_mel`);
5. **temporal id** of each selected token (TMRoPE), with a right-hand axis in the seconds those
   ids claim (``(id - first video id) / ids per second``) and the media tokens' real start
   seconds in grey on the same scale: where grey and colour part, the ids lie about time.

Panels 2-5 share the selection's token axis; dashed lines mark the interleave chunk bounds.
Runs are drawn as rectangles (one collection per band), so 50k tokens cost what their runs cost.

:func:`draw_layouts` puts several layouts of one clip (e.g. one per model family) side by side:
one overview strip each on a shared token axis; text twin :func:`render_layouts_text`.
"""

from __future__ import annotations

import os

import numpy as np

from ._common import (
    KIND_COLOURS,
    KIND_NAMES,
    LABEL_COLOUR,
    ROLE_COLOURS,
    ROLE_NAMES,
    figure,
    grid_text,
    labelled_mask,
    role_codes,
    runs,
)
from .layout_text import default_selection
from .log_mel import draw_log_mel
from .media_strip import draw_audio, draw_chunk_bounds, draw_frames

__all__ = ["draw_layout", "draw_layouts", "render_layouts_text", "MIN_RUN_PX", "ids_per_second", "AUDIO_VIEWS"]

AUDIO_VIEWS = ("waveform", "log-mel")  # what the audio row draws

MIN_RUN_PX = 3.0  # narrowest drawn run in the overview, pixels
_LEFT, _RIGHT = 0.08, 0.94  # the axes' share of the figure's width
_BANDS = {"kind": (0.45, 0.55), "role": (0.2, 0.2), "labels": (0.0, 0.15)}  # y, height


def _widened(starts, lengths, min_width: float, n: int | None = None):
    """Runs at least ``min_width`` tokens wide, centred where they were, kept inside ``[0, n)``."""
    lengths = np.asarray(lengths, dtype=float)
    wide = np.maximum(lengths, min_width)
    left = np.asarray(starts) + (lengths - wide) / 2
    if n is not None:
        left = np.clip(left, 0, np.maximum(n - wide, 0))
    return list(zip(left.tolist(), wide.tolist()))


def _draw_bands(ax, kinds: np.ndarray, roles: np.ndarray, labelled: np.ndarray, min_width: float = 0.0) -> None:
    for band, codes, colours in (("kind", kinds, KIND_COLOURS), ("role", roles, ROLE_COLOURS)):
        starts, lengths, values = runs(codes)
        ax.broken_barh(_widened(starts, lengths, min_width if band == "role" else 0.0, len(codes)), _BANDS[band],
                       facecolors=[colours[v] for v in values], linewidth=0, label=f"{band} band")
    starts, lengths, values = runs(labelled.astype(np.int8))
    keep = values == 1
    ax.broken_barh(_widened(starts[keep], lengths[keep], min_width, len(kinds)), _BANDS["labels"],
                   facecolors=LABEL_COLOUR,
                   linewidth=0, label="labelled band")
    ax.set_yticks([y + h / 2 for y, h in _BANDS.values()], list(_BANDS))
    ax.set_ylim(-0.05, 1.05)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def _overview(ax, layout, kinds, roles, labelled, selection, px: float) -> None:
    """The minimap: every band widened to MIN_RUN_PX, labelled markers, role names, the selection frame."""
    n = len(kinds)
    min_width = MIN_RUN_PX * n / px
    _draw_bands(ax, kinds, roles, labelled, min_width)
    starts, lengths, values = runs(labelled.astype(np.int8))
    centres = (starts + lengths / 2)[values == 1]
    ax.plot(centres, np.full(centres.size, 1.12), linestyle="none", marker="v", markersize=5, color=LABEL_COLOUR,
            clip_on=False, label="labelled marker")
    starts, lengths, values = runs(roles)
    for s0, length, v in zip(starts, lengths, values):
        if v and (length * px / n >= 8 * len(ROLE_NAMES[v]) or ROLE_NAMES[v] == "assistant"):
            ax.text(s0 + length / 2, 0.3, ROLE_NAMES[v], ha="center", va="center", fontsize=6, clip_on=False,
                    label="role name")
    start, stop = selection
    ax.axvspan(start, max(stop, start + min_width), facecolor="none", edgecolor="black", linewidth=1.2,
               label="selection frame")
    ax.set_xlim(0, n)
    ax.set_ylim(-0.05, 1.2)


def ids_per_second(layout) -> float:
    """Temporal ids per second of video: ``position_id_per_seconds`` (Omni, 25), else VL's 2."""
    return float(layout.stats.position_id_per_seconds or 2.0)


def _temporal(ax, layout, clock, kinds, start: int, stop: int) -> None:
    temporal = clock.temporal
    pos = np.arange(start, stop)
    ax.scatter(pos, temporal[start:stop], c=[KIND_COLOURS[k] for k in kinds[start:stop]], s=4, linewidths=0,
               rasterized=stop - start > 5000, label="temporal id")
    ax.set_xlim(start, stop)
    ax.set_ylabel("temporal id", fontsize=8)
    video = np.flatnonzero(kinds == 2)
    if clock.times is None or not video.size:
        return
    rate, offset = ids_per_second(layout), float(temporal[video[0]])
    ax.secondary_yaxis("right", functions=(lambda t: (t - offset) / rate, lambda s: s * rate + offset)) \
        .set_ylabel("seconds (claimed)", fontsize=8)
    media = pos[kinds[start:stop] >= 2]
    if media.size:
        ax.scatter(media, clock.times[media, 0] * rate + offset, s=2, color="#999999", linewidths=0,
                   rasterized=media.size > 5000, label="real start time")


def _panels(clock, media, layout, log_mel) -> list[str]:
    names = ["overview", "selection"]
    if media is not None:
        names.append("frames")
        if media.audio is not None and layout.stats.audio_tokens:
            names.append("log-mel" if log_mel is not None else "audio")
    if clock is not None and clock.temporal is not None:
        names.append("temporal")
    return names


_HEIGHTS = {"overview": 1.0, "selection": 1.0, "frames": 1.3, "audio": 0.8, "log-mel": 1.1, "temporal": 1.6}


def draw_layout(layout, selection: tuple[int, int] | None = None, *, clock=None, media=None, title: str | None = None,
                width: float = 10.0, log_mel=None):
    """The inspector's Figure (panels in the module docstring); ``fig.panels`` maps panel names to axes.

    ``selection`` is ``[start, stop)`` in token positions (default: :func:`default_selection`);
    ``clock`` a :class:`~omni_bench_widgets.layout_text.Clock`; ``media`` a
    :class:`~omni_bench_widgets.media_strip.Media` (frames and audio rows when given);
    ``log_mel`` the track's ``[mel_bins, frames]`` features (:func:`.log_mel.processor_log_mel`):
    given, the audio row is the log-mel row instead of the waveform.
    """
    from matplotlib.patches import Patch

    start, stop = selection if selection is not None else default_selection(layout)
    stop = max(stop, start + 1)
    kinds, roles, labelled = layout.kinds, role_codes(layout), labelled_mask(layout)
    names = _panels(clock, media, layout, log_mel)
    heights = [_HEIGHTS[k] for k in names]
    fig = figure(width, 0.9 + sum(heights) * 1.05)
    axes = dict(zip(names, np.atleast_1d(fig.subplots(len(names), 1, height_ratios=heights))))
    fig.panels = axes
    _overview(axes["overview"], layout, kinds, roles, labelled, (start, stop), px=width * 100 * (_RIGHT - _LEFT))
    axes["overview"].set_title(title or _title(layout), fontsize=9, loc="left", pad=12)
    zoom = axes["selection"]
    _draw_bands(zoom, kinds, roles, labelled)
    zoom.set_xlim(start, stop)
    if stop - start <= 200:
        zoom.vlines(np.arange(start, stop + 1), 0, 1, colors="white", linewidth=0.4)
    zoom.set_title(f"selection {start}:{stop} ({stop - start:,} tokens)", fontsize=8, loc="left")
    if "frames" in axes:
        draw_frames(axes["frames"], layout, clock, media, start, stop)
    if "audio" in axes:
        draw_audio(axes["audio"], layout, clock, media, start, stop)
    if "log-mel" in axes:
        draw_log_mel(axes["log-mel"], layout, clock, log_mel, start, stop)
    if "temporal" in axes:
        _temporal(axes["temporal"], layout, clock, kinds, start, stop)
    shared = [axes[k] for k in names[1:]]
    draw_chunk_bounds(shared, clock, start, stop)
    shared[-1].set_xlabel("token position", fontsize=8)
    for ax in axes.values():
        ax.tick_params(labelsize=7)
    _legend(fig, kinds, roles, clock, Patch)
    fig.subplots_adjust(left=_LEFT, right=_RIGHT, top=1 - 0.75 / fig.get_figheight(),
                        bottom=0.45 / fig.get_figheight() + 0.03, hspace=0.95)
    return fig


def _legend(fig, kinds, roles, clock, Patch) -> None:
    from matplotlib.lines import Line2D

    present = set(np.unique(kinds).tolist())
    handles = [Patch(color=KIND_COLOURS[k], label=KIND_NAMES[k]) for k in range(len(KIND_NAMES)) if k in present]
    handles += [Patch(color=ROLE_COLOURS[r], label=ROLE_NAMES[r]) for r in np.unique(roles).tolist() if r]
    handles.append(Patch(color=LABEL_COLOUR, label="labelled"))
    if clock is not None and clock.chunk is not None:
        handles.append(Line2D([], [], color="#333333", linestyle="dashed", linewidth=0.8, label="chunk boundary"))
    if clock is not None and clock.times is not None:
        handles.append(Line2D([], [], color="#999999", marker="o", linestyle="none", markersize=3,
                              label="real start time"))
    fig.legend(handles=handles, loc="upper right", ncol=len(handles), fontsize=7, frameon=False)


def _title(layout) -> str:
    name = os.path.basename(layout.media) if layout.media else layout.source
    return f"{name} · {len(layout.input_ids):,} tokens · video_grid_thw {grid_text(layout)}"


def _kind_counts(layout) -> str:
    counts = np.bincount(np.asarray(layout.kinds), minlength=len(KIND_NAMES))
    return ", ".join(f"{KIND_NAMES[k]} {counts[k]:,}" for k in (2, 3, 4, 0, 1) if counts[k])


def render_layouts_text(layouts) -> str:
    """Text twin of :func:`draw_layouts`: one line per layout, its tokens by kind.

    For ``kitchen_talk.mkv`` at 8 frames (notebook 09): ``render_layouts_text({"qwen2.5-vl-7b": layout})``
    -> ``"qwen2.5-vl-7b  1,236 tokens: VIDEO 1,196, text 32, special 8"`` (counts of ``layout.kinds``).
    """
    name = max((len(n) for n in layouts), default=0)
    return "\n".join(f"{n:<{name}}  {len(layout.input_ids):,} tokens: {_kind_counts(layout)}"
                     for n, layout in layouts.items())


def draw_layouts(layouts, *, width: float = 10.0):
    """Several layouts of one clip side by side: one strip per layout (kind, role and labelled
    bands, as the inspector's overview) on one token axis, so lengths and where the media and
    the reply sit compare at a glance. ``layouts`` maps a name (e.g. the profile) to a layout."""
    from matplotlib.patches import Patch

    longest = max((len(layout.input_ids) for layout in layouts.values()), default=1)
    fig = figure(width, 0.75 * max(len(layouts), 1) + 0.9)
    axes = np.atleast_1d(fig.subplots(max(len(layouts), 1), 1, sharex=True))
    px = width * 100 * (_RIGHT - _LEFT)
    for ax, (name, layout) in zip(axes, layouts.items()):
        _draw_bands(ax, layout.kinds, role_codes(layout), labelled_mask(layout), MIN_RUN_PX * longest / px)
        ax.set_title(f"{name} · {len(layout.input_ids):,} tokens · {_kind_counts(layout)}", fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
    axes[0].set_xlim(0, longest)
    axes[-1].set_xlabel("token position", fontsize=8)
    kinds = np.unique(np.concatenate([np.asarray(layout.kinds) for layout in layouts.values()] or [[0]]))
    handles = [Patch(color=KIND_COLOURS[k], label=KIND_NAMES[k]) for k in kinds.tolist()]
    handles += [Patch(color=ROLE_COLOURS[r], label=ROLE_NAMES[r]) for r in (1, 2, 3)]
    handles.append(Patch(color=LABEL_COLOUR, label="labelled"))
    fig.legend(handles=handles, loc="upper right", ncol=len(handles), fontsize=7, frameon=False)
    fig.subplots_adjust(left=_LEFT, right=_RIGHT, top=1 - 0.45 / fig.get_figheight(),
                        bottom=0.45 / fig.get_figheight(), hspace=1.0)
    return fig
