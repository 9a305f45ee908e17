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

from omni_bench.core.media import probe, read_audio, read_frames
from omni_bench.core.problems import no_audio_error
from omni_bench.core.processor import load_processor, resolve_profile
from omni_bench.layout.cost import check_cost
from omni_bench.layout.frames import resize_frames, sample_indices
from omni_bench.layout.processor_call import conversation, layout_from_output, processor_call
from omni_bench.layout.settings import LayoutSettings
from omni_bench.layout.token_layout import TokenLayout, with_audio_track

__all__ = ["inspect"]


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
    resolved = settings.resolve(resolve_profile(processor))
    profile = resolved.profile
    if resolved.use_audio and not info.has_audio:
        raise no_audio_error(info.path)
    indices = sample_indices(info, resolved, profile.temporal_patch_size)
    check_cost(info, settings, processor, profile.max_position_embeddings)  # refused before decoding
    frames = read_frames(info.path, indices)
    if resolved.resize is not None:
        frames = resize_frames(frames, resolved.resize, profile.factor)
    audio = read_audio(info.path, sampling_rate=profile.sampling_rate) if resolved.use_audio else None
    processor_fps = resolved.processor_fps or len(indices) / info.duration
    text = processor.apply_chat_template(conversation(resolved), tokenize=False,
                                         add_generation_prompt=resolved.answer is None)
    out = processor_call(processor, resolved, text, frames, audio, processor_fps, indices=indices,
                         native_fps=info.native_fps)
    layout = layout_from_output(out, processor, resolved, info=info, indices=indices,
                                processor_fps=processor_fps, use_audio=resolved.use_audio)
    return with_audio_track(layout, None if audio is None else len(audio), profile.sampling_rate, profile.hop_length)
