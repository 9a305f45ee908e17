"""The settings that line a sample's VIDEO/AUDIO chunks up with real time: a checked search.

Why a search: the Omni processor files grid step ``t`` under the chunk its *claimed* time
``t * 2 / processor_fps`` falls in, while chunk ``j``'s audio really starts at
``j * seconds_per_chunk``. A chunk's drift (its first frame's real time minus its audio's start)
stays small only when the real frame times, the claimed grid and the whole-second chunk fit
together, and no single setting does that for every video: qwen-vl-utils spreads N frames
from the first to the last frame (spacing ``(T - 1) / (N - 1)`` frames, not ``duration / N``),
and ``seconds_per_chunk`` is an int in the model's config.

:func:`search_fix` tries, jointly, every frame count within ``frame_slack`` (10 %) of the one
asked for, both sampling rules (``qwen-vl-utils``: linspace over first..last; ``fps``: exactly
F frames per second from frame 0) with the processor fps that matches the real frame spacing
or the chunk, and every whole-second chunk up to ``max_chunk``; it plans each candidate
(:func:`~omni_bench.layout.plan.media_plan`) and measures its drift with the same chunk rule
as :func:`~omni_bench.layout.alignment.alignment`, so the fix is checked, not assumed. It keeps
the candidates whose every chunk's video starts within ``tolerance`` (2 s) of its audio and
holds whole grid steps (no one-token chunks), and returns the one with the shortest chunk
(the model was trained on 2 s chunks), then the frame count nearest the request, then the
smallest drift. For the LongVALE notebook's 256.89 s sample (640x360, 25 fps, 50 frames asked
for): ``--sampling fps --fps 0.2 --processor-fps 0.2 --seconds-per-chunk 10``, 52 frames, drift 0 s.

Not covered: several videos in one sample, checkpoints whose profile is not built in.
"""

from __future__ import annotations

import functools
import math

from omni_bench.core import arith
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.media import VideoInfo
from omni_bench.core.profiles import PROFILES, get_profile
from omni_bench.families import family_of
from omni_bench.families.base import DRIFT_TOLERANCE, drift_summary, tolerance_words
from omni_bench.families.qwen2_5_alignment import Fix, _chunks, _timing, checked_recommendation, fix_changes
from omni_bench.layout.plan import MediaPlan, media_plan
from omni_bench.layout.settings import LayoutSettings

__all__ = ["DRIFT_TOLERANCE", "Fix", "search_fix", "fix_for", "checked_recommendation", "fix_changes",
           "tolerance_words", "drift_summary"]


def _measure(plan) -> tuple[float, bool]:
    # (max |drift|, every video chunk holds whole grid steps), with alignment's own chunk rows
    tm = _timing(plan)
    per_grid = (tm.grid[1] // tm.merge_size) * (tm.grid[2] // tm.merge_size)
    rows = _chunks(tm)
    drifts = [abs(c.drift) for c in rows if c.drift is not None]
    whole = all(c.video_tokens % per_grid == 0 for c in rows)
    return (max(drifts) if drifts else 0.0), whole


def _frame_counts(info, requested: int, frame_slack: float, factor: int) -> list[int]:
    # counts within frame_slack of the request, multiples of the temporal patch, nearest first
    low = max(factor, math.ceil(requested * (1 - frame_slack)))
    high = math.floor(requested * (1 + frame_slack))
    counts = [n for n in range(low, high + 1) if n % factor == 0 and n <= info.total_frames]
    return sorted(counts, key=lambda n: (abs(n - requested), n))


def _candidates(info, counts: list[int], spc: int | None, factor: int):
    # (sampling, frames, fps or None, processor_fps) for one chunk length
    for n in counts:  # qwen-vl-utils' linspace: the real grid is factor x the frames' spacing
        idx = arith.linspace_round_indices(0, info.total_frames - 1, n)
        grid = factor * (idx[-1] - idx[0]) / (n - 1) / info.native_fps
        if spc is not None and grid > spc + 1e-9:
            continue  # a grid step longer than the chunk: one-token chunks
        rates = {factor / grid, n / info.duration}
        if spc is not None:  # a claimed grid of spc / k s puts k steps in each chunk
            rates.add(factor * max(1, round(spc / grid)) / spc * (1 - 1e-9))  # a hair slow: just past boundaries
        for rate in sorted(rates):
            yield ("qwen-vl-utils", n, None, rate)
    low, high = min(counts), max(counts)
    rates = {n / info.duration for n in counts}
    if spc is not None:  # exact fps: the real grid is factor / F; F = factor * k / spc fills chunks evenly
        first = max(1, math.floor(spc * (low - 2) / (factor * info.duration)))
        last = math.ceil(spc * (high + 2) / (factor * info.duration))
        rates |= {factor * k / spc for k in range(first, last + 1)}
    for rate in sorted(rates):
        try:
            n = len(arith.fps_indices(info.total_frames, info.native_fps, rate, factor))
        except ValueError:
            continue
        if low <= n <= high:
            yield ("fps", n, rate, rate)


def search_fix(info, settings, *, profile, requested: int, tolerance: float = DRIFT_TOLERANCE,
               frame_slack: float = 0.10, max_chunk: int = 30) -> Fix | None:
    """The best checked setting for one video (see the module docstring), or None if none fits.

    ``info``: the video's VideoInfo; ``settings``: the LayoutSettings it was planned with (its
    size, audio and chunking apply; its chunk is the one to stay near); ``requested``: the frame
    count to stay near. Chunks are tried nearest the current one first; the first chunk length
    with a fitting candidate wins, and among its candidates the frame count nearest the
    request, then the smallest drift, then exact-fps sampling.
    """
    factor = profile.temporal_patch_size
    interleaved = bool(settings.use_audio and family_of(profile).has_audio and info.has_audio)
    counts = _frame_counts(info, requested, frame_slack, factor)
    if not counts:
        return None
    current = settings.seconds_per_chunk or profile.seconds_per_chunk
    chunks = sorted(range(1, max_chunk + 1), key=lambda c: (abs(c - current), c)) if interleaved else [None]
    tried = 0
    for spc in chunks:
        best = None
        for sampling, n, rate, pfps in _candidates(info, counts, spc, factor):
            tried += 1
            trial = settings.replace(sampling=sampling, frames=None if sampling == "fps" else n, fps=rate,
                                     processor_fps=pfps, seconds_per_chunk=float(spc) if spc else None)
            try:
                drift, whole = _measure(media_plan(info, trial, profile=profile))
            except (OmniBenchError, ValueError):
                continue
            key = (abs(n - requested), round(drift, 9), sampling != "fps")
            if drift <= tolerance and whole and (best is None or key < best[0]):
                best = (key, (sampling, n, rate, pfps, spc, drift))
        if best is not None:
            sampling, n, rate, pfps, spc, drift = best[1]
            trial = settings.replace(sampling=sampling, frames=None if sampling == "fps" else n,
                                     seconds_per_chunk=float(spc) if spc else None)
            short = _shortest(info, trial, profile, rate, pfps)
            again, whole = _measure(media_plan(info, trial.replace(fps=short[0], processor_fps=short[1]),
                                               profile=profile))
            if again <= tolerance and whole:  # the drift as the shortened flags give it
                (rate, pfps), drift = short, again
            return Fix(sampling, n, rate, pfps, spc, drift, tried)
    return None


def _processor_view(plan) -> tuple:
    """What the processor makes of a plan's fps: the frames, the runs, each grid step's temporal id."""
    ids = (plan.position_id_per_seconds or 25.0) * plan.second_per_grid
    return plan.frame_indices, plan.vision_runs, tuple(int(t * ids) for t in range(plan.grid[0]))


def _shortest(info, trial, profile, rate: float | None, pfps: float) -> tuple[float | None, float]:
    """The (sampling fps, processor fps) with the fewest digits whose plan the processor reads the same way
    (:func:`_processor_view`): a fix line says ``--fps 0.6666667 --processor-fps 0.6666666`` where the
    processor needs no more, not ``0.6666666666666666`` twice. Each number is shortened on its own: the
    sampling rate may round up (the same frames) where the processor fps must round down (the same ids)."""
    def view(r, p):
        try:
            return _processor_view(media_plan(info, trial.replace(fps=r, processor_fps=p), profile=profile))
        except (OmniBenchError, ValueError):
            return None

    reference = view(rate, pfps)
    pfps = arith.shortest_decimal(pfps, lambda p: view(rate, p) == reference)
    if rate is not None:
        rate = arith.shortest_decimal(rate, lambda r: view(r, pfps) == reference)
    return rate, pfps


def fix_for(source, tolerance: float = DRIFT_TOLERANCE) -> Fix | None:
    """:func:`search_fix` for a MediaPlan or TokenLayout's first video (None: no built-in profile, no video)."""
    if isinstance(source, MediaPlan):
        info, profile, hw, use_audio = source.info, source.profile, source.resized_hw, source.use_audio
        pips, requested = source.position_id_per_seconds, source.frames
    else:
        s = source.stats
        profile = PROFILES.get(str(source.profile).lower())
        if profile is None or not s.video_grid_thw or not s.native_fps or not s.duration or not s.resized_hw:
            return None
        hw, use_audio, pips = s.resized_hw, bool(s.use_audio_in_video), s.position_id_per_seconds
        requested = s.sampled_frames or s.video_grid_thw[0][0] * profile.temporal_patch_size
        audio = getattr(s, "audio_track_seconds", None) or s.audio_seconds  # before the 300 s cap, if known
        info = VideoInfo(str(source.media or "-"), float(s.native_fps), int(round(s.duration * s.native_fps)),
                         float(s.duration), hw[1], hw[0], use_audio, audio if use_audio else None)
    return _cached_fix(info, profile.name, tuple(hw), use_audio, pips, requested, tolerance)


@functools.lru_cache(maxsize=256)
def _cached_fix(info, profile_name: str, hw, use_audio: bool, pips, requested: int, tolerance: float):
    settings = LayoutSettings(profile=profile_name, resize=hw, use_audio=use_audio, position_id_per_seconds=pips)
    return search_fix(info, settings, profile=get_profile(profile_name), requested=requested, tolerance=tolerance)
