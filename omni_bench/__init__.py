"""omni_bench: see what the Qwen2.5-Omni / Qwen2.5-VL processors really produce, predict it,
build correct training samples and run short LoRA fine-tunes.

The package is light to import: heavy modules (transformers, decord, PyAV) load when a
function that needs them is first called. Its subpackages import in one order, bottom up:
``core`` (errors, arithmetic, profiles, tokens, media) -> ``families`` (every per-family rule)
-> the processor and model builders (``core.processor``, ``core.light``, ``core.models``) ->
``layout`` -> ``sampling`` -> ``data`` -> ``training`` / ``eval`` -> ``bench`` -> ``cli``; the
views (``omni_bench_widgets``) stand on all of them and only the CLI imports them
(``tests/test_import_graph.py``: no circle, no import of a light module hidden in a function).
``import omni_bench`` never imports ipywidgets or matplotlib's pyplot; the notebook views live in
``omni_bench_widgets``. It does arrange for
the first ``import torchvision`` to work beside a CPU-only torch, so that transformers' own
``AutoProcessor`` imports too (``prepare_torchvision`` does it on demand).
"""

from __future__ import annotations

from omni_bench._lazy import lazy_exports
from omni_bench._torchvision import install_import_hook
from omni_bench._version import __version__

# defining module -> the public names it holds
_MODULES = {
    "core.errors": "OmniBenchError",
    "core.problems": "Problem",
    "core.profiles": "Profile PROFILES DEFAULT_PROFILE get_profile",
    "core.processor": "load_processor",
    "core.light": "load_planner",
    "core.models": "tiny_model",
    "core.media": "VideoInfo probe read_frames read_audio write_clip",
    "layout.settings": "LayoutSettings ResolvedSettings",
    "data.settings": "DataSettings",
    "layout.token_layout": "TokenLayout Segment LayoutStats",
    "layout.inspect": "inspect",
    "layout.plan": "plan media_plan media_info MediaPlan",
    "layout.alignment": (
        "alignment recommend temporal_positions rope_positions Alignment Chunk "
        "Recommendation"
    ),
    "layout.rope": "rope_report RopeReport vl_rope_index",
    "layout.budget": "budget Budget budget_dataset DatasetBudget",
    "layout.cost": "logits_bytes check_cost",
    "layout.labels": "assistant_labels audit_labels",
    "layout.verdict": "findings Finding report_text",
    "layout.report_html": "report_html report_markdown write_report",
    "training.run_report": "RunRecord read_run write_run_report",
    "core.tokens": "TokenIds token_ids",
    "sampling.samplers": (
        "Sampling SamplingError SAMPLERS sample_qwen_vl_utils sample_transformers "
        "sample_llama_factory sample_qwen25vl_finetune sample_uniform sample_fps"
    ),
    "sampling.comparison": (
        "SamplerComparison SamplerRow compare_samplers BudgetRow budget_table format_budget_table"
    ),
    "bench.decode": "DecodeCost measure_decode",
    "data.records": (
        "Record load_records load_longvale_sft load_longvale_annotations load_qwen_vl "
        "render_time resolve_media mix"
    ),
    "data.samples": (
        "Turn TokenCount Sample SplitReport build_sample count_tokens fit_turns "
        "media_token_count split_report synthetic_records"
    ),
    "data.dataset": "OmniSFTDataset OmniCollator",
    "data.packing": "RopeConfig packing_stats PackedBatchSampler",
    "layout.budget_packing": "pack_rows dataset_packing",
    "training.packed": "packed_model_inputs",
    "training.fused": "enable_fused_loss disable_fused_loss use_fused_loss",
    "training.config": "TrainConfig",
    "training.prepare": "load_trained_model adapt_model lora_target_regex",
    "training.run": "RunResult train last_checkpoint",
    "training.rewards": "REWARDS RewardError resolve_rewards rewards_stats",
    "training.metrics": "read_metrics",
    "training.groups": "GroupRecord read_groups render_group_text",
    "data.validation": "validate ValidationReport",
    "eval.score": "score Scores TaskScores",
    "eval.grounding": "GroundingRow",
    "eval.run": "evaluate EvalConfig EvalRun",
    "eval.pairs": "build_pairs PairsConfig PairsRun",
    "_torchvision": "prepare_torchvision",
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names.split()}

__all__ = [*sorted(_EXPORTS), "__version__"]  # noqa: PLE0604 - the names _EXPORTS maps


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)

# the first `import torchvision` (transformers' AutoProcessor, transformers.loss, peft) gets a
# CPU-only torch prepared first; costs nothing until then (see omni_bench._torchvision)
install_import_hook()
