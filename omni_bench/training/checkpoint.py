"""Atomic checkpoints: ``checkpoint-N`` appears in the run folder only once it is complete.

transformers' Trainer writes a checkpoint file by file into ``checkpoint-N``; a run killed or
out of disk space half-way leaves a folder that looks like a checkpoint. :func:`atomic_checkpoints`
gives a Trainer class a ``_save_checkpoint`` that lets the Trainer write into
``<run>/.partial/checkpoint-N`` and, once every process has written its part, renames it to
``<run>/checkpoint-N`` (one ``rename`` on one file system: there or not there). The older
checkpoints are rotated (``--save-total-limit``) only after the rename, so the previous one is
never removed before its successor is complete. ``last_checkpoint`` (training/run.py) never looks
into ``.partial``.

On a full disk (``ENOSPC``, or a write that fails with less free space than a checkpoint takes)
the partial folder is removed and the run stops with one line naming the folder, the space a
checkpoint takes and the space free; ``--resume`` then continues from the previous checkpoint.
Left out: a full disk while writing ``metrics.jsonl`` or the final adapter (the checkpoint is the
large write); network file systems where ``rename`` is not atomic.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

from omni_bench.core.errors import OmniBenchError
from omni_bench.training.bad_samples import PLAN_FILE

__all__ = ["PARTIAL_DIR", "atomic_checkpoints", "folder_bytes", "disk_full_error"]

PARTIAL_DIR = ".partial"  # in the run folder: checkpoints being written


def folder_bytes(folder: Path) -> int:
    """The bytes of the files under ``folder`` (0 when it is missing)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with_path = os.path.join(root, name)
            try:
                total += os.lstat(with_path).st_size
            except OSError:
                continue
    return total


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _no_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the disk is full."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "no space left" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_error(folder: Path, needed: int, free: int, previous: Path | None) -> OmniBenchError:
    """The one line for a checkpoint that did not fit on the disk."""
    then = (f"--resume continues from {previous.name}" if previous is not None
            else "no earlier checkpoint: the run starts again")
    return OmniBenchError(f"{folder}: no space left on the disk for {folder.name} (a checkpoint takes about "
                          f"{_mib(needed)}, {_mib(free)} free); free space or move --output, then {then}",
                          source=str(folder), reason="disk-full")


def atomic_checkpoints(trainer_class):
    """``trainer_class`` with checkpoints written to ``.partial/`` and renamed when complete."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

    class AtomicCheckpointTrainer(trainer_class):
        def _save_checkpoint(self, model, trial):
            run_dir = Path(self._get_output_dir(trial=trial))
            name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            partial, final = run_dir / PARTIAL_DIR, run_dir / name
            previous = _newest_checkpoint(run_dir)
            main = self.args.should_save
            if main:
                shutil.rmtree(partial / name, ignore_errors=True)  # a save killed half-way before
            limit = self.args.save_total_limit
            self.args.output_dir, self.args.save_total_limit = str(partial), None  # the Trainer writes there
            try:
                super()._save_checkpoint(model, trial)
            except (OSError, RuntimeError) as exc:
                written = folder_bytes(partial / name)
                shutil.rmtree(partial / name, ignore_errors=True)
                _remove_if_empty(partial)
                needed = max(folder_bytes(previous) if previous is not None else 0, written)
                free = shutil.disk_usage(run_dir).free
                if _no_space(exc) or free < needed:
                    raise disk_full_error(final, needed, free, previous) from None
                raise
            finally:
                self.args.output_dir, self.args.save_total_limit = str(run_dir), limit
            plan = getattr(self.train_dataset, "plan", None)  # the items' record ids (training/bad_samples.py)
            if main and plan is not None:
                (partial / name / PLAN_FILE).write_text(json.dumps(plan) + "\n", encoding="utf-8")
            self.accelerator.wait_for_everyone()  # every process has written its part
            if main:
                if final.exists():  # the same step saved again (e.g. a stop signal on a --save-steps step)
                    shutil.rmtree(final)
                os.replace(partial / name, final)
                _remove_if_empty(partial)
                rotate_checkpoints(output_dir=str(run_dir), save_total_limit=limit,
                                   best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=False)
            self.accelerator.wait_for_everyone()

    return AtomicCheckpointTrainer


def _newest_checkpoint(run_dir: Path) -> Path | None:
    found = [(int(p.name.split("-")[-1]), p) for p in run_dir.glob("checkpoint-*")
             if p.name.split("-")[-1].isdigit() and p.is_dir()]
    return max(found)[1] if found else None


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
