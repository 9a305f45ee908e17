"""The token-layout inspector: every token of a sample as a coloured strip beside the clip's
frames and audio, the CLI report's verdict as a banner, a selection table with each token's
text, real time and temporal position id, and controls that re-plan the layout live.

* :func:`draw_layout` (:mod:`.layout_figure`) - the Figure: an overview (minimap) of the whole
  sequence, the zoomed selection, its frames and audio (:mod:`.media_strip`; the ``audio view``
  control switches the waveform for the processor's log-mel ``input_features``, :mod:`.log_mel`)
  and temporal ids with a seconds axis, chunk bounds dashed.
* :func:`token_rows` - the selection as data: media tokens that share kind and temporal
  id collapse into one row ("VIDEO x 144").
* :func:`render_layout_text` - the text twin: the "Omni Batch Debug" report plus the
  selection table; ``view.verdict_text()`` / ``view.media_text()`` - the banner and the
  selection's real seconds, frames and audio as text.
* :func:`show_layout` - the widget (see the contract in ``omni_bench_widgets``);
  ``view.save("report.html")`` keeps it as a self-contained report.

Re-planning uses ``omni_bench.plan(meta, settings)`` (metadata only, fast). A combination the
controls cannot plan (max pixels below min pixels, more frames than the clip has) is refused:
the layout stays, the status line says why. Not covered: clicking on the strip (use the
range slider or the segment list), several videos.
"""

from __future__ import annotations

import os

import ipywidgets as W
import numpy as np

import omni_bench
from omni_bench.core.arith import DEFAULT_FPS
from omni_bench.core.profiles import DEFAULT_PROFILE
from omni_bench.layout.plan import plan
from omni_bench.layout.verdict import banner_lines, findings, layout_alignment

from ._common import KIND_COLOURS, KIND_NAMES, Root, contract, grid_text, png_bytes, tokenizer_of
from .layout_figure import AUDIO_VIEWS, draw_layout
from .layout_text import (
    COLUMNS,
    Clock,
    carried_selection,
    clock_of,
    default_selection,
    pixels_refusal,
    refusal_of,
    render_layout_text,
    render_selection_text,
    row_cells,
    token_rows,
    verdict_text,
)
from .log_mel import render_log_mel_text
from .media_strip import MediaCache, render_media_text, selection_media
from .report import save_report

__all__ = ["show_layout", "render_layout_text", "render_selection_text", "token_rows", "draw_layout",
           "default_selection", "clock_of", "Clock", "InspectorView"]


# ---------------------------------------------------------------------------- widget


class InspectorView:
    """The state behind :func:`show_layout`: the current layout, settings, selection, error, media.

    ``media`` (the sampled frames and the audio, :class:`~omni_bench_widgets.media_strip.Media`)
    is decoded once per frame choice and kept (``media_cache.decodes`` counts the decodes);
    ``alignment`` / ``findings()`` are the verdict and warnings of the CLI report.
    """

    def __init__(self, layout, meta=None, settings=None, *, media_path=None):
        self.layout = layout
        self.meta = meta
        self.settings = settings
        self.selection = default_selection(layout)
        self.error: str | None = None
        self.replans = 0  # how many times the controls re-planned
        self.planner: str | None = None  # "plan" once re-planned: what re-planning calls
        self.media_path = media_path or layout.media or getattr(meta, "path", None)
        self.media_cache = MediaCache()
        self.audio_view = "waveform"  # the audio row: "waveform" or "log-mel" (AUDIO_VIEWS)
        self._cache: dict = {}

    def _cached(self, name: str, make):
        # values derived from the current layout, recomputed when the layout changes
        if self._cache.get("layout") is not self.layout:
            self._cache = {"layout": self.layout}
        if name not in self._cache:
            self._cache[name] = make()
        return self._cache[name]

    @property
    def clock(self):
        return self._cached("clock", lambda: clock_of(self.layout))

    @property
    def media(self):
        """The decoded frames and audio of the current layout (None without a media file)."""
        return self._cached("media", lambda: self.media_cache.media(self.layout, self.media_path))

    @property
    def log_mel(self):
        """``[mel_bins, frames]``: the processor's log-mel of the clip's audio (None without audio)."""
        return self.media_cache.log_mel(self.layout, self.media)

    def log_mel_text(self) -> str:
        """One line: the log-mel frames under the selection's AUDIO tokens (the log-mel row's text twin)."""
        return render_log_mel_text(self.layout, self.clock, self.log_mel, *self.selection)

    @property
    def alignment(self):
        """``omni_bench.alignment(layout)`` (None without a video)."""
        return self._cached("alignment", lambda: layout_alignment(self.layout))

    def findings(self) -> tuple:
        """The CLI report's warnings (:func:`omni_bench.layout.verdict.findings`)."""
        return self._cached("findings", lambda: findings(self.layout, self.alignment))

    def verdict_text(self) -> str:
        """The banner as text: the verdict line, the size line and the CLI report's warnings with their fixes."""
        return verdict_text(self.layout, self.alignment)

    def summary(self) -> str:
        """One line: sizes, grid, media tokens, labels, selection."""
        s = self.layout.stats
        name = os.path.basename(self.layout.media) if self.layout.media else self.layout.source
        line = (f"{name}: {len(self.layout.input_ids)} tokens · video_grid_thw {grid_text(self.layout)} · "
                f"VIDEO {s.video_tokens} · AUDIO {s.audio_tokens} · labels {s.label_tokens} · "
                f"selection {self.selection[0]}:{self.selection[1]}")
        return line + (f" · error: {self.error}" if self.error else "")

    def selected_media(self) -> dict:
        """What the selection covers: real seconds, sampled frames, audio (:func:`selection_media`)."""
        return selection_media(self.layout, self.clock, self.media, *self.selection)

    def media_text(self) -> str:
        """One line: the selection's real seconds, frames and audio."""
        rate = self.media.sampling_rate if self.media is not None else 16000
        return render_media_text(self.selected_media(), rate)

    def text(self, *, max_rows: int = 40) -> str:
        """The text twin: report plus the selection table."""
        return render_layout_text(self.layout, self.selection, max_rows=max_rows)

    def selection_text(self, *, max_rows: int = 40) -> str:
        """The selection table alone (what the widget's table shows)."""
        return render_selection_text(self.layout, *self.selection, max_rows=max_rows,
                                     tokenizer=tokenizer_of(self.layout), clock=self.clock)

    def figure(self):
        log_mel = self.log_mel if self.audio_view == "log-mel" else None
        return draw_layout(self.layout, self.selection, clock=self.clock, media=self.media, log_mel=log_mel)

    def png(self) -> bytes:
        return png_bytes(self.figure())

    def _repr_png_(self) -> bytes:  # a static copy of the view for records read without a kernel
        return self.png()

    def __repr__(self) -> str:
        return self.summary()

    def save(self, path) -> str:
        """Write the view as a self-contained report: HTML (``.html``) or Markdown (``.md``); returns the path."""
        return save_report(self, path)

    def refuse(self, reason: str) -> None:
        """Keep the current layout and show why the controls' settings were not planned."""
        self.error = reason

    def replan(self, settings) -> None:
        """Re-plan with new settings (``omni_bench.plan``, metadata only); refusals set ``error``."""
        refusal = refusal_of(settings, self.meta)
        if refusal is not None:
            self.refuse(refusal)
            return
        try:
            layout = plan(self.meta, settings)
            self.planner = "plan"
        except (omni_bench.OmniBenchError, ValueError) as exc:
            self.refuse(str(exc))
            return
        old_layout, old_selection = self.layout, self.selection
        self.error = None
        self.layout, self.settings = layout, settings
        self.replans += 1
        self.selection = carried_selection(old_layout, old_selection, layout)


def _settings_for(layout, settings):
    """The settings to re-plan from: the given ones, or what the layout's stats say."""
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
    settings, s = view.settings, view.layout.stats
    try:
        profile = omni_bench.get_profile(settings.profile)
    except omni_bench.OmniBenchError:
        profile = omni_bench.PROFILES[DEFAULT_PROFILE]
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
    """(settings, None) for the controls' values, or (None, the reason they are refused)."""
    c = {name: w.value for name, w in controls.items()}
    changes = dict(frames=c["frames"], fps=None) if c["sampling"] == "frames" else dict(frames=None, fps=c["fps"])
    pixels = (c["min_pixels"], c["max_pixels"])
    if view.settings.resize is None or pixels != initial_pixels:
        if pixels[1] < pixels[0]:
            return None, pixels_refusal(*pixels)
        changes.update(resize=None, min_pixels=pixels[0], max_pixels=pixels[1])
    changes.update(seconds_per_chunk=c["seconds_per_chunk"], processor_fps=c["processor_fps"] or None)
    try:
        settings = view.settings.replace(**changes)
    except omni_bench.OmniBenchError as exc:
        return None, str(exc)
    return settings, refusal_of(settings, view.meta)


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
    layout's stats). The clip (``layout.media`` or ``meta``'s path) gives the frames and audio
    rows. Returns the root widget, or with ``display=False`` ``{"widget", "controls", "view"}``;
    ``view`` is an :class:`InspectorView`.
    """
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
        "listen": W.ToggleButton(value=False, description="selection audio", icon="volume-up",
                                 tooltip="a player with the audio of the selected AUDIO tokens (sent on demand)"),
    }
    if view.media is not None and view.media.audio is not None:  # the audio row's switch
        controls["audio_view"] = W.ToggleButtons(
            options=list(AUDIO_VIEWS), value=view.audio_view, description="audio view",
            tooltip="the audio row: the waveform, or the log-mel input_features the processor computes")
    busy = {"quiet": False}  # True while the code itself moves a control

    def redraw() -> None:
        panes.show(view, listen=controls["listen"].value)

    controls["listen"].observe(lambda change: redraw(), names="value")

    def on_audio_view(change) -> None:
        view.audio_view = change["new"]
        redraw()

    if "audio_view" in controls:
        controls["audio_view"].observe(on_audio_view, names="value")

    _observe_selection(view, controls, busy, redraw)
    rows = [panes.summary, panes.banner, panes.status]
    if meta is not None:
        rows.append(_replanning(view, controls, busy, redraw))
    rows += [panes.image, controls["selection"], controls["segment"],
             W.HBox([panes.media, controls["listen"], panes.audio]),
             *([controls["audio_view"]] if "audio_view" in controls else []), panes.table]
    root = Root(view, children=rows)
    redraw()
    return contract(root, controls, display)


_BANNER = {True: ("#eef7ee", "#2e7d32"), False: ("#fdecea", "#b71c1c")}  # aligned / not: background, border


class _Panes:
    """The outputs of the inspector: summary, verdict banner, status, figure, selection media, table."""

    def __init__(self):
        self.image = W.Image(format="png", layout=W.Layout(width="100%", max_width="1000px"))
        self.summary, self.banner, self.status, self.table, self.media = W.HTML(), W.HTML(), W.HTML(), W.HTML(), \
            W.HTML()
        self.audio = W.Audio(format="wav", autoplay=False, loop=False, layout=W.Layout(display="none"))

    def show(self, view, *, listen: bool = False) -> None:
        """Update every pane; the summary last, so a front end that sees the new summary sees it all."""
        self.status.value = (f"<span style='color:#b00'>refused: {_html(view.error)}</span>" if view.error else
                             f"<span style='color:#666'>re-planned {view.replans}× with omni_bench.{view.planner}"
                             "</span>" if view.replans else "")
        self.banner.value = banner_html(view)
        self.image.value = view.png()
        mel = f"<br>{_html(view.log_mel_text())}" if view.audio_view == "log-mel" else ""
        self.media.value = f"<span style='font-size:12px'>selection: {_html(view.media_text())}{mel}</span>"
        picked = view.selected_media()
        if listen and picked["audio"] is not None and len(picked["audio"]):
            self.audio.value = wav_bytes(picked["audio"], view.media.sampling_rate)
            self.audio.layout.display = None
        else:
            self.audio.value, self.audio.layout.display = b"", "none"
        self.table.value = _table_html(view)
        self.summary.value = f"<b>{_html(view.summary())}</b>"


def banner_html(view) -> str:
    """The verdict banner: green when aligned with no warning, red otherwise; one line each."""
    lines, ok = banner_lines(view.layout, view.alignment)
    background, border = _BANNER[ok]
    body = "<br>".join(f"<b>{_html(line)}</b>" if i == 0 else _html(line) for i, line in enumerate(lines))
    return (f"<div style='background:{background};border-left:4px solid {border};padding:4px 8px;"
            f"font-size:12px;max-width:1000px'>{body}</div>")


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """16-bit mono WAV bytes of float samples in [-1, 1] (for ``ipywidgets.Audio``)."""
    import io
    import wave

    pcm = (np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(rate))
        out.writeframes(pcm.tobytes())
    return buf.getvalue()


def _observe_selection(view, controls: dict, busy: dict, redraw) -> None:
    """The range slider moves the selection; the segment list jumps the slider."""
    def on_selection(change) -> None:
        if busy["quiet"]:
            return
        start, stop = change["new"]
        view.selection = (start, max(stop, start + 1))
        redraw()

    def on_segment(change) -> None:
        if change["new"] is not None and not busy["quiet"]:
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
        settings, refusal = _settings_from_controls(view, plan_controls, initial_pixels)
        if refusal is not None:
            view.refuse(refusal)
        else:
            view.replan(settings)
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
    """Fit the selection slider and the segment list to the (re-planned) layout: slider = view.selection."""
    sel = controls["selection"]
    new_n = len(view.layout.input_ids)
    if new_n >= sel.max:
        sel.max, sel.value = new_n, view.selection
    else:
        sel.value, sel.max = view.selection, new_n
    options = _segment_options(view.layout)
    if list(controls["segment"].options) != options:
        controls["segment"].options = options
    controls["segment"].value = None


def _html(text: str) -> str:
    import html

    return html.escape(text)
