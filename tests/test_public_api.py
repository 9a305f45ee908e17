"""Every name ``omni_bench`` exports resolves, lazily, without pulling in the notebook stack."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_every_exported_name_resolves_without_widgets():
    code = (
        "import sys, omni_bench\n"
        "missing = [n for n in omni_bench.__all__ if getattr(omni_bench, n, None) is None]\n"
        "assert not missing, missing\n"
        "assert 'ipywidgets' not in sys.modules and 'matplotlib.pyplot' not in sys.modules\n"
        "print(len(omni_bench.__all__))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip()) > 80


def test_unknown_name_is_an_attribute_error():
    import omni_bench

    with pytest.raises(AttributeError, match="no_such_thing"):
        omni_bench.no_such_thing  # noqa: B018
