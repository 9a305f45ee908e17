"""Pure arithmetic of the Qwen2.5 processors: sizes, grids, frame counts, audio tokens, chunks.

Each function is small, side-effect free and mirrors one rule of the reference code
(qwen-vl-utils 0.0.14 and transformers 5.23's Qwen2-VL video processor, Whisper feature
extractor and Qwen2.5-Omni processor), down to the float operations where rounding
matters. Tests compare them with the references for equality.

The counting rules (``round_by_factor`` and its two twins, :func:`smart_nframes`,
:func:`fps_frame_count`, :func:`mel_frames`, :func:`audio_tokens`) take a number or a NumPy
array of them, with the same float operations either way: the planner calls them on one
video, the dataset budget (:mod:`omni_bench.layout.budget`) on every video of a dataset at once.
It sits at the bottom beside the profiles (``omni_bench.layout.arith`` is the same module under
its old name) and imports nothing of the project. Not covered: images' ``fetch_image`` path;
Qwen3's rules are in its families (:mod:`omni_bench.families.qwen3_vl`, ``qwen3_omni``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "round_by_factor", "ceil_by_factor", "floor_by_factor", "smart_resize", "qwen_vl_utils_smart_resize",
    "transformers_smart_resize", "video_resize", "fps_indices",
    "smart_nframes", "linspace_round_indices", "grid_thw", "tokens_per_grid", "video_tokens",
    "mel_frames", "audio_tokens", "chunk_lengths", "interleave_runs", "merge_runs",
    "second_per_grid", "DEFAULT_FPS", "chunk_pairs", "interleave", "audio_chunk_lengths", "fps_frame_count",
    "shortest_decimal",
]

DEFAULT_FPS = 2.0  # frames per second sampled when neither frames nor fps is given (qwen-vl-utils' FPS)


def _array(number) -> bool:
    return isinstance(number, np.ndarray)


def round_by_factor(number: float, factor: int) -> int:
    """Closest multiple of factor (Python's round: halves go to even). ``round_by_factor(15, 2) -> 16``.

    >>> round_by_factor(15, 2)
    16
    >>> round_by_factor(np.array([15, 17]), 2)
    array([16, 16])
    """
    if _array(number):
        return (np.rint(number / factor) * factor).astype(np.int64)
    return round(number / factor) * factor


def ceil_by_factor(number: float, factor: int) -> int:
    """Smallest multiple of factor >= number. ``ceil_by_factor(5, 2) -> 6``.

    >>> ceil_by_factor(5, 2)
    6
    """
    if _array(number):
        return (np.ceil(number / factor) * factor).astype(np.int64)
    return math.ceil(number / factor) * factor


def floor_by_factor(number: float, factor: int) -> int:
    """Largest multiple of factor <= number. ``floor_by_factor(5, 2) -> 4``.

    >>> floor_by_factor(5, 2)
    4
    """
    if _array(number):
        return (np.floor(number / factor) * factor).astype(np.int64)
    return math.floor(number / factor) * factor


def _check_ratio(height: int, width: int, max_ratio: float) -> None:
    # both references refuse an aspect ratio over 200 (max / min side, as a float division)
    if max(height, width) / min(height, width) > max_ratio:
        raise ValueError(f"absolute aspect ratio must be smaller than {max_ratio:g}, "
                         f"got {max(height, width) / min(height, width)}")


def qwen_vl_utils_smart_resize(height: int, width: int, factor: int = 28, min_pixels: int | None = None,
                               max_pixels: int | None = None, max_ratio: float = 200) -> tuple[int, int]:
    """qwen-vl-utils 0.0.14's ``smart_resize``: what ``fetch_image`` / ``fetch_video`` resize to.

    Each side rounds to the factor, but never below one factor; an area above max_pixels
    scales both sides by sqrt(HW / max_pixels) and floors them to the factor (which CAN
    give 0 for a very thin image: the reference does not guard it); an area below
    min_pixels scales by sqrt(min_pixels / HW) and ceils. Defaults: 4 and 16384 tokens of
    factor^2 pixels. ``qwen_vl_utils_smart_resize(10, 500) -> (28, 504)`` (18 tokens);
    ``qwen_vl_utils_smart_resize(205, 3314, max_pixels=16 * 784) -> (0, 448)``.
    Raises ValueError for an aspect ratio over 200 and for max_pixels < min_pixels (the
    reference asserts).

    >>> qwen_vl_utils_smart_resize(10, 500)
    (28, 504)
    >>> qwen_vl_utils_smart_resize(205, 3314, max_pixels=16 * 784)
    (0, 448)
    """
    max_pixels = 16384 * factor * factor if max_pixels is None else max_pixels
    min_pixels = 4 * factor * factor if min_pixels is None else min_pixels
    if max_pixels < min_pixels:
        raise ValueError(f"max_pixels {max_pixels} must be >= min_pixels {min_pixels}")
    _check_ratio(height, width, max_ratio)
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = floor_by_factor(height / beta, factor)
        w_bar = floor_by_factor(width / beta, factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    return h_bar, w_bar


def transformers_smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = 56 * 56,
                              max_pixels: int = 14 * 14 * 4 * 1280, max_ratio: float = 200) -> tuple[int, int]:
    """transformers 5.23's ``smart_resize`` (Qwen2-VL image AND video processors, one copy).

    Differs from qwen-vl-utils twice: the first rounding has no floor of one factor (a side
    under factor / 2 rounds to 0, so the area is "too small" and the ceil branch runs), and
    the max_pixels branch keeps each side at least one factor. Defaults are the reference's
    (56*56 .. 28*28*1280); the processors pass ``size.shortest_edge`` / ``size.longest_edge``.
    ``transformers_smart_resize(10, 500, min_pixels=3136, max_pixels=12845056) -> (28, 420)``
    (15 tokens); ``transformers_smart_resize(205, 3314, max_pixels=16 * 784) -> (28, 448)``.
    Raises ValueError for an aspect ratio over 200, as the reference does.

    >>> transformers_smart_resize(10, 500, min_pixels=3136, max_pixels=12845056)
    (28, 420)
    >>> transformers_smart_resize(205, 3314, max_pixels=16 * 784)
    (28, 448)
    """
    _check_ratio(height, width, max_ratio)
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


# qwen-vl-utils' rule under its own name: ``smart_resize(1092, 1568, max_pixels=1_000_000) -> (812, 1176)``
smart_resize = qwen_vl_utils_smart_resize


def video_resize(height: int, width: int, *, min_pixels: int, max_pixels: int, factor: int = 28,
                 num_frames: int | None = None, cap_pixels_per_frame: bool = False,
                 max_video_tokens: int = 128000, temporal_factor: int = 2) -> tuple[int, int]:
    """The frame size transformers' Qwen2-VL video processor resizes to.

    ``size={"shortest_edge": min_pixels, "longest_edge": max_pixels}``; with
    ``cap_pixels_per_frame`` the per-frame limit also shrinks with the frame count as in
    qwen-vl-utils. ``video_resize(360, 640, min_pixels=64*28*28, max_pixels=128*28*28)
    -> (224, 420)`` (grid 16 x 30, the LongVALE notebook's dynamic-size case).

    >>> video_resize(360, 640, min_pixels=64*28*28, max_pixels=128*28*28)
    (224, 420)
    """
    if cap_pixels_per_frame:
        if num_frames is None:
            raise ValueError("cap_pixels_per_frame needs num_frames")
        total = int(max_video_tokens * factor * factor * 0.9)
        max_pixels = max(min(max_pixels, total * temporal_factor // num_frames), int(min_pixels * 1.05))
    return transformers_smart_resize(height, width, factor, min_pixels, max_pixels)


def smart_nframes(total_frames, video_fps, *, nframes: int | None = None, fps: float | None = None,
                  min_frames: int = 4, max_frames: int | None = None, frame_factor: int = 2,
                  default_fps: float = DEFAULT_FPS, fps_max_frames: int = 768, check: bool = True):
    """How many frames qwen-vl-utils samples (its ``smart_nframes``).

    With ``nframes``: rounded to the frame factor. Otherwise ``fps`` (default 2.0) frames
    per second, clamped to [min_frames, max_frames] (ceil / floor to the factor),
    to total_frames, then floored to the factor.
    ``smart_nframes(300, 30) -> 20``; ``smart_nframes(300, 30, nframes=15) -> 16``.
    Raises ValueError outside [frame_factor, total_frames], as the reference does
    (``check=False``: returns the count anyway, for the caller to report).

    ``total_frames`` and ``video_fps`` may be arrays (one video each): the counts come back as an
    int64 array, by the same float operations; ``max_frames`` None then caps each at its own
    ``min(fps_max_frames, total_frames)``.

    >>> smart_nframes(300, 30)
    20
    >>> smart_nframes(300, 30, nframes=15)
    16
    >>> smart_nframes(np.array([300, 6422]), np.array([30.0, 25.0]))
    array([ 20, 512])
    """
    if nframes is not None and fps is not None:
        raise ValueError("pass either nframes or fps, not both")
    array = _array(total_frames) or _array(video_fps)
    if nframes is not None:
        count = round_by_factor(nframes, frame_factor)
        if array:
            count = np.full(np.shape(total_frames), count, dtype=np.int64)
    else:
        rate = default_fps if fps is None else fps
        low = ceil_by_factor(min_frames, frame_factor)
        if max_frames is None:
            high = floor_by_factor(np.minimum(fps_max_frames, total_frames) if array else
                                   min(fps_max_frames, total_frames), frame_factor)
        else:
            high = floor_by_factor(max_frames, frame_factor)
        count = total_frames / video_fps * rate
        if array:
            count = floor_by_factor(np.minimum(np.minimum(np.maximum(count, low), high), total_frames), frame_factor)
        else:
            count = floor_by_factor(min(min(max(count, low), high), total_frames), frame_factor)
    bad = (count < frame_factor) | (count > total_frames)
    if check and np.any(bad):
        first = int(np.flatnonzero(np.atleast_1d(bad))[0])
        total, got = (int(np.broadcast_to(x, np.shape(bad)).flat[first]) for x in (total_frames, count))
        raise ValueError(f"nframes should in interval [{frame_factor}, {total}], but got {got}.")
    return count if array else int(count)


def fps_frame_count(total_frames, native_fps, fps: float, frame_factor: int = 2):
    """How many frames :func:`fps_indices` gives (a number or an int64 array, one per video).

    The frames ``round(k * native_fps / fps) < total_frames``, floored to the frame factor; may be
    below ``frame_factor`` (:func:`fps_indices` raises then).

    >>> fps_frame_count(6422, 25.0, 0.2), len(fps_indices(6422, 25.0, 0.2))
    (52, 52)
    >>> fps_frame_count(np.array([6422, 100]), np.array([25.0, 25.0]), 0.2)
    array([52,  0])
    """
    step = native_fps / fps
    count = np.floor(np.asarray(total_frames) / step).astype(np.int64) + 2  # above #{k: rint(k * step) < total}
    for _ in range(4):
        count = np.where(np.rint((count - 1) * step) >= total_frames, count - 1, count)
    count = count // frame_factor * frame_factor
    return count.astype(np.int64) if _array(total_frames) or _array(native_fps) else int(count)


def fps_indices(total_frames: int, native_fps: float, fps: float, frame_factor: int = 2) -> list[int]:
    """Frames at exactly ``fps`` per second from frame 0: ``round(k * native_fps / fps)`` (half to even)
    while < total_frames, the count floored to the frame factor (the processor's temporal patch).

    Frame k then sits at k / fps seconds (to the nearest native frame), so a grid step is
    exactly ``frame_factor / fps`` s. ``fps_indices(6422, 25.0, 0.2)[:3] -> [0, 125, 250]`` (52 frames).
    Raises ValueError when fewer than frame_factor frames fit.

    >>> fps_indices(6422, 25.0, 0.2)[:3]
    [0, 125, 250]
    """
    step = native_fps / fps
    k = np.arange(math.ceil(total_frames / step) + 2, dtype=np.float64)
    values = np.rint(k * step).astype(np.int64)
    values = values[values < total_frames]
    count = floor_by_factor(len(values), frame_factor)
    if count < frame_factor:
        raise ValueError(f"{fps:g} fps gives {len(values)} frame(s) of {total_frames}, fewer than {frame_factor}")
    return [int(v) for v in values[:count]]


def linspace_round_indices(start: int, end: int, count: int) -> list[int]:
    """qwen-vl-utils' frame choice: ``torch.linspace(start, end, count).round()``.

    Computed in float32 as torch does, then rounded half to even.
    ``linspace_round_indices(0, 299, 5) -> [0, 75, 150, 224, 299]``.

    >>> linspace_round_indices(0, 299, 5)
    [0, 75, 150, 224, 299]
    """
    if count == 1:
        return [int(start)]
    # torch.linspace computes start + i * step in float32, from both ends symmetrically
    start32, end32 = np.float32(start), np.float32(end)
    step = (end32 - start32) / np.float32(count - 1)
    half = count // 2
    i = np.arange(count)
    values = np.where(i < half, start32 + step * i.astype(np.float32),
                      end32 - step * (count - 1 - i).astype(np.float32)).astype(np.float32)
    return [int(v) for v in np.rint(values)]


def grid_thw(num_frames: int, height: int, width: int, *, patch_size: int = 14,
             temporal_patch_size: int = 2) -> tuple[int, int, int]:
    """Pre-merge patch grid of a resized video: (ceil(frames / 2), H / 14, W / 14).

    An odd frame count is padded by repeating the last frame, as the processor does.
    ``grid_thw(50, 224, 224) -> (25, 16, 16)``.

    >>> grid_thw(50, 224, 224)
    (25, 16, 16)
    """
    return (-(-num_frames // temporal_patch_size), height // patch_size, width // patch_size)


def tokens_per_grid(grid_h: int, grid_w: int, merge_size: int = 2) -> int:
    """LLM tokens per temporal grid step: h * w / merge^2. ``tokens_per_grid(16, 16) -> 64``.

    >>> tokens_per_grid(16, 16)
    64
    """
    return (grid_h * grid_w) // (merge_size * merge_size)


def video_tokens(grid: tuple[int, int, int], merge_size: int = 2) -> int:
    """All VIDEO tokens of a grid: t * h * w / merge^2. ``video_tokens((25, 16, 16)) -> 1600``.

    >>> video_tokens((25, 16, 16))
    1600
    """
    t, h, w = grid
    return (t * h * w) // (merge_size * merge_size)


def mel_frames(num_samples, *, hop_length: int = 160, max_frames: int = 30000):
    """Valid mel frames the Whisper feature extractor keeps: ceil(samples / hop), capped.

    One frame is 10 ms at 16 kHz; audio past 300 s is truncated (30000 frames).
    ``mel_frames(4_110_240) -> 25689`` (256.89 s). An int64 array of sample counts gives an array.

    >>> mel_frames(4_110_240)
    25689
    >>> mel_frames(np.array([4_110_240, 10**8]))
    array([25689, 30000])
    """
    if _array(num_samples):
        return np.minimum(-(-num_samples.astype(np.int64) // hop_length), max_frames)
    return min(-(-int(num_samples) // hop_length), max_frames)


def audio_tokens(mel):
    """Audio tokens after the encoder's stride-2 conv and pooling: ((L-1)//2+1-2)//2+1.

    One token covers 40 ms. ``audio_tokens(25689) -> 6422``; ``audio_tokens(30000) -> 7500``.
    An int array of mel frame counts gives an array.

    >>> audio_tokens(25689)
    6422
    >>> audio_tokens(30000)
    7500
    >>> audio_tokens(np.array([25689, 30000]))
    array([6422, 7500])
    """
    return ((mel - 1) // 2 + 1 - 2) // 2 + 1


def second_per_grid(fps: float, temporal_patch_size: int = 2) -> float:
    """Seconds one temporal grid step is assumed to cover: temporal_patch_size / fps."""
    return temporal_patch_size / fps


def chunk_lengths(groups, tokens_per_chunk: int) -> list[int]:
    """Chunk sizes of a non-decreasing sequence of position values, as the Omni processor cuts it.

    ``groups`` is a list of (value, count) runs of equal values. Mirrors transformers'
    ``get_chunked_index``: a token whose value reaches ``current_chunk * tokens_per_chunk``
    closes the chunk and moves the boundary on by ONE chunk only, so a jump over several
    boundaries produces a run of one-token chunks (the LongVALE notebook's "VIDEO x 1" pattern).
    ``chunk_lengths([(0, 64), (25, 64), (50, 64)], 50) -> [128, 64]``.

    >>> chunk_lengths([(0, 64), (25, 64), (50, 64)], 50)
    [128, 64]
    """
    out, start, position, current = [], 0, 0, 1
    for value, count in groups:
        k = 0
        while k < count and value >= current * tokens_per_chunk:
            out.append(position + k - start)
            start = position + k
            current += 1
            k += 1
        position += count
    out.append(position - start)
    return out


def audio_chunk_lengths(total: int, tokens_per_chunk: int) -> list[int]:
    """:func:`chunk_lengths` over the values 0, 1, ..., total-1 (audio tokens), in O(chunks).

    >>> audio_chunk_lengths(120, 50)
    [50, 50, 20]
    >>> audio_chunk_lengths(0, 50)
    []
    """
    if total <= 0:
        return []
    out, start, current, i = [], 0, 1, 0
    while True:
        trigger = max(i, current * tokens_per_chunk)
        if trigger >= total:
            break
        out.append(trigger - start)
        start, current, i = trigger, current + 1, trigger + 1
    out.append(total - start)
    return out


def interleave_runs(grid: tuple[int, int, int], seconds_per_grid: float, num_audio_tokens: int, *,
                    seconds_per_chunk: float = 2.0, position_id_per_seconds: float = 25,
                    merge_size: int = 2) -> list[tuple[str, int]]:
    """VIDEO/AUDIO runs of one video with its own audio, as the Omni processor lays them out.

    Video token of grid step t sits at position t * seconds_per_grid * position_id_per_seconds,
    audio token i at i; both are cut into chunks of int(position_id_per_seconds *
    seconds_per_chunk) position ids and emitted chunk by chunk (video first). Zero-length
    chunks are dropped and adjacent runs of one kind merged, as they appear in input_ids.
    ``interleave_runs((25, 16, 16), 1.0, 6422)`` ->
    12 x [("VIDEO", 128), ("AUDIO", 50)] + [("VIDEO", 64), ("AUDIO", 5822)].
    """
    t, h, w = grid
    per_grid = (h // merge_size) * (w // merge_size)
    tokens_per_chunk = int(position_id_per_seconds * seconds_per_chunk)
    groups = [(float(step) * seconds_per_grid * position_id_per_seconds, per_grid) for step in range(t)]
    video = chunk_lengths(groups, tokens_per_chunk)
    audio = audio_chunk_lengths(num_audio_tokens, tokens_per_chunk)
    return merge_runs(interleave(video, audio))


def chunk_pairs(video: list, audio: list) -> list[tuple[object | None, object | None]]:
    """Chunk j's video item and audio item, for every j (None where one side has run out).

    >>> chunk_pairs([3, 3], [5])
    [(3, 5), (3, None)]
    """
    count = max(len(video), len(audio))
    return [(video[j] if j < len(video) else None, audio[j] if j < len(audio) else None) for j in range(count)]


def interleave(video: list, audio: list) -> list[tuple[str, object]]:
    """The Omni processor's emission order: chunk by chunk, the chunk's VIDEO item then its AUDIO item.

    >>> interleave([128, 64], [50, 50, 7])
    [('VIDEO', 128), ('AUDIO', 50), ('VIDEO', 64), ('AUDIO', 50), ('AUDIO', 7)]
    """
    out: list[tuple[str, object]] = []
    for v, a in chunk_pairs(video, audio):
        if v is not None:
            out.append(("VIDEO", v))
        if a is not None:
            out.append(("AUDIO", a))
    return out


def merge_runs(runs) -> list[tuple[str, int]]:
    """Drop empty runs and merge adjacent runs of one kind.

    ``merge_runs([("AUDIO", 50), ("AUDIO", 0), ("AUDIO", 7), ("VIDEO", 3)]) -> [("AUDIO", 57), ("VIDEO", 3)]``

    >>> merge_runs([("AUDIO", 50), ("AUDIO", 0), ("AUDIO", 7), ("VIDEO", 3)])
    [('AUDIO', 57), ('VIDEO', 3)]
    """
    merged: list[tuple[str, int]] = []
    for kind, count in runs:
        if count <= 0:
            continue
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + count)
        else:
            merged.append((kind, count))
    return merged


def shortest_decimal(x: float, same) -> float:
    """The number with the fewest significant digits near ``x`` (``x`` rounded down, to nearest or up, 1 to 16
    digits) for which ``same(value)`` holds; ``x`` itself when none does. Fix lines print the fps a processor
    needs this way (``same``: the processor reads it as it reads ``x``), not ``0.6666666666666666``.

    >>> shortest_decimal(2 / 3, lambda v: abs(v - 2 / 3) < 1e-3), shortest_decimal(0.19078025229715, lambda v: False)
    (0.666, 0.19078025229715)
    """
    for digits in range(1, 17):
        scale = 10.0 ** (digits - 1 - math.floor(math.log10(abs(x))))
        for value in sorted({float(f"{v / scale:.{digits}g}") for v in (math.floor(x * scale), round(x * scale),
                                                                         math.ceil(x * scale))}):
            if same(value):
                return value
    return x
