"""Make transformers' video processor importable beside a CPU-only torch.

Why this module exists
----------------------
transformers' ``Qwen2VLVideoProcessor`` imports ``torchvision.transforms.v2.functional``
for resizing. PyPI only has CUDA builds of torchvision for Linux; their compiled extension
``torchvision/_C.so`` links ``libtorch_cuda.so``, which a CPU build of torch does not have,
so the extension fails to load. torchvision tolerates that, but its
``_meta_registrations.py`` then registers fake kernels for ``torchvision::nms`` and
``torchvision::qnms`` unconditionally, and ``import torchvision`` dies with
``RuntimeError: operator torchvision::nms does not exist``.

What it does
------------
:func:`ensure_torchvision` runs before anything of ours imports transformers' vision
code. If torchvision is installed and its extension loads, it does nothing. If the
extension cannot be loaded, it *declares* the two operator schemas (no kernels) so that
torchvision's own import completes. The pure-Python, pure-torch parts (the ``transforms``
that the video processor uses) then work normally; the detection operators (``nms``,
``roi_align``, ...) stay unavailable and raise if called, exactly as they would with the
extension missing. Nothing in site-packages is modified.

What it leaves out: it does not provide torchcodec. omni_bench decodes video with decord
(PyAV as fallback) and audio with PyAV / librosa and hands arrays to the processor.
"""

from __future__ import annotations

import importlib.util
import os
import sys

__all__ = ["ensure_torchvision", "torchvision_status"]

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_state: dict[str, object] = {"status": None, "library": None}


def _extension_path() -> str | None:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = next(iter(spec.submodule_search_locations))
    for name in sorted(os.listdir(folder)):
        if name.startswith("_C.") and name.endswith((".so", ".pyd")):
            return os.path.join(folder, name)
    return None


def ensure_torchvision() -> str:
    """Prepare ``import torchvision``; return how: "native", "shimmed", "absent" or "imported".

    Idempotent and cheap after the first call.
    """
    if _state["status"] is not None:
        return str(_state["status"])
    if "torchvision" in sys.modules:
        _state["status"] = "imported"
        return "imported"
    path = _extension_path()
    if importlib.util.find_spec("torchvision") is None:
        _state["status"] = "absent"
        return "absent"
    import torch

    status = "native"
    try:
        if path is None:
            raise OSError("torchvision has no compiled extension")
        torch.ops.load_library(path)
    except (OSError, RuntimeError):
        library = torch.library.Library("torchvision", "DEF")
        for schema in _SCHEMAS:
            library.define(schema)
        _state["library"] = library  # keep the registration alive for the process
        status = "shimmed"
    _state["status"] = status
    return status


def torchvision_status() -> str | None:
    """How torchvision was prepared in this process, or None if not yet."""
    return _state["status"]  # type: ignore[return-value]
