"""``plan``: predict the :class:`TokenLayout` of a sample from media metadata, decoding nothing.

Given what a container says about a video (duration, size, native fps, whether it has
audio - a :class:`~omni_bench.core.media.VideoInfo` or a plain dict) and the same
:class:`~omni_bench.layout.settings.LayoutSettings` as ``inspect``, :func:`plan` reproduces the
processor step by step with :mod:`omni_bench.layout.arith`:

1. frames: qwen-vl-utils' ``smart_nframes`` and ``linspace(...).round()`` indices;
2. size: the explicit ``resize`` rounded to multiples of 28 (what ``inspect`` feeds the
   processor), or the video processor's dynamic resize within [min_pixels, max_pixels];
3. grid ``(ceil(frames / 2), H / 14, W / 14)``; audio: ``round(audio_seconds * 16000)``
   samples -> mel frames (capped at 30000, or ``audio_max_seconds`` x 100) -> audio tokens;
4. the media placeholder expansion: ``<|audio_bos|>`` + the chunk-by-chunk VIDEO/AUDIO
   interleave + ``<|audio_eos|>`` for an Omni video with its own audio, one VIDEO run
   otherwise;
5. the chat text exactly as ``inspect`` renders it, tokenized by the real tokenizer, with
   the placeholder token replaced by the expansion; labels and segments via
   :func:`~omni_bench.layout.token_layout.build_layout`.

The result equals ``inspect``'s layout field by field (``tests/test_planner_equality.py``
runs both over a matrix of 216 settings). :func:`media_plan` stops before
tokenization; it is the per-sample arithmetic :mod:`omni_bench.layout.budget` runs on whole
datasets.

The metadata of a probed file is exact (frames counted from the packets, audio samples as
the decoder and resampler produce them, see :mod:`omni_bench.core.packets`); where a codec
does not allow it, ``audio_tokens_uncertainty`` and a note say "±N". Not covered: several
videos per sample, images, standalone audio, and metadata typed in by hand (its
``audio_seconds`` defaults to the duration, which encoder delay and padding make inexact).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from omni_bench.core import arith
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.light import load_planner
from omni_bench.core.media import VideoInfo
from omni_bench.core.problems import no_audio_error
from omni_bench.core.processor import resolve_profile
from omni_bench.core.profiles import Profile
from omni_bench.core.tokens import token_ids
from omni_bench.families import family_of
from omni_bench.families.base import Family
from omni_bench.layout.frames import explicit_size, frame_count, sample_indices
from omni_bench.layout.labels import IGNORE_INDEX, assistant_labels
from omni_bench.layout.processor_call import conversation
from omni_bench.layout.settings import LayoutSettings, ResolvedSettings
from omni_bench.layout.token_layout import LayoutStats, TokenLayout, build_layout, with_audio_track

__all__ = ["plan", "media_plan", "media_info", "MediaPlan", "resized_size", "template_ids", "META_FIELDS"]

# Keys of a metadata dict (the fields of VideoInfo); anything else passed to plan() is a setting.
META_FIELDS = ("path", "duration", "width", "height", "native_fps", "has_audio", "total_frames",
               "audio_seconds", "audio_uncertainty")
_NO_PATH = "<metadata>"


@dataclass(frozen=True)
class MediaPlan:
    """What the processor will make of one video, before any text is tokenized.

    >>> p = media_plan(dict(duration=256.89, width=640, height=360, native_fps=25),
    ...                LayoutSettings(frames=50, resize=(224, 224), processor_fps=2))
    >>> p.grid, p.video_tokens, p.audio_tokens, p.vision_runs[-2:]
    ((25, 16, 16), 1600, 6422, (('VIDEO', 64), ('AUDIO', 5822)))
    """

    info: VideoInfo  # the metadata, completed (total_frames, audio_seconds)
    profile: Profile  # whose patching and audio front-end apply
    frames: int  # frames sampled
    frame_indices: tuple[int, ...]  # which ones (empty when not asked for)
    sampled_fps: float  # frames / duration
    processor_fps: float  # fps handed to the processor (settings.processor_fps or sampled_fps)
    resized_hw: tuple[int, int]  # (h, w) pixels of the frames the ViT sees
    grid: tuple[int, int, int]  # video_grid_thw (pre-merge)
    use_audio: bool  # the video's audio is interleaved (Omni)
    audio_samples: int  # 16 kHz samples of the track (0 without audio)
    mel_frames: int  # valid mel frames (10 ms each, at most 30000)
    seconds_per_chunk: float | None  # Omni interleave chunk (None for VL)
    position_id_per_seconds: float | None  # Omni temporal ids per second (None for VL)
    audio_uncertainty: int = 0  # +- 16 kHz samples audio_samples may be off (0: exact)

    @property
    def audio_tokens_uncertainty(self) -> int:
        """How far the audio tokens can be off: the largest change over audio_samples +- audio_uncertainty."""
        if not self.use_audio or not self.audio_uncertainty:
            return 0
        p, family = self.profile, family_of(self.profile)
        ends = (max(1, self.audio_samples - self.audio_uncertainty), self.audio_samples + self.audio_uncertainty)
        return max(abs(family.audio_tokens(family.mel_frames(n, p), p) - self.audio_tokens) for n in ends)

    @property
    def second_per_grid(self) -> float:
        """Seconds per temporal grid step the processor assumes: 2 / processor_fps."""
        return arith.second_per_grid(self.processor_fps, self.profile.temporal_patch_size)

    @property
    def video_tokens(self) -> int:
        return arith.video_tokens(self.grid, self.profile.merge_size)

    @property
    def audio_tokens(self) -> int:
        return family_of(self.profile).audio_tokens(self.mel_frames, self.profile) if self.use_audio else 0

    @property
    def vision_runs(self) -> tuple[tuple[str, int], ...]:
        """The VIDEO/AUDIO runs inside the vision span, as they appear in input_ids."""
        return family_of(self.profile).vision_runs(self)

    @property
    def span_tokens(self) -> int:
        """Tokens the placeholder expands to: media tokens plus <|audio_bos|>/<|audio_eos|> (the family's rule)."""
        return family_of(self.profile).span_tokens(self)


def media_info(meta: VideoInfo | Mapping | None = None, **fields) -> VideoInfo:
    """A complete :class:`VideoInfo` from a VideoInfo, a dict or keywords.

    ``total_frames`` defaults to ``round(duration * native_fps)``, ``audio_seconds`` to the
    duration when there is audio; ``has_audio`` defaults to True.
    ``media_info(duration=10, width=320, height=180, native_fps=29.97).total_frames -> 300``

    >>> media_info(duration=10, width=320, height=180, native_fps=29.97).total_frames
    300
    """
    if isinstance(meta, VideoInfo):
        data = dict(meta.to_dict(), **fields)
    else:
        data = dict(meta or {}, **fields)
    unknown = sorted(set(data) - set(META_FIELDS))
    if unknown:
        raise OmniBenchError(f"unknown media field(s) {', '.join(unknown)}; expected {', '.join(META_FIELDS)}",
                             reason="bad-metadata")
    path = str(data.get("path") or _NO_PATH)
    missing = [k for k in ("duration", "width", "height", "native_fps") if data.get(k) is None]
    if missing:
        raise OmniBenchError(f"{path}: metadata lacks {', '.join(missing)} (pass --{missing[0].replace('_', '-')})",
                             source=path, reason="bad-metadata")
    try:  # nan, inf or a string is one line, not ValueError / OverflowError (issue 24 item 6)
        duration, fps = float(data["duration"]), float(data["native_fps"])
        if not all(math.isfinite(float(data[k])) for k in ("width", "height")):
            raise ValueError("not finite")
        width, height = int(data["width"]), int(data["height"])
    except (TypeError, ValueError, OverflowError):
        raise OmniBenchError(f"{path}: duration, native fps, width and height must be finite numbers, got "
                             + ", ".join(f"{k}={data[k]!r}" for k in ("duration", "native_fps", "width", "height")),
                             source=path, reason="bad-metadata") from None
    if not (math.isfinite(duration) and math.isfinite(fps)) or duration <= 0 or fps <= 0 or width <= 0 or height <= 0:
        raise OmniBenchError(f"{path}: duration, native fps, width and height must be finite and positive, got "
                             f"{duration:g} s, {fps:g} fps, {width}x{height}", source=path, reason="bad-metadata")
    total = data.get("total_frames")
    total = int(round(duration * fps)) if total is None else int(total)
    has_audio = bool(data.get("has_audio", True))
    audio_seconds = data.get("audio_seconds")
    audio_seconds = (duration if audio_seconds is None else float(audio_seconds)) if has_audio else None
    if total <= 0:
        raise OmniBenchError(f"{path}: no frames ({duration:g} s at {fps:g} fps)", source=path, reason="bad-metadata")
    uncertainty = int(data.get("audio_uncertainty") or 0) if has_audio else 0
    return VideoInfo(path, fps, total, duration, width, height, has_audio, audio_seconds, uncertainty)


@functools.lru_cache(maxsize=4096)
def _dynamic_size(height: int, width: int, min_pixels: int, max_pixels: int, factor: int) -> tuple[int, int]:
    return arith.video_resize(height, width, min_pixels=min_pixels, max_pixels=max_pixels, factor=factor)


def resized_size(info: VideoInfo, settings: LayoutSettings | ResolvedSettings,
                 profile: Profile | None = None, frames: int | None = None) -> tuple[int, int]:
    """(h, w) in pixels of the frames the processor patches.

    ``--resize HxW``: H and W rounded to multiples of 28; otherwise transformers' dynamic
    resize of the native size within [min_pixels, max_pixels] per frame.
    ``resized_size(info_640x360, LayoutSettings(), omni) -> (364, 644)``.
    Raises OmniBenchError for an aspect ratio above 200.
    """
    r = _resolved(settings, profile)
    try:
        if r.resize is not None:
            return explicit_size(r.resize[0], r.resize[1], r.profile.factor)
        if frames is not None and type(r.family).resized_size is not Family.resized_size:
            return r.family.resized_size(info, r, frames)  # a family whose budget depends on the frames
        return _dynamic_size(info.height, info.width, r.min_pixels, r.max_pixels, r.profile.factor)
    except ValueError as exc:
        raise OmniBenchError(f"{info.path}: cannot resize {info.width}x{info.height} ({exc})", source=info.path,
                             reason="bad-size") from None


def _resolved(settings: LayoutSettings | ResolvedSettings | None, profile: Profile | None) -> ResolvedSettings:
    if isinstance(settings, ResolvedSettings):
        return settings
    return (settings or LayoutSettings()).resolve(profile)


def media_plan(meta: VideoInfo | Mapping, settings: LayoutSettings | ResolvedSettings | None = None, *,
               profile: Profile | None = None, indices: bool = True) -> MediaPlan:
    """The processor's numbers for one video from its metadata (no tokenizer, no decoding).

    ``profile`` defaults to ``settings.profile`` looked up by name (pass it for a
    checkpoint directory). ``indices=False`` skips the frame index list (faster). Raises
    OmniBenchError for metadata that cannot be sampled or resized, and for a video
    without audio when audio is asked for.
    """
    r = _resolved(settings, profile)
    complete = isinstance(meta, VideoInfo) and (meta.audio_seconds is not None or not meta.has_audio)
    info = meta if complete else media_info(meta)
    p = r.profile
    if r.use_audio and not info.has_audio:
        raise no_audio_error(info.path)
    if indices:
        chosen = tuple(sample_indices(info, r, p.temporal_patch_size))
        count = len(chosen)
    else:
        chosen, count = (), frame_count(info, r, p.temporal_patch_size)
    sampled_fps = count / info.duration
    height, width = resized_size(info, r, frames=count)
    grid = arith.grid_thw(count, height, width, patch_size=p.patch_size, temporal_patch_size=p.temporal_patch_size)
    samples = int(round(info.audio_seconds * p.sampling_rate)) if r.use_audio else 0
    if r.use_audio and samples <= 0:
        raise OmniBenchError(f"{info.path}: the audio track is empty", source=info.path, reason="empty-audio")
    mel = r.family.mel_frames(samples, p) if r.use_audio else 0
    chunking = r.family.chunking(r)
    return MediaPlan(
        info=info, profile=p, frames=count, frame_indices=chosen, sampled_fps=sampled_fps,
        processor_fps=float(r.processor_fps or sampled_fps), resized_hw=(height, width), grid=grid,
        use_audio=r.use_audio, audio_samples=samples, mel_frames=mel,
        audio_uncertainty=info.audio_uncertainty if samples else 0,
        seconds_per_chunk=chunking.get("seconds_per_chunk"),
        position_id_per_seconds=chunking.get("position_id_per_seconds"),
    )


@functools.lru_cache(maxsize=256)
def _template_ids(processor, text: str) -> tuple[tuple[int, ...], int]:
    ids = processor.tokenizer(text, verbose=False)["input_ids"]  # a long answer is budgeted, not warned about
    video = token_ids(processor).video
    where = [i for i, t in enumerate(ids) if t == video]
    if len(where) != 1:
        raise ValueError(f"the chat template rendered {len(where)} video placeholders, expected 1")
    return tuple(int(t) for t in ids), where[0]


def template_ids(processor, settings: LayoutSettings) -> tuple[tuple[int, ...], int]:
    """The chat text of a one-video sample tokenized, and the position of its one VIDEO placeholder.

    The text is what ``inspect`` renders (``conversation`` + ``apply_chat_template``);
    the result is cached per text, so many samples with one prompt cost one tokenization.
    """
    text = processor.apply_chat_template(conversation(settings), tokenize=False,
                                         add_generation_prompt=settings.answer is None)
    return _template_ids(processor, text)


def _expansion(mp: MediaPlan, ids, tokenizer) -> list[int]:
    return family_of(mp.profile).expansion(mp, ids, tokenizer)


def plan(meta: VideoInfo | Mapping | None = None, settings: LayoutSettings | None = None, *, processor=None,
         **changes) -> TokenLayout:
    """Predict the :class:`TokenLayout` ``inspect`` would return, from metadata alone.

    ``meta``: a VideoInfo (e.g. from ``probe``), or a dict with ``duration``, ``width``,
    ``height``, ``native_fps``, ``has_audio`` and optional ``total_frames``,
    ``audio_seconds``. Keywords named like those fields complete ``meta``; other keywords
    change ``settings``::

        plan(duration=256.89, width=640, height=360, native_fps=25, frames=50,
             resize=(224, 224), processor_fps=2).vision_runs[:2]
        # -> (("VIDEO", 128), ("AUDIO", 50))

    The layout's ``source`` is "planner"; everything else equals ``inspect``'s.
    """
    meta_changes = {k: changes.pop(k) for k in list(changes) if k in META_FIELDS}
    settings = settings or LayoutSettings()
    if changes:
        settings = settings.replace(**changes)
    info = media_info(meta, **meta_changes)
    processor = processor or _load(settings.profile)
    mp = media_plan(info, settings.resolve(resolve_profile(processor)))
    ids = token_ids(processor)
    template, where = template_ids(processor, settings)
    input_ids = [*template[:where], *_expansion(mp, ids, processor.tokenizer), *template[where + 1:]]
    labels = assistant_labels(input_ids, ids)
    layout = build_layout(input_ids, labels, processor.tokenizer, ids, _stats(mp, input_ids, labels),
                          source="planner", profile=settings.profile,
                          media=None if info.path == _NO_PATH else info.path, notes=_uncertainty_notes(mp))
    return with_audio_track(layout, mp.audio_samples if mp.use_audio else None, mp.profile.sampling_rate,
                            mp.profile.hop_length)


def _uncertainty_notes(mp: MediaPlan) -> list[str]:
    if not mp.audio_tokens_uncertainty:
        return []
    return [f"audio tokens {mp.audio_tokens} ±{mp.audio_tokens_uncertainty}: the audio track's packets do not give "
            f"its decoded length exactly (±{mp.audio_uncertainty} samples at {mp.profile.sampling_rate} Hz)"]


def _load(profile: str):
    """The planner's processor of a profile or checkpoint: tokenizer + chat template, no torch (core.light)."""
    return load_planner(profile)


def _stats(mp: MediaPlan, input_ids, labels) -> LayoutStats:
    p, info = mp.profile, mp.info
    t, h, w = mp.grid
    patch_dim = 3 * p.temporal_patch_size * p.patch_size * p.patch_size
    length = len(input_ids)
    stats = dict(
        input_ids_shape=(1, length), attention_mask_shape=(1, length), labels_shape=(1, length),
        label_tokens=int(sum(1 for x in labels if x != IGNORE_INDEX)),
        pixel_values_videos_shape=(t * h * w, patch_dim), pixel_values_videos_dtype="float32",
        pixel_values_videos_mb=t * h * w * patch_dim * 4 / 2**20, video_grid_thw=(mp.grid,),
        tokens_per_grid=arith.tokens_per_grid(h, w, p.merge_size), resized_hw=mp.resized_hw,
        video_tokens=mp.video_tokens, audio_tokens=mp.audio_tokens, processor_fps=mp.processor_fps,
        second_per_grid=float(np.float32(mp.second_per_grid)),  # as the processor's output tensor holds it
        use_audio_in_video=mp.use_audio,
        sampled_frames=mp.frames, frame_indices=mp.frame_indices,
        frame_times=tuple(float(i) / info.native_fps for i in mp.frame_indices), native_fps=info.native_fps,
        duration=info.duration, sampled_fps=mp.sampled_fps,
        timestamps=tuple(float(f"{t:.1f}") for t in family_of(p).timestamps(mp)),  # as the text writes them
    )
    for name in ("seconds_per_chunk", "position_id_per_seconds"):  # what the family's interleave records
        if getattr(mp, name) is not None:
            stats[name] = getattr(mp, name)
    if mp.use_audio:
        features = family_of(p).feature_frames(mp.mel_frames, p)
        stats.update(input_features_shape=(1, p.mel_bins, features),
                     input_features_mb=p.mel_bins * features * 4 / 2**20, mel_frames=mp.mel_frames,
                     audio_seconds=mp.mel_frames * p.hop_length / p.sampling_rate,
                     audio_tokens_formula=mp.audio_tokens, audio_tokens_uncertainty=mp.audio_tokens_uncertainty)
    return LayoutStats(**stats)
