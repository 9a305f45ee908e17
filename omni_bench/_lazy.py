"""Lazy public names (PEP 562) for ``omni_bench`` and ``omni_bench_widgets``.

Both packages keep a map of public name -> defining module, so that importing the package
is light (no torch, transformers, ipywidgets or matplotlib until a name that needs them is
used). :func:`lazy_exports` makes the module-level ``__getattr__`` and ``__dir__`` for such a map.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str], names: list[str]):
    """``(__getattr__, __dir__)`` for ``package``: a name in ``exports`` is imported from its
    module on first use and cached on the package; any other name is an AttributeError."""

    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return names

    return __getattr__, __dir__
