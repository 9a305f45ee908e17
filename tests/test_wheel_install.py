"""The package as a user installs it: a wheel built from a clean copy of the tracked files, installed
non-editable into a fresh folder, and run from a folder outside the repository.

The development install is editable: its finder maps ``omni_bench`` to the checkout, so a
subpackage the wheel lacks (``omni_bench.families`` once, when ``pyproject.toml`` listed the
packages by hand) still imports there. Here the wheel is built with pip from a copy of
``git ls-files`` as they are in the working tree (uncommitted edits of tracked files included,
untracked files left out), installed with ``pip install --target``, and every command runs
under ``python -S`` with only that folder and the virtual environment's site-packages on
``sys.path``: ``-S`` skips the ``.pth`` files, so the editable finder never loads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "data" / "clips" / "kitchen_talk.mkv"  # a bundled clip with an audio track
pytestmark = pytest.mark.slow


def _tracked() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in listed.decode().split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def wheel_and_site(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(the wheel, the folder it is installed in, a working folder outside the repository)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout (the wheel is built from the tracked files)")
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    for name in _tracked():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(tmp / "dist"),
                    str(source)], check=True, capture_output=True, text=True, timeout=600)
    wheel, = (tmp / "dist").glob("omni_bench-*.whl")
    site = tmp / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-compile", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True, timeout=600)
    outside = tmp / "elsewhere"
    outside.mkdir()
    return wheel, site, outside


def _installed_python(site: Path, outside: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -S ARGS`` in ``outside``, importing from ``site`` first, then the venv's own packages."""
    paths = dict.fromkeys([str(site), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run([sys.executable, "-S", *args], cwd=outside, env=env, capture_output=True, text=True,
                          timeout=600)


def _omni_bench(site: Path, outside: Path, *argv: str) -> subprocess.CompletedProcess:
    """The installed ``omni-bench`` console script: the entry point the wheel's metadata names, called as pip's
    launcher calls it (the launcher itself would start the venv's python with its .pth files)."""
    code = ("import sys, importlib.metadata as m; dist, = m.distributions(path=[sys.argv[1]]); "
            "ep, = dist.entry_points.select(group='console_scripts', name='omni-bench'); "
            "sys.argv[0] = 'omni-bench'; sys.exit(ep.load()(sys.argv[2:]))")
    return _installed_python(site, outside, "-c", code, str(site), *argv)


def _modules(folder: Path, package: str) -> set[str]:
    """Every module name of the package rooted at ``folder`` (files ending in .py, ``__init__`` as the package)."""
    names = set()
    for path in folder.rglob("*.py"):
        parts = path.relative_to(folder).with_suffix("").parts
        names.add(".".join((package, *parts[:-1])) if parts[-1] == "__init__" else ".".join((package, *parts)))
    return names


def test_the_wheel_holds_every_package_folder_and_template(wheel_and_site):
    wheel, _, _ = wheel_and_site
    inside = set(zipfile.ZipFile(wheel).namelist())
    folders = [path.parent for path in (ROOT / "omni_bench").rglob("__init__.py") if "__pycache__" not in path.parts]
    for folder in folders:
        assert f"{folder.relative_to(ROOT).as_posix()}/__init__.py" in inside, f"{folder} is not in the wheel"
    assert "omni_bench_widgets/__init__.py" in inside and not any(n.startswith("widgets/") for n in inside)
    templates = sorted((ROOT / "omni_bench" / "templates").glob("*.jinja"))
    assert templates
    for template in templates:
        assert f"omni_bench/templates/{template.name}" in inside
    assert "omni_bench/families/__init__.py" in inside  # the subpackage the hand list once forgot


def test_every_installed_module_imports_from_outside_the_repository(wheel_and_site):
    _, site, outside = wheel_and_site
    code = """
import importlib, json, pkgutil, sys
found, where = [], {}
for top in ("omni_bench", "omni_bench_widgets"):
    package = importlib.import_module(top)
    where[top] = package.__file__
    found.append(top)
    for info in pkgutil.walk_packages(package.__path__, top + "."):
        if not info.name.endswith(".__main__"):  # importing it runs the command line
            importlib.import_module(info.name)
            found.append(info.name)
print(json.dumps({"modules": found, "where": where, "editable": any("editable" in type(f).__module__
                                                                    for f in sys.meta_path)}))
"""
    done = _installed_python(site, outside, "-c", code)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert not report["editable"]
    for top, file in report["where"].items():
        assert Path(file).is_relative_to(site), f"{top} imported from {file}, not from the installed wheel"
    # the installed walk finds every module of the source tree (a package the wheel lacks would be missing)
    expected = _modules(ROOT / "omni_bench", "omni_bench") | _modules(ROOT / "widgets", "omni_bench_widgets")
    expected = {name for name in expected if not name.endswith(".__main__") and "__pycache__" not in name}
    assert set(report["modules"]) == expected


def _checkout(*argv: str) -> dict:
    """``omni-bench ARGV --json`` run from the checkout (the editable install), parsed."""
    done = subprocess.run([sys.executable, "-m", "omni_bench.cli", *argv, "--json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_installed_plan_and_inspect_run_on_a_bundled_clip(wheel_and_site):
    _, site, outside = wheel_and_site
    for argv in (["plan", str(CLIP), "--frames", "4"], ["inspect", str(CLIP), "--frames", "4", "--resize", "56x56"]):
        installed = _omni_bench(site, outside, *argv, "--json")
        assert installed.returncode == 0, installed.stderr[-3000:]
        assert json.loads(installed.stdout) == _checkout(*argv)  # the same report as the checkout's own command
    assert list(outside.iterdir()) == []  # the runs left nothing in the folder they ran from
