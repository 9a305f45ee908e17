"""The clip beside its tokens: the sampled frames under their grid steps and the audio under
the AUDIO tokens, on the token strip's own axis (token positions), with chunk boundaries.

* :class:`MediaCache` - decodes a layout's media once: only the sampled frames
  (:func:`omni_bench.read_frames` on ``stats.frame_indices``, kept as small thumbnails) and
  the audio track (:func:`omni_bench.read_audio`, at the profile's sampling rate), keyed by
  file and frame indices so a re-plan that keeps the frames decodes nothing;
* :func:`selection_media` / :func:`render_media_text` - what a selection covers, as data and
  as one line: its real seconds, the sampled frames of its grid steps, the audio of its
  AUDIO tokens;
* :func:`draw_frames` / :func:`draw_audio` / :func:`draw_chunk_bounds` - the rows of
  :func:`omni_bench_widgets.draw_layout`.

A grid step ``t`` holds the sampled frames ``t * p ... t * p + p - 1`` (``p`` = frames per
step, the temporal patch, 2); its thumbnail is its first frame. Audio token ``i`` covers
``[0.04 i, 0.04 (i + 1))`` s of the track. Not covered: a second video in one sample (only
the first vision span gets media), images. The log-mel row (the processor's ``input_features``)
is :mod:`.log_mel`; ``MediaCache.log_mel`` computes it once per clip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

import omni_bench

from .layout_text import frames_per_step
from .log_mel import audio_runs, bare_axes, processor_log_mel

__all__ = ["Media", "MediaCache", "selection_media", "render_media_text", "draw_frames", "draw_audio",
           "draw_chunk_bounds", "audio_runs", "bare_axes", "THUMB_HEIGHT"]

THUMB_HEIGHT = 72  # pixels of a thumbnail's height (frames are subsampled by an integer stride)
_MAX_THUMBS = 48  # thumbnails drawn in one row at most (evenly picked from the selection's steps)


@dataclass(frozen=True)
class Media:
    """The decoded media of one layout: thumbnails of the sampled frames and the audio track."""

    path: str  # the clip
    frame_indices: tuple[int, ...]  # video frame numbers that were sampled (stats.frame_indices)
    frame_times: tuple[float, ...]  # their timestamps, seconds
    thumbs: np.ndarray  # [frames, h, w, 3] uint8, each frame subsampled to about THUMB_HEIGHT rows
    audio: np.ndarray | None  # [samples] float32 mono track (None: no audio in the layout)
    sampling_rate: int  # of ``audio``, Hz


def _thumbnails(frames: np.ndarray) -> np.ndarray:
    stride = max(1, frames.shape[1] // THUMB_HEIGHT)
    return np.ascontiguousarray(frames[:, ::stride, ::stride])


class MediaCache:
    """Decodes a layout's media once and keeps it: frames per (file, indices), audio per file.

    ``cache.decodes`` counts the decoder calls (``{"frames": n, "audio": m}``), so tests can check
    that redrawing or re-selecting decodes nothing.
    """

    def __init__(self):
        self._frames: dict = {}
        self._audio: dict = {}
        self.decodes = {"frames": 0, "audio": 0}
        self._log_mel: dict = {}
        self.log_mels = 0  # feature-extractor runs (one per clip and profile)

    def media(self, layout, path=None) -> Media | None:
        """The :class:`Media` of ``layout`` (its ``media`` file, or ``path``); None without a file or frames."""
        path = os.fspath(path) if path is not None else layout.media
        s = layout.stats
        if not path or not s.frame_indices or not os.path.exists(path):
            return None
        key = (path, tuple(s.frame_indices))
        if key not in self._frames:
            self._frames[key] = _thumbnails(omni_bench.read_frames(path, list(s.frame_indices)))
            self.decodes["frames"] += 1
        audio, rate = None, _sampling_rate(layout)
        if s.audio_tokens:
            if (path, rate) not in self._audio:
                self._audio[(path, rate)] = omni_bench.read_audio(path, sampling_rate=rate)
                self.decodes["audio"] += 1
            audio = self._audio[(path, rate)]
        return Media(path, tuple(s.frame_indices), tuple(s.frame_times), self._frames[key], audio, rate)


    def log_mel(self, layout, media: Media | None) -> np.ndarray | None:
        """``[mel_bins, frames]``: the processor's log-mel of ``media.audio`` (:func:`.log_mel.processor_log_mel`),
        computed once per (clip, profile); None without decoded audio or a profile's processor."""
        if media is None or media.audio is None:
            return None
        key = (media.path, layout.profile)
        if key not in self._log_mel:
            try:
                processor = omni_bench.load_processor(layout.profile)
            except (omni_bench.OmniBenchError, OSError, ValueError):
                return None
            self._log_mel[key] = processor_log_mel(processor, media.audio, media.sampling_rate)
            self.log_mels += 1
        return self._log_mel[key]


def _sampling_rate(layout) -> int:
    try:
        return omni_bench.get_profile(layout.profile).sampling_rate
    except (omni_bench.OmniBenchError, AttributeError):
        return 16000


# ---------------------------------------------------------------------------- a selection's media


def selection_media(layout, clock, media: Media | None, start: int, stop: int) -> dict:
    """What ``[start, stop)`` covers in real time.

    Keys: ``seconds`` (``(lo, hi)`` over its media tokens, None without any), ``steps`` (grid
    steps with VIDEO tokens in it), ``frames`` (positions in the sampled frames of those
    steps), ``frame_times``, ``audio_span`` (seconds of its AUDIO tokens, None without any) and
    ``audio`` (those samples, None without decoded media).
    """
    out = dict(seconds=None, steps=[], frames=[], frame_times=[], audio_span=None, audio=None)
    if clock is None or clock.times is None:
        return out
    times = clock.times[start:stop]
    if not np.isnan(times).all():
        out["seconds"] = (float(np.nanmin(times[:, 0])), float(np.nanmax(times[:, 1])))
    if clock.step is not None:
        steps = np.unique(clock.step[start:stop])
        out["steps"] = [int(t) for t in steps if t >= 0]
    p = frames_per_step(layout.stats)
    total = len(layout.stats.frame_indices)
    out["frames"] = [f for t in out["steps"] for f in range(t * p, t * p + p) if f < total]
    out["frame_times"] = [float(layout.stats.frame_times[f]) for f in out["frames"]
                          if f < len(layout.stats.frame_times)]
    audio = layout.kinds[start:stop] == 3
    if audio.any():
        lo, hi = float(times[audio, 0].min()), float(times[audio, 1].max())
        out["audio_span"] = (lo, hi)
        if media is not None and media.audio is not None:
            rate = media.sampling_rate
            out["audio"] = media.audio[int(round(lo * rate)):int(round(hi * rate))]
    return out


def render_media_text(picked: dict, sampling_rate: int = 16000) -> str:
    """One line: ``"real time 0.00-2.00 s · frames 0-3 at 0.00-1.62 s · audio 0.00-2.00 s (32,000 samples)"``."""
    parts = ["real time " + (f"{picked['seconds'][0]:.2f}-{picked['seconds'][1]:.2f} s" if picked["seconds"]
                             else "- (no media tokens)")]
    frames = picked["frames"]
    if frames:
        which = f"{frames[0]}" if len(frames) == 1 else f"{frames[0]}-{frames[-1]}"
        when = (f" at {picked['frame_times'][0]:.2f}-{picked['frame_times'][-1]:.2f} s"
                if picked["frame_times"] else "")
        parts.append(f"frames {which} of the sampled ({len(frames)}){when}")
    if picked["audio_span"] is not None:
        lo, hi = picked["audio_span"]
        samples = len(picked["audio"]) if picked["audio"] is not None else round((hi - lo) * sampling_rate)
        parts.append(f"audio {lo:.2f}-{hi:.2f} s ({samples:,} samples at {sampling_rate / 1000:g} kHz)")
    return " · ".join(parts)


# ---------------------------------------------------------------------------- drawing


def _step_extents(clock, start: int, stop: int) -> list[tuple[int, int, int]]:
    """(step, first position, one past last) of each grid step's VIDEO run inside the selection."""
    if clock is None or clock.step is None:
        return []
    step = clock.step[start:stop]
    out = []
    i = 0
    while i < step.size:
        if step[i] < 0:
            i += 1
            continue
        j = i
        while j < step.size and step[j] == step[i]:
            j += 1
        out.append((int(step[i]), start + i, start + j))
        i = j
    return out


def draw_frames(ax, layout, clock, media: Media, start: int, stop: int) -> int:
    """Each grid step's first sampled frame over its VIDEO tokens; returns how many thumbnails were drawn."""
    extents = _step_extents(clock, start, stop)
    if len(extents) > _MAX_THUMBS:
        keep = np.unique(np.linspace(0, len(extents) - 1, _MAX_THUMBS).round().astype(int))
        extents = [extents[k] for k in keep]
    p = frames_per_step(layout.stats)
    for t, x0, x1 in extents:
        f = min(t * p, len(media.thumbs) - 1)
        ax.imshow(media.thumbs[f], extent=(x0, x1, 0, 1), aspect="auto", interpolation="bilinear",
                  label=f"frame {f}")
        if len(extents) <= 16 and f < len(media.frame_times):
            ax.text((x0 + x1) / 2, -0.04, f"{media.frame_times[f]:.2f} s", ha="center", va="top", fontsize=6)
    ax.set_xlim(start, stop)
    ax.set_ylim(-0.3 if len(extents) <= 16 else 0, 1)
    ax.set_yticks([0.5], ["frames"])
    ax.tick_params(axis="y", length=0)
    bare_axes(ax)
    return len(extents)


def draw_audio(ax, layout, clock, media: Media, start: int, stop: int) -> int:
    """The waveform's min/max envelope of each AUDIO run's seconds over its tokens; returns the runs drawn."""
    runs = audio_runs(layout, start, stop)
    peak = float(np.abs(media.audio).max()) if media.audio is not None and media.audio.size else 0.0
    rate = media.sampling_rate
    for a, b in runs:
        lo, hi = clock.times[a, 0], clock.times[b - 1, 1]
        samples = media.audio[int(round(lo * rate)):int(round(hi * rate))] if media.audio is not None else []
        if len(samples) == 0 or peak == 0:
            continue
        bins = max(1, min(b - a, 400))
        parts = np.array_split(samples, bins)
        x = np.linspace(a, b, bins)
        ax.fill_between(x, [q.min() / peak for q in parts], [q.max() / peak for q in parts], color="#59a14f",
                        linewidth=0, label="audio waveform")
    ax.set_xlim(start, stop)
    ax.set_ylim(-1.05, 1.05)
    ax.set_yticks([0], ["audio"])
    ax.tick_params(axis="y", length=0)
    bare_axes(ax)
    return len(runs)


def draw_chunk_bounds(axes, clock, start: int, stop: int) -> list[int]:
    """Dashed lines where one interleave chunk ends and the next begins; returns their positions."""
    if clock is None or clock.chunk is None:
        return []
    chunk = clock.chunk[start:stop]
    media = np.flatnonzero(chunk >= 0)
    if media.size < 2:
        return []
    change = media[1:][chunk[media[1:]] != chunk[media[:-1]]]
    bounds = [start + int(i) for i in change]
    for ax in axes:
        ax.vlines(bounds, 0, 1, transform=ax.get_xaxis_transform(), colors="#333333", linestyles="dashed",
                  linewidth=0.6, label="chunk boundary")
    return bounds
