"""omni_bench: see what the Qwen2.5-Omni / Qwen2.5-VL processors really produce, predict it,
build correct training samples and run short LoRA fine-tunes.

The package is light to import: heavy modules (transformers, decord, PyAV) load when a
function that needs them is first called. ``import omni_bench`` never imports ipywidgets or
matplotlib's pyplot; the notebook views live in ``omni_bench_widgets``.
"""

from __future__ import annotations

from ._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "OmniBenchError": "errors",
    "Profile": "profiles", "PROFILES": "profiles", "get_profile": "profiles",
    "load_processor": "processor",
    "tiny_model": "models",
    "VideoInfo": "media", "probe": "media", "read_frames": "media", "read_audio": "media",
    "write_clip": "media",
    "LayoutSettings": "settings",
    "TokenLayout": "layout", "Segment": "layout", "LayoutStats": "layout",
    "inspect": "inspection",
    "plan": "planner", "media_plan": "planner", "media_info": "planner", "MediaPlan": "planner",
    "alignment": "timing", "recommend": "timing", "temporal_positions": "timing",
    "rope_positions": "timing", "Alignment": "timing", "Chunk": "timing", "Recommendation": "timing",
    "budget": "budgets", "Budget": "budgets", "logits_bytes": "budgets",
    "budget_dataset": "budgets", "DatasetBudget": "budgets",
    "assistant_labels": "labels", "audit_labels": "labels", "TokenIds": "tokens", "token_ids": "tokens",
    "Sampling": "samplers", "SamplingError": "samplers", "SAMPLERS": "samplers",
    "sample_qwen_vl_utils": "samplers", "sample_transformers": "samplers", "sample_llama_factory": "samplers",
    "sample_qwen25vl_finetune": "samplers", "sample_uniform": "samplers", "sample_fps": "samplers",
    "SamplerComparison": "samplers", "SamplerRow": "samplers", "compare_samplers": "samplers",
    "BudgetRow": "samplers", "budget_table": "samplers", "format_budget_table": "samplers",
    "DecodeCost": "decodecost", "measure_decode": "decodecost",
    "Record": "records", "load_records": "records", "load_longvale_sft": "records",
    "load_longvale_annotations": "records", "load_qwen_vl": "records", "render_time": "records",
    "resolve_media": "records", "mix": "records",
    "Turn": "samples", "TokenCount": "samples", "Sample": "samples", "Dropped": "samples",
    "SplitReport": "samples", "build_sample": "samples", "count_tokens": "samples", "fit_turns": "samples",
    "media_token_count": "samples", "split_report": "samples", "synthetic_records": "samples",
    "OmniSFTDataset": "dataset", "OmniCollator": "dataset",
    "enable_fused_loss": "fused", "disable_fused_loss": "fused", "use_fused_loss": "fused",
    "TrainConfig": "training", "RunResult": "training", "train": "training", "load_trained_model": "training",
    "adapt_model": "training",
    "lora_target_regex": "training", "last_checkpoint": "training", "read_metrics": "training",
    "plot_metrics": "training",
    "validate": "validation", "ValidationReport": "validation",
}

__all__ = [*sorted(_EXPORTS), "__version__"]  # noqa: PLE0604 - the names _EXPORTS maps


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
