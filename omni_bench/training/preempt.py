"""Preemption-safe training: SIGTERM / SIGINT end the run at a step boundary with a checkpoint.

Schedulers stop a job with SIGTERM (SLURM, Kubernetes) and kill it a grace period later; a
person stops it with Ctrl-C (SIGINT). While :func:`preemptible` holds the run, either signal only
sets a flag; :func:`preempt_callback` reads it when the current optimizer step ends, asks the
Trainer for a checkpoint at that step and for the end of training. The run folder then holds a
complete ``checkpoint-N`` (written atomically, :mod:`omni_bench.training.checkpoint`) and
``stopped.json`` (why, at which step, the command that resumes), the final adapter is not
written, and :class:`Preempted` is raised; ``omni-bench train`` prints its one line and exits with
:data:`PREEMPTED_EXIT` (75, ``EX_TEMPFAIL``: "try again"; 0 done, 1 non-finite loss, 2 bad input,
130 interrupted without a checkpoint). ``--resume`` continues from that checkpoint and reproduces
the uninterrupted run step for step (the checkpoint holds the optimizer, scheduler and RNG states).

A second signal while the step finishes restores the default handler's behaviour (SIGINT:
``KeyboardInterrupt``, SIGTERM: the process ends), so a stuck step can still be stopped. Under
``accelerate launch`` every process takes the largest flag of all processes at each step end
(one all-reduce of one integer), so all ranks stop at the same step even when only one was
signalled; after the stop each rank ignores SIGTERM while it writes and exits with 75 (torch's
elastic agent terminates the other ranks as soon as the first exits). Left out: SIGUSR1-style
"checkpoint and go on" signals; a step longer than the scheduler's grace period is still killed
(choose a grace period above one step's time).
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from pathlib import Path

__all__ = ["PREEMPTED_EXIT", "STOPPED_FILE", "Preempted", "preempt_callback", "preemptible", "record_stop",
           "read_stopped"]

PREEMPTED_EXIT = 75  # EX_TEMPFAIL (sysexits.h): the run stopped on a signal with a checkpoint; resume it
STOPPED_FILE = "stopped.json"  # in the run folder: why and where the last invocation stopped
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(Exception):
    """The run stopped on a signal after writing ``checkpoint`` (``str(exc)``: the one line to print)."""

    def __init__(self, message: str, *, output_dir: Path, step: int, signal_name: str, checkpoint: Path | None):
        super().__init__(message)
        self.output_dir, self.step, self.signal_name, self.checkpoint = output_dir, step, signal_name, checkpoint


class _Flag:
    """The signal seen (None: none yet); set from the handler, read at the step's end."""

    def __init__(self):
        self.signal: int | None = None

    @property
    def name(self) -> str | None:
        return None if self.signal is None else signal.Signals(self.signal).name


def _make_callback_class():
    from transformers import TrainerCallback

    class _PreemptCallback(TrainerCallback):
        """At each optimizer step's end: when a signal was seen (on any process), save and stop."""

        def __init__(self, flag: _Flag):
            self.flag = flag
            self.stopped_at: int | None = None  # the step the run stopped after

        def on_step_end(self, args, state, control, **kwargs):
            if _agreed(self.flag.signal is not None, args.world_size):
                if self.flag.signal is None:  # another rank was signalled
                    self.flag.signal = int(signal.SIGTERM)
                control.should_save = True
                control.should_training_stop = True
                self.stopped_at = int(state.global_step)
            return control

    return _PreemptCallback


def preempt_callback(flag: _Flag):
    """The :class:`transformers.TrainerCallback` reading ``flag`` at each optimizer step's end."""
    return _make_callback_class()(flag)


def _agreed(local: bool, world_size: int) -> bool:
    """Whether any process saw a signal (every process gets the same answer)."""
    if world_size <= 1:
        return local
    import torch
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        return local
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([int(local)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def _launched() -> bool:
    """Whether this process is one rank of several (torch.distributed initialized)."""
    import sys

    dist = sys.modules.get("torch.distributed")
    return dist is not None and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@contextlib.contextmanager
def preemptible():
    """Within the block SIGTERM and SIGINT set the returned flag instead of ending the process (main thread
    only; elsewhere the handlers are left as they are). The previous handlers come back on exit."""
    flag = _Flag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}

    def handler(signum, frame):
        if flag.signal is not None:  # the second signal: stop now, as without this guard
            signal.signal(signum, previous[signum] if callable(previous[signum]) else signal.SIG_DFL)
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.raise_signal(signum)
            return
        flag.signal = signum

    for sig in _SIGNALS:
        signal.signal(sig, handler)
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def record_stop(output_dir: Path, flag: _Flag, step: int, checkpoint: Path | None, resume_command: str, *,
                write: bool = True) -> Preempted:
    """Write ``stopped.json`` (``write``: the main process) and return the :class:`Preempted` to raise (its
    message is the one line)."""
    info = {"reason": "signal", "signal": flag.name, "step": step,
            "checkpoint": None if checkpoint is None else checkpoint.name, "resume": resume_command,
            "exit_status": PREEMPTED_EXIT, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    launched = _launched()
    if launched and threading.current_thread() is threading.main_thread():
        # torch's elastic agent (accelerate launch) SIGTERMs the other ranks once the first exits: without
        # this a rank was killed before its exit with 75, rank 0 before stopped.json or its line
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if write:
        (output_dir / STOPPED_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    if launched:
        import torch.distributed as dist

        dist.barrier()  # no rank exits before the main one has written stopped.json
    where = "no checkpoint" if checkpoint is None else checkpoint.name
    return Preempted(f"{output_dir}: stopped by {flag.name} after step {step} ({where} written); "
                     f"resume with: {resume_command}", output_dir=output_dir, step=step,
                     signal_name=flag.name or "", checkpoint=checkpoint)


def read_stopped(output_dir) -> dict | None:
    """The run folder's ``stopped.json`` (None: the last invocation was not stopped by a signal)."""
    path = Path(output_dir) / STOPPED_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
