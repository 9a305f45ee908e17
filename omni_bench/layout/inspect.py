"""``inspect``: run the real processor on a real clip and return its :class:`TokenLayout`.

The video is probed, the frames are chosen with qwen-vl-utils' rule (``smart_nframes``
then ``linspace(...).round()``), only those frames are decoded, the audio comes from the
video's own track, and transformers' processor does the rest with the fps actually sampled
(unless ``processor_fps`` overrides it). Nothing is mocked: the layout is read off the
processor's real ``input_ids``.

Not covered: several videos per sample, images (the processor supports them; the
report shows their runs but ``inspect`` builds one-video samples).
"""

from __future__ import annotations

import contextlib

import numpy as np

from omni_bench._torchvision import ensure_torchvision
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.media import VideoInfo, probe, read_audio, read_frames
from omni_bench.core.processor import load_processor, profile_of
from omni_bench.core.profiles import PROFILES, Profile
from omni_bench.core.tokens import token_ids
from omni_bench.layout import arith
from omni_bench.layout.labels import IGNORE_INDEX, assistant_labels
from omni_bench.layout.settings import LayoutSettings
from omni_bench.layout.token_layout import LayoutStats, TokenLayout, build_layout

__all__ = ["inspect", "sample_indices", "conversation", "resolve_profile", "processor_call"]


def resolve_profile(processor, settings: LayoutSettings) -> Profile:
    """The profile whose arithmetic applies: the built one, or the family of a checkpoint."""
    built = profile_of(processor)
    if built is not None:
        return built
    name = type(processor).__name__.lower()
    return PROFILES["qwen2.5-omni-7b" if "omni" in name else "qwen2.5-vl-7b"]


def sample_indices(info: VideoInfo, settings: LayoutSettings, temporal_patch_size: int = 2) -> list[int]:
    """Frame indices chosen with qwen-vl-utils' rule for these settings.

    ``nframes = smart_nframes(...)`` (frames rounded to the temporal patch, or fps x
    duration clamped to [min_frames, max_frames]) then ``linspace(0, total-1, n).round()``.
    """
    try:
        count = arith.smart_nframes(
            info.total_frames, info.native_fps, nframes=settings.frames, fps=settings.fps,
            min_frames=settings.min_frames, max_frames=settings.max_frames, frame_factor=temporal_patch_size,
        )
    except ValueError as exc:
        raise OmniBenchError(f"{info.path}: cannot sample {settings.frames or settings.fps} "
                             f"{'frames' if settings.frames else 'fps'} from {info.total_frames} frames "
                             f"({exc})", source=info.path, reason="sampling") from None
    return arith.linspace_round_indices(0, info.total_frames - 1, count)


def conversation(settings: LayoutSettings, media: object = "video") -> list[dict]:
    """The chat messages of a one-video sample: [system], user (video + prompt), [assistant]."""
    messages = []
    if settings.system is not None:
        messages.append({"role": "system", "content": [{"type": "text", "text": settings.system}]})
    messages.append({"role": "user", "content": [{"type": "video", "video": media},
                                                 {"type": "text", "text": settings.prompt}]})
    if settings.answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": settings.answer}]})
    return messages


def _resize_frames(frames: np.ndarray, size: tuple[int, int], factor: int) -> np.ndarray:
    ensure_torchvision()
    import torch
    from torchvision.transforms.v2 import functional as tvF

    height, width = arith.smart_resize(size[0], size[1], factor=factor, min_pixels=factor * factor,
                                       max_pixels=max(size[0] * size[1], factor * factor) * 4)
    video = torch.from_numpy(frames).permute(0, 3, 1, 2)
    video = tvF.resize(video, [height, width], interpolation=tvF.InterpolationMode.BICUBIC, antialias=True)
    return video.permute(0, 2, 3, 1).contiguous().numpy()


def processor_call(processor, profile: Profile, text: str, frames, audio, settings: LayoutSettings,
                   processor_fps: float) -> dict:
    """Call transformers' processor the way omni_bench always does, and return its output."""
    videos_kwargs: dict = {"fps": processor_fps, "do_sample_frames": False, "cap_pixels_per_frame": False}
    if settings.resize is not None:
        videos_kwargs["do_resize"] = False
    else:
        videos_kwargs["size"] = {
            "shortest_edge": settings.min_pixels or profile.video_min_pixels,
            "longest_edge": settings.max_pixels or profile.video_max_pixels,
        }
    kwargs: dict = {"text": [text], "videos": [frames], "videos_kwargs": videos_kwargs, "return_tensors": "pt"}
    if profile.family != "omni":
        # Qwen2.5-VL's processor ignores videos_kwargs["fps"]: it takes second_per_grid_ts from
        # the video metadata's sampled fps (24 when there is none). Metadata with fps=F and no
        # frame indices makes its sampled fps exactly F.
        from transformers.video_utils import VideoMetadata

        videos_kwargs["video_metadata"] = [VideoMetadata(total_num_frames=len(frames), fps=float(processor_fps))]
    if profile.family == "omni":
        kwargs["seconds_per_chunk"] = float(settings.seconds_per_chunk or profile.seconds_per_chunk)  # typed float
        kwargs["position_id_per_seconds"] = settings.position_id_per_seconds or profile.position_id_per_seconds
        if audio is not None:
            kwargs.update(audio=[audio], audio_from_video_indices=[0], load_audio_from_video=True)
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


def inspect(media: str, settings: LayoutSettings | None = None, *, processor=None, **changes) -> TokenLayout:
    """Run the real processor on a clip and return the :class:`TokenLayout` it produced.

    ``inspect("data/clips/longvale_a.mkv", frames=16)`` - settings can be given as a
    :class:`LayoutSettings` or as keyword changes to the defaults. Raises
    :class:`OmniBenchError` for a missing, unreadable or truncated file and for a video
    without audio when audio is asked for.
    """
    settings = (settings or LayoutSettings()).replace(**changes) if changes else (settings or LayoutSettings())
    info = probe(media)
    processor = processor or load_processor(settings.profile)
    profile = resolve_profile(processor, settings)
    use_audio = settings.use_audio and profile.has_audio
    if use_audio and not info.has_audio:
        raise OmniBenchError(f"{info.path}: no audio track (pass --no-audio to use the video alone)",
                             source=info.path, reason="no-audio")
    indices = sample_indices(info, settings, profile.temporal_patch_size)
    frames = read_frames(info.path, indices)
    if settings.resize is not None:
        frames = _resize_frames(frames, settings.resize, profile.factor)
    audio = read_audio(info.path, sampling_rate=profile.sampling_rate) if use_audio else None
    sampled_fps = len(indices) / info.duration
    processor_fps = settings.processor_fps or sampled_fps
    text = processor.apply_chat_template(conversation(settings), tokenize=False,
                                         add_generation_prompt=settings.answer is None)
    out = processor_call(processor, profile, text, frames, audio, settings, processor_fps)
    return layout_from_output(out, processor, profile, settings, info=info, indices=indices,
                              processor_fps=processor_fps, use_audio=use_audio)


def layout_from_output(out, processor, profile: Profile, settings: LayoutSettings, *, info: VideoInfo | None,
                       indices, processor_fps: float, use_audio: bool, source: str = "processor") -> TokenLayout:
    """Read a processor's output dict into a TokenLayout (labels on the expanded ids)."""
    ids = token_ids(processor)
    input_ids = out["input_ids"][0].numpy()
    labels = assistant_labels(input_ids, ids)
    notes = []
    grids = tuple(tuple(int(x) for x in g) for g in out["video_grid_thw"].tolist())
    video_count = int((input_ids == ids.video).sum())
    audio_count = int((input_ids == ids.audio).sum()) if ids.audio is not None else 0
    formula_video = sum(arith.video_tokens(g, profile.merge_size) for g in grids)
    if formula_video != video_count:
        notes.append(f"VIDEO tokens in input_ids ({video_count}) != t*h*w/merge^2 ({formula_video})")
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
        second_per_grid=_output_second_per_grid(out, arith.second_per_grid(processor_fps, profile.temporal_patch_size)),
        use_audio_in_video=use_audio,
    )
    if info is not None:
        stats.update(sampled_frames=len(indices), frame_indices=tuple(int(i) for i in indices),
                     frame_times=tuple(float(i) / info.native_fps for i in indices), native_fps=info.native_fps,
                     duration=info.duration, sampled_fps=len(indices) / info.duration)
    if profile.family == "omni":
        stats.update(seconds_per_chunk=float(settings.seconds_per_chunk or profile.seconds_per_chunk),
                     position_id_per_seconds=float(settings.position_id_per_seconds
                                                   or profile.position_id_per_seconds))
    if "input_features" in out:
        features = out["input_features"]
        mel = int(out["feature_attention_mask"][0].sum())
        formula = arith.audio_tokens(mel)
        stats.update(input_features_shape=tuple(features.shape),
                     input_features_mb=features.numel() * features.element_size() / 2**20, mel_frames=mel,
                     audio_seconds=mel * profile.hop_length / profile.sampling_rate, audio_tokens_formula=formula)
        if formula != audio_count:
            notes.append(f"AUDIO tokens in input_ids ({audio_count}) != formula from {mel} mel frames ({formula})")
    return build_layout(input_ids, labels, processor.tokenizer, ids, LayoutStats(**stats), source=source,
                        profile=settings.profile, media=info.path if info else None, notes=notes)


def _output_second_per_grid(out, expected: float) -> float:
    """Seconds per temporal grid as the processor recorded it (Omni and VL name it differently)."""
    for key in ("video_second_per_grid", "second_per_grid_ts"):
        if key in out:
            value = out[key]
            return float(value[0] if not hasattr(value, "tolist") else value.tolist()[0])
    return expected
