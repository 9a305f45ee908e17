"""Stage lines: what a command is doing, one line each on stderr, before its slow steps.

They go to a terminal, or to any stderr with ``OMNI_BENCH_PROGRESS=1``; piped (a script
reading stderr for the one error line) they stay quiet, and ``OMNI_BENCH_PROGRESS=0`` (or
``--no-progress`` where a command has it) silences them everywhere; under a launcher only
the main process (``RANK`` 0) prints them. stdout keeps the report.
"""

from __future__ import annotations

import os
import sys

__all__ = ["stage", "stages_wanted"]


def stages_wanted(progress: bool = True) -> bool:
    """Whether stage lines are printed: ``progress`` and (a terminal, or OMNI_BENCH_PROGRESS=1), unless =0."""
    setting = os.environ.get("OMNI_BENCH_PROGRESS")
    if not progress or setting == "0" or os.environ.get("RANK", "0") != "0":  # one process of a launch speaks
        return False
    return setting == "1" or sys.stderr.isatty()


def stage(command: str, text: str, progress: bool = True) -> None:
    """``omni-bench COMMAND: text`` on stderr when :func:`stages_wanted`."""
    if stages_wanted(progress):
        print(f"omni-bench {command}: {text}", file=sys.stderr, flush=True)
