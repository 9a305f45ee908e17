"""When do a sample's VIDEO and AUDIO chunks really happen, and the TMRoPE ids the model gives them.

The Omni processor interleaves a video's tokens with its audio's by *position time*: grid
step ``t`` sits at ``t * second_per_grid`` seconds, where ``second_per_grid = 2 / fps`` and
``fps`` is what the processor was told; audio token ``i`` sits at ``i * 40 ms``, which is
real time. When the fps handed over is not the fps the frames were sampled at (the LongVALE notebook's
50 frames over 256.89 s with the stock ``fps=2``), chunk ``j``'s video shows a moment far
from chunk ``j``'s audio.

* :func:`alignment` takes a :class:`~omni_bench.layout.token_layout.TokenLayout` (or a planner
  :class:`~omni_bench.layout.plan.MediaPlan`) and returns an :class:`Alignment`: per chunk the
  real seconds its frames cover (grid step ``t`` = frames ``2t, 2t+1``, from the sampled
  frames' timestamps), the seconds its position ids claim, the seconds of its audio, and
  the drift ``video start - audio start``; a verdict for the sample ("aligned" when every
  chunk's video starts within 2 s of its audio, ``DRIFT_TOLERANCE`` - else "misaligned") and a
  :class:`Recommendation`.
* :func:`recommend` says which settings line the chunks up: a joint search over the frame
  count (within 10 %), the sampling rule and a whole-second ``seconds_per_chunk``, each
  candidate planned and measured (:mod:`omni_bench.layout.alignment_fix`); its ``flags`` apply it.
* :func:`rope_positions` / :func:`temporal_positions`: the 3-D rope position ids (and their
  temporal row) that Qwen2.5-Omni's ``get_rope_index`` computes for the layout's
  ``input_ids``, reproduced with NumPy (the test compares them with the tiny model's); a
  Qwen2.5-VL layout (no audio token) gets its family's rule instead.

The rules (chunk rows, drift, TMRoPE) are the Qwen2.5 families' own
(:mod:`omni_bench.families.qwen2_5_alignment`, Qwen2.5-VL's rope in
:mod:`omni_bench.families.qwen2_5_vl`); this module is the layout layer's door to them: it hands
the report the checked search, which plans candidates (:mod:`omni_bench.layout.alignment_fix`),
and re-exports the report's types under their old names. Not covered: images inside a layout,
several videos' alignment (the first video is used).
"""

from __future__ import annotations

import numpy as np

from omni_bench.families import qwen2_5_alignment as _rules
from omni_bench.families.qwen2_5_alignment import (
    AUDIO_TOKEN_SECONDS,
    Alignment,
    Chunk,
    Recommendation,
    render_alignment,
)
from omni_bench.families.qwen2_5_vl import vl_rope_positions
from omni_bench.layout.alignment_fix import fix_for
from omni_bench.layout.plan import MediaPlan, media_plan
from omni_bench.layout.settings import LayoutSettings
from omni_bench.layout.token_layout import TokenLayout

__all__ = ["Chunk", "Alignment", "Recommendation", "alignment", "recommend", "rope_positions",
           "temporal_positions", "render_alignment", "AUDIO_TOKEN_SECONDS"]


def alignment(layout, *, tolerance: float | None = None) -> Alignment:
    """Real-time alignment of the first video's chunks in a TokenLayout (or a planner MediaPlan).

    ``tolerance`` defaults to 2 s: every chunk's video must start within 2 s of its audio. For
    the LongVALE notebook's 50 frames of a 256.89 s video handed over with ``fps=2`` (grid 10.28 s at the
    sampled fps, 1 s assumed): chunk 12 pairs video from 251.60 s with audio from 24.00 s, drift
    +227.60 s, "misaligned"; the checked fix is ``--sampling fps --fps 0.2 --processor-fps 0.2
    --seconds-per-chunk 10`` (52 frames, drift 0 s). The rows are
    :func:`omni_bench.families.qwen2_5_alignment.alignment`'s; the fix is searched and checked here
    (:func:`omni_bench.layout.alignment_fix.fix_for`).
    """
    return _rules.alignment(layout, tolerance=tolerance, search=fix_for)


def recommend(meta_or_layout, settings: LayoutSettings | None = None) -> Recommendation:
    """The settings that line chunks up, searched and checked on their plan (``alignment(...).recommendation``).

    Takes a TokenLayout, a MediaPlan, or media metadata (VideoInfo / dict) with settings.
    ``recommend(dict(duration=256.89, width=640, height=360, native_fps=25),
    LayoutSettings(frames=50, processor_fps=2)).line`` ->
    "pass --sampling fps --fps 0.2 --processor-fps 0.2 --seconds-per-chunk 10: 52 frames ...".
    ``rec.apply(settings)`` gives the fixed settings, ``rec.flags`` the CLI flags.
    """
    if not isinstance(meta_or_layout, (TokenLayout, MediaPlan)):
        meta_or_layout = media_plan(meta_or_layout, settings)
    return alignment(meta_or_layout).recommendation  # searched and checked (omni_bench.layout.alignment_fix)


def rope_positions(layout: TokenLayout, *, seconds_per_chunk: float | None = None,
                   position_id_per_seconds: float | None = None) -> np.ndarray:
    """The [3, seq] rope position ids the model gives ``layout.input_ids``.

    A layout with an audio token (Qwen2.5-Omni): ``get_rope_index``'s TMRoPE
    (:func:`omni_bench.families.qwen2_5_alignment.rope_positions`; ``seconds_per_chunk`` and
    ``position_id_per_seconds`` are the MODEL's config values, default: the layout's). Without
    one (Qwen2.5-VL): transformers 5.23's ``Qwen2_5_VLModel.get_rope_index``
    (:func:`omni_bench.families.qwen2_5_vl.vl_rope_positions`).
    """
    ids = layout.extra.get("token_ids")
    if ids is not None and ids.audio is None:
        return vl_rope_positions(layout)
    return _rules.rope_positions(layout, seconds_per_chunk=seconds_per_chunk,
                                 position_id_per_seconds=position_id_per_seconds)


def temporal_positions(layout: TokenLayout, **model_config) -> np.ndarray:
    """The temporal (first) row of :func:`rope_positions`: [seq] int64.

    For an aligned sample a video token's temporal id divided by ``position_id_per_seconds``
    is (nearly) its frame's time and an audio token's is its own time; in a misaligned one
    they are not.
    """
    return rope_positions(layout, **model_config)[0]
