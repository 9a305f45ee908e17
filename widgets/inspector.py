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
from .layout_text import (
    COLUMNS,
    Clock,
    clock_of,
    default_selection,
    render_layout_text,
    render_selection_text,
    row_cells,
    token_rows,
)

__all__ = ["show_layout", "render_layout_text", "render_selection_text", "token_rows", "draw_layout",
           "default_selection", "clock_of", "Clock", "InspectorView"]


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
    head = "".join(f"<th style='text-align:left;padding:0 8px'>{h}</th>" for h in COLUMNS)
    body = []
    for row in rows[:200]:
        cells = [html.escape(c) for c in row_cells(row)]
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
    panes = _Panes()
    n = len(layout.input_ids)
    controls: dict = {
        "selection": W.IntRangeSlider(value=view.selection, min=0, max=n, step=1, continuous_update=False,
                                      description="tokens", layout=W.Layout(width="100%", max_width="1000px")),
        "segment": W.Dropdown(options=_segment_options(layout), value=None, description="jump to",
                              layout=W.Layout(width="420px")),
    }
    busy = {"quiet": False}  # True while the code itself moves a control

    def redraw() -> None:
        panes.show(view)

    _observe_selection(view, controls, busy, redraw)
    rows = [panes.summary, panes.status]
    if meta is not None:
        rows.append(_replanning(view, controls, busy, redraw))
    rows += [panes.image, controls["selection"], controls["segment"], panes.table]
    root = Root(view, children=rows)
    redraw()
    return contract(root, controls, display)


class _Panes:
    """The outputs of the inspector: summary line, re-planning status, the figure, the table."""

    def __init__(self):
        self.image = W.Image(format="png", layout=W.Layout(width="100%", max_width="1000px"))
        self.summary, self.status, self.table = W.HTML(), W.HTML(), W.HTML()

    def show(self, view) -> None:
        self.summary.value = f"<b>{_html(view.summary())}</b>"
        self.status.value = (f"<span style='color:#b00'>{_html(view.error)}</span>" if view.error else
                             f"<span style='color:#666'>re-planned {view.replans}× with omni_bench.{view.planner}"
                             "</span>" if view.replans else "")
        self.image.value = view.png()
        self.table.value = _table_html(view)


def _observe_selection(view, controls: dict, busy: dict, redraw) -> None:
    """The range slider moves the selection; the segment list jumps the slider."""
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


def _replanning(view, controls: dict, busy: dict, redraw):
    """The re-planning controls (added to ``controls``), wired to re-plan and redraw; returns their box."""
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
            _follow_layout(view, controls)
        finally:
            busy["quiet"] = False
        redraw()

    for widget in plan_controls.values():
        widget.observe(on_plan, names="value")
    names = list(plan_controls)
    return W.HBox([W.VBox([plan_controls[k] for k in names[:3]]),  # sampling
                   W.VBox([plan_controls[k] for k in names[3:]])])  # size, chunks, fps


def _follow_layout(view, controls: dict) -> None:
    """Fit the selection slider and the segment list to a re-planned layout."""
    sel = controls["selection"]
    new_n = len(view.layout.input_ids)
    if new_n >= sel.max:
        sel.max, sel.value = new_n, view.selection
    else:
        sel.value, sel.max = view.selection, new_n
    controls["segment"].options = _segment_options(view.layout)
    controls["segment"].value = None


def _html(text: str) -> str:
    import html

    return html.escape(text)
