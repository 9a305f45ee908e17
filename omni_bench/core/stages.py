"""Stage lines: what a command is doing, one line each on stderr, before and during its slow steps.

``omni-bench COMMAND: text (12.3 s)``: the seconds are counted from the start of the process
(the command), not of the step, so a piped log reads as a timeline. They are printed on a
terminal and on any other stderr (a pipe, a file, a job's log); ``OMNI_BENCH_PROGRESS=0`` (or
``--no-progress`` where a command has it) silences them everywhere, under a launcher only the
main process (``RANK`` 0) prints them, and inside a Jupyter kernel (whose cells show progress
bars of their own) they need ``OMNI_BENCH_PROGRESS=1``. stdout keeps the report.

:func:`progress_bar` (a bar updated by hand) and :func:`track` (an iterable) are the one
progress display of a long loop: tqdm's bar on a terminal (and in a notebook where asked);
elsewhere no bar redraws but a stage line every :data:`LINE_EVERY_S` seconds (and at the end)
with the count and the elapsed time.
"""

from __future__ import annotations

import os
import sys
import time

__all__ = ["stage", "stages_wanted", "progress_bar", "track", "elapsed", "LINE_EVERY_S"]

LINE_EVERY_S = 10.0  # seconds between a piped progress bar's lines


def _process_started() -> float:
    """The wall-clock time this process started (Linux: /proc), else now (the time of this import)."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime, in clock ticks
            since_boot = float(uptime.read().split()[0])
        return time.time() - since_boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.time()


_STARTED_WALL = _process_started()
_clock = time.monotonic  # the piped bar's clock (a test replaces it)


def elapsed() -> float:
    """Seconds since this process started."""
    return max(0.0, time.time() - _STARTED_WALL)


def _in_notebook() -> bool:
    return type(sys.stderr).__module__.split(".")[0] == "ipykernel"


def stages_wanted(progress: bool = True) -> bool:
    """Whether stage lines are printed: ``progress``, not OMNI_BENCH_PROGRESS=0, RANK 0, and outside a Jupyter
    kernel unless OMNI_BENCH_PROGRESS=1."""
    setting = os.environ.get("OMNI_BENCH_PROGRESS")
    if not progress or setting == "0" or os.environ.get("RANK", "0") != "0":  # one process of a launch speaks
        return False
    return setting == "1" or not _in_notebook()


def stage(command: str, text: str, progress: bool = True) -> None:
    """``omni-bench COMMAND: text (S s)`` on stderr when :func:`stages_wanted` (S: seconds since the start)."""
    if stages_wanted(progress):
        print(f"omni-bench {command}: {text} ({elapsed():.1f} s)", file=sys.stderr, flush=True)


class _LineBar:
    """tqdm's ``update`` / ``set_postfix`` / ``close`` as stage lines: the first step, then at most one
    line every :data:`LINE_EVERY_S` seconds, and the last."""

    def __init__(self, command: str, total: int, unit: str, progress: bool):
        self.command, self.total, self.unit, self.progress = command, total, unit, progress
        self.n, self.postfix, self.last_line, self.closed = 0, "", None, False

    def update(self, count: int = 1) -> None:
        self.n += count
        if not self.progress:
            return
        now = _clock()
        if self.last_line is None or now - self.last_line >= LINE_EVERY_S or self.n >= self.total:
            self.last_line = now
            self._line()

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        self.postfix = text

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **values) -> None:
        self.postfix = ", ".join(f"{key}={value}" for key, value in {**(ordered_dict or {}), **values}.items())

    def _line(self) -> None:
        postfix = f", {self.postfix}" if self.postfix else ""
        stage(self.command, f"{self.n}/{self.total} {self.unit}{postfix}", self.progress)

    def close(self) -> None:
        if not self.closed and self.n and self.last_line is not None and self.n < self.total:
            self._line()  # stopped early: where it stopped
        self.closed = True


def progress_bar(command: str, total: int, *, desc: str | None = None, unit: str = "it", initial: int = 0,
                 progress: bool | None = True):
    """A progress display with tqdm's ``update`` / ``set_postfix`` / ``close``: tqdm's bar on a terminal or
    in a notebook, stage lines elsewhere (see the module docstring). ``progress``: False hides it; None
    shows it on a terminal or a log but not in a notebook."""
    notebook = _in_notebook()
    shown = (not notebook) if progress is None else bool(progress)
    if notebook or sys.stderr.isatty():
        from tqdm.auto import tqdm

        quiet = os.environ.get("OMNI_BENCH_PROGRESS") == "0" or os.environ.get("RANK", "0") != "0"
        return tqdm(total=total, initial=initial, desc=desc or command, unit=unit, disable=not shown or quiet)
    bar = _LineBar(command, total, unit, shown)
    bar.n = initial
    return bar


def track(iterable, command: str, *, total: int | None = None, unit: str = "it", progress: bool | None = None):
    """``iterable``, shown as :func:`progress_bar` shows a loop (``progress`` as there)."""
    total = len(iterable) if total is None and hasattr(iterable, "__len__") else total
    bar = progress_bar(command, total or 0, unit=unit, progress=progress)
    try:
        for value in iterable:
            yield value
            bar.update(1)
    finally:
        bar.close()
