"""transformers' own vision code imports beside omni_bench, in a fresh interpreter (CPU-only torch)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_import_omni_bench_then_transformers_auto_processor_and_loss():
    done = _run(
        "import sys, omni_bench\n"
        "assert 'torch' not in sys.modules, 'import omni_bench must not import torch'\n"
        "from transformers import AutoProcessor\n"
        "import transformers.loss\n"
        "import torchvision.transforms.v2.functional\n"
        "from omni_bench._torchvision import torchvision_status, _TorchvisionHook\n"
        "assert not any(isinstance(f, _TorchvisionHook) for f in sys.meta_path)\n"
        "print(torchvision_status(), AutoProcessor.__name__)\n"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    status, name = done.stdout.split()
    assert status in {"native", "shimmed"} and name == "AutoProcessor"


def test_prepare_torchvision_is_public_and_idempotent():
    done = _run(
        "import omni_bench\n"
        "first = omni_bench.prepare_torchvision()\n"
        "import torchvision\n"
        "print(first, omni_bench.prepare_torchvision())\n"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = done.stdout.split()
    assert first == second and first in {"native", "shimmed"}


def test_without_the_hook_the_cpu_torch_import_fails_or_loads_natively():
    # the failure the hook exists for: on a CPU-only torch with PyPI's CUDA torchvision a
    # plain `import torchvision` raises; where the extension loads natively there is nothing to test
    probe = _run("import omni_bench; print(omni_bench.prepare_torchvision())")
    if probe.stdout.strip() != "shimmed":
        pytest.skip(f"torchvision here is {probe.stdout.strip() or probe.stderr[-200:]}: nothing to shim")
    done = _run("import torchvision")
    assert done.returncode != 0 and "torchvision::nms does not exist" in done.stderr
