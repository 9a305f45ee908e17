"""Every command and Python snippet in README.md and docs/*.md runs as written (so a stale example fails).

The fenced blocks of each page are read and sorted by what they hold:

* ``python`` - run as a script; a block written as a doctest (``>>>`` lines) is run as one, so
  the results it shows are compared (ELLIPSIS and NORMALIZE_WHITESPACE on);
* a transcript - any block with lines starting ``$ `` - each command is run in turn and its
  output (stdout and stderr, as a terminal shows them) is compared with the lines under it,
  ``...`` standing for any text (``$?`` is the previous command's exit status);
* ``bash`` / ``sh`` / ``shell`` / ``console`` or unlabelled blocks whose lines are commands
  (``omni-bench``, ``.venv/bin/...``, ``python``, ``accelerate``...) - run with ``bash -e``;
* anything else (``text``, ``json``, output shown on its own) is prose, not run.

A block preceded by ``<!-- not-run: REASON -->`` is not run (a real checkpoint, GPUs, a run
killed by hand), nor one that runs ``scripts/setup.sh`` or ``scripts/test.sh`` (the suite would
run itself); :func:`test_not_run_blocks_say_why` lists them with their reasons. A transcript
preceded by ``<!-- output-not-compared: REASON -->`` is run, but its output is not compared
(memory peaks, timings). Blocks run in a scratch folder where ``data``, ``configs``,
``tests``, ``scripts``... link to the checkout and ``omni-bench`` / ``python`` are the
virtualenv's, so ``runs/`` and other outputs land in the scratch folder.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINKED = ("data", "configs", "tests", "scripts", "benchmarks", "notebooks", "docs", ".venv", "omni_bench", "widgets",
          "pyproject.toml", "README.md")
SHELLS = {"bash", "sh", "shell", "console", "zsh", ""}
COMMANDS = re.compile(r"^(omni-bench|\.venv/bin/|python|accelerate|torchrun|bash|[A-Z_]+=\S*\s|pip|make)\b")
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
MARK = re.compile(r"<!--\s*(?P<kind>not-run|output-not-compared)\s*:\s*(?P<why>.*?)\s*-->\s*$")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
TIMEOUT = 1800


@dataclass(frozen=True)
class Block:
    page: str  # path relative to the checkout
    line: int  # line of the opening fence
    info: str  # the fence's language
    body: str
    mark: tuple[str, str] | None  # ("not-run" | "output-not-compared", reason)

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def kind(self) -> str:
        """``python``, ``doctest``, ``transcript``, ``script`` or ``prose``."""
        if self.info == "python":
            return "doctest" if re.search(r"^>>> ", self.body, re.M) else "python"
        if re.search(r"^\$ ", self.body, re.M):
            return "transcript"
        lines = [ln for ln in self.body.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        if self.info in SHELLS and lines and COMMANDS.match(lines[0]):
            return "script"
        return "prose"


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        found.append(Block(str(page.relative_to(ROOT)), text.count("\n", 0, m.start()) + 1, m["info"].strip(),
                           m["body"], (mark["kind"], mark["why"]) if mark else None))
    return found


SELF = re.compile(r"scripts/(setup|test)\.sh")  # the setup and the whole suite: never run from inside the suite


def skipped_why(block: Block) -> str | None:
    """Why a runnable block is not run: its ``not-run`` mark, or that it runs the setup / the suite itself."""
    if block.mark and block.mark[0] == "not-run":
        return block.mark[1]
    if SELF.search(block.body):
        return "runs scripts/setup.sh or scripts/test.sh (the suite this test is part of)"
    return None


ALL = [b for page in PAGES for b in blocks(page)]
RUN = [b for b in ALL if b.kind != "prose" and skipped_why(b) is None]


def transcript(body: str) -> list[tuple[str, str]]:
    """``$ cmd`` lines (with ``\\`` continuations) and the output under each: [(command, expected)]."""
    steps: list[tuple[str, list[str]]] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = [line[2:]]
            while command[-1].endswith("\\") and i + 1 < len(lines):
                i += 1
                command.append(lines[i])
            steps.append(("\n".join(command), []))
        elif steps:
            steps[-1][1].append(line)
        i += 1
    return [(command, "\n".join(out).strip("\n") + "\n") for command, out in steps]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("docs_run")
    for name in LINKED:
        if (ROOT / name).exists():
            (folder / name).symlink_to(ROOT / name)
    return folder


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("OMNI_BENCH_CACHE", str(ROOT / ".cache" / "omni_bench"))
    for key, value in {"MPLBACKEND": "Agg", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
                       "TRANSFORMERS_OFFLINE": "1"}.items():
        env.setdefault(key, value)
    env["OMNI_BENCH_PROGRESS"] = "0"  # stage lines (stderr, with timings) are not part of the pages' transcripts
    return env


def _run(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=TIMEOUT, env=_env())


def _compare(block: Block, command: str, expected: str, got: str) -> None:
    checker = doctest.OutputChecker()
    if not checker.check_output(expected, got, FLAGS):
        example = doctest.Example(command, expected)
        pytest.fail(f"{block.id}: `{command}` printed other than the page shows\n"
                    + checker.output_difference(example, got, FLAGS))


def run_block(block: Block, cwd: Path) -> None:
    if block.kind == "python":
        done = _run([sys.executable, "-"], cwd, block.body)
        assert done.returncode == 0, f"{block.id}: the snippet failed\n{done.stderr[-3000:]}"
    elif block.kind == "doctest":
        code = ("import doctest, sys; t = doctest.DocTestParser().get_doctest(sys.stdin.read(), {}, 'block', "
                f"'block', 0); r = doctest.DocTestRunner(optionflags={FLAGS}); r.run(t); "
                "sys.exit(1 if r.failures else 0)")
        done = _run([sys.executable, "-c", code], cwd, block.body)
        assert done.returncode == 0, f"{block.id}: the doctest failed\n{done.stdout[-4000:]}{done.stderr[-2000:]}"
    elif block.kind == "script":
        done = _run(["bash", "-e", "-o", "pipefail", "-c", block.body], cwd)
        assert done.returncode == 0, f"{block.id}: the commands failed\n{done.stdout[-1500:]}{done.stderr[-3000:]}"
    else:
        status = 0
        for command, expected in transcript(block.body):  # `$?` is the previous command's status, as in a shell
            done = _run(["bash", "-o", "pipefail", "-c", f"(exit {status}); {command}"], cwd)
            status = done.returncode
            got = done.stdout + done.stderr
            assert "Traceback (most recent call last)" not in got, f"{block.id}: `{command}`\n{got[-3000:]}"
            if block.mark and block.mark[0] == "output-not-compared":
                assert done.returncode == 0, f"{block.id}: `{command}` exited {done.returncode}\n{got[-3000:]}"
                continue
            _compare(block, command, expected, got)


def test_the_pages_have_runnable_blocks():
    kinds = {b.kind for b in RUN}
    assert {"python", "doctest", "transcript", "script"} <= kinds
    assert all(b.mark[1] for b in ALL if b.mark), "a mark without a reason"


def test_not_run_blocks_say_why(capsys):
    skipped = [b for b in ALL if (b.kind != "prose" or b.mark) and skipped_why(b) is not None]
    with capsys.disabled():
        print("\nblocks not run:" + "".join(f"\n  {b.id}: {skipped_why(b)}" for b in skipped))
    for b in skipped:
        assert b.kind != "prose", f"{b.id} is marked not-run but holds no command"


def test_the_transcript_reader():
    body = "$ omni-bench a \\\n    --b 1\nline one\n...\n$ omni-bench c\nline two\n"
    assert transcript(body) == [("omni-bench a \\\n    --b 1", "line one\n...\n"), ("omni-bench c", "line two\n")]


@pytest.mark.slow
@pytest.mark.parametrize("block", RUN, ids=lambda b: b.id)
def test_block_runs_as_written(block, scratch):
    run_block(block, scratch)
