"""The one media road: settings -> plan -> decode -> processor -> layout, each stage done once.

Every caller that turns a video into model inputs takes this road (``inspect``, the training
dataset, ``eval run``, and the preference / RL rollouts to come):

1. **settings**, resolved once against the processor's profile (:func:`resolve`);
2. **plan** from the container's metadata, nothing decoded (:func:`plan_media`): the frame
   indices (qwen-vl-utils' rule, sampled here and nowhere else), the frame size, the grid, the
   audio samples and the fps handed to the processor
   (:class:`~omni_bench.layout.plan.MediaPlan`); the cost guard
   (:func:`~omni_bench.layout.cost.check_cost`) and the memory estimate read this plan;
3. **decode** exactly those frames, resized when ``--resize`` asks, and the video's own audio
   track (:func:`decode_media`); the plan is made exact for the decoded audio length;
4. **processor**: transformers' processor on the chat text and the decoded media
   (:func:`process`, through :func:`~omni_bench.layout.processor_call.processor_call`);
5. **layout**: its output read into a :class:`~omni_bench.layout.token_layout.TokenLayout`
   (:func:`~omni_bench.layout.processor_call.layout_from_output`, the caller's step).

The API is small and stable::

    media = prepare_media("clip.mkv", settings, processor)  # stages 1-3: a MediaInputs
    batch = process(conversation, media, processor)          # stage 4: transformers' BatchFeature

``media.plan`` is the plan, ``media.frames`` / ``media.audio`` what was decoded and
``media.processor_kwargs()`` what the processor is handed with them. A caller that planned
earlier (the dataset plans every record at construction) passes the plan to
:func:`decode_media` instead of planning again.

Not covered: several videos per sample and images (one video, or none, per sample).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np

from omni_bench.core.media import VideoInfo, probe, read_audio, read_frames
from omni_bench.core.processor import resolve_profile
from omni_bench.layout.frames import resize_frames
from omni_bench.layout.plan import MediaPlan, media_plan
from omni_bench.layout.processor_call import processor_call
from omni_bench.layout.settings import LayoutSettings, ResolvedSettings

__all__ = ["MediaInputs", "resolve", "plan_media", "decode_media", "prepare_media", "process"]


@dataclass(frozen=True)
class MediaInputs:
    """One video planned and decoded: what the processor is handed besides the text.

    ``plan`` is exact for what was decoded (its audio samples are the decoded track's).
    """

    plan: MediaPlan  # frame indices, size, grid, audio samples, processor fps
    settings: ResolvedSettings  # the settings it was planned with
    frames: np.ndarray  # [frames, h, w, 3] uint8: exactly plan.frame_indices (resized with --resize)
    audio: np.ndarray | None  # mono float32 at the profile's sampling rate (None: no audio used)

    @property
    def info(self) -> VideoInfo:
        return self.plan.info

    @property
    def indices(self) -> tuple[int, ...]:
        return self.plan.frame_indices

    @property
    def processor_fps(self) -> float:
        return self.plan.processor_fps

    def processor_kwargs(self) -> dict:
        """The keywords :func:`~omni_bench.layout.processor_call.processor_call` gets besides the text."""
        return dict(frames=self.frames, audio=self.audio, processor_fps=self.processor_fps,
                    indices=list(self.indices), native_fps=self.info.native_fps)


def resolve(settings: LayoutSettings | ResolvedSettings, processor) -> ResolvedSettings:
    """Stage 1: ``settings`` resolved against the processor's profile (a ResolvedSettings is kept as is)."""
    if isinstance(settings, ResolvedSettings):
        return settings
    return settings.resolve(resolve_profile(processor))


def plan_media(media: str | os.PathLike | VideoInfo, settings: ResolvedSettings) -> MediaPlan:
    """Stage 2: the plan of one video from its metadata (probed when given a path); nothing decoded.

    Raises OmniBenchError for a missing or unreadable file, a video without audio when audio
    is asked for, and settings that cannot sample or resize it.
    """
    info = media if isinstance(media, VideoInfo) else probe(media)
    return media_plan(info, settings, indices=True)


def decode_media(plan: MediaPlan, settings: ResolvedSettings) -> MediaInputs:
    """Stage 3: decode exactly the planned frames (resized with ``--resize``) and the audio track.

    The returned plan is the given one with the decoded audio's length (the container's
    count can be a few samples off where a codec does not say it exactly).
    """
    profile = settings.profile
    frames = read_frames(plan.info.path, list(plan.frame_indices))
    if settings.resize is not None:
        frames = resize_frames(frames, settings.resize, profile.factor)
    audio = read_audio(plan.info.path, sampling_rate=profile.sampling_rate) if plan.use_audio else None
    if audio is not None and len(audio) != plan.audio_samples:
        samples = len(audio)
        plan = replace(plan, audio_samples=samples, mel_frames=settings.family.mel_frames(samples, profile),
                       audio_uncertainty=0)
    return MediaInputs(plan, settings, frames, audio)


def prepare_media(media: str | os.PathLike | VideoInfo, settings: LayoutSettings | ResolvedSettings,
                  processor) -> MediaInputs:
    """Stages 1-3: resolve, plan, decode. ``media``: a path or a probed :class:`VideoInfo`.

    >>> media = prepare_media("data/clips/street_market.mkv", LayoutSettings(frames=4), processor)  # doctest: +SKIP
    >>> media.frames.shape, media.plan.grid                                                        # doctest: +SKIP
    """
    resolved = resolve(settings, processor)
    return decode_media(plan_media(media, resolved), resolved)


def process(text: str | list, media: MediaInputs | None, processor, *, add_generation_prompt: bool | None = None):
    """Stage 4: transformers' processor on the text and the decoded media; returns its BatchFeature.

    ``text``: the chat text already rendered, or the messages (rendered here with the
    processor's chat template; ``add_generation_prompt`` defaults to "the last message is not
    the assistant's"). ``media``: from :func:`prepare_media` / :func:`decode_media`, or None for
    a text-only sample (the processor's settings are then only the tokenizer's).
    """
    if not isinstance(text, str):
        if add_generation_prompt is None:
            add_generation_prompt = not text or text[-1]["role"] != "assistant"
        text = processor.apply_chat_template(text, tokenize=False, add_generation_prompt=add_generation_prompt)
    if media is None:
        return processor(text=[text], return_tensors="pt")
    return processor_call(processor, media.settings, text, **media.processor_kwargs())
