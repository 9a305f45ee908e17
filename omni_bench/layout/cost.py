"""Request-cost guard: refuse, before anything is decoded, a request far beyond the model.

:func:`check_cost` reads the sample's plan (the :class:`~omni_bench.layout.plan.MediaPlan` of the
media road, :mod:`omni_bench.layout.road`: made from the container headers, nothing decoded) and
refuses it (OmniBenchError, reason "too-costly", naming the clip, the number and the limit) when its
input ids exceed the model's context (the profile's ``max_position_embeddings``) or its pixel values
exceed :data:`PIXEL_LIMIT_GIB`. ``inspect`` calls it between the plan and the decoding: ``--fps 1e9``
on an 80 s clip is refused in a second instead of decoding 15 GiB of frames. Memory of a generation
batch is :mod:`omni_bench.eval.memory`'s; the forward pass of training is ``bench step``'s.
"""

from __future__ import annotations

import numpy as np

from omni_bench.core.errors import OmniBenchError

__all__ = ["check_cost", "logits_bytes", "pixel_bytes", "PIXEL_LIMIT_GIB"]

PIXEL_LIMIT_GIB = 4.0  # pixel_values_videos above this many GiB (float32) are refused


def pixel_bytes(media) -> int:
    """Bytes of the float32 ``pixel_values_videos`` the processor makes for a plan: t*h*w patches x (3*2*14*14) x 4."""
    t, h, w = media.grid
    p = media.profile
    return t * h * w * 3 * p.temporal_patch_size * p.patch_size * p.patch_size * 4


def check_cost(media, input_ids: int, context: int) -> None:
    """Raise OmniBenchError when a planned sample (``media``: its MediaPlan; ``input_ids``: its planned
    length) has more input ids than ``context`` or more than :data:`PIXEL_LIMIT_GIB` of pixel values."""
    path, frames = media.info.path, media.frames
    if input_ids > context:
        raise OmniBenchError(f"{path}: {input_ids:,} input ids predicted ({frames} frames), over the model's "
                             f"{context:,}-token context; lower --fps / --frames or --max-pixels",
                             source=path, reason="too-costly")
    gib = pixel_bytes(media) / 2**30
    if gib > PIXEL_LIMIT_GIB:
        raise OmniBenchError(f"{path}: {gib:.1f} GiB of pixel values predicted ({frames} frames), over "
                             f"the {PIXEL_LIMIT_GIB:g} GiB limit; lower --fps / --frames or --max-pixels",
                             source=path, reason="too-costly")


def logits_bytes(tokens, vocab_size: int, *, bytes_per_value: int = 4):
    """Bytes of the N x V float32 logits the loss upcasts to: ``tokens * vocab * 4``.

    ``logits_bytes(8093, 152064) / 2**30 -> 4.58`` (GiB, the LongVALE notebook's 256.89 s sample).

    >>> int(logits_bytes(8093, 152064)), round(float(logits_bytes(8093, 152064)) / 2**30, 2)
    (4922615808, 4.58)
    """
    return np.asarray(tokens, dtype=np.int64) * int(vocab_size) * int(bytes_per_value)
