"""``inspect``: run the real processor on a real clip and return its :class:`TokenLayout`.

``inspect`` is the media road (:mod:`omni_bench.layout.road`) walked once, then a comparison:

1. **plan**: the video is probed and the settings resolved once; the frames are chosen with
   qwen-vl-utils' rule (``smart_nframes`` then ``linspace(...).round()``), the size, grid,
   audio and the fps handed to the processor follow (:func:`~omni_bench.layout.road.plan_media`);
   the cost guard reads this plan and refuses a sample beyond the model before anything is decoded;
2. **decode**: only the planned frames, and the audio from the video's own track;
3. **run**: transformers' processor with the fps actually sampled (unless ``processor_fps``
   overrides it); the layout is read off the processor's real ``input_ids``, nothing mocked;
4. **compare**: the processor's input ids against the plan's count; a disagreement is a note.

Not covered: several videos per sample, images (the processor supports them; the
report shows their runs but ``inspect`` builds one-video samples).
"""

from __future__ import annotations

from dataclasses import replace

from omni_bench.core.media import VideoInfo
from omni_bench.core.processor import load_processor
from omni_bench.layout.cost import check_cost
from omni_bench.layout.plan import template_ids
from omni_bench.layout.processor_call import conversation, layout_from_output
from omni_bench.layout.road import decode_media, plan_media, process, resolve
from omni_bench.layout.settings import LayoutSettings
from omni_bench.layout.token_layout import TokenLayout, with_audio_track

__all__ = ["inspect"]


def inspect(media: str | VideoInfo, settings: LayoutSettings | None = None, *, processor=None,
            **changes) -> TokenLayout:
    """Run the real processor on a clip and return the :class:`TokenLayout` it produced.

    ``inspect("data/clips/street_market.mkv", frames=16)`` - ``media``: a path, or its
    :class:`VideoInfo` when it was probed already; settings can be given as a
    :class:`LayoutSettings` or as keyword changes to the defaults. Raises
    :class:`OmniBenchError` for a missing, unreadable or truncated file, for a video
    without audio when audio is asked for, and for a sample beyond the model's context
    or the pixel limit (before decoding).
    """
    settings = settings or LayoutSettings()
    settings = settings.replace(**changes) if changes else settings
    processor = processor or load_processor(settings.profile)
    resolved = resolve(settings, processor)
    planned = plan_media(media, resolved)
    template, _ = template_ids(processor, resolved)
    planned_ids = len(template) - 1 + planned.span_tokens
    check_cost(planned, planned_ids, resolved.profile.max_position_embeddings)  # refused before decoding
    decoded = decode_media(planned, resolved)
    out = process(conversation(resolved), decoded, processor, add_generation_prompt=resolved.answer is None)
    layout = layout_from_output(out, processor, resolved, info=decoded.info, indices=decoded.indices,
                                processor_fps=decoded.processor_fps, use_audio=resolved.use_audio)
    layout = _compare(layout, len(template) - 1 + decoded.plan.span_tokens)
    profile = resolved.profile
    track = None if decoded.audio is None else len(decoded.audio)
    return with_audio_track(layout, track, profile.sampling_rate, profile.hop_length)


def _compare(layout: TokenLayout, planned_ids: int) -> TokenLayout:
    """The layout with a note when the processor's input ids are not the plan's count."""
    got = int(layout.stats.input_ids_shape[-1])
    if got == planned_ids:
        return layout
    note = f"the processor gave {got:,} input ids, the plan {planned_ids:,} (omni_bench.layout.plan disagrees)"
    return replace(layout, notes=(*layout.notes, note))
