"""Qwen2.5-VL's rope under its old module name: the rules are its family's
(:mod:`omni_bench.families.qwen2_5_vl`)."""

from omni_bench.families.qwen2_5_vl import RULES, RopeReport, VideoRope, rope_report, vl_rope_index, vl_rope_positions

__all__ = ["RULES", "VideoRope", "RopeReport", "vl_rope_index", "vl_rope_positions", "rope_report"]
