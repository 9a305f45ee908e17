"""Request-cost guard: refuse, before anything is decoded, a request far beyond the model.

:func:`check_cost` plans the sample from the container headers (:func:`~omni_bench.layout.plan.plan`,
nothing decoded) and refuses it (OmniBenchError, reason "too-costly", naming the clip, the number and
the limit) when its input ids exceed the model's context (the profile's ``max_position_embeddings``)
or its pixel values exceed :data:`PIXEL_LIMIT_GIB`. ``inspect`` calls it before decoding: ``--fps 1e9``
on an 80 s clip is refused in a second instead of decoding 15 GiB of frames. Not covered: memory of
the model's forward pass (``bench step`` measures that).
"""

from __future__ import annotations

import numpy as np

from omni_bench.core.errors import OmniBenchError

__all__ = ["check_cost", "logits_bytes", "PIXEL_LIMIT_GIB"]

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


def logits_bytes(tokens, vocab_size: int, *, bytes_per_value: int = 4):
    """Bytes of the N x V float32 logits the loss upcasts to: ``tokens * vocab * 4``.

    ``logits_bytes(8093, 152064) / 2**30 -> 4.58`` (GiB, the LongVALE notebook's 256.89 s sample).

    >>> int(logits_bytes(8093, 152064)), round(float(logits_bytes(8093, 152064)) / 2**30, 2)
    (4922615808, 4.58)
    """
    return np.asarray(tokens, dtype=np.int64) * int(vocab_size) * int(bytes_per_value)
