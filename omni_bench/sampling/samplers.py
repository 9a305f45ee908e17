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
raises :class:`SamplingError` here too; :func:`~omni_bench.sampling.comparison.compare_samplers` records it per sampler.
:func:`~omni_bench.sampling.comparison.compare_samplers` puts them side by side with coverage
statistics and the grid and token count each choice costs;
:func:`~omni_bench.sampling.comparison.budget_table` lays out frames x per-frame resolution
against a token budget.

Not covered: decoding (:func:`omni_bench.core.media.read_frames`, and :mod:`omni_bench.bench.decode`
for its cost), variable-frame-rate timing, LLaMA-Factory's branch for streams without a frame
count, the recipe's torchcodec fallback (same indices), drawing (``omni_bench_widgets.samplers``).
"""

from __future__ import annotations

import itertools
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
    "APOLLO_TOKENS_PER_FRAME",
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

    >>> video_frame_range(300, 30.0)
    (0, 299, 300)
    >>> video_frame_range(300, 30.0, 1.0, 4.1)
    (30, 122, 93)
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
    rounded to the factor, or ``fps`` (default ``arith.DEFAULT_FPS``, 2.0) x range duration clamped to
    [min_frames, max_frames] (max_frames defaults to min(768, range frames)).
    ``sample_qwen_vl_utils(300, 30.0, nframes=6).indices -> (0, 60, 120, 179, 239, 299)``; an odd
    ``nframes=5`` rounds to 4 frames. Raises SamplingError when n falls outside
    [frame_factor, range frames], as the reference does.

    >>> sample_qwen_vl_utils(300, 30.0, nframes=6).indices
    (0, 60, 120, 179, 239, 299)
    >>> sample_qwen_vl_utils(300, 30.0, nframes=5).indices
    (0, 100, 199, 299)
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

    >>> float_arange_indices(300, 50)[-1]
    294
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

    >>> sample_transformers(300, 30.0, num_frames=50).indices[-1]
    294
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

    >>> sample_llama_factory(300, 30.0, video_fps=0.5).indices
    (0, 74, 149, 224, 299)
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

    >>> sample_qwen25vl_finetune(300, 30.0).indices
    (0, 99, 199, 299)
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

    >>> sample_uniform(300, 30.0, frames=4).indices
    (0, 100, 199, 299)
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

    >>> sample_fps(300, 30.0, fps=0.5).indices
    (0, 60, 120, 180, 240)
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

    >>> largest_gap(sample_uniform(11, 1.0, frames=3))
    5.0
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
