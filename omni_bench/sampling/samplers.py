"""Frame samplers side by side: which frames each video pipeline really keeps, and what they cost.

Covered
-------
Six sampling rules, each a pure function of ``(total_frames, native_fps, request)`` that returns
a frozen :class:`Sampling` (indices exactly as the rule returns them, timestamps, notes on quirks):

==========================  ===================================================================
``sample_qwen_vl_utils``    qwen-vl-utils 0.0.14: ``smart_nframes`` then
                            ``torch.linspace(start, end, n).round()``; ``video_start`` /
                            ``video_end`` as ``calculate_video_frame_range``. First and last
                            frame of the range always kept.
``sample_transformers``     transformers 5.23 ``Qwen2VLVideoProcessor.sample_frames``:
                            ``torch.arange(0, total, total / n).int()``. A float step: the last
                            frame is usually missed, and for some (total, n) the arange has
                            n + 1 elements, the extra one equal to ``total`` (out of range).
``sample_llama_factory``    LLaMA-Factory ``_get_video_sample_indices``: ``floor(duration *
                            video_fps)`` capped by ``video_maxlen`` and the frame count, then
                            ``np.linspace(0, total - 1, n).astype(np.int32)`` (truncation).
``sample_qwen25vl_finetune`` the Qwen2.5-VL fine-tuning recipe (qwen-vl-finetune ``video_decord``):
                            ``round(duration / base_interval)`` clamped to [4, 8], then
                            ``np.unique(np.linspace(0, total - 1, n, dtype=int))``.
``sample_uniform``          plain: n evenly spaced frames including both ends, rounded.
``sample_fps``              plain: frame ``round(k * native_fps / fps)`` for k = 0, 1, ... while
                            inside the video.
==========================  ===================================================================

A request a reference refuses (more frames than the video has, a count that rounds to 0)
raises :class:`SamplingError` here too; :func:`compare_samplers` records it per sampler.
:func:`compare_samplers` puts them side by side with coverage statistics and the grid and
token count each choice costs; :func:`budget_table` lays out frames x per-frame resolution
against a token budget.

Not covered: decoding (:func:`omni_bench.core.media.read_frames`, and :mod:`omni_bench.bench.decode`
for its cost), variable-frame-rate timing, LLaMA-Factory's branch for streams without a frame
count, the recipe's torchcodec fallback (same indices), drawing (``omni_bench_widgets.samplers``).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from omni_bench.core.errors import OmniBenchError
from omni_bench.layout import arith

__all__ = [
    "Sampling", "SamplingError", "SAMPLERS", "video_frame_range",
    "sample_qwen_vl_utils", "sample_transformers", "sample_llama_factory", "sample_qwen25vl_finetune",
    "sample_uniform", "sample_fps", "float_arange_indices", "largest_gap", "deviation",
    "SamplerRow", "SamplerComparison", "compare_samplers",
    "BudgetRow", "budget_table", "format_budget_table", "APOLLO_TOKENS_PER_FRAME",
]

APOLLO_TOKENS_PER_FRAME = (8, 32)  # Apollo (arXiv 2412.10360): the range of tokens per frame it recommends


class SamplingError(OmniBenchError, ValueError):
    """A sampling request the rule refuses, as its reference does.

    ``reference_error`` names the exception the reference raises for the same request
    ("ValueError", or "ZeroDivisionError" where transformers divides by a count of 0).
    """

    def __init__(self, message: str, *, reference_error: str = "ValueError", source: str | None = None):
        super().__init__(message, source=source, reason="sampling")
        self.reference_error = reference_error


@dataclass(frozen=True)
class Sampling:
    """The frames one rule chose from one video.

    >>> s = sample_uniform(10, 5.0, frames=3)
    >>> s.indices, s.timestamps, s.last_kept
    ((0, 4, 9), (0.0, 0.8, 1.8), True)
    """

    name: str  # the rule, e.g. "qwen-vl-utils" (a key of SAMPLERS)
    indices: tuple[int, ...]  # frame indices exactly as the rule returns them (may repeat or overrun)
    timestamps: tuple[float, ...]  # seconds, index / native_fps, one per index
    total_frames: int  # frames in the video
    native_fps: float  # the video's frame rate
    count: int  # frames the rule decided on after its own rounding (len(indices) can differ)
    frames_fed: int  # frames the pipeline hands to the processor (before the temporal padding)
    request: dict = field(default_factory=dict)  # the arguments of the rule, as given
    notes: tuple[str, ...] = ()  # quirks this request runs into, one line each

    @property
    def duration(self) -> float:
        """Seconds of video: total_frames / native_fps."""
        return self.total_frames / self.native_fps

    @property
    def first_kept(self) -> bool:
        return 0 in self.indices

    @property
    def last_kept(self) -> bool:
        return self.total_frames - 1 in self.indices

    @property
    def duplicates(self) -> int:
        """Indices that repeat an earlier one."""
        return len(self.indices) - len(set(self.indices))

    @property
    def out_of_range(self) -> int:
        """Indices outside [0, total_frames - 1] (frames that do not exist)."""
        return sum(1 for i in self.indices if not 0 <= i < self.total_frames)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["indices"], out["timestamps"], out["notes"] = list(self.indices), list(self.timestamps), list(self.notes)
        return out


def _make(name: str, indices, total_frames: int, native_fps: float, count: int, request: dict,
          notes: Sequence[str] = (), frames_fed: int | None = None) -> Sampling:
    indices = tuple(int(i) for i in indices)
    timestamps = tuple(i / native_fps for i in indices)
    fed = len(indices) if frames_fed is None else frames_fed
    return Sampling(name, indices, timestamps, int(total_frames), float(native_fps), int(count), int(fed),
                    dict(request), tuple(notes))


def _check_video(total_frames: int, native_fps: float) -> None:
    if int(total_frames) != total_frames or total_frames < 1:
        raise OmniBenchError(f"total frames must be a positive integer, got {total_frames}", reason="bad-settings")
    if not native_fps > 0:
        raise OmniBenchError(f"native fps must be positive, got {native_fps}", reason="bad-settings")


def _rounding_note(asked: int, got: int, patch: int) -> list[str]:
    if asked == got:
        return []
    return [f"asked {asked} frames, rounded to the temporal patch {patch} with Python's round "
            f"(halves to even): {got}"]


# ----------------------------------------------------------------------------------- qwen-vl-utils
def video_frame_range(total_frames: int, native_fps: float, video_start: float | None = None,
                      video_end: float | None = None) -> tuple[int, int, int]:
    """(start_frame, end_frame, frame_count) of a time range, as qwen-vl-utils computes it.

    Times are clamped to the video; start = ceil(start * fps), end = floor(end * fps) capped at
    the last frame; both in float, so ``2.2 * 25 = 55.00000000000001`` starts at frame 56.
    ``video_frame_range(300, 30.0) -> (0, 299, 300)``;
    ``video_frame_range(300, 30.0, 1.0, 4.1) -> (30, 122, 93)`` (4.1 * 30 = 122.99999999999999).
    Raises SamplingError when the range holds less than two frames, as the reference does.
    """
    if native_fps <= 0:
        raise SamplingError("video_fps must be a positive number")
    if total_frames <= 0:
        raise SamplingError("total_frames must be a positive integer")
    if video_start is None and video_end is None:
        return 0, total_frames - 1, total_frames
    max_duration = total_frames / native_fps
    start = 0 if video_start is None else math.ceil(max(0.0, min(video_start, max_duration)) * native_fps)
    end = total_frames - 1
    if video_end is not None:
        end = min(math.floor(max(0.0, min(video_end, max_duration)) * native_fps), total_frames - 1)
    if start >= end:
        raise SamplingError(f"invalid time range: start frame {start} is not before end frame {end} "
                            f"({total_frames} frames at {native_fps} fps)")
    return start, end, end - start + 1


def sample_qwen_vl_utils(total_frames: int, native_fps: float, *, nframes: int | None = None,
                         fps: float | None = None, min_frames: int = 4, max_frames: int | None = None,
                         video_start: float | None = None, video_end: float | None = None,
                         frame_factor: int = 2) -> Sampling:
    """qwen-vl-utils' choice (``_read_video_decord``): ``linspace(start, end, n).round()``.

    n is ``smart_nframes`` over the frames of the [video_start, video_end] range: ``nframes``
    rounded to the factor, or ``fps`` (default 2.0) x range duration clamped to
    [min_frames, max_frames] (max_frames defaults to min(768, range frames)).
    ``sample_qwen_vl_utils(300, 30.0, nframes=5).indices -> (0, 75, 150, 224, 299)``.
    Raises SamplingError when n falls outside [frame_factor, range frames], as the reference does.
    """
    _check_video(total_frames, native_fps)
    if nframes is not None and fps is not None:
        raise SamplingError("pass either nframes or fps, not both", reference_error="AssertionError")
    start, end, count = video_frame_range(total_frames, native_fps, video_start, video_end)
    try:
        n = arith.smart_nframes(count, native_fps, nframes=nframes, fps=fps, min_frames=min_frames,
                                max_frames=max_frames, frame_factor=frame_factor)
    except ValueError as exc:
        raise SamplingError(f"qwen-vl-utils: {exc}") from None
    notes = _rounding_note(nframes, n, frame_factor) if nframes is not None else []
    if (start, end) != (0, total_frames - 1):
        notes.append(f"range {video_start}..{video_end} s -> frames {start}..{end} (ceil start, floor end)")
    request = {"nframes": nframes, "fps": fps, "min_frames": min_frames, "max_frames": max_frames,
               "video_start": video_start, "video_end": video_end}
    return _make("qwen-vl-utils", arith.linspace_round_indices(start, end, n), total_frames, native_fps, n,
                 request, notes)


# ------------------------------------------------------------------------------------ transformers
def float_arange_indices(total_frames: int, count: int) -> list[int]:
    """``torch.arange(0, total, total / count).int()`` computed as torch does on CPU.

    The length is ceil(total / step) in float64, values are i * step in float64 stored as
    float32, then truncated. When total / count rounds down, the length is count + 1 and the
    extra value rounds up to ``total`` itself:
    ``float_arange_indices(300, 50)[-1] -> 294``; ``float_arange_indices(17, 14)`` has 15
    elements and ends with 17.
    """
    step = total_frames / count
    length = math.ceil(total_frames / step)
    values = (np.arange(length, dtype=np.float64) * step).astype(np.float32)
    return [int(v) for v in values.astype(np.int64)]


def sample_transformers(total_frames: int, native_fps: float, *, num_frames: int | None = None,
                        fps: float | None = None, min_frames: int = 4, max_frames: int = 768,
                        temporal_patch_size: int = 2) -> Sampling:
    """transformers' ``Qwen2VLVideoProcessor.sample_frames``: ``arange(0, total, total / n).int()``.

    ``num_frames`` is rounded to the temporal patch (Python's round); ``fps`` gives
    total / native_fps * fps clamped to [min_frames, max_frames floored to the patch] and to
    the frame count, floored to the patch. Neither: every frame.
    ``sample_transformers(300, 30.0, num_frames=50).indices[-1] -> 294`` (last frame missed).
    Raises SamplingError when n exceeds the frame count (reference: ValueError) or is 0
    (reference: ZeroDivisionError).
    """
    _check_video(total_frames, native_fps)
    if num_frames is not None and fps is not None:
        raise SamplingError("`num_frames` and `fps` are mutually exclusive arguments, please use only one!")
    request = {"num_frames": num_frames, "fps": fps, "min_frames": min_frames, "max_frames": max_frames,
               "temporal_patch_size": temporal_patch_size}
    notes: list[str] = []
    if num_frames is not None:
        n = round(num_frames / temporal_patch_size) * temporal_patch_size
        notes += _rounding_note(num_frames, n, temporal_patch_size)
    elif fps is not None:
        cap = math.floor(min(max_frames, total_frames) / temporal_patch_size) * temporal_patch_size
        n = min(max(total_frames / native_fps * fps, min_frames), cap, total_frames)
        n = math.floor(n / temporal_patch_size) * temporal_patch_size
    else:
        return _make("transformers", range(total_frames), total_frames, native_fps, total_frames, request,
                     ["neither num_frames nor fps: every frame"])
    if n > total_frames:
        raise SamplingError(f"transformers: Video can't be sampled. The inferred `num_frames={n}` exceeds "
                            f"`total_num_frames={total_frames}`.")
    if n <= 0:
        raise SamplingError(f"transformers: the request gives num_frames={n}; the reference divides by it "
                            "(ZeroDivisionError)", reference_error="ZeroDivisionError")
    indices = float_arange_indices(total_frames, n)
    if len(indices) != n:
        notes.append(f"float arange gives {len(indices)} indices for num_frames={n}; the extra one is "
                     f"{indices[-1]} (out of range): an array video raises IndexError, a decoding "
                     "backend silently skips it")
    if indices[-1] < total_frames - 1 and len(indices) == n:
        notes.append(f"last frame missed: ends at {indices[-1]} of {total_frames - 1}")
    fed = sum(1 for i in indices if i < total_frames)
    return _make("transformers", indices, total_frames, native_fps, n, request, notes, frames_fed=fed)


# ----------------------------------------------------------------------------------- LLaMA-Factory
def sample_llama_factory(total_frames: int, native_fps: float, *, video_fps: float = 2.0,
                         video_maxlen: int = 128, duration: float | None = None) -> Sampling:
    """LLaMA-Factory's ``_get_video_sample_indices``: linspace truncated to int32.

    n = max(1, floor(duration * video_fps)) capped by video_maxlen and total_frames;
    indices ``np.linspace(0, total - 1, n).astype(np.int32)``. ``duration`` is the stream's own
    duration in LLaMA-Factory (default here: total_frames / native_fps).
    ``sample_llama_factory(300, 30.0, video_fps=0.5).indices -> (0, 74, 149, 224, 299)``.
    The Qwen2-VL plugin keeps a frame when its index is in the list (so repeats collapse)
    and repeats the last frame when the count is odd; ``frames_fed`` counts that.
    """
    _check_video(total_frames, native_fps)
    seconds = total_frames / native_fps if duration is None else duration
    n = max(1, math.floor(float(seconds) * video_fps))
    n = min(total_frames, video_maxlen, n)
    indices = np.linspace(0, total_frames - 1, n).astype(np.int32)
    unique = len(set(indices.tolist()))
    notes = []
    if unique % 2:
        notes.append(f"{unique} frames: the Qwen2-VL plugin repeats the last one to make {unique + 1}")
    request = {"video_fps": video_fps, "video_maxlen": video_maxlen, "duration": duration}
    return _make("llama-factory", indices, total_frames, native_fps, n, request, notes,
                 frames_fed=unique + unique % 2)


# ---------------------------------------------------------------------------- Qwen2.5-VL finetune
def sample_qwen25vl_finetune(total_frames: int, native_fps: float, *, base_interval: float = 4.0,
                             min_frames: int = 4, max_frames: int = 8) -> Sampling:
    """The Qwen2.5-VL fine-tuning recipe: one frame per ``base_interval`` seconds, 4 to 8 frames.

    n = round(duration / base_interval) (Python's round) clamped to [min_frames, max_frames];
    indices ``np.unique(np.linspace(0, total - 1, n, dtype=int))`` (floored, repeats dropped).
    ``sample_qwen25vl_finetune(300, 30.0).indices -> (0, 99, 199, 299)`` (10 s: round(2.5) = 2,
    raised to 4).
    """
    _check_video(total_frames, native_fps)
    length = total_frames / native_fps
    asked = round(length / base_interval)
    n = min(max(asked, min_frames), max_frames)
    if n < 1:
        raise SamplingError(f"qwen2.5-vl-finetune: {n} frames to sample (max_frames={max_frames})")
    raw = np.linspace(0, total_frames - 1, n, dtype=int)
    indices = np.unique(raw)
    notes = []
    if n != asked and min_frames != max_frames:  # equal bounds: a fixed count, nothing to explain
        notes.append(f"round({length:g} s / {base_interval:g} s) = {asked} frames, clamped to {n}")
    if len(indices) < n:
        notes.append(f"np.unique dropped {n - len(indices)} repeated indices: {len(indices)} frames, not {n}")
    request = {"base_interval": base_interval, "min_frames": min_frames, "max_frames": max_frames}
    return _make("qwen2.5-vl-finetune", indices, total_frames, native_fps, n, request, notes)


# ------------------------------------------------------------------------------------ plain rules
def sample_uniform(total_frames: int, native_fps: float, *, frames: int) -> Sampling:
    """n evenly spaced frames over [0, total - 1], both ends kept, rounded half to even.

    n is capped at total_frames (a note says so). ``sample_uniform(300, 30.0, frames=4).indices
    -> (0, 100, 199, 299)``.
    """
    _check_video(total_frames, native_fps)
    if frames < 1:
        raise SamplingError(f"uniform: frames must be at least 1, got {frames}")
    n = min(int(frames), total_frames)
    notes = [f"asked {frames} frames of a {total_frames}-frame video: capped at {n}"] if n != frames else []
    indices = np.rint(np.linspace(0, total_frames - 1, n)).astype(np.int64)
    return _make("uniform", indices, total_frames, native_fps, n, {"frames": frames}, notes)


def sample_fps(total_frames: int, native_fps: float, *, fps: float) -> Sampling:
    """Frames at a fixed rate: ``round(k * native_fps / fps)`` for k = 0, 1, ... while < total.

    Rounded half to even; a rate above the native one repeats frames.
    ``sample_fps(300, 30.0, fps=0.5).indices -> (0, 60, 120, 180, 240)``.
    """
    _check_video(total_frames, native_fps)
    if not fps > 0:
        raise SamplingError(f"fps: the rate must be positive, got {fps}")
    step = native_fps / fps
    k = np.arange(math.ceil(total_frames / step) + 2, dtype=np.float64)
    values = np.rint(k * step).astype(np.int64)
    indices = values[values < total_frames]
    return _make("fps", indices, total_frames, native_fps, len(indices), {"fps": fps})


SAMPLERS = {
    "qwen-vl-utils": sample_qwen_vl_utils,
    "transformers": sample_transformers,
    "llama-factory": sample_llama_factory,
    "qwen2.5-vl-finetune": sample_qwen25vl_finetune,
    "uniform": sample_uniform,
    "fps": sample_fps,
}


# ------------------------------------------------------------------------------------- statistics
def largest_gap(sampling: Sampling) -> float:
    """Longest stretch of the video, in seconds, that no sampled frame falls in.

    Measured on the frame timeline from frame 0 (t = 0) to the last frame (t = (T - 1) / fps):
    the largest difference between neighbours of [0] + sorted in-range timestamps +
    [(T - 1) / fps]. A rule that misses the last frame shows it as a tail gap.
    ``largest_gap(sample_uniform(11, 1.0, frames=3)) -> 5.0``.
    """
    last = (sampling.total_frames - 1) / sampling.native_fps
    inside = sorted(t for i, t in zip(sampling.indices, sampling.timestamps) if 0 <= i < sampling.total_frames)
    points = [0.0, *inside, last]
    return max((b - a for a, b in itertools.pairwise(points)), default=0.0)


def deviation(sampling: Sampling) -> tuple[float, float]:
    """(max, mean) distance in seconds from the ideal evenly spaced timestamps.

    With n = len(indices) >= 2 the ideal k-th timestamp is k * (T - 1) / (n - 1) / native_fps:
    n instants spread evenly over the frame timeline, first and last frame included, not
    rounded to frames. Deviation k = |timestamp_k - ideal_k|; for n = 1 the ideal is the middle.
    A rule that rounds to the nearest frame deviates by at most half a frame; one that misses
    the end drifts. ``deviation(sample_uniform(300, 30.0, frames=4)) -> (0.0111..., 0.0055...)``.
    """
    n, total = len(sampling.indices), sampling.total_frames
    if n == 0:
        return 0.0, 0.0
    if n == 1:
        ideal = np.array([(total - 1) / 2 / sampling.native_fps])
    else:
        ideal = np.arange(n) * ((total - 1) / (n - 1)) / sampling.native_fps
    diffs = np.abs(np.asarray(sampling.timestamps) - ideal)
    return float(diffs.max()), float(diffs.mean())


# ------------------------------------------------------------------------------------- comparison
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
                     max_pixels: int | None = None, profile: str = "qwen2.5-omni-7b",
                     cap_pixels_per_frame: bool = False,
                     names: Sequence[str] | None = None) -> SamplerComparison:
    """Run every sampler on one request and measure what each keeps.

    One request, mapped onto each rule's own knobs:

    * ``frames=N``: qwen-vl-utils ``nframes=N``; transformers ``num_frames=N``; LLaMA-Factory
      ``video_maxlen=N`` with ``video_fps`` = the native rate (so the cap decides);
      the finetune recipe ``min_frames = max_frames = N``; uniform N; fps at N / duration.
    * ``fps=F`` (default 2.0): qwen-vl-utils and transformers ``fps=F`` with
      [min_frames, max_frames]; LLaMA-Factory ``video_fps=F, video_maxlen=max_frames``; the recipe
      ``base_interval = 1 / F`` within [min_frames, max_frames] (its own defaults are 4 s and
      4..8 frames); uniform round(F x duration) clamped the same way; fps at F.

    With ``height`` and ``width`` every row also gets the processor's resized frame size
    (``video_resize`` with ``min_pixels`` / ``max_pixels``, default: the profile's video pixel
    range) and the grid and VIDEO tokens of the frames it feeds. A rule that refuses the
    request gets a row with its error instead of raising.
    ``compare_samplers(300, 30.0, frames=50)["transformers"].sampling.indices[-1] -> 294``.
    """
    from omni_bench.core.profiles import get_profile
    from omni_bench.layout.settings import LayoutSettings

    _check_video(total_frames, native_fps)
    if frames is not None and fps is not None:
        raise OmniBenchError("pass either --frames or --fps, not both", reason="bad-settings")
    if frames is not None and frames < 1:
        raise OmniBenchError(f"--frames must be positive, got {frames}", reason="bad-settings")
    if fps is not None and not fps > 0:
        raise OmniBenchError(f"--fps must be positive, got {fps}", reason="bad-settings")
    if frames is None and fps is None:
        fps = arith.DEFAULT_FPS
    prof = get_profile(profile)
    pixels = LayoutSettings(profile=prof.name, min_pixels=min_pixels, max_pixels=max_pixels).resolve(prof)
    low, high = pixels.min_pixels, pixels.max_pixels
    duration = total_frames / native_fps
    if frames is not None:
        calls = {
            "qwen-vl-utils": dict(nframes=frames),
            "transformers": dict(num_frames=frames, temporal_patch_size=prof.temporal_patch_size),
            "llama-factory": dict(video_fps=native_fps, video_maxlen=frames),
            "qwen2.5-vl-finetune": dict(min_frames=frames, max_frames=frames),
            "uniform": dict(frames=frames),
            "fps": dict(fps=frames / duration),
        }
    else:
        calls = {
            "qwen-vl-utils": dict(fps=fps, min_frames=min_frames, max_frames=max_frames),
            "transformers": dict(fps=fps, min_frames=min_frames, max_frames=max_frames,
                                 temporal_patch_size=prof.temporal_patch_size),
            "llama-factory": dict(video_fps=fps, video_maxlen=max_frames),
            "qwen2.5-vl-finetune": dict(base_interval=1.0 / fps, min_frames=min_frames, max_frames=max_frames),
            "uniform": dict(frames=max(1, min(max(round(fps * duration), min_frames), max_frames))),
            "fps": dict(fps=fps),
        }
    rows = []
    for name in names or list(SAMPLERS):
        try:
            s = SAMPLERS[name](total_frames, native_fps, **calls[name])
        except SamplingError as exc:
            rows.append(SamplerRow(name, None, str(exc), exc.reference_error))
            continue
        hw = _resized(height, width, s.frames_fed, min_pixels=low, max_pixels=high, factor=prof.factor,
                      cap=cap_pixels_per_frame)
        grid = tokens = None
        if hw is not None:
            grid = arith.grid_thw(s.frames_fed, *hw, patch_size=prof.patch_size,
                                  temporal_patch_size=prof.temporal_patch_size)
            tokens = arith.video_tokens(grid, prof.merge_size)
        rows.append(SamplerRow(name, s, resized_hw=hw, grid_thw=grid, video_tokens=tokens))
    request = {"frames": frames, "fps": fps, "min_frames": min_frames, "max_frames": max_frames,
               "min_pixels": low, "max_pixels": high, "profile": prof.name,
               "cap_pixels_per_frame": cap_pixels_per_frame}
    size = (height, width) if height is not None and width is not None else None
    return SamplerComparison(int(total_frames), float(native_fps), request, tuple(rows), size)


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
                 profile: str = "qwen2.5-omni-7b") -> list[BudgetRow]:
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
    from omni_bench.core.profiles import get_profile

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
