"""What differs between model families, behind one interface.

A :class:`Family` holds the rules one family of checkpoints does not share with the others:
which transformers processor and model classes it uses, how omni_bench calls its processor, its
planner arithmetic (sizes, audio tokens, the VIDEO/AUDIO runs of a vision span), its real-time
alignment report (``alignment``), its rope positions for packing (``packed_positions``) and how a
checkpoint directory is loaded. ``plan``, ``inspect``, the alignment report, packing and training
ask ``family_of(profile)``; none of them switches on a family's name.

One module per family: :mod:`~omni_bench.families.qwen2_5_omni` (its TMRoPE and 2 s chunk
alignment in :mod:`~omni_bench.families.qwen2_5_alignment`, which Qwen2.5-VL's report shares),
:mod:`~omni_bench.families.qwen2_5_vl` (its MRoPE, both rules), :mod:`~omni_bench.families.qwen3_vl`
and :mod:`~omni_bench.families.qwen3_omni` (with its per-step alignment; both Qwen3 ropes in
:mod:`~omni_bench.families.qwen3_rope`). A new family adds a module and one line in :data:`FAMILIES`.

The families stand on the core's bottom floor only (errors, arithmetic, profiles): they import no
builder, layout, data or training module, and read layouts and plans by their fields. A
:class:`~omni_bench.core.profiles.Profile` names its family by key (``profile.family``, e.g.
"omni" or "vl"); :func:`family_of` turns that into the rules.
"""

from __future__ import annotations

from omni_bench.core.errors import OmniBenchError
from omni_bench.families.base import Family
from omni_bench.families.qwen2_5_omni import QWEN2_5_OMNI
from omni_bench.families.qwen2_5_vl import QWEN2_5_VL
from omni_bench.families.qwen3_omni import QWEN3_OMNI
from omni_bench.families.qwen3_vl import QWEN3_VL

__all__ = ["Family", "FAMILIES", "family_of", "family_of_processor", "family_of_model_type"]

# profile.family key -> the family's rules
FAMILIES: dict[str, Family] = {f.key: f for f in (QWEN2_5_OMNI, QWEN2_5_VL, QWEN3_OMNI, QWEN3_VL)}


def family_of(profile) -> Family:
    """The rules of a profile's family (a Profile or its ``family`` key)."""
    key = profile if isinstance(profile, str) else profile.family
    if key not in FAMILIES:
        raise OmniBenchError(f"unknown model family {key!r}; known: {', '.join(FAMILIES)}", source=str(key),
                             reason="unsupported-model")
    return FAMILIES[key]


def family_of_processor(processor) -> Family:
    """The family whose processor class this processor is (a checkpoint's, not built by omni_bench)."""
    name = type(processor).__name__
    for family in FAMILIES.values():
        if name in family.processor_classes:
            return family
    raise OmniBenchError(f"{name}: not the processor of a known model family "
                         f"({', '.join(c for f in FAMILIES.values() for c in f.processor_classes)})",
                         source=name, reason="unsupported-model")


def family_of_model_type(model_type: str) -> Family:
    """The family of a checkpoint's ``config.json`` ``model_type``."""
    for family in FAMILIES.values():
        if model_type in family.model_types:
            return family
    known = " or ".join(f.title for f in FAMILIES.values())
    raise OmniBenchError(f"model type {model_type!r} is not a {known} checkpoint", source=model_type,
                         reason="unsupported-model")
