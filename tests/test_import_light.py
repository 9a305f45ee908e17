"""Importing any module of omni_bench never loads the drawing or widget libraries.

Each module is imported in a fresh interpreter (so one module's imports cannot hide
another's), then ``sys.modules`` must hold neither ``matplotlib.pyplot`` nor ``ipywidgets``.
``__main__`` modules are left out: importing one runs the command line.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import omni_bench

HEAVY = ["matplotlib.pyplot", "ipywidgets"]
MODULES = sorted(m.name for m in pkgutil.walk_packages(omni_bench.__path__, "omni_bench.")
                 if not m.name.endswith(".__main__"))


def test_the_walk_finds_the_layers():
    for name in ("omni_bench.core.media", "omni_bench.layout.inspect", "omni_bench.training.run",
                 "omni_bench.families.qwen2_5_omni", "omni_bench.cli"):
        assert name in MODULES


@pytest.mark.slow
def test_every_module_imports_without_pyplot_or_ipywidgets():
    code = ("import importlib, json, sys; importlib.import_module(sys.argv[1]); "
            f"print(json.dumps([h for h in {HEAVY!r} if h in sys.modules]))")
    loaded = {}
    for name in MODULES:
        done = subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{name}: {done.stderr[-2000:]}"
        hits = json.loads(done.stdout.strip().splitlines()[-1])
        if hits:
            loaded[name] = hits
    assert loaded == {}
