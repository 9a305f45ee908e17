"""setuptools' package list, discovered (pyproject.toml holds everything else).

The views live in the top-level folder ``widgets/`` but install as the package ``omni_bench_widgets``
(never as a generic top-level ``widgets``); pyproject.toml's ``packages.find`` cannot rename a
folder, so the discovery is written here: every package under ``omni_bench/`` and under
``widgets/``, found, not listed by hand (a hand list once left out ``omni_bench.families``;
tests/test_wheel_install.py builds and installs the wheel to prove none is missing).
"""

from setuptools import find_packages, setup

views = ["omni_bench_widgets", *(f"omni_bench_widgets.{name}" for name in find_packages("widgets"))]
setup(packages=[*find_packages(include=["omni_bench", "omni_bench.*"]), *views],
      package_dir={"omni_bench_widgets": "widgets"})
