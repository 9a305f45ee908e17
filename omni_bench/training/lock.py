"""One run at a time per run folder: :func:`run_lock` holds ``run.lock`` (``fcntl.flock``) while a run writes.

A second ``train`` on the same ``--output`` is refused with one line naming the folder and the
process holding it. The kernel drops the lock when its process ends, however it ends (``kill -9``
included), so a folder is never left locked and ``--resume`` after a crash just works. The file
stays in the folder (removing it would let two runs lock two different files). Not covered:
network file systems without ``flock``, and platforms without :mod:`fcntl` (the lock is skipped).
:func:`file_lock` is the same lock on any file (``eval run`` holds ``<log>.lock``, omni_bench/eval/log.py).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from omni_bench.core.errors import OmniBenchError

__all__ = ["LOCK_FILE", "run_lock", "file_lock", "check_output_dir"]

LOCK_FILE = "run.lock"


def check_output_dir(output_dir: Path) -> None:
    """Refuse an ``--output`` that names a file (or sits under one)."""
    for folder in (output_dir, *output_dir.parents):
        if folder.exists():
            if not folder.is_dir():
                raise OmniBenchError(f"--output {output_dir}: {folder} is a file, not a folder; choose another "
                                     "--output", source=str(output_dir), reason="not-a-folder")
            return


@contextlib.contextmanager
def file_lock(lock_path: Path, source: Path, message: str):
    """Hold ``lock_path`` (``fcntl.flock``, created) for the ``with`` block; when another process holds it,
    raise OmniBenchError(``message``) with ``{holder}`` filled in (the pid written in the file)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    handle = open(lock_path, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise OmniBenchError(message.format(holder=holder), source=str(source), reason="run-locked") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the file drops the lock


@contextlib.contextmanager
def run_lock(output_dir: Path, *, held: bool = True):
    """Hold ``output_dir/run.lock`` for the ``with`` block (creating the folder); ``held=False``: no-op
    (the processes of a distributed run other than the main one)."""
    if not held:
        yield
        return
    check_output_dir(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(output_dir / LOCK_FILE, output_dir,
                   f"{output_dir}: another run is writing this folder ({{holder}}); wait for it to finish or "
                   "choose another --output"):
        yield
