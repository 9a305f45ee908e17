"""What machine a benchmark ran on, for its results file: one description for every benchmark.

``describe_machine("torch", "av")`` -> ``{"cpu": "AMD EPYC ...", "cores": 2, "memory_gib": 23.5,
"load_average": [0.9, 1.2, 1.3], "python": "3.11.7", "platform": "...", "torch": "2.13.0+cpu",
"av": "18.1.0"}``. GPU name and count are added when torch sees CUDA. Not covered: anything
that needs root or a tool outside Python (no lscpu, no nvidia-smi).
"""

from __future__ import annotations

import importlib
import os
import platform

__all__ = ["cpu_model", "describe_machine"]


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


def _version(name: str) -> str:
    """A package's installed version from its metadata (nothing imported), "not installed" if absent."""
    from importlib import metadata

    for dist in (name, name.replace("_", "-")):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    try:
        return str(getattr(importlib.import_module(name), "__version__", "unknown"))
    except ImportError:
        return "not installed"


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
        info[name] = _version(name)
    if "torch" in packages:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    return info
