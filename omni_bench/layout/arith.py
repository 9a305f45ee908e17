"""The pure arithmetic under its old name: :mod:`omni_bench.core.arith` (it sits below the families)."""

from omni_bench.core.arith import *  # noqa: F403 - the same module's public names
from omni_bench.core.arith import __all__  # noqa: F401
