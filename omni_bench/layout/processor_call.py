"""How omni_bench calls transformers' processor, and how it reads the output into a TokenLayout.

:func:`conversation` builds the chat messages of a one-video sample, :func:`processor_call`
calls the processor with omni_bench's keywords (frames already sampled, sizes from the
resolved settings, the family's own additions from :mod:`omni_bench.families`), and
:func:`layout_from_output` turns its ``input_ids`` and tensors into a :class:`TokenLayout`.
``inspect``, the dataset and the tests share these three.
"""

from __future__ import annotations

import contextlib

import numpy as np

from omni_bench.core.media import VideoInfo
from omni_bench.core.tokens import token_ids
from omni_bench.layout import arith
from omni_bench.layout.labels import IGNORE_INDEX, assistant_labels
from omni_bench.layout.settings import ResolvedSettings
from omni_bench.layout.token_layout import LayoutStats, TokenLayout, build_layout

__all__ = ["conversation", "processor_call", "layout_from_output"]


def conversation(settings, media: object = "video") -> list[dict]:
    """The chat messages of a one-video sample: [system], user (video + prompt), [assistant].

    >>> from omni_bench.layout.settings import LayoutSettings
    >>> [m["role"] for m in conversation(LayoutSettings(system="Be brief.", answer="A bar."))]
    ['system', 'user', 'assistant']
    >>> [m["role"] for m in conversation(LayoutSettings())]  # no reply: nothing to label
    ['user']
    """
    messages = []
    if settings.system is not None:
        messages.append({"role": "system", "content": [{"type": "text", "text": settings.system}]})
    messages.append({"role": "user", "content": [{"type": "video", "video": media},
                                                 {"type": "text", "text": settings.prompt}]})
    if settings.answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": settings.answer}]})
    return messages


def processor_call(processor, settings: ResolvedSettings, text: str, frames, audio, processor_fps: float, *,
                   indices=None, native_fps: float | None = None) -> dict:
    """Call transformers' processor the way omni_bench always does, and return its output.

    The frames are already sampled (``do_sample_frames=False``); with ``resize`` they are
    already resized, otherwise the processor resizes within [min_pixels, max_pixels].
    ``indices`` / ``native_fps`` (where the frames came from) reach the family's keywords
    (Qwen3-VL writes its timestamps from them).
    """
    videos_kwargs: dict = {"fps": processor_fps, "do_sample_frames": False, "cap_pixels_per_frame": False}
    if settings.resize is not None:
        videos_kwargs["do_resize"] = False
    else:
        videos_kwargs["size"] = {"shortest_edge": settings.min_pixels, "longest_edge": settings.max_pixels}
    extra = settings.family.processor_kwargs(settings, frames_count=len(frames), processor_fps=processor_fps,
                                             audio=audio, indices=indices, native_fps=native_fps)
    videos_kwargs.update(extra.pop("videos_kwargs", {}))
    kwargs: dict = {"text": [text], "videos": [frames], "videos_kwargs": videos_kwargs, "return_tensors": "pt",
                    **extra}
    if audio is not None and settings.audio_max_seconds is not None:  # keep more (or less) than 300 s
        kwargs["audio_kwargs"] = {"max_length": settings.profile.chunk_length * settings.profile.sampling_rate}
    with _quiet_transformers():
        return processor(**kwargs)


@contextlib.contextmanager
def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def layout_from_output(out, processor, settings: ResolvedSettings, *, info: VideoInfo | None, indices,
                       processor_fps: float, use_audio: bool, source: str = "processor") -> TokenLayout:
    """Read a processor's output dict into a TokenLayout (labels on the expanded ids)."""
    profile = settings.profile
    ids = token_ids(processor)
    input_ids = out["input_ids"][0].numpy()
    labels = assistant_labels(input_ids, ids)
    grids = tuple(tuple(int(x) for x in g) for g in out["video_grid_thw"].tolist())
    video_count = int((input_ids == ids.video).sum())
    audio_count = int((input_ids == ids.audio).sum()) if ids.audio is not None else 0
    notes = _count_notes(video_count, sum(arith.video_tokens(g, profile.merge_size) for g in grids),
                         "VIDEO tokens in input_ids ({}) != t*h*w/merge^2 ({})")
    pixels = out["pixel_values_videos"]
    stats = dict(
        input_ids_shape=tuple(out["input_ids"].shape), attention_mask_shape=tuple(out["attention_mask"].shape),
        labels_shape=tuple(out["input_ids"].shape), label_tokens=int((labels != IGNORE_INDEX).sum()),
        pixel_values_videos_shape=tuple(pixels.shape),
        pixel_values_videos_dtype=str(pixels.dtype).replace("torch.", ""),
        pixel_values_videos_mb=pixels.numel() * pixels.element_size() / 2**20, video_grid_thw=grids,
        tokens_per_grid=arith.tokens_per_grid(grids[0][1], grids[0][2], profile.merge_size),
        resized_hw=(grids[0][1] * profile.patch_size, grids[0][2] * profile.patch_size),
        video_tokens=video_count, audio_tokens=audio_count, processor_fps=float(processor_fps),
        second_per_grid=_output_second_per_grid(out, settings, processor_fps),
        use_audio_in_video=use_audio, **settings.family.chunking(settings),
        timestamps=settings.family.written_timestamps(input_ids, processor.tokenizer, ids),
    )
    if info is not None:
        stats.update(sampled_frames=len(indices), frame_indices=tuple(int(i) for i in indices),
                     frame_times=tuple(float(i) / info.native_fps for i in indices), native_fps=info.native_fps,
                     duration=info.duration, sampled_fps=len(indices) / info.duration)
    if "input_features" in out:
        features = out["input_features"]
        mel = int(out["feature_attention_mask"][0].sum())
        formula = settings.family.audio_tokens(mel, profile)
        stats.update(input_features_shape=tuple(features.shape),
                     input_features_mb=features.numel() * features.element_size() / 2**20, mel_frames=mel,
                     audio_seconds=mel * profile.hop_length / profile.sampling_rate, audio_tokens_formula=formula)
        notes += _count_notes(audio_count, formula, f"AUDIO tokens in input_ids ({{}}) != formula from {mel} "
                                                    "mel frames ({})")
    return build_layout(input_ids, labels, processor.tokenizer, ids, LayoutStats(**stats), source=source,
                        profile=settings.settings.profile, media=info.path if info else None, notes=notes)


def _count_notes(counted: int, formula: int, message: str) -> list[str]:
    return [message.format(counted, formula)] if counted != formula else []


def _output_second_per_grid(out, settings: ResolvedSettings, processor_fps: float) -> float:
    """Seconds per temporal grid as the processor recorded it (each family names it its own way)."""
    key = settings.family.second_per_grid_key
    if key in out:
        value = out[key]
        return float(value[0] if not hasattr(value, "tolist") else value.tolist()[0])
    # no such output (Qwen3-VL): the value the other families' float32 tensors would hold
    return float(np.float32(arith.second_per_grid(processor_fps, settings.profile.temporal_patch_size)))
