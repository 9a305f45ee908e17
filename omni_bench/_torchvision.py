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

When it runs
------------
``import omni_bench`` installs :func:`install_import_hook`: a finder at the head of
``sys.meta_path`` that does nothing until the first ``import torchvision`` (by anyone:
``from transformers import AutoProcessor``, ``import transformers.loss``, peft), runs
:func:`ensure_torchvision` then, and removes itself. So ``import omni_bench`` stays cheap
(no torch import) and transformers' own code works beside it. :func:`prepare_torchvision`
(``omni_bench.prepare_torchvision()``) is the same preparation on demand.

What it leaves out: it does not provide torchcodec. omni_bench decodes video with decord
(PyAV as fallback) and audio with PyAV / librosa and hands arrays to the processor.
"""

from __future__ import annotations

import importlib.util
import os
import sys

__all__ = ["ensure_torchvision", "prepare_torchvision", "torchvision_status", "install_import_hook"]

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_state: dict[str, object] = {"status": None, "library": None, "preparing": False}


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
    _remove_import_hook()
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


def prepare_torchvision() -> str:
    """Make ``import torchvision`` (and so transformers' vision code) work beside a CPU-only torch.

    ``import omni_bench`` already arranges this for the first ``import torchvision``; call it
    yourself only to prepare eagerly. Returns "native" (the extension loads), "shimmed" (the
    two operator schemas were declared), "absent" or "imported" (torchvision was imported
    before omni_bench could act). ``omni_bench.prepare_torchvision() -> "shimmed"`` on a
    CPU-only torch with PyPI's CUDA torchvision.
    """
    return ensure_torchvision()


class _TorchvisionHook:
    # a meta path finder that only watches for the top-level "torchvision" and never finds it itself

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "torchvision" and not _state["preparing"]:
            _state["preparing"] = True
            try:
                ensure_torchvision()
            finally:
                _state["preparing"] = False
        return None  # let the normal finders import it


def install_import_hook() -> None:
    """Run :func:`ensure_torchvision` just before the first ``import torchvision`` (idempotent, no imports)."""
    if _state["status"] is None and "torchvision" not in sys.modules and \
            not any(isinstance(f, _TorchvisionHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionHook())


def _remove_import_hook() -> None:
    # rebind, not mutate: the import machinery may be iterating the current list right now
    if any(isinstance(f, _TorchvisionHook) for f in sys.meta_path):
        sys.meta_path = [f for f in sys.meta_path if not isinstance(f, _TorchvisionHook)]
