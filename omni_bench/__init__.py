"""omni_bench: see what the Qwen2.5-Omni / Qwen2.5-VL processors really produce, predict it,
build correct training samples and run short LoRA fine-tunes.

The package is light to import: heavy modules (transformers, decord, PyAV) load when a
function that needs them is first called. ``import omni_bench`` never imports ipywidgets or
matplotlib's pyplot; the notebook views live in ``omni_bench_widgets``.
"""

from __future__ import annotations

import importlib

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
    "assistant_labels": "labels", "audit_labels": "labels",
}

__all__ = [*sorted(_EXPORTS), "__version__"]  # noqa: PLE0604 - the names _EXPORTS maps


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'omni_bench' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
