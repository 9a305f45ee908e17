"""``omni-bench``: the command line over the library. Each subcommand prints a text form by
default and one JSON object with ``--json``. User errors exit with status 2 and one line.

One module per subcommand, ``omni_bench/cli/<name>.py``, each with ``register(subparsers)``;
:data:`COMMANDS` lists them in the order ``--help`` shows. Adding a subcommand is adding its
module and one name there. The flags of settings come from the dataclasses' field comments
(:mod:`omni_bench.cli.flags`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from omni_bench import __version__
from omni_bench.cli.flags import OneLineParser, RawDescriptionWholeFlagsHelpFormatter
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.machine import package_version

__all__ = ["main", "build_parser", "COMMANDS", "version_line"]

# The subcommand modules, in help order; a new one (e.g. "eval") is one more name here.
COMMANDS = ("inspect", "plan", "budget", "samplers", "validate", "train", "pairs", "eval", "report", "bench", "env")

_EPILOG = """\
Media files are positional: omni-bench inspect CLIP, plan CLIP, samplers CLIP, budget FILE...
A file whose name starts with "-" goes after "--", e.g.  omni-bench inspect --frames 8 -- -clip.mp4
omni-bench COMMAND --help lists a command's flags; omni-bench env prints what a bug report needs."""


def version_line() -> str:
    """``omni-bench 0.1.0 (transformers 5.23.0)``."""
    return f"omni-bench {__version__} (transformers {package_version('transformers')})"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="omni-bench", epilog=_EPILOG, formatter_class=RawDescriptionWholeFlagsHelpFormatter,
        description="omni_bench: what the Qwen2.5-Omni / Qwen2.5-VL processor produces, predicted and checked. "
                    "Each subcommand prints a text report, or one JSON object with --json; bad input exits with "
                    "status 2 and one line.")
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"omni_bench.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    finished = False
    try:
        status = int(args.func(args) or 0)
        finished = True
        return status
    except OmniBenchError as exc:
        print(f"omni-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("omni-bench: interrupted", file=sys.stderr)
        return 130
    finally:
        _close_process_group(wait=finished)


def _close_process_group(wait: bool) -> None:
    """Under ``accelerate launch`` the process group is closed before the interpreter exits: one left to the
    interpreter's teardown aborted a gloo process about one run in two ("terminate called without an active
    exception", SIGABRT after the run finished), and torchrun then failed the whole launch. After a finished
    command the processes meet first (``wait``), so none tears its group down while another still talks to it;
    after an error they do not (the other process may never get there)."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()
