"""The Qwen3-VL and Qwen3-Omni profiles under their old module name.

They are defined, with the source of every value, in :mod:`omni_bench.core.profiles` beside the
Qwen2.5 ones (one registry, no import back and forth).
"""

from __future__ import annotations

from omni_bench.core.profiles import QWEN3_OMNI_SPECIAL_TOKENS, QWEN3_PROFILES, QWEN3_VL_SPECIAL_TOKENS

__all__ = ["QWEN3_PROFILES", "QWEN3_VL_SPECIAL_TOKENS", "QWEN3_OMNI_SPECIAL_TOKENS"]
