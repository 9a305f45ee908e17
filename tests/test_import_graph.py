"""The project's modules import in one order: no circle, no import inside a function to hide one.

The graph is read from the source, not from a running interpreter, so an import that only runs
inside a function counts as much as one at the top of the module. Nodes are the modules of
``omni_bench`` and of the views (the folder ``widgets/``, installed as ``omni_bench_widgets``).
An edge ``a -> b`` is any of, anywhere in ``a`` (module level, function, class, ``if`` block):

* ``import b`` / ``import b as x``;
* ``from b import name`` (and ``from .b import name``, relative to ``a``'s package); when
  ``b.name`` is itself a module (``from omni_bench.layout import plan``), the edge goes to
  ``b.name`` instead, as Python imports that module and need not run more of ``b``;
* a lazy public name: a package whose ``__init__`` hands its names to
  ``omni_bench._lazy.lazy_exports`` imports the module behind each name on first use, so the
  package has an edge to every module of its name map;
* ``importlib.import_module("b")`` with a literal name.

Importing ``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``; those implicit parent edges
are left out (every module would otherwise sit in a circle with ``omni_bench/__init__``, whose
lazy map names most of the package), as import-linter and pydeps leave them out.

The views sit above everything but the command line: no module of ``omni_bench`` outside
``omni_bench.cli`` imports ``omni_bench_widgets`` (the core returns data, the CLI composes reports).

The last rule: a module imports the project's modules at module level. An import inside a
function is for a heavy dependency only: a heavy third-party package (:data:`HEAVY`: torch,
transformers, matplotlib, ipywidgets, ...), or a project module that loads one as it is imported
(its module-level imports reach one, e.g. ``omni_bench.training.run`` -> torch, the views ->
ipywidgets / matplotlib) - the command line keeps ``omni-bench --help`` from waiting for torch that
way. A function-level import of a light project module is refused whatever its reason; the
exceptions, each with its reason, are :data:`FUNCTION_LEVEL_ALLOWED` (empty).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# import name -> folder
PACKAGES = {"omni_bench": ROOT / "omni_bench", "omni_bench_widgets": ROOT / "widgets"}

# third-party packages that take seconds to import or are optional extras: importing one (or a project
# module that imports one at module level) inside a function is the one good reason for a lazy import
HEAVY = {"torch", "torchvision", "transformers", "peft", "accelerate", "trl", "deepspeed", "liger_kernel",
         "cut_cross_entropy", "triton", "matplotlib", "ipywidgets", "decord", "av", "librosa", "soundfile",
         "pycocoevalcap"}
# (importing module, imported module) -> why this project import runs inside a function
FUNCTION_LEVEL_ALLOWED: dict[tuple[str, str], str] = {}


def module_files() -> dict[str, Path]:
    """Every module of the project by dotted name (``omni_bench.core.errors`` -> its file)."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def _absolute(module: str | None, level: int, package: str) -> str:
    """``from <level dots><module> import ...`` read in ``package``, as an absolute name."""
    if level == 0:
        return module or ""
    base = package.split(".")
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _project(name: str, files: dict[str, Path]) -> str | None:
    """The longest project module that ``name`` is or lies inside (``a.b.func`` -> ``a.b``)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in files:
            return candidate
    return None


def _lazy_targets(tree: ast.Module, name: str) -> list[str]:
    """The modules a ``lazy_exports`` package maps its public names to (relative names)."""
    if not any(isinstance(n, ast.Call) and getattr(n.func, "id", None) == "lazy_exports" for n in ast.walk(tree)):
        return []
    targets = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values, strict=True):
            # {"module": "Name Name"} (omni_bench) or {"Name": "module"} (omni_bench_widgets)
            for text in (key, value):
                if isinstance(text, ast.Constant) and isinstance(text.value, str) and " " not in text.value:
                    targets.append(f"{name}.{text.value}")
    return targets


_PARSED: dict[tuple[Path, str], ast.Module] = {}


def _parse(path: Path) -> ast.Module:
    text = path.read_text()
    if (path, text) not in _PARSED:
        _PARSED[(path, text)] = ast.parse(text, filename=str(path))
    return _PARSED[(path, text)]


def imports(name: str, files: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """``(imported project module, line, inside a function)`` for every project import of ``name``."""
    tree = _parse(files[name])
    package = name if files[name].name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, int, bool]] = []

    def add(target: str, line: int, nested: bool) -> None:
        module = _project(target, files)
        if module is not None and module != name:
            found.append((module, line, nested))

    def visit(node: ast.AST, nested: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno, nested)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                add(full if full in files else base, node.lineno, nested)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            target = node.args[0].value
            anchor = node.args[1] if len(node.args) > 1 else None
            if target.startswith(".") and isinstance(anchor, ast.Constant):
                level = len(target) - len(target.lstrip("."))
                target = _absolute(target.lstrip(".") or None, level, anchor.value)
            add(target, node.lineno, nested)
        inner = nested or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    for target in _lazy_targets(tree, name):
        add(target, 0, False)
    return found


def third_party_at_import(name: str, files: dict[str, Path]) -> set[str]:
    """Top-level names of the third-party packages ``name`` imports as it is imported (outside functions)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name.split(".")[0] for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.add(child.module.split(".")[0])
            visit(child)

    visit(_parse(files[name]))
    return found


def heavy_at_import(files: dict[str, Path]) -> dict[str, str | None]:
    """module -> the chain by which importing it loads a :data:`HEAVY` package (None: it loads none).

    Follows module-level project imports only (a lazy name map loads nothing until a name is used).
    """
    eager = {name: sorted({t for t, line, nested in imports(name, files) if not nested and line}) for name in files}
    chains: dict[str, str | None] = {}

    def chain(name: str, visiting: frozenset) -> str | None:
        if name in chains:
            return chains[name]
        found = sorted(third_party_at_import(name, files) & HEAVY)
        result = f"{name} -> {found[0]}" if found else None
        for target in eager[name] if result is None else ():
            if target not in visiting:
                below = chain(target, visiting | {name})
                if below:
                    result = f"{name} -> {below}"
                    break
        chains[name] = result
        return result

    for name in files:
        chain(name, frozenset())
    return chains


def graph(files: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """module -> the project modules it imports (at any level)."""
    files = files or module_files()
    return {name: {target for target, _, _ in imports(name, files)} for name in files}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def one_loop(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest path that leaves the component's first module and comes back to it."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(edges[node] & members):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    return component


def test_the_reader_sees_every_kind_of_import(tmp_path):
    pkg = tmp_path / "omni_bench"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text('lazy_exports(__name__, {"sub.b": "Name Other"}, [])\n')
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text(
        "from . import b\nfrom .c import f\nimport omni_bench.d as d\n"
        "def g():\n    from ..e import h\n    importlib.import_module('omni_bench.sub.c')\n"
    )
    for leaf in ("sub/b.py", "sub/c.py", "d.py", "e.py"):
        (pkg / leaf).write_text("")
    files = {}
    for path in sorted(pkg.rglob("*.py")):
        parts = list(path.relative_to(pkg).with_suffix("").parts)
        files[".".join(["omni_bench", *[p for p in parts if p != "__init__"]])] = path
    assert sorted(imports("omni_bench.sub.a", files)) == [
        ("omni_bench.d", 3, False), ("omni_bench.e", 5, True), ("omni_bench.sub.b", 1, False),
        ("omni_bench.sub.c", 2, False), ("omni_bench.sub.c", 6, True)]
    assert imports("omni_bench", files) == [("omni_bench.sub.b", 0, False)]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert one_loop(["a", "b", "c"], {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_walk_finds_both_packages():
    files = module_files()
    for name in ("omni_bench", "omni_bench.core.errors", "omni_bench.families.qwen2_5_omni",
                 "omni_bench_widgets", "omni_bench_widgets.inspector"):
        assert name in files


def test_no_import_circle():
    edges = graph()
    found = cycles(edges)
    loops = "\n".join(f"  {len(c)} modules, e.g. {' -> '.join(one_loop(c, edges))}" for c in found)
    assert not found, f"import circles among the project's modules:\n{loops}"


def test_the_heavy_chain_is_followed(tmp_path):
    pkg = tmp_path / "omni_bench"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "light.py").write_text("import json\nfrom omni_bench import numbers\ndef f():\n    import torch\n")
    (pkg / "numbers.py").write_text("import numpy\n")
    (pkg / "model.py").write_text("from omni_bench.numbers import x\nif True:\n    import torch.nn\n")
    (pkg / "run.py").write_text("from omni_bench import model\n")
    files = {"omni_bench": pkg / "__init__.py", **{f"omni_bench.{n}": pkg / f"{n}.py"
                                                    for n in ("light", "numbers", "model", "run")}}
    chains = heavy_at_import(files)
    assert chains["omni_bench.light"] is None and chains["omni_bench.numbers"] is None
    assert chains["omni_bench.run"] == "omni_bench.run -> omni_bench.model -> torch"


def test_project_modules_are_imported_at_module_level():
    files = module_files()
    heavy = heavy_at_import(files)
    nested = [f"{name}:{line} imports {target} inside a function (it loads nothing heavy)"
              for name in files for target, line, inner in imports(name, files)
              if inner and not heavy[target] and (name, target) not in FUNCTION_LEVEL_ALLOWED]
    assert not nested, f"{len(nested)} function-level imports of light project modules:\n" + "\n".join(nested)


def test_only_the_command_line_imports_the_views():
    # the core returns data; the command line (the top layer) composes the views' figures into reports
    files = module_files()
    reaching = sorted({f"{name} -> {target}" for name in files if name.startswith("omni_bench.")
                       and not name.startswith("omni_bench.cli") for target, _, _ in imports(name, files)
                       if target.startswith("omni_bench_widgets")})
    assert reaching == [], "modules below the command line import the views:\n" + "\n".join(reaching)


def test_every_allowed_function_level_import_still_exists_and_says_why():
    files = module_files()
    for (name, target), reason in FUNCTION_LEVEL_ALLOWED.items():
        assert "circle" not in reason and len(reason) > 20, (name, target, reason)
        assert any(t == target and inner for t, _, inner in imports(name, files)), (name, target)
