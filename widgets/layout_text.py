"""The inspector's data and its text twin, without widgets: the clock of a layout (real time and
temporal id of every token), the selection as rows, and the plain-text report + table.

* :func:`clock_of` / :class:`Clock` - per-token temporal position id, real time and chunk;
* :func:`token_rows` - the selection as data: media tokens that share kind and temporal id
  collapse into one row ("VIDEO x 144");
* :func:`render_layout_text` / :func:`render_selection_text` - the text twin of
  :func:`omni_bench_widgets.show_layout`;
* :func:`verdict_text` - its banner (the CLI report's verdict and warnings); :func:`refusal_of` /
  :func:`carried_selection` - what its controls refuse, and where a re-plan puts the selection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omni_bench.core.arith import DEFAULT_FPS
from omni_bench.core.profiles import PROFILES
from omni_bench.families import family_of
from omni_bench.layout.alignment import AUDIO_TOKEN_SECONDS, alignment, temporal_positions
from omni_bench.layout.verdict import banner_lines

from ._common import KIND_NAMES, ROLE_NAMES, labelled_mask, role_codes, runs, tokenizer_of

__all__ = ["Clock", "clock_of", "default_selection", "token_rows", "render_selection_text", "render_layout_text",
           "COLUMNS", "row_cells", "frames_per_step", "verdict_text", "refusal_of", "pixels_refusal",
           "carried_selection"]


# ---------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Clock:
    """Per-token time data from :mod:`omni_bench.layout.alignment`; a field is None when unavailable.

    ``temporal``: [n] TMRoPE temporal id (``temporal_positions``); ``times``: [n, 2] real
    seconds each media token covers (NaN elsewhere); ``chunk``: [n] interleave chunk of
    each media token (-1 elsewhere), in the order ``alignment`` lists the chunks; ``step``:
    [n] temporal grid step of each VIDEO token of the first video (-1 elsewhere).
    """

    temporal: np.ndarray | None = None
    times: np.ndarray | None = None
    chunk: np.ndarray | None = None
    step: np.ndarray | None = None


def clock_of(layout) -> Clock:
    """The :class:`Clock` of a layout: temporal ids, real seconds and chunk of each token.

    Video token ``k`` of the first video belongs to grid step ``k // tokens_per_grid``, which
    covers its two frames' time (``stats.frame_times``) up to the next step's; audio token
    ``i`` covers ``[0.04 i, 0.04 (i + 1))`` s (Qwen3-Omni: 1/13 s each); chunks come from
    ``alignment(layout).chunks`` (none for Qwen3, which has no 2 s chunks).
    """
    n = len(layout.input_ids)
    temporal = times = chunk = None
    try:
        temporal = np.asarray(temporal_positions(layout))
    except (ValueError, KeyError, StopIteration, TypeError):
        temporal = None
    if temporal is not None and temporal.shape != (n,):
        temporal = None
    span = next((seg for seg in layout.segments if seg.kind == "vision"), None)
    if span is None:
        return Clock(temporal)
    family = _family(layout)
    try:  # Qwen3 has no 2 s chunks (Family.chunk_alignment): no chunk column
        chunks = alignment(layout).chunks if family is None or family.chunk_alignment else []
    except (ValueError, KeyError, TypeError):
        return Clock(temporal)
    kinds = layout.kinds
    inside = np.arange(span.start, span.end)
    video = inside[kinds[span.start:span.end] == 2]
    audio = inside[kinds[span.start:span.end] == 3]
    times = np.full((n, 2), np.nan)
    grid_step = np.full(n, -1)
    s = layout.stats
    if video.size and s.tokens_per_grid:
        steps = np.arange(video.size) // s.tokens_per_grid
        starts = _grid_starts(s, int(steps[-1]) + 2)
        times[video, 0], times[video, 1] = starts[steps], starts[steps + 1]
        grid_step[video] = steps
    if audio.size:
        step = family.audio_token_seconds if family is not None else AUDIO_TOKEN_SECONDS  # Qwen3-Omni: 1/13 s
        times[audio, 0] = np.arange(audio.size) * step
        times[audio, 1] = times[audio, 0] + step
    media = inside[kinds[span.start:span.end] >= 2]
    counts = [c.video_tokens + c.audio_tokens for c in chunks]
    if sum(counts) == media.size:
        chunk = np.full(n, -1)
        chunk[media] = np.repeat(np.arange(len(counts)), counts)
    return Clock(temporal, times, chunk, grid_step)


def _family(layout):
    """The layout's model family when its profile is a known name (None for a checkpoint directory)."""
    profile = PROFILES.get(str(layout.profile).lower())
    return family_of(profile) if profile is not None else None


def frames_per_step(stats) -> int:
    """Sampled frames per temporal grid step (the temporal patch): ``second_per_grid * processor_fps``, 2."""
    return max(int(round((stats.second_per_grid or 1.0) * (stats.processor_fps or DEFAULT_FPS))), 1)


def _grid_starts(stats, count: int) -> np.ndarray:
    """Real start of grid steps 0..count-1: frame 2t's time, the video's end past the last frame."""
    frames = np.asarray(stats.frame_times, dtype=float)
    patch = frames_per_step(stats)
    index = np.arange(count) * patch
    end = stats.duration if stats.duration is not None else (frames[-1] if frames.size else 0.0)
    if not frames.size:
        fps = stats.sampled_fps or stats.processor_fps or DEFAULT_FPS
        return np.minimum(index / fps, end)
    return np.where(index < frames.size, frames[np.minimum(index, frames.size - 1)], end)


def default_selection(layout) -> tuple[int, int]:
    """The first media span up to its third media run's first token, or the first 64 tokens.

    For the bundled street_market.mkv at 16 frames: ``(43, 384)`` = <|vision_bos|>,
    <|audio_bos|>, VIDEO x 288, AUDIO x 50 and the next VIDEO run's first token.
    """
    n = len(layout.input_ids)
    span = next((s for s in layout.segments if s.kind != "text"), None)
    if span is None:
        return 0, min(n, 64)
    starts, _, values = runs(layout.kinds[span.start:span.end])
    media = starts[values >= 2]
    stop = span.start + int(media[2]) + 1 if len(media) > 2 else span.end
    return span.start, min(stop, n)


def token_rows(layout, start: int, stop: int, *, tokenizer=None, clock: Clock | None = None) -> list[dict]:
    """The tokens of ``[start, stop)`` as rows of dicts.

    Keys: ``pos``, ``stop`` (one past the row's last token), ``kind``, ``role``, ``label``
    (True where labelled), ``token`` (decoded text, ``#id`` without a tokenizer, or
    ``"VIDEO × 144"``), ``chunk``, ``temporal`` (``(lo, hi)`` temporal ids) and ``time``
    (``(start, end)`` seconds); the last three are None when unknown. Text and special
    tokens get one row each; consecutive media tokens of one kind and label state collapse
    into one row per chunk and, for VIDEO, per grid step (one temporal id).
    """
    clock = clock or Clock()
    kinds = layout.kinds[start:stop]
    roles = role_codes(layout)[start:stop]
    labelled = labelled_mask(layout)[start:stop]
    m = stop - start
    chunk = clock.chunk[start:stop] if clock.chunk is not None else np.zeros(m, dtype=int)
    temporal = clock.temporal[start:stop] if clock.temporal is not None else np.zeros(m, dtype=int)
    step = np.where(kinds == 2, temporal, 0)  # VIDEO rows split per temporal id, AUDIO rows per chunk
    key = np.stack([kinds, labelled, chunk, step], axis=1)
    ids = layout.input_ids
    rows: list[dict] = []
    i = 0
    while i < m:
        j = i + 1
        if kinds[i] >= 2:
            while j < m and (key[j] == key[i]).all():
                j += 1
        pos = start + i
        if kinds[i] >= 2:
            token = f"{KIND_NAMES[kinds[i]]} × {j - i}"
        elif tokenizer is not None:
            token = tokenizer.decode([ids[pos]], skip_special_tokens=False)
        else:
            token = f"#{ids[pos]}"
        span = None
        if clock.times is not None and not np.isnan(clock.times[pos:start + j]).all():
            span = (float(np.nanmin(clock.times[pos:start + j, 0])), float(np.nanmax(clock.times[pos:start + j, 1])))
        rows.append(dict(
            pos=pos, stop=start + j, kind=KIND_NAMES[kinds[i]], role=ROLE_NAMES[roles[i]] or "-",
            label=bool(labelled[i]), token=token,
            chunk=int(chunk[i]) if clock.chunk is not None and chunk[i] >= 0 else None,
            temporal=(int(temporal[i:j].min()), int(temporal[i:j].max())) if clock.temporal is not None else None,
            time=span))
        i = j
    return rows


# ---------------------------------------------------------------------------- text twin


def _cell_pos(row) -> str:
    return f"{row['pos']}" if row["stop"] == row["pos"] + 1 else f"{row['pos']}-{row['stop'] - 1}"


def _cell_time(row) -> str:
    return "-" if row["time"] is None else f"{row['time'][0]:.2f}-{row['time'][1]:.2f} s"


def _cell_temporal(row) -> str:
    if row["temporal"] is None:
        return "-"
    lo, hi = row["temporal"]
    return str(lo) if lo == hi else f"{lo}-{hi}"


def row_cells(row) -> tuple[str, ...]:
    token = row["token"] if row["kind"] in ("VIDEO", "AUDIO", "IMAGE") else repr(row["token"])
    return (_cell_pos(row), row["kind"], row["role"], "*" if row["label"] else "-",
            "-" if row["chunk"] is None else str(row["chunk"]), _cell_temporal(row), _cell_time(row), token)


COLUMNS = ("pos", "kind", "role", "label", "chunk", "t-id", "time", "token")
_WIDTHS = (12, 9, 11, 7, 7, 11, 17, 0)


def render_selection_text(layout, start: int, stop: int, *, max_rows: int = 40, tokenizer=None,
                          clock: Clock | None = None) -> str:
    """The selection table: one line per row of :func:`token_rows`, at most ``max_rows``.

    Columns ``pos kind role label chunk t-id time token``; labelled rows carry ``*``,
    unknown values print ``-``.
    """
    rows = token_rows(layout, start, stop, tokenizer=tokenizer, clock=clock)
    lines = [f"[Selection {start}:{stop} of {len(layout.input_ids)} tokens, {len(rows)} rows]",
             "".join(f"{c:<{w}}" for c, w in zip(COLUMNS, _WIDTHS))]
    for row in rows[:max_rows]:
        lines.append("".join(f"{c:<{w}}" for c, w in zip(row_cells(row), _WIDTHS)))
    if len(rows) > max_rows:
        lines.append(f"... {len(rows) - max_rows} more rows")
    return "\n".join(lines)


def render_layout_text(layout, selection: tuple[int, int] | None = None, *, max_rows: int = 40,
                       tokenizer=None) -> str:
    """Text twin of the inspector: the layout's report, then the selection table if given."""
    text = str(layout)
    if selection is not None:
        tokenizer = tokenizer if tokenizer is not None else tokenizer_of(layout)
        text += "\n\n" + render_selection_text(layout, *selection, max_rows=max_rows, tokenizer=tokenizer,
                                               clock=clock_of(layout))
    return text


# ---------------------------------------------------------------------------- verdict, refusals, re-plans


def verdict_text(layout, timing=None) -> str:
    """The inspector's banner as text: the CLI report's alignment verdict, its fix and drift per chunk,
    then its size line and warnings (:func:`omni_bench.layout.verdict.banner_lines`), one per line."""
    return "\n".join(banner_lines(layout, timing)[0])


def refusal_of(settings, meta) -> str | None:
    """Why the inspector will not plan ``settings`` for ``meta`` (None: it will).

    >>> from omni_bench import LayoutSettings, VideoInfo
    >>> refusal_of(LayoutSettings(frames=400), VideoInfo("a.mkv", 25.0, 200, 8.0, 320, 180, True))
    'frames 400 is above the clip's 200 frames (a.mkv): choose at most 200'
    """
    total = getattr(meta, "total_frames", None)
    if settings.frames is not None and total and settings.frames > total:
        name = getattr(meta, "path", "the clip") or "the clip"
        return f"frames {settings.frames} is above the clip's {total} frames ({name}): choose at most {total}"
    if settings.min_pixels and settings.max_pixels and settings.max_pixels < settings.min_pixels:
        return pixels_refusal(settings.min_pixels, settings.max_pixels)
    return None


def pixels_refusal(min_pixels: int, max_pixels: int) -> str:
    """``"max pixels 50176 (64 x 28²) is below min pixels 100352 (128 x 28²): raise max or lower min"``."""
    return (f"max pixels {max_pixels} ({max_pixels / 784:g} x 28²) is below min pixels {min_pixels} "
            f"({min_pixels / 784:g} x 28²): raise max pixels or lower min pixels")


def carried_selection(old_layout, old: tuple[int, int], new_layout) -> tuple[int, int]:
    """The selection after a re-plan: the same thing in the new layout.

    The default selection stays the default, the whole sequence stays whole, a selected segment
    (``jump to``) becomes the same segment when the segment list kept its shape; any other
    selection is scaled by ``new length / old length``, at least one token and inside the layout.
    """
    old_n, n = len(old_layout.input_ids), len(new_layout.input_ids)
    if old == default_selection(old_layout):
        return default_selection(new_layout)
    if old == (0, old_n):
        return 0, n
    spans = [(seg.start, seg.end) for seg in old_layout.segments]
    if old in spans and len(new_layout.segments) == len(spans):
        seg = new_layout.segments[spans.index(old)]
        return seg.start, seg.end
    scale = n / old_n if old_n else 1.0
    start = min(int(round(old[0] * scale)), n - 1)
    stop = min(max(int(round(old[1] * scale)), start + 1), n)
    return start, stop
