"""What machine a benchmark ran on, for its results file: one description for every benchmark.

``describe_machine("torch", "av")`` -> ``{"cpu": "AMD EPYC ...", "cores": 2, "memory_gib": 23.5,
"load_average": [0.9, 1.2, 1.3], "python": "3.11.7", "platform": "...", "torch": "2.13.0+cpu",
"av": "18.1.0"}``. GPU name and count are added when torch sees CUDA. Not covered: anything
that needs root or a tool outside Python (no lscpu, no nvidia-smi).

:func:`environment` is what a bug report needs (``omni-bench env``): the versions of the
packages omni_bench runs on, how torchvision is provided, the CPU kernel path torch dispatches
to, the thread / kernel environment variables, CUDA and the GPUs.
"""

from __future__ import annotations

import importlib
import os
import platform

from omni_bench._torchvision import ensure_torchvision
from omni_bench._version import __version__

__all__ = ["cpu_model", "describe_machine", "package_version", "environment", "ENV_PACKAGES"]

# The distributions a bug report names, by their import / distribution names.
ENV_PACKAGES = ("torch", "transformers", "peft", "accelerate", "decord", "av", "librosa", "liger_kernel",
                "qwen_vl_utils", "torchvision", "numpy")
ENV_VARIABLES = ("ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS")  # change which kernels and how many threads run
NOT_INSTALLED = "not installed"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(name: str) -> str:
    """A package's installed version from its metadata (nothing imported), "not installed" if absent."""
    from importlib import metadata

    for dist in (name, name.replace("_", "-")):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    try:
        return str(getattr(importlib.import_module(name), "__version__", "unknown"))
    except Exception:  # ImportError, or a broken package failing at import: either way not usable
        return NOT_INSTALLED


def describe_machine(*packages: str) -> dict:
    """CPU, cores, memory, load, Python and the versions of the named packages."""
    info: dict = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for name in packages:
        info[name] = package_version(name)
    if "torch" in packages:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    return info


def environment() -> dict:
    """Versions, torchvision status, CPU kernel path, thread variables, CUDA and GPUs, for a bug report.

    Keys: ``omni_bench``, ``python``, ``platform``, ``packages`` (name -> version or "not installed"),
    ``torchvision_status`` (:func:`omni_bench._torchvision.ensure_torchvision`: native, shimmed,
    absent, or imported when torchvision was already imported), ``cpu``, ``cpu_capability``
    (``torch.backends.cpu.get_cpu_capability()``), ``environment`` (those of ATEN_CPU_CAPABILITY,
    OMP_NUM_THREADS that are set), ``torch_threads``, ``cuda`` (available or not), ``cuda_version``,
    ``gpus`` (names). Without torch the torch-side keys are None and ``gpus`` is empty.
    """
    info: dict = {"omni_bench": __version__, "python": platform.python_version(), "platform": platform.platform(),
                  "packages": {name: package_version(name) for name in ENV_PACKAGES},
                  "torchvision_status": None, "cpu": cpu_model(), "cpu_capability": None,
                  "environment": {k: os.environ[k] for k in ENV_VARIABLES if k in os.environ},
                  "torch_threads": None, "cuda": False, "cuda_version": None, "gpus": []}
    if info["packages"]["torch"] == NOT_INSTALLED:
        return info
    import torch

    info["torchvision_status"] = ensure_torchvision()
    info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    info["torch_threads"] = torch.get_num_threads()
    info["cuda"] = bool(torch.cuda.is_available())
    info["cuda_version"] = torch.version.cuda
    if info["cuda"]:
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info
