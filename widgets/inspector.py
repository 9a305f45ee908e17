"""The token-layout inspector: every token of a sample as a coloured strip, a selection
table with each token's text, real time and temporal position id, and controls that
re-plan the layout live.

* :func:`draw_layout` - a Figure: the whole sequence (kind, role band, labelled band),
  a zoom on the selection and, when :func:`omni_bench.temporal_positions` exists, the
  temporal id of each selected token. Runs are drawn as rectangles (one collection per
  band), so 30k tokens cost what a few hundred runs cost.
* :func:`token_rows` - the selection as data: media tokens that share kind and temporal
  id collapse into one row ("VIDEO x 144").
* :func:`render_layout_text` - the text twin: the "Omni Batch Debug" report plus the
  selection table.
* :func:`show_layout` - the widget (see the contract in ``omni_bench_widgets``).

Re-planning uses ``omni_bench.plan(meta, settings)`` (metadata only, fast); where that is
not available it falls back to ``omni_bench.inspect(meta.path, settings)``. Not covered:
clicking on the strip (use the range slider or the segment list), several videos.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

import ipywidgets as W
import numpy as np

from omni_bench.layout.arith import DEFAULT_FPS

from ._common import (
    KIND_COLOURS,
    KIND_NAMES,
    LABEL_COLOUR,
    ROLE_COLOURS,
    ROLE_NAMES,
    Root,
    contract,
    figure,
    grid_text,
    labelled_mask,
    png_bytes,
    role_codes,
    runs,
    tokenizer_of,
)

__all__ = ["show_layout", "render_layout_text", "render_selection_text", "token_rows", "draw_layout",
           "default_selection", "clock_of", "Clock", "InspectorView"]


# ---------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Clock:
    """Per-token time data from :mod:`omni_bench.layout.alignment`; a field is None when unavailable.

    ``temporal``: [n] TMRoPE temporal id (``temporal_positions``); ``times``: [n, 2] real
    seconds each media token covers (NaN elsewhere); ``chunk``: [n] interleave chunk of
    each media token (-1 elsewhere), in the order ``alignment`` lists the chunks.
    """

    temporal: np.ndarray | None = None
    times: np.ndarray | None = None
    chunk: np.ndarray | None = None


def _core(name: str):
    # the module, not the package attribute: `omni_bench.layout.alignment` may name the module or the function
    try:
        return getattr(importlib.import_module("omni_bench.layout.alignment"), name)
    except (ImportError, AttributeError):
        return None


def clock_of(layout) -> Clock:
    """The :class:`Clock` of a layout: temporal ids, real seconds and chunk of each token.

    Video token ``k`` of the first video belongs to grid step ``k // tokens_per_grid``, which
    covers its two frames' time (``stats.frame_times``) up to the next step's; audio token
    ``i`` covers ``[0.04 i, 0.04 (i + 1))`` s; chunks come from ``alignment(layout).chunks``.
    """
    n = len(layout.input_ids)
    temporal_positions, alignment = _core("temporal_positions"), _core("alignment")
    temporal = times = chunk = None
    if temporal_positions is not None:
        try:
            temporal = np.asarray(temporal_positions(layout))
        except (ValueError, KeyError, StopIteration, TypeError):
            temporal = None
        if temporal is not None and temporal.shape != (n,):
            temporal = None
    span = next((seg for seg in layout.segments if seg.kind == "vision"), None)
    if alignment is None or span is None:
        return Clock(temporal)
    try:
        chunks = alignment(layout).chunks
    except (ValueError, KeyError, TypeError):
        return Clock(temporal)
    kinds = layout.kinds
    inside = np.arange(span.start, span.end)
    video = inside[kinds[span.start:span.end] == 2]
    audio = inside[kinds[span.start:span.end] == 3]
    times = np.full((n, 2), np.nan)
    s = layout.stats
    if video.size and s.tokens_per_grid:
        steps = np.arange(video.size) // s.tokens_per_grid
        starts = _grid_starts(s, int(steps[-1]) + 2)
        times[video, 0], times[video, 1] = starts[steps], starts[steps + 1]
    if audio.size:
        step = float(_core("AUDIO_TOKEN_SECONDS") or 0.04)
        times[audio, 0] = np.arange(audio.size) * step
        times[audio, 1] = times[audio, 0] + step
    media = inside[kinds[span.start:span.end] >= 2]
    counts = [c.video_tokens + c.audio_tokens for c in chunks]
    if sum(counts) == media.size:
        chunk = np.full(n, -1)
        chunk[media] = np.repeat(np.arange(len(counts)), counts)
    return Clock(temporal, times, chunk)


def _grid_starts(stats, count: int) -> np.ndarray:
    """Real start of grid steps 0..count-1: frame 2t's time, the video's end past the last frame."""
    frames = np.asarray(stats.frame_times, dtype=float)
    patch = max(int(round((stats.second_per_grid or 1.0) * (stats.processor_fps or DEFAULT_FPS))), 1)
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


def _cells(row) -> tuple[str, ...]:
    token = row["token"] if row["kind"] in ("VIDEO", "AUDIO", "IMAGE") else repr(row["token"])
    return (_cell_pos(row), row["kind"], row["role"], "*" if row["label"] else "-",
            "-" if row["chunk"] is None else str(row["chunk"]), _cell_temporal(row), _cell_time(row), token)


_COLUMNS = ("pos", "kind", "role", "label", "chunk", "t-id", "time", "token")
_WIDTHS = (12, 9, 11, 7, 7, 11, 17, 0)


def render_selection_text(layout, start: int, stop: int, *, max_rows: int = 40, tokenizer=None,
                          clock: Clock | None = None) -> str:
    """The selection table: one line per row of :func:`token_rows`, at most ``max_rows``.

    Columns ``pos kind role label chunk t-id time token``; labelled rows carry ``*``,
    unknown values print ``-``.
    """
    rows = token_rows(layout, start, stop, tokenizer=tokenizer, clock=clock)
    lines = [f"[Selection {start}:{stop} of {len(layout.input_ids)} tokens, {len(rows)} rows]",
             "".join(f"{c:<{w}}" for c, w in zip(_COLUMNS, _WIDTHS))]
    for row in rows[:max_rows]:
        lines.append("".join(f"{c:<{w}}" for c, w in zip(_cells(row), _WIDTHS)))
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


# ---------------------------------------------------------------------------- drawing


_BANDS = {"kind": (0.45, 0.55), "role": (0.2, 0.2), "labels": (0.0, 0.15)}  # y, height


def _draw_bands(ax, kinds: np.ndarray, roles: np.ndarray, labelled: np.ndarray) -> None:
    for band, codes, colours in (("kind", kinds, KIND_COLOURS), ("role", roles, ROLE_COLOURS)):
        starts, lengths, values = runs(codes)
        ax.broken_barh(list(zip(starts.tolist(), lengths.tolist())), _BANDS[band],
                       facecolors=[colours[v] for v in values], linewidth=0)
    starts, lengths, values = runs(labelled.astype(np.int8))
    keep = values == 1
    ax.broken_barh(list(zip(starts[keep].tolist(), lengths[keep].tolist())), _BANDS["labels"],
                   facecolors=LABEL_COLOUR, linewidth=0)
    ax.set_yticks([y + h / 2 for y, h in _BANDS.values()], list(_BANDS))
    ax.set_ylim(-0.05, 1.05)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def draw_layout(layout, selection: tuple[int, int] | None = None, *, clock=None, title: str | None = None,
                width: float = 10.0):
    """The inspector's Figure: full strip, zoom on the selection, temporal ids (if known).

    ``selection`` is ``[start, stop)`` in token positions (default: :func:`default_selection`).
    """
    from matplotlib.patches import Patch

    n = len(layout.input_ids)
    start, stop = selection if selection is not None else default_selection(layout)
    stop = max(stop, start + 1)
    kinds, roles, labelled = layout.kinds, role_codes(layout), labelled_mask(layout)
    temporal = clock.temporal if clock is not None else None
    panels = 3 if temporal is not None else 2
    fig = figure(width, 1.0 + 1.05 * panels + (0.6 if temporal is not None else 0))
    axes = fig.subplots(panels, 1, height_ratios=[1, 1, 1.6][:panels])
    full, zoom = axes[0], axes[1]
    _draw_bands(full, kinds, roles, labelled)
    full.set_xlim(0, n)
    full.axvspan(start, stop, facecolor="none", edgecolor="black", linewidth=1.2)
    full.set_title(title or _title(layout), fontsize=9, loc="left")
    _draw_bands(zoom, kinds, roles, labelled)
    zoom.set_xlim(start, stop)
    if stop - start <= 200:
        zoom.vlines(np.arange(start, stop + 1), 0, 1, colors="white", linewidth=0.4)
    zoom.set_title(f"selection {start}:{stop}", fontsize=8, loc="left")
    if temporal is not None:
        ax = axes[2]
        pos = np.arange(start, stop)
        ax.scatter(pos, temporal[start:stop], c=[KIND_COLOURS[k] for k in kinds[start:stop]], s=4,
                   linewidths=0, rasterized=stop - start > 5000)
        ax.set_xlim(start, stop)
        ax.set_ylabel("temporal id", fontsize=8)
        ax.set_xlabel("token position", fontsize=8)
    else:
        zoom.set_xlabel("token position", fontsize=8)
    for ax in axes:
        ax.tick_params(labelsize=7)
    present = set(np.unique(kinds).tolist())
    handles = [Patch(color=KIND_COLOURS[k], label=KIND_NAMES[k]) for k in range(len(KIND_NAMES)) if k in present]
    handles += [Patch(color=ROLE_COLOURS[r], label=ROLE_NAMES[r]) for r in np.unique(roles).tolist() if r]
    handles.append(Patch(color=LABEL_COLOUR, label="labelled"))
    fig.legend(handles=handles, loc="upper right", ncol=len(handles), fontsize=7, frameon=False)
    fig.subplots_adjust(left=0.07, right=0.99, top=1 - 0.55 / fig.get_figheight(), bottom=0.35 / fig.get_figheight()
                        + 0.05, hspace=0.9)
    return fig


def _title(layout) -> str:
    name = os.path.basename(layout.media) if layout.media else layout.source
    return f"{name} · {len(layout.input_ids)} tokens · video_grid_thw {grid_text(layout)}"


# ---------------------------------------------------------------------------- widget


class InspectorView:
    """The state behind :func:`show_layout`: the current layout, settings, selection, error."""

    def __init__(self, layout, meta=None, settings=None):
        self.layout = layout
        self.meta = meta
        self.settings = settings
        self.selection = default_selection(layout)
        self.error: str | None = None
        self.replans = 0  # how many times the controls re-planned
        self.planner: str | None = None  # "plan" or "inspect": what re-planning calls
        self._clock_cache = None

    @property
    def clock(self):
        if self._clock_cache is None or self._clock_cache[0] is not self.layout:
            self._clock_cache = (self.layout, clock_of(self.layout))
        return self._clock_cache[1]

    def summary(self) -> str:
        """One line: sizes, grid, media tokens, labels, selection."""
        s = self.layout.stats
        name = os.path.basename(self.layout.media) if self.layout.media else self.layout.source
        line = (f"{name}: {len(self.layout.input_ids)} tokens · video_grid_thw {grid_text(self.layout)} · "
                f"VIDEO {s.video_tokens} · AUDIO {s.audio_tokens} · labels {s.label_tokens} · "
                f"selection {self.selection[0]}:{self.selection[1]}")
        return line + (f" · error: {self.error}" if self.error else "")

    def text(self, *, max_rows: int = 40) -> str:
        """The text twin: report plus the selection table."""
        return render_layout_text(self.layout, self.selection, max_rows=max_rows)

    def selection_text(self, *, max_rows: int = 40) -> str:
        """The selection table alone (what the widget's table shows)."""
        return render_selection_text(self.layout, *self.selection, max_rows=max_rows,
                                     tokenizer=tokenizer_of(self.layout), clock=self.clock)

    def figure(self):
        return draw_layout(self.layout, self.selection, clock=self.clock)

    def png(self) -> bytes:
        return png_bytes(self.figure())

    def _repr_png_(self) -> bytes:  # a static copy of the view for records read without a kernel
        return self.png()

    def __repr__(self) -> str:
        return self.summary()

    def replan(self, settings) -> None:
        """Re-plan with new settings: ``omni_bench.plan`` if present, else ``inspect``."""
        import omni_bench

        try:
            planner = _planner()
            self.planner = "plan" if planner is not None else "inspect"
            if planner is not None:
                layout = planner(self.meta, settings)
            else:
                layout = omni_bench.inspect(getattr(self.meta, "path", self.meta), settings)
        except (omni_bench.OmniBenchError, ValueError) as exc:
            self.error = str(exc)
            return
        self.error = None
        self.layout, self.settings = layout, settings
        self.replans += 1
        n = len(layout.input_ids)
        start = min(self.selection[0], n - 1)
        self.selection = (start, min(max(self.selection[1], start + 1), n))


def _planner():
    """``omni_bench.plan`` (metadata only), or None where the planner is not available."""
    import omni_bench

    try:
        return omni_bench.plan
    except (AttributeError, ImportError):
        pass
    try:
        return importlib.import_module("omni_bench.layout.plan").plan
    except (ImportError, AttributeError):
        return None


def _settings_for(layout, settings):
    """The settings to re-plan from: the given ones, or what the layout's stats say."""
    import omni_bench

    if settings is not None:
        return settings
    s = layout.stats
    changes = {"profile": layout.profile}
    if s.sampled_frames:
        changes["frames"] = s.sampled_frames
    if s.processor_fps and s.sampled_fps and abs(s.processor_fps - s.sampled_fps) > 1e-9:
        changes["processor_fps"] = s.processor_fps
    if s.seconds_per_chunk:
        changes["seconds_per_chunk"] = s.seconds_per_chunk
    return omni_bench.LayoutSettings(**changes)


def _plan_controls(view) -> dict:
    import omni_bench

    settings, s = view.settings, view.layout.stats
    try:
        profile = omni_bench.get_profile(settings.profile)
    except omni_bench.OmniBenchError:
        profile = omni_bench.PROFILES["qwen2.5-omni-7b"]
    resolved = settings.resolve(profile)
    total = getattr(view.meta, "total_frames", None) or 768
    px = 28 * 28
    common = dict(continuous_update=False, style={"description_width": "110px"},
                  layout=W.Layout(width="420px"))
    return {
        "sampling": W.ToggleButtons(options=["frames", "fps"], value="fps" if settings.frames is None else "frames",
                                    description="sample by", style={"description_width": "110px",
                                                                    "button_width": "70px"}),
        "frames": W.IntSlider(value=settings.frames or s.sampled_frames or 16, min=2, max=max(total, 2), step=2,
                              description="frames", **common),
        "fps": W.FloatSlider(value=resolved.fps or DEFAULT_FPS, min=0.05, max=8.0, step=0.05, description="fps",
                             **common),
        "min_pixels": W.IntSlider(value=resolved.min_pixels, min=4 * px,
                                  max=1536 * px, step=px, description="min pixels", **common),
        "max_pixels": W.IntSlider(value=resolved.max_pixels, min=4 * px,
                                  max=1536 * px, step=px, description="max pixels", **common),
        "seconds_per_chunk": W.FloatSlider(value=resolved.seconds_per_chunk, min=0.5,
                                           max=30.0, step=0.5, description="seconds/chunk", **common),
        "processor_fps": W.FloatSlider(value=settings.processor_fps or 0.0, min=0.0, max=8.0, step=0.05,
                                       description="processor fps", readout_format=".2f",
                                       tooltip="fps handed to the processor; 0 = the fps actually sampled "
                                               "(frames / duration)", **common),
    }


def _settings_from_controls(view, controls: dict, initial_pixels: tuple[int, int]):
    c = {name: w.value for name, w in controls.items()}
    changes = dict(frames=c["frames"], fps=None) if c["sampling"] == "frames" else dict(frames=None, fps=c["fps"])
    pixels = (c["min_pixels"], c["max_pixels"])
    if view.settings.resize is None or pixels != initial_pixels:
        changes.update(resize=None, min_pixels=pixels[0], max_pixels=pixels[1])
    changes.update(seconds_per_chunk=c["seconds_per_chunk"], processor_fps=c["processor_fps"] or None)
    return view.settings.replace(**changes)


def _segment_options(layout) -> list:
    options = [("(whole sequence)", (0, len(layout.input_ids)))]
    for seg in layout.segments:
        what = seg.kind if seg.kind != "text" else ("labelled text" if seg.labelled else "text")
        options.append((f"{seg.role or '-'} {what} {seg.start}:{seg.end}", (seg.start, seg.end)))
    return options


def _table_html(view) -> str:
    import html

    rows = token_rows(view.layout, *view.selection, tokenizer=tokenizer_of(view.layout), clock=view.clock)
    head = "".join(f"<th style='text-align:left;padding:0 8px'>{h}</th>" for h in _COLUMNS)
    body = []
    for row in rows[:200]:
        cells = [html.escape(c) for c in _cells(row)]
        cells[1] = f"<span style='color:{KIND_COLOURS[KIND_NAMES.index(row['kind'])]}'>■</span> {cells[1]}"
        cells[-1] = f"<code>{cells[-1]}</code>"
        body.append("<tr>" + "".join(f"<td style='padding:0 8px'>{c}</td>" for c in cells) + "</tr>")
    more = f"<div>... {len(rows) - 200} more rows</div>" if len(rows) > 200 else ""
    return (f"<div style='max-height:260px;overflow:auto;font-size:12px'><table><tr>{head}</tr>"
            f"{''.join(body)}</table>{more}</div>")


def show_layout(layout, *, meta=None, settings=None, display: bool = True):
    """Token-layout inspector for a :class:`omni_bench.TokenLayout`.

    ``meta`` (a :class:`omni_bench.VideoInfo` or a path) turns on the re-planning controls
    (frames / fps / min & max pixels / seconds per chunk / processor fps); ``settings`` are
    the :class:`omni_bench.LayoutSettings` the layout was made with (default: read off the
    layout's stats). Returns the root widget, or with ``display=False``
    ``{"widget", "controls", "view"}``; ``view`` is an :class:`InspectorView`.
    """
    import omni_bench

    if isinstance(meta, (str, os.PathLike)):
        meta = omni_bench.probe(meta)
    view = InspectorView(layout, meta, _settings_for(layout, settings))
    image = W.Image(format="png", layout=W.Layout(width="100%", max_width="1000px"))
    summary = W.HTML()
    status = W.HTML()
    table = W.HTML()
    n = len(layout.input_ids)
    controls: dict = {
        "selection": W.IntRangeSlider(value=view.selection, min=0, max=n, step=1, continuous_update=False,
                                      description="tokens", layout=W.Layout(width="100%", max_width="1000px")),
        "segment": W.Dropdown(options=_segment_options(layout), value=None, description="jump to",
                              layout=W.Layout(width="420px")),
    }
    busy = {"quiet": False}

    def redraw() -> None:
        summary.value = f"<b>{_html(view.summary())}</b>"
        status.value = (f"<span style='color:#b00'>{_html(view.error)}</span>" if view.error else
                        f"<span style='color:#666'>re-planned {view.replans}× with omni_bench.{view.planner}</span>"
                        if view.replans else "")
        image.value = view.png()
        table.value = _table_html(view)

    def on_selection(change) -> None:
        if busy["quiet"]:
            return
        start, stop = change["new"]
        view.selection = (start, max(stop, start + 1))
        redraw()

    def on_segment(change) -> None:
        if change["new"] is not None:
            controls["selection"].value = change["new"]

    controls["selection"].observe(on_selection, names="value")
    controls["segment"].observe(on_segment, names="value")
    rows = [summary, status]
    if meta is not None:
        plan_controls = _plan_controls(view)
        controls.update(plan_controls)
        initial_pixels = (plan_controls["min_pixels"].value, plan_controls["max_pixels"].value)

        def on_plan(change) -> None:
            if busy["quiet"]:
                return
            owner = change["owner"]
            if owner is plan_controls["frames"] or owner is plan_controls["fps"]:
                busy["quiet"] = True  # touching a sampling slider selects it
                plan_controls["sampling"].value = "frames" if owner is plan_controls["frames"] else "fps"
                busy["quiet"] = False
            view.replan(_settings_from_controls(view, plan_controls, initial_pixels))
            busy["quiet"] = True
            try:
                sel = controls["selection"]
                new_n = len(view.layout.input_ids)
                if new_n >= sel.max:
                    sel.max, sel.value = new_n, view.selection
                else:
                    sel.value, sel.max = view.selection, new_n
                controls["segment"].options = _segment_options(view.layout)
                controls["segment"].value = None
            finally:
                busy["quiet"] = False
            redraw()

        for widget in plan_controls.values():
            widget.observe(on_plan, names="value")
        names = list(plan_controls)
        rows.append(W.HBox([W.VBox([plan_controls[k] for k in names[:3]]),  # sampling
                            W.VBox([plan_controls[k] for k in names[3:]])]))  # size, chunks, fps
    rows += [image, controls["selection"], controls["segment"], table]
    root = Root(view, children=rows)
    redraw()
    return contract(root, controls, display)


def _html(text: str) -> str:
    import html

    return html.escape(text)
