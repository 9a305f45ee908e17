"""Qwen2.5's real-time chunk alignment and Qwen2.5-Omni's TMRoPE positions: the family's rules.

The Omni processor interleaves a video's tokens with its audio's by *position time*: grid
step ``t`` sits at ``t * second_per_grid`` seconds, where ``second_per_grid = 2 / fps`` and
``fps`` is what the processor was told; audio token ``i`` sits at ``i * 40 ms``, which is
real time. When the fps handed over is not the fps the frames were sampled at (the LongVALE
notebook's 50 frames over 256.89 s with the stock ``fps=2``), chunk ``j``'s video shows a moment
far from chunk ``j``'s audio. Both Qwen2.5 families use this report (``Family.alignment``);
Qwen2.5-VL has no audio, so its rows are grid steps and drift is real minus claimed time.

* :func:`alignment` takes a :class:`~omni_bench.layout.token_layout.TokenLayout` (or a planner
  :class:`~omni_bench.layout.plan.MediaPlan`) and returns an :class:`Alignment`: per chunk the
  real seconds its frames cover (grid step ``t`` = frames ``2t, 2t+1``, from the sampled
  frames' timestamps), the seconds its position ids claim, the seconds of its audio, and
  the drift ``video start - audio start``; a verdict for the sample ("aligned" when every
  chunk's video starts within 2 s of its audio, ``DRIFT_TOLERANCE`` - else "misaligned") and a
  :class:`Recommendation`. The checked fix comes from a search the caller hands in (planning
  candidates is the layout layer's work: :mod:`omni_bench.layout.alignment_fix`).
* :func:`rope_positions` / :func:`temporal_positions`: the 3-D rope position ids (and their
  temporal row) that Qwen2.5-Omni's ``get_rope_index`` computes for the layout's
  ``input_ids``, reproduced with NumPy (the test compares them with the tiny model's);
  :func:`omni_positions` the same from bare ids (packing).
* :func:`audio_cap_note`: the line saying which chunks lose their audio past the 300 s cap.

It reads layouts and plans by their fields (no import of the layout layer above it).
Not covered: images inside a layout, several videos' alignment (the first video is used).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from omni_bench.core import arith
from omni_bench.core.errors import OmniBenchError
from omni_bench.families.base import DRIFT_TOLERANCE, drift_summary, tolerance_words

__all__ = ["Chunk", "Alignment", "Recommendation", "Fix", "alignment", "rope_positions", "temporal_positions",
           "omni_positions", "checked_recommendation", "fix_changes", "audio_cap_note", "AUDIO_TOKEN_SECONDS"]

AUDIO_TOKEN_SECONDS = 0.04  # one audio token: 4 mel frames of 10 ms (16 kHz, hop 160, two stride-2 stages)
_DEFAULT_CHUNK = 2.0  # profile default seconds_per_chunk, used to group VL / video-only layouts
_DEFAULT_IDS_PER_SECOND = 25.0
_SAME = 1e-7  # relative difference below which an fps or chunk length counts as unchanged (CLI round trips)


@dataclass(frozen=True)
class Fix:
    """One checked setting: how frames are chosen, the fps and chunk the processor is told, the drift."""

    sampling: str  # "qwen-vl-utils" or "fps"
    frames: int  # frames it samples
    fps: float | None  # the sampling rate (sampling "fps"), else None
    processor_fps: float  # fps handed to the processor
    seconds_per_chunk: int | None  # whole seconds (None: no audio interleave)
    max_drift: float  # the largest |drift| measured on its plan, seconds
    candidates: int  # settings tried to find it

    @property
    def flags(self) -> tuple[str, ...]:
        """The exact ``plan`` / ``inspect`` flags that apply it (floats written to round-trip)."""
        out = ["--sampling", self.sampling]
        out += ["--fps", repr(self.fps)] if self.sampling == "fps" else ["--frames", str(self.frames)]
        out += ["--processor-fps", repr(self.processor_fps)]
        if self.seconds_per_chunk is not None:
            out += ["--seconds-per-chunk", str(self.seconds_per_chunk)]
        return tuple(out)


@dataclass(frozen=True)
class Chunk:
    """One interleave chunk: its VIDEO tokens, its AUDIO tokens and when they really happen (seconds)."""

    index: int  # chunk number j
    video_tokens: int  # VIDEO tokens in the chunk (0: audio only)
    audio_tokens: int  # AUDIO tokens in the chunk (0: video only)
    grid_steps: tuple[int, int] | None  # first and last temporal grid step with tokens here
    video_span: tuple[float, float] | None  # real seconds of those grid steps' frames
    claimed_span: tuple[float, float] | None  # seconds their position ids claim: t * second_per_grid
    audio_span: tuple[float, float] | None  # seconds of the audio tokens (40 ms each)
    drift: float | None  # video start - audio start (- claimed start when no audio), seconds


@dataclass(frozen=True)
class Recommendation:
    """The processor fps and chunk length that line a sample's chunks up with real time."""

    processor_fps: float  # pass this fps: frames sampled / duration
    seconds_per_chunk: float | None  # pass this chunk length (None: no audio interleave)
    grid_seconds: float  # real seconds per temporal grid step: temporal_patch_size / sampled fps
    assumed_grid_seconds: float  # what the processor assumed: temporal_patch_size / processor fps
    current_processor_fps: float  # fps the layout was made with
    current_seconds_per_chunk: float | None  # chunk length the layout was made with
    line: str  # one sentence for the report
    sampling: str | None = None  # frame rule of the checked fix ("qwen-vl-utils" / "fps"; None: unchanged)
    frames: int | None = None  # frames the checked fix samples
    fps: float | None = None  # its sampling rate (sampling "fps")
    max_drift: float | None = None  # largest |drift| measured on the plan of the recommended settings
    flags: tuple[str, ...] = ()  # the exact plan / inspect flags that apply it (() : nothing to change)

    @property
    def changes(self) -> dict:
        """LayoutSettings changes to apply ({} when nothing needs to change)."""
        if self.sampling is not None:
            return fix_changes(self)
        out = {}
        if not math.isclose(self.processor_fps, self.current_processor_fps, rel_tol=_SAME):
            out["processor_fps"] = self.processor_fps
        if self.seconds_per_chunk is not None and not math.isclose(
                self.seconds_per_chunk, self.current_seconds_per_chunk or _DEFAULT_CHUNK, rel_tol=_SAME):
            out["seconds_per_chunk"] = self.seconds_per_chunk
        return out

    def apply(self, settings):
        """``settings`` (a :class:`~omni_bench.layout.settings.LayoutSettings`) with the recommended
        processor fps and chunk length (always both, explicit)."""
        if self.sampling is not None:
            return settings.replace(**self.changes)
        changes = {"processor_fps": self.processor_fps}
        if self.seconds_per_chunk is not None:
            changes["seconds_per_chunk"] = self.seconds_per_chunk
        return settings.replace(**changes)

    def __str__(self) -> str:
        return self.line


@dataclass(frozen=True)
class Alignment:
    """Per-chunk real times of one video's tokens, a verdict and the fix. ``str()`` is the report block."""

    chunks: tuple[Chunk, ...]
    verdict: str  # "aligned" or "misaligned"
    max_drift: float  # largest |drift| over chunks that have one, seconds
    worst_chunk: int | None  # the chunk where it occurs
    tolerance: float  # |drift| allowed, seconds (default: 2 s, DRIFT_TOLERANCE)
    interleaved: bool  # the video's own audio is interleaved (Omni, use_audio_in_video)
    grid_seconds: float  # seconds per grid step at the sampled fps (frames / duration)
    assumed_grid_seconds: float  # seconds per grid step the processor assumed
    seconds_per_chunk: float  # chunk length used for grouping
    recommendation: Recommendation
    notes: tuple[str, ...] = ()  # one line each
    extra: dict = field(default_factory=dict, compare=False)
    frame_spacing: float | None = None  # mean seconds between the sampled frames (None: times unknown)

    @property
    def aligned(self) -> bool:
        return self.verdict == "aligned"

    @property
    def summary(self) -> str:
        """One line: verdict, worst drift, tolerance."""
        if self.worst_chunk is None:
            return f"{self.verdict}: no chunk has both a time and a reference"
        return drift_summary(self.verdict, self.chunks[self.worst_chunk].drift, f"chunk {self.worst_chunk}",
                             self.tolerance)

    def to_dict(self) -> dict:
        """The --json object under "alignment"."""
        return {
            "verdict": self.verdict, "max_drift": self.max_drift, "worst_chunk": self.worst_chunk,
            "tolerance": self.tolerance, "interleaved": self.interleaved, "grid_seconds": self.grid_seconds,
            "assumed_grid_seconds": self.assumed_grid_seconds, "frame_spacing": self.frame_spacing,
            "seconds_per_chunk": self.seconds_per_chunk,
            "tolerance_words": tolerance_words(self.tolerance),
            "recommendation": {"processor_fps": self.recommendation.processor_fps,
                               "seconds_per_chunk": self.recommendation.seconds_per_chunk,
                               "sampling": self.recommendation.sampling, "frames": self.recommendation.frames,
                               "fps": self.recommendation.fps, "max_drift": self.recommendation.max_drift,
                               "flags": list(self.recommendation.flags),
                               "changes": self.recommendation.changes, "line": self.recommendation.line},
            "chunks": [{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(c).items()}
                       for c in self.chunks],
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        return render_alignment(self)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


def _span(span) -> str:
    return f"{span[0]:7.2f}-{span[1]:<7.2f}" if span else " " * 15


def render_alignment(a: Alignment, *, max_rows: int = 12) -> str:
    """The text form: verdict, recommendation, then one row per chunk (long tables elided)."""
    lines = ["[Alignment]", a.summary, f"({tolerance_words(a.tolerance)})", f"fix: {a.recommendation.line}"]
    spacing = f"; frames {a.frame_spacing:.4g} s apart" if a.frame_spacing else ""
    lines.append(f"video grid: {a.grid_seconds:.4g} s at the sampled fps (frames / duration{spacing}), "
                 f"{a.assumed_grid_seconds:.4g} s assumed; "
                 + (f"{len(a.chunks)} chunks of {a.seconds_per_chunk:g} s" if a.interleaved else
                    f"{len(a.chunks)} grid steps, no audio: drift = real - claimed start"))
    lines.append("chunk  VIDEO  grid       video s          AUDIO  audio s          drift s")
    rows = list(a.chunks)
    if len(rows) > max_rows:
        rows = [*rows[: max_rows - 3], None, *rows[-2:]]
    for c in rows:
        if c is None:
            lines.append(f"  ... {len(a.chunks) - max_rows + 1} more chunks ...")
            continue
        grid = f"{c.grid_steps[0]}-{c.grid_steps[1]}" if c.grid_steps else ""
        drift = f"{c.drift:+8.2f}" if c.drift is not None else ""
        lines.append(f"{c.index:5d}  {c.video_tokens:5d}  {grid:9s}  {_span(c.video_span)}  "
                     f"{c.audio_tokens:5d}  {_span(c.audio_span)}  {drift}")
    lines += [f"! {note}" for note in a.notes]
    return "\n".join(lines)


@dataclass(frozen=True)
class _Timing:
    # what alignment needs from a layout or a media plan
    grid: tuple[int, int, int]
    merge_size: int
    temporal_patch_size: int
    second_per_grid: float  # assumed by the processor
    processor_fps: float
    sampled_fps: float
    duration: float
    frame_times: tuple[float, ...]
    seconds_per_chunk: float
    position_id_per_seconds: float
    audio_tokens: int  # interleaved audio tokens (0 when not interleaved)
    interleaved: bool
    observed_runs: tuple[tuple[str, int], ...] | None


def _timing(source) -> _Timing:
    # a planner MediaPlan (it has frame_indices) or a TokenLayout (it has stats)
    if hasattr(source, "frame_indices"):
        p, info = source.profile, source.info
        times = tuple(float(i) / info.native_fps for i in source.frame_indices)
        return _Timing(source.grid, p.merge_size, p.temporal_patch_size, source.second_per_grid,
                       source.processor_fps, source.sampled_fps, info.duration, times,
                       source.seconds_per_chunk or _DEFAULT_CHUNK,
                       source.position_id_per_seconds or _DEFAULT_IDS_PER_SECOND, source.audio_tokens,
                       source.use_audio, None)
    if not hasattr(source, "stats"):
        raise TypeError(f"alignment needs a TokenLayout or a MediaPlan, got {type(source).__name__}")
    s = source.stats
    if not s.video_grid_thw or not s.processor_fps:
        raise ValueError("the layout has no video")
    grid = s.video_grid_thw[0]
    merge = int(round(math.sqrt(grid[1] * grid[2] // s.tokens_per_grid))) if s.tokens_per_grid else 2
    patch = int(round(s.second_per_grid * s.processor_fps))
    sampled = s.sampled_fps or s.processor_fps
    duration = s.duration or (s.sampled_frames or grid[0] * patch) / sampled
    # the processor interleaves with the float64 2 / fps; the stat may hold its float32 copy
    spg = arith.second_per_grid(s.processor_fps, patch)
    return _Timing(grid, merge, patch, spg, s.processor_fps, sampled, duration, s.frame_times,
                   s.seconds_per_chunk or _DEFAULT_CHUNK, s.position_id_per_seconds or _DEFAULT_IDS_PER_SECOND,
                   s.audio_tokens if s.use_audio_in_video else 0, bool(s.use_audio_in_video),
                   tuple(source.vision_runs))


def _grid_start(tm: _Timing, step: int) -> float:
    # real time of the first frame of a grid step; the step after the last one starts at the end
    frame = step * tm.temporal_patch_size
    if tm.frame_times:
        return tm.frame_times[frame] if frame < len(tm.frame_times) else tm.duration
    return min(frame / tm.sampled_fps, tm.duration)


def _chunks(tm: _Timing) -> list[Chunk]:
    t, h, w = tm.grid
    per_grid = (h // tm.merge_size) * (w // tm.merge_size)
    per_chunk = int(tm.position_id_per_seconds * tm.seconds_per_chunk)
    groups = [(float(step) * tm.second_per_grid * tm.position_id_per_seconds, per_grid) for step in range(t)]
    # without interleaved audio the chunk rule orders nothing: one row per grid step
    video = arith.chunk_lengths(groups, per_chunk) if tm.interleaved else [per_grid] * t
    audio = arith.audio_chunk_lengths(tm.audio_tokens, per_chunk)
    rows, k, a = [], 0, 0
    for j, (nv, na) in enumerate(arith.chunk_pairs(video, audio)):
        nv, na = nv or 0, na or 0
        steps = vspan = claimed = aspan = drift = None
        if nv:
            g0, g1 = k // per_grid, (k + nv - 1) // per_grid
            steps = (g0, g1)
            vspan = (_grid_start(tm, g0), _grid_start(tm, g1 + 1))
            claimed = (g0 * tm.second_per_grid, (g1 + 1) * tm.second_per_grid)
        if na:
            aspan = (a * AUDIO_TOKEN_SECONDS, (a + na) * AUDIO_TOKEN_SECONDS)
        if vspan:
            drift = vspan[0] - (aspan or claimed)[0]
        rows.append(Chunk(j, nv, na, steps, vspan, claimed, aspan, drift))
        k, a = k + nv, a + na
    return rows


def _recommend(tm: _Timing) -> Recommendation:
    real = tm.temporal_patch_size / tm.sampled_fps
    assumed = tm.second_per_grid
    fps = tm.sampled_fps
    spc = None
    if tm.interleaved:  # whole seconds (the model's config is an int), at least one grid step
        spc = tm.seconds_per_chunk if real <= tm.seconds_per_chunk else float(math.ceil(real - 1e-9))
    fps_ok = math.isclose(fps, tm.processor_fps, rel_tol=_SAME)
    spc_ok = spc is None or math.isclose(spc, tm.seconds_per_chunk, rel_tol=_SAME)
    if fps_ok and spc_ok:
        line = f"video grid = {real:.2f} s and the processor assumes {assumed:.2f} s: nothing to change"
    else:
        parts, flags = [], []
        if not fps_ok:
            parts.append(f"fps={fps:.3g}")
            flags.append(f"--processor-fps {fps:.10g}")
        if not spc_ok:
            parts.append(f"seconds_per_chunk={spc:.4g}")
            flags.append(f"--seconds-per-chunk {spc:.10g}")
        head = (f"video grid = {real:.2f} s but processor assumes {assumed:.2f} s" if not fps_ok else
                f"video grid = {real:.2f} s is longer than the {tm.seconds_per_chunk:g} s chunk")
        line = f"{head}: pass {', '.join(parts)} ({' '.join(flags)})"
    return Recommendation(fps, spc, real, assumed, tm.processor_fps, tm.seconds_per_chunk if tm.interleaved else None,
                          line)


def _chunk_notes(seconds_per_chunk: float) -> list[str]:
    # the model's get_rope_index re-chunks the span with ITS config value (an int in transformers 5)
    if seconds_per_chunk == int(seconds_per_chunk):
        if seconds_per_chunk == _DEFAULT_CHUNK:
            return []
        return [f"seconds_per_chunk {seconds_per_chunk:g} != 2: set the thinker config's seconds_per_chunk to "
                f"{int(seconds_per_chunk)} too (get_rope_index re-chunks positions with its own value)"]
    return [f"seconds_per_chunk {seconds_per_chunk:g} is not whole: the model's config takes an int, so "
            "get_rope_index chunks differently from the processor and gives positions to the wrong tokens"]


def alignment(layout, *, tolerance: float | None = None, search=None) -> Alignment:
    """Real-time alignment of the first video's chunks in a TokenLayout (or a planner MediaPlan).

    ``tolerance`` defaults to 2 s: every chunk's video must start within 2 s of its audio. For
    the LongVALE notebook's 50 frames of a 256.89 s video handed over with ``fps=2`` (grid 10.28 s at the
    sampled fps, 1 s assumed): chunk 12 pairs video from 251.60 s with audio from 24.00 s, drift
    +227.60 s, "misaligned"; the checked fix is ``--sampling fps --fps 0.2 --processor-fps 0.2
    --seconds-per-chunk 10`` (52 frames, drift 0 s).

    ``search(layout, tolerance) -> Fix | None`` finds that checked fix: it plans candidates, which
    only the layout layer can (:func:`omni_bench.layout.alignment_fix.fix_for`, what
    :func:`omni_bench.layout.alignment.alignment` passes); without it a misaligned sample gets the
    plain fps-and-chunk suggestion.
    """
    tm = _timing(layout)
    rows = _chunks(tm)
    tolerance = DRIFT_TOLERANCE if tolerance is None else float(tolerance)
    drifts = [(abs(c.drift), c.index) for c in rows if c.drift is not None]
    max_drift, worst = max(drifts) if drifts else (0.0, None)
    rec = checked_recommendation(layout, _recommend(tm), rows, max_drift, tolerance, search)
    notes = []
    if tm.interleaved and tm.observed_runs is not None:
        expected = tuple(arith.interleave_runs(tm.grid, tm.second_per_grid, tm.audio_tokens,
                                               seconds_per_chunk=tm.seconds_per_chunk,
                                               position_id_per_seconds=tm.position_id_per_seconds,
                                               merge_size=tm.merge_size))
        if expected != tm.observed_runs:
            notes.append("the vision span's runs differ from the processor's chunk rule; rows follow the rule")
    notes.extend(_chunk_notes(tm.seconds_per_chunk) if tm.interleaved else ())
    if hasattr(layout, "stats") and layout.stats.audio_dropped_seconds > 0:  # audio past the 300 s cap
        notes.append(audio_cap_note(layout.stats))
    return Alignment(tuple(rows), "aligned" if max_drift <= tolerance else "misaligned", max_drift, worst,
                     tolerance, tm.interleaved, rec.grid_seconds, tm.second_per_grid, tm.seconds_per_chunk, rec,
                     tuple(notes), frame_spacing=_frame_spacing(tm))


def _frame_spacing(tm: _Timing) -> float | None:
    times = tm.frame_times
    return (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else None


def _slices(lengths) -> list[tuple[int, int]]:
    bounds = np.cumsum([0, *lengths])
    return [(int(bounds[i]), int(bounds[i + 1])) for i in range(len(lengths))]


def rope_positions(layout, *, seconds_per_chunk: float | None = None,
                   position_id_per_seconds: float | None = None) -> np.ndarray:
    """The [3, seq] rope position ids Qwen2.5-Omni's ``get_rope_index`` gives ``layout.input_ids``.

    Text counts up by one; ``<|vision_bos|>`` and ``<|audio_bos|>`` share a position ``p``;
    video token of grid step ``t`` gets ``p + 1 + long(t * second_per_grid * ids_per_second)``
    (float32, as the model computes it) and its row / column; audio token ``i`` gets
    ``p + 1 + i``; both are emitted in the model's own chunk order; the closing tokens get
    one past the maximum of the last chunk. ``seconds_per_chunk`` and
    ``position_id_per_seconds`` are the MODEL's config values (default: the layout's, i.e.
    a model configured like the processor). Qwen2.5-VL's rule is its family's
    (:func:`omni_bench.families.qwen2_5_vl.vl_rope_positions`; :func:`omni_bench.layout.alignment.rope_positions`
    picks the one a layout's token table calls for).
    """
    ids = layout.extra.get("token_ids")
    if ids is not None and ids.audio is None:
        raise ValueError("a Qwen2.5-VL layout (no audio token): its rope is families.qwen2_5_vl.vl_rope_positions")
    if ids is None:
        raise ValueError("rope_positions needs a layout with its token table (extra['token_ids'])")
    s = layout.stats
    arr = np.asarray(layout.input_ids, dtype=np.int64)
    ips = float(position_id_per_seconds or s.position_id_per_seconds or _DEFAULT_IDS_PER_SECOND)
    spc = float(seconds_per_chunk or s.seconds_per_chunk or _DEFAULT_CHUNK)
    per_chunk = int(ips * spc)
    out = np.zeros((3, len(arr)), dtype=np.int64)
    grids = iter(s.video_grid_thw)
    merge = int(round(math.sqrt(s.video_grid_thw[0][1] * s.video_grid_thw[0][2] // s.tokens_per_grid))) \
        if s.video_grid_thw else 2
    audio_len = arith.audio_tokens(s.mel_frames) if s.mel_frames else s.audio_tokens
    pos, cursor = 0, 0  # next free position, next token not yet given one
    for seg in layout.segments:
        if seg.kind == "text":
            continue
        gap = seg.start - cursor  # text, template and role tokens: one position each
        out[:, cursor:seg.start] = pos + np.arange(gap)
        pos, cursor = pos + gap, seg.end
        n = seg.end - seg.start
        inner = arr[seg.start:seg.end]
        if seg.kind == "audio":  # standalone audio: bos, tokens, eos count up like text
            out[:, seg.start:seg.end] = pos + np.arange(n)
            pos += n
            continue
        if ids.image in inner:
            raise ValueError("rope_positions does not cover images")
        interleaved = n > 1 and int(inner[1]) == ids.audio_bos
        opening = 2 if interleaved else 1
        body, closing = _video_span_body(next(grids), merge, s.second_per_grid, ips,
                                         audio_len if interleaved else None, per_chunk, start=pos + 1)
        first = seg.start + opening
        if first + body.shape[1] + opening != seg.end:
            raise ValueError(f"vision span of {n} tokens does not hold the {body.shape[1]} media tokens "
                             "the grid and audio length give")
        out[:, seg.start:first] = pos
        out[:, first:first + body.shape[1]] = body
        out[:, first + body.shape[1]:seg.end] = closing
        pos = closing + 1
    out[:, cursor:] = pos + np.arange(len(arr) - cursor)
    return out


def _video_span_body(grid, merge: int, second_per_grid: float, ids_per_second: float, audio_len: int | None,
                     per_chunk: int, *, start: int):
    """Positions [3, tokens] of one video span's media tokens, and the closing tokens' position.

    Video token of grid step t: temporal ``long(t * second_per_grid * ids_per_second)`` (float32,
    in the model's order of operations), its row and column; with ``audio_len`` the audio tokens
    count 0, 1, ... and both are emitted in the model's chunk order. Everything is offset by
    ``start`` (one past the opening tokens).
    """
    t, h, w = grid
    lh, lw = h // merge, w // merge
    t_index = (np.arange(t, dtype=np.float32) * np.float32(second_per_grid) * np.float32(ids_per_second)
               ).astype(np.int64)
    video = np.stack([np.repeat(t_index, lh * lw), np.tile(np.repeat(np.arange(lh), lw), t),
                      np.tile(np.arange(lw), t * lh)])
    if audio_len is None:
        body = video + start
        return body, int(body.max()) + 1
    audio = np.broadcast_to(np.arange(audio_len), (3, audio_len))
    vchunks = _slices(arith.chunk_lengths([(int(v), lh * lw) for v in t_index], per_chunk))
    achunks = _slices(arith.audio_chunk_lengths(audio_len, per_chunk))
    pieces = [(video if kind == "VIDEO" else audio)[:, lo:hi] for kind, (lo, hi) in arith.interleave(vchunks, achunks)]
    return np.concatenate(pieces, axis=1) + start, int(pieces[-1].max()) + start + 1


def temporal_positions(layout, **model_config) -> np.ndarray:
    """The temporal (first) row of :func:`rope_positions`: [seq] int64.

    For an aligned sample a video token's temporal id divided by ``position_id_per_seconds``
    is (nearly) its frame's time and an audio token's is its own time; in a misaligned one
    they are not.
    """
    return rope_positions(layout, **model_config)[0]
def _fmt(x: float) -> str:
    return f"{x:.4g}"


def checked_recommendation(source, plain, rows, max_drift: float, tolerance: float = DRIFT_TOLERANCE, search=None):
    """The Recommendation :func:`alignment` reports for ``source``.

    ``plain`` is the fps-and-chunk-only suggestion (kept when the search finds nothing); ``rows``
    and ``max_drift`` are the source's own chunks. Already within tolerance with whole grid
    steps per chunk: nothing to change. Otherwise ``search(source, tolerance)``'s checked setting
    (:func:`omni_bench.layout.alignment_fix.fix_for`), its flags and its measured drift.
    """
    per_grid = None
    if rows:
        per_grid = min((c.video_tokens for c in rows if c.video_tokens), default=None)
    whole = per_grid is None or all(c.video_tokens % per_grid == 0 for c in rows)
    if max_drift <= tolerance and whole:
        return replace(plain, line=f"every chunk's video is within {tolerance:g} s of its audio: nothing to change",
                       processor_fps=plain.current_processor_fps,
                       seconds_per_chunk=plain.current_seconds_per_chunk, flags=(), max_drift=max_drift)
    fix = search(source, tolerance) if search is not None else None
    if fix is None:
        flags = _plain_flags(plain)
        return replace(plain, flags=flags, line=(
            f"no setting with the frame count within 10 % and a whole-second chunk up to 30 s keeps every chunk "
            f"within {tolerance:g} s; the closest plain fix: {plain.line}"))
    line = (f"pass {' '.join(fix.flags)}: {fix.frames} frames "
            + (f"at exactly {_fmt(fix.fps)} fps" if fix.sampling == "fps" else "spread first to last")
            + (f", {fix.seconds_per_chunk} s chunks" if fix.seconds_per_chunk is not None else "")
            + f"; max drift {fix.max_drift:.2f} s, checked on its plan ({fix.candidates} settings tried)")
    return replace(plain, processor_fps=fix.processor_fps,
                   seconds_per_chunk=float(fix.seconds_per_chunk) if fix.seconds_per_chunk is not None else None,
                   sampling=fix.sampling, frames=fix.frames, fps=fix.fps, max_drift=fix.max_drift, flags=fix.flags,
                   line=line)


def _plain_flags(plain) -> tuple[str, ...]:
    out = ("--processor-fps", repr(plain.processor_fps))
    if plain.seconds_per_chunk is not None:
        out += ("--seconds-per-chunk", f"{plain.seconds_per_chunk:g}")
    return out


def omni_positions(input_ids, ids, video_grid_thw=(), second_per_grid=(), audio_tokens=(), *,
                   rope) -> np.ndarray:
    """The [3, L] positions Qwen2.5-Omni's ``get_rope_index`` gives one sample's ``input_ids``.

    ``ids``: the :class:`~omni_bench.core.tokens.TokenIds`; per video its grid, seconds per grid
    step and (interleaved audio only) audio tokens. Text counts up by one; a vision span's
    opening tokens share one position, its body is the video's (and audio's) ids in the
    model's chunk order, its closing tokens one past their maximum (the same arithmetic as
    :func:`rope_positions`, here from bare ids). ``rope``: anything with ``merge_size``,
    ``seconds_per_chunk`` and ``position_id_per_seconds`` (:class:`omni_bench.data.packing.RopeConfig`).
    """
    arr = np.asarray(input_ids, dtype=np.int64)
    out = np.zeros((3, len(arr)), dtype=np.int64)
    per_chunk = int(rope.position_id_per_seconds * rope.seconds_per_chunk)
    audio = iter(audio_tokens)
    pos = cursor = 0
    for video, start in enumerate(np.flatnonzero(arr == ids.vision_bos).tolist()):
        following = int(arr[start + 1]) if start + 1 < len(arr) else -1
        if following == ids.image:
            raise OmniBenchError("packing does not cover images", reason="unsupported")
        interleaved = following == ids.audio_bos
        out[:, cursor:start] = pos + np.arange(start - cursor)
        pos += start - cursor
        grid = [int(x) for x in video_grid_thw[video]]
        body, closing = _video_span_body(grid, rope.merge_size, float(second_per_grid[video]),
                                         rope.position_id_per_seconds, next(audio) if interleaved else None,
                                         per_chunk, start=pos + 1)
        opening = 2 if interleaved else 1
        first, end = start + opening, start + 2 * opening + body.shape[1]
        out[:, start:first] = pos
        out[:, first:end - opening] = body
        out[:, end - opening:end] = closing
        pos, cursor = closing + 1, end
    if ids.audio is not None and np.any(arr[cursor:] == ids.audio):
        raise OmniBenchError("packing does not cover audio outside a video", reason="unsupported")
    out[:, cursor:] = pos + np.arange(len(arr) - cursor)
    return out


def _chunks_without_audio(s) -> tuple[int, int] | None:
    """(first, last) interleave chunk that holds video but no audio, or None."""
    if not s.use_audio_in_video or not s.video_grid_thw or not s.seconds_per_chunk or not s.second_per_grid:
        return None
    per_chunk = int(s.position_id_per_seconds * s.seconds_per_chunk)
    groups = [(float(step) * s.second_per_grid * s.position_id_per_seconds, s.tokens_per_grid)
              for step in range(s.video_grid_thw[0][0])]
    video = len(arith.chunk_lengths(groups, per_chunk))
    audio = len(arith.audio_chunk_lengths(s.audio_tokens, per_chunk))
    return (audio, video - 1) if video > audio else None


def audio_cap_note(s) -> str:
    """One line: how much audio the feature extractor's cap drops, and which chunks lose their audio.

    ``s``: a layout's :class:`~omni_bench.layout.token_layout.LayoutStats`.

    >>> from omni_bench.layout.token_layout import LayoutStats
    >>> audio_cap_note(LayoutStats((1, 9), (1, 9), (1, 9), 0, video_grid_thw=((83, 16, 16),),
    ...     tokens_per_grid=64, mel_frames=30000, audio_tokens=7500, audio_track_seconds=330.0,
    ...     audio_dropped_seconds=30.0, use_audio_in_video=True, seconds_per_chunk=2.0,
    ...     position_id_per_seconds=25.0, second_per_grid=4.0)).split(": ", 1)[1].split("; ")
    ['the track has 330.00 s, the feature extractor keeps the first 300.00 s (30000 mel frames): the last 30.00 s \
are dropped', 'chunks 150-164 (the video from 300 s on) have no audio']
    """
    kept = s.audio_track_seconds - s.audio_dropped_seconds
    text = (f"audio: the track has {s.audio_track_seconds:.2f} s, the feature extractor keeps the first {kept:.2f} s "
            f"({s.mel_frames} mel frames): the last {s.audio_dropped_seconds:.2f} s are dropped")
    silent = _chunks_without_audio(s)
    if silent is not None:
        first, last = silent
        text += (f"; chunk{'s' if last > first else ''} {first}{f'-{last}' if last > first else ''} "
                 f"(the video from {first * s.seconds_per_chunk:g} s on) {'have' if last > first else 'has'} no audio")
    return text


def fix_changes(rec) -> dict:
    """LayoutSettings fields a checked Recommendation sets (all of them, explicit)."""
    out = dict(sampling=rec.sampling, frames=None if rec.sampling == "fps" else rec.frames, fps=rec.fps,
               processor_fps=rec.processor_fps)
    if rec.seconds_per_chunk is not None:
        out["seconds_per_chunk"] = rec.seconds_per_chunk
    return out
