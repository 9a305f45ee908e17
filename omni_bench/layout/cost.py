"""Request-cost guard: refuse, before anything is decoded, a request far beyond the model.

:func:`check_cost` plans the sample from the container headers (:func:`~omni_bench.layout.plan.plan`,
nothing decoded) and refuses it (OmniBenchError, reason "too-costly", naming the clip, the number and
the limit) when its input ids exceed the model's context (the profile's ``max_position_embeddings``)
or its pixel values exceed :data:`PIXEL_LIMIT_GIB`. ``inspect`` calls it before decoding: ``--fps 1e9``
on an 80 s clip is refused in a second instead of decoding 15 GiB of frames. Not covered: memory of
the model's forward pass (``bench step`` measures that).
"""

from __future__ import annotations

from omni_bench.core.errors import OmniBenchError

__all__ = ["check_cost", "PIXEL_LIMIT_GIB"]

PIXEL_LIMIT_GIB = 4.0  # pixel_values_videos above this many GiB (float32) are refused


def check_cost(info, settings, processor, context: int) -> None:
    """Raise OmniBenchError when the planned sample of ``info`` has more input ids than ``context`` or
    more than :data:`PIXEL_LIMIT_GIB` of pixel values; return None otherwise."""
    from omni_bench.layout.plan import plan

    stats = plan(info, settings, processor=processor).stats
    tokens = int(stats.input_ids_shape[-1])
    frames = stats.sampled_frames
    if tokens > context:
        raise OmniBenchError(f"{info.path}: {tokens:,} input ids predicted ({frames} frames), over the model's "
                             f"{context:,}-token context; lower --fps / --frames or --max-pixels",
                             source=info.path, reason="too-costly")
    gib = (stats.pixel_values_videos_mb or 0.0) / 1024
    if gib > PIXEL_LIMIT_GIB:
        raise OmniBenchError(f"{info.path}: {gib:.1f} GiB of pixel values predicted ({frames} frames), over "
                             f"the {PIXEL_LIMIT_GIB:g} GiB limit; lower --fps / --frames or --max-pixels",
                             source=info.path, reason="too-costly")
