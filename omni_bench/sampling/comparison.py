"""Every frame sampler of :mod:`omni_bench.sampling.samplers` on one request, side by side, and
the frames x per-frame resolution table against a token budget.

:func:`compare_samplers` maps one request (frames or fps, bounds, a frame size) onto each
rule's own knobs and records what each keeps (coverage statistics, the grid and VIDEO tokens
its frames cost, or its refusal); :func:`budget_table` / :func:`format_budget_table` lay out
the token cost of sampling rates x per-frame pixel limits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.profiles import DEFAULT_PROFILE, get_profile
from omni_bench.layout import arith
from omni_bench.layout.settings import LayoutSettings
from omni_bench.sampling.samplers import (
    APOLLO_TOKENS_PER_FRAME,
    SAMPLERS,
    Sampling,
    SamplingError,
    _check_video,
    deviation,
    largest_gap,
)

__all__ = ["SamplerRow", "SamplerComparison", "compare_samplers", "render_comparison", "BudgetRow", "budget_table",
           "format_budget_table"]


@dataclass(frozen=True)
class SamplerRow:
    """One sampler's result in a comparison: its Sampling, or the error its reference raises too."""

    name: str  # key of SAMPLERS
    sampling: Sampling | None  # None when the rule refuses the request
    error: str | None = None  # the one-line refusal (reference raises the same way)
    reference_error: str | None = None  # the exception type the reference raises
    resized_hw: tuple[int, int] | None = None  # per-frame size after the processor's resize
    grid_thw: tuple[int, int, int] | None = None  # pre-merge grid of frames_fed frames
    video_tokens: int | None = None  # VIDEO tokens of that grid

    def stats(self) -> dict:
        """The per-sampler numbers of the comparison (JSON-ready)."""
        if self.sampling is None:
            return {"error": self.error, "reference_error": self.reference_error}
        s = self.sampling
        dmax, dmean = deviation(s)
        return {
            "indices": list(s.indices), "timestamps": [round(t, 6) for t in s.timestamps],
            "count": s.count, "returned": len(s.indices), "frames_fed": s.frames_fed,
            "first_kept": s.first_kept, "last_kept": s.last_kept,
            "largest_gap_s": round(largest_gap(s), 6), "max_deviation_s": round(dmax, 6),
            "mean_deviation_s": round(dmean, 6), "duplicates": s.duplicates, "out_of_range": s.out_of_range,
            "resized_hw": list(self.resized_hw) if self.resized_hw else None,
            "grid_thw": list(self.grid_thw) if self.grid_thw else None, "video_tokens": self.video_tokens,
            "request": s.request, "notes": list(s.notes), "error": None,
        }


@dataclass(frozen=True)
class SamplerComparison:
    """Every sampler on one video and one request; ``str()`` is the compact table."""

    total_frames: int  # frames in the video
    native_fps: float  # its frame rate
    request: dict  # {"frames": N} or {"fps": F}, plus bounds and sizes
    rows: tuple[SamplerRow, ...]  # one per sampler, in SAMPLERS order
    size: tuple[int, int] | None = None  # (height, width) of the source video, if given

    @property
    def duration(self) -> float:
        return self.total_frames / self.native_fps

    def __getitem__(self, name: str) -> SamplerRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {"total_frames": self.total_frames, "native_fps": self.native_fps,
                "duration_s": round(self.duration, 6), "request": self.request,
                "size": list(self.size) if self.size else None,
                "samplers": {row.name: row.stats() for row in self.rows}}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        return render_comparison(self)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


def _request_text(request: dict) -> str:
    if request.get("frames") is not None:
        return f"{request['frames']} frames"
    return f"{request['fps']:g} fps (frames {request['min_frames']}..{request['max_frames']})"


def render_comparison(comparison: SamplerComparison) -> str:
    """The text table of a comparison (what the CLI prints)."""
    c = comparison
    head = (f"{c.total_frames} frames at {c.native_fps:g} fps ({c.duration:.2f} s); "
            f"request: {_request_text(c.request)}")
    if c.size:
        resized = next((r.resized_hw for r in c.rows if r.resized_hw), None)
        head += f"; frames {c.size[0]}x{c.size[1]}" + (f" -> {resized[0]}x{resized[1]}" if resized else "")
    lines = [head,
             f"{'sampler':<20}{'n':>5}{'first':>7}{'last':>7}  {'ends':<8}{'gap s':>7}{'dev s':>7}"
             f"{'dups':>5}{'grid':>14}{'tokens':>8}"]
    notes = []
    for row in c.rows:
        if row.sampling is None:
            lines.append(f"{row.name:<20}  refused: {row.error}")
            continue
        s = row.sampling
        ends = ("yes" if s.first_kept else "no") + "/" + ("yes" if s.last_kept else "no")
        grid = "[" + ",".join(str(v) for v in row.grid_thw) + "]" if row.grid_thw else "-"
        tokens = str(row.video_tokens) if row.video_tokens is not None else "-"
        lines.append(f"{row.name:<20}{len(s.indices):>5}{s.indices[0]:>7}{s.indices[-1]:>7}  {ends:<8}"
                     f"{largest_gap(s):>7.3f}{deviation(s)[0]:>7.3f}{s.duplicates:>5}{grid:>14}{tokens:>8}")
        notes += [f"  {row.name}: {note}" for note in s.notes]
    lines.append("ends = first/last frame kept; gap = longest unsampled stretch; dev = max distance "
                 "from evenly spaced instants")
    if notes:
        lines += ["notes:", *notes]
    return "\n".join(lines)


def _resized(height: int | None, width: int | None, frames: int, *, min_pixels: int, max_pixels: int,
             factor: int, cap: bool) -> tuple[int, int] | None:
    if height is None or width is None:
        return None
    return arith.video_resize(height, width, min_pixels=min_pixels, max_pixels=max_pixels, factor=factor,
                              num_frames=max(frames, 1), cap_pixels_per_frame=cap)


def compare_samplers(total_frames: int, native_fps: float, *, frames: int | None = None,
                     fps: float | None = None, min_frames: int = 4, max_frames: int = 768,
                     height: int | None = None, width: int | None = None, min_pixels: int | None = None,
                     max_pixels: int | None = None, profile: str = DEFAULT_PROFILE,
                     cap_pixels_per_frame: bool = False,
                     names: Sequence[str] | None = None) -> SamplerComparison:
    """Run every sampler on one request and measure what each keeps.

    One request, mapped onto each rule's own knobs:

    * ``frames=N``: qwen-vl-utils ``nframes=N``; transformers ``num_frames=N``; LLaMA-Factory
      ``video_maxlen=N`` with ``video_fps`` = the native rate (so the cap decides);
      the finetune recipe ``min_frames = max_frames = N``; uniform N; fps at N / duration.
    * ``fps=F`` (default ``arith.DEFAULT_FPS``, 2.0): qwen-vl-utils and transformers ``fps=F`` with
      [min_frames, max_frames]; LLaMA-Factory ``video_fps=F, video_maxlen=max_frames``; the recipe
      ``base_interval = 1 / F`` within [min_frames, max_frames] (its own defaults are 4 s and
      4..8 frames); uniform round(F x duration) clamped the same way; fps at F.

    With ``height`` and ``width`` every row also gets the processor's resized frame size
    (``video_resize`` with ``min_pixels`` / ``max_pixels``, default: the profile's video pixel
    range) and the grid and VIDEO tokens of the frames it feeds. A rule that refuses the
    request gets a row with its error instead of raising.
    ``compare_samplers(300, 30.0, frames=50)["transformers"].sampling.indices[-1] -> 294``.
    """
    fps = _checked_request(total_frames, native_fps, frames, fps)
    prof = get_profile(profile)
    pixels = LayoutSettings(profile=prof.name, min_pixels=min_pixels, max_pixels=max_pixels).resolve(prof)
    calls = _sampler_calls(total_frames / native_fps, native_fps, frames, fps, min_frames, max_frames,
                           prof.temporal_patch_size)
    rows = [_run_sampler(name, calls[name], total_frames, native_fps, (height, width), pixels,
                         cap_pixels_per_frame) for name in names or list(SAMPLERS)]
    request = {"frames": frames, "fps": fps, "min_frames": min_frames, "max_frames": max_frames,
               "min_pixels": pixels.min_pixels, "max_pixels": pixels.max_pixels, "profile": prof.name,
               "cap_pixels_per_frame": cap_pixels_per_frame}
    size = (height, width) if height is not None and width is not None else None
    return SamplerComparison(int(total_frames), float(native_fps), request, tuple(rows), size)


def _checked_request(total_frames: int, native_fps: float, frames: int | None, fps: float | None) -> float | None:
    """The fps of the request (DEFAULT_FPS when neither frames nor fps is given); raises for a bad one."""
    _check_video(total_frames, native_fps)
    if frames is not None and fps is not None:
        raise OmniBenchError("pass either --frames or --fps, not both", reason="bad-settings")
    if frames is not None and frames < 1:
        raise OmniBenchError(f"--frames must be positive, got {frames}", reason="bad-settings")
    if fps is not None and not fps > 0:
        raise OmniBenchError(f"--fps must be positive, got {fps}", reason="bad-settings")
    return arith.DEFAULT_FPS if frames is None and fps is None else fps


def _sampler_calls(duration: float, native_fps: float, frames: int | None, fps: float | None, min_frames: int,
                   max_frames: int, temporal_patch_size: int) -> dict[str, dict]:
    """One request mapped onto each rule's own knobs (see :func:`compare_samplers`)."""
    if frames is not None:
        return {
            "qwen-vl-utils": dict(nframes=frames),
            "transformers": dict(num_frames=frames, temporal_patch_size=temporal_patch_size),
            "llama-factory": dict(video_fps=native_fps, video_maxlen=frames),
            "qwen2.5-vl-finetune": dict(min_frames=frames, max_frames=frames),
            "uniform": dict(frames=frames),
            "fps": dict(fps=frames / duration),
        }
    return {
        "qwen-vl-utils": dict(fps=fps, min_frames=min_frames, max_frames=max_frames),
        "transformers": dict(fps=fps, min_frames=min_frames, max_frames=max_frames,
                             temporal_patch_size=temporal_patch_size),
        "llama-factory": dict(video_fps=fps, video_maxlen=max_frames),
        "qwen2.5-vl-finetune": dict(base_interval=1.0 / fps, min_frames=min_frames, max_frames=max_frames),
        "uniform": dict(frames=max(1, min(max(round(fps * duration), min_frames), max_frames))),
        "fps": dict(fps=fps),
    }


def _run_sampler(name: str, call: dict, total_frames: int, native_fps: float, size, pixels,
                 cap_pixels_per_frame: bool) -> SamplerRow:
    """One sampler's row: its Sampling and, with a frame size, the grid and VIDEO tokens it costs."""
    try:
        s = SAMPLERS[name](total_frames, native_fps, **call)
    except SamplingError as exc:
        return SamplerRow(name, None, str(exc), exc.reference_error)
    prof = pixels.profile
    hw = _resized(*size, s.frames_fed, min_pixels=pixels.min_pixels, max_pixels=pixels.max_pixels,
                  factor=prof.factor, cap=cap_pixels_per_frame)
    if hw is None:
        return SamplerRow(name, s)
    grid = arith.grid_thw(s.frames_fed, *hw, patch_size=prof.patch_size, temporal_patch_size=prof.temporal_patch_size)
    return SamplerRow(name, s, resized_hw=hw, grid_thw=grid, video_tokens=arith.video_tokens(grid, prof.merge_size))


# ----------------------------------------------------------------------------------------- budget
@dataclass(frozen=True)
class BudgetRow:
    """One (sampling rate, per-frame pixel limit) choice and what it costs in VIDEO tokens."""

    fps: float  # sampling rate asked (qwen-vl-utils rule: clamped to [min_frames, max_frames])
    frames: int  # frames sampled
    max_pixels: int  # per-frame pixel limit, size.longest_edge
    height: int  # resized frame height (processor's resize rule)
    width: int  # resized frame width
    grid_thw: tuple[int, int, int]  # pre-merge grid
    tokens_per_step: int  # tokens per temporal grid step (temporal_patch_size frames)
    tokens_per_frame: float  # tokens_per_step / temporal_patch_size: Apollo's "tokens per frame"
    tokens_per_second: float  # video_tokens / duration
    video_tokens: int  # all VIDEO tokens
    fits: bool  # video_tokens <= the budget
    in_apollo_range: bool  # 8 <= tokens_per_frame <= 32

    def to_dict(self) -> dict:
        return asdict(self)


def budget_table(duration: float, native_fps: float, width: int, height: int, token_budget: int, *,
                 fps_options: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
                 pixel_limits: Sequence[int] = tuple(k * 28 * 28 for k in (16, 32, 64, 128, 256, 768)),
                 min_pixels: int | None = None, min_frames: int = 4, max_frames: int = 768,
                 profile: str = DEFAULT_PROFILE) -> list[BudgetRow]:
    """Frames x per-frame resolution against a VIDEO-token budget, one row per combination.

    For each rate in ``fps_options``: frames = qwen-vl-utils' ``smart_nframes`` (fps path). For
    each per-frame limit in ``pixel_limits`` (pixels; ``k * 28 * 28`` allows at most k tokens
    per temporal step): the processor's resize with ``size = {shortest_edge: min(min_pixels,
    limit), longest_edge: limit}`` (min_pixels defaults to the profile's). Tokens follow
    ``grid_thw`` / ``video_tokens``. One temporal step holds 2 frames, so tokens per frame is
    half the tokens per step: Apollo's 8..32 tokens per frame means limits of 16..64 x 28 x 28.
    ``budget_table(60, 30, 640, 360, 16384, fps_options=[1], pixel_limits=[64*28*28])[0]`` ->
    60 frames at 168x280, grid (30, 12, 20), 60 tokens per step (30 per frame), 1800 tokens, fits.
    """
    prof = get_profile(profile)
    total = max(1, round(duration * native_fps))
    low = prof.video_min_pixels if min_pixels is None else min_pixels
    rows = []
    for rate in fps_options:
        try:
            frames = arith.smart_nframes(total, native_fps, fps=rate, min_frames=min_frames,
                                         max_frames=max_frames, frame_factor=prof.temporal_patch_size)
        except ValueError as exc:
            raise OmniBenchError(f"cannot sample {rate} fps from {total} frames ({exc})", reason="sampling") \
                from None
        for limit in pixel_limits:
            h, w = arith.video_resize(height, width, min_pixels=min(low, limit), max_pixels=limit,
                                      factor=prof.factor)
            grid = arith.grid_thw(frames, h, w, patch_size=prof.patch_size,
                                  temporal_patch_size=prof.temporal_patch_size)
            per_step = arith.tokens_per_grid(grid[1], grid[2], prof.merge_size)
            tokens = arith.video_tokens(grid, prof.merge_size)
            per_frame = per_step / prof.temporal_patch_size
            lo, hi = APOLLO_TOKENS_PER_FRAME
            rows.append(BudgetRow(float(rate), frames, int(limit), h, w, grid, per_step, per_frame,
                                  tokens / duration, tokens, tokens <= token_budget, lo <= per_frame <= hi))
    return rows


def format_budget_table(rows: Sequence[BudgetRow], token_budget: int | None = None) -> str:
    """The text form of :func:`budget_table`: one line per row, ``*`` marks Apollo's range."""
    head = f"{'fps':>5}{'frames':>7}{'limit':>9}{'size':>10}{'grid':>14}{'tok/frame':>10}{'tok/s':>8}" \
           f"{'tokens':>9}  fits"
    lines = [head] if token_budget is None else [f"VIDEO token budget {token_budget}", head]
    for r in rows:
        grid = "[" + ",".join(str(v) for v in r.grid_thw) + "]"
        mark = "*" if r.in_apollo_range else " "
        lines.append(f"{r.fps:>5g}{r.frames:>7}{r.max_pixels // 784:>6}x784{f'{r.height}x{r.width}':>10}"
                     f"{grid:>14}{r.tokens_per_frame:>9g}{mark}{r.tokens_per_second:>8.1f}{r.video_tokens:>9}"
                     f"  {'yes' if r.fits else 'no'}")
    lines.append("limit = per-frame pixels (k x 28 x 28 allows k tokens per 2-frame step); "
                 "* = Apollo's 8..32 tokens per frame")
    return "\n".join(lines)
