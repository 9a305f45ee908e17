"""Qwen3-Omni's per-step alignment report under its old module name: the rules are its family's
(:mod:`omni_bench.families.qwen3_omni`)."""

from omni_bench.families.base import DRIFT_TOLERANCE
from omni_bench.families.qwen3_omni import (
    AUDIO_TOKENS_PER_SECOND,
    StepAlignment,
    StepFix,
    StepTiming,
    render_steps,
    step_alignment,
    tolerance_words,
)

__all__ = ["StepTiming", "StepFix", "StepAlignment", "step_alignment", "render_steps", "AUDIO_TOKENS_PER_SECOND",
           "DRIFT_TOLERANCE", "tolerance_words"]
