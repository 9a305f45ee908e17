"""Bad samples cost a sample, not the run: a clip that stops decoding mid-epoch is skipped and listed.

Every record passes the gate before training (its video probed, its first and last sampled frames
decoded), but a file can still fail later: damaged between those frames, truncated or replaced while
the run goes on. :class:`SkippingDataset` wraps the training dataset (SFT, DPO pairs, GRPO prompts
alike): when item ``i`` raises :class:`~omni_bench.core.errors.OmniBenchError`, the record is listed
and item ``i + 1`` (then ``i + 2``, ...) is taken in its place, so the batch keeps its size and the
data order stays a function of the sampler alone: a resumed run meets the same failure at the same
step and makes the same substitution, and reproduces the uninterrupted run step for step.

Each skip is appended to the run folder's ``problems.jsonl`` (``{"step", "record", "reason",
"message"}``; the rows past the checkpoint are dropped on ``--resume``, as ``metrics.jsonl``'s are)
and comes back in the result's ``dropped``. More than ``--max-bad-samples`` skips over the run
stop it with one line: the data is broken at scale, ``validate`` lists what is wrong.

The step of a skip is the optimizer step whose batch needed the item (the Trainer fetches a step's
batches before it starts the step). Left out: with ``--num-workers`` > 0 the items are made in worker
processes; a skip there is still substituted, but it is listed (and counted against the bound) only
from the main process's view, i.e. not at all. Run with the default 0 workers to have the list.
"""

from __future__ import annotations

import json
from pathlib import Path

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.problems import Problem

__all__ = ["PROBLEMS_FILE", "SkippingDataset", "read_problems", "truncate_problems"]

PROBLEMS_FILE = "problems.jsonl"  # in the run folder: one row per sample skipped during training


def read_problems(output_dir) -> list[dict]:
    """The rows of the run folder's ``problems.jsonl`` (a torn last line is left out)."""
    path = Path(output_dir) / PROBLEMS_FILE
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def truncate_problems(output_dir, step: int) -> None:
    """Keep the rows up to ``step`` (the checkpoint a resumed run starts from); the later ones come again."""
    path = Path(output_dir) / PROBLEMS_FILE
    if path.is_file():
        rows = [row for row in read_problems(output_dir) if int(row.get("step", 0)) <= step]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _record_id(dataset, index: int) -> str:
    """The record id of item ``index`` of an SFT, preference or prompt dataset."""
    try:
        planned = dataset.planned[index]
        if hasattr(planned, "pair"):  # DPO: a preference pair
            return str(planned.pair.id)
        return str(planned.record.id)
    except (AttributeError, IndexError, TypeError):
        inner = getattr(dataset, "sft", None)
        return _record_id(inner, index) if inner is not None else str(index)


class SkippingDataset:
    """``dataset`` whose items that fail with OmniBenchError are replaced by the next good one and listed
    (map-style, as a torch DataLoader takes it; no torch import here).

    dataset: the training dataset (its other attributes are reached through this wrapper).
    output_dir: the run folder (``problems.jsonl``); None: no file.
    max_bad: skips allowed over the run (counting those already in ``problems.jsonl``).
    write: whether this process writes ``problems.jsonl`` (the main one).
    """

    def __init__(self, dataset, *, output_dir: Path | None = None, max_bad: int = 10, write: bool = True):
        self.dataset = dataset
        self.output_dir = output_dir
        self.max_bad = max_bad
        self.write = write
        self.trainer = None  # the Trainer (set once it exists): its state gives the step of a skip
        earlier = read_problems(output_dir) if output_dir is not None else []
        self.skipped: list[dict] = list(earlier)  # this run's skips, the resumed ones first

    def __getattr__(self, name):  # the wrapped dataset's attributes (planned, sft, dropped, ...)
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        for offset in range(len(self.dataset)):
            at = (index + offset) % len(self.dataset)
            try:
                return self.dataset[at]
            except OmniBenchError as exc:
                self._skip(at, exc)
        raise OmniBenchError("no training item can be made any more: every sample failed to decode",
                             reason="no-samples")

    def _skip(self, index: int, exc: OmniBenchError) -> None:
        step = 0 if self.trainer is None else int(self.trainer.state.global_step) + 1
        problem = Problem.from_error(_record_id(self.dataset, index), exc)
        row = {"step": step, "record": problem.source, "reason": problem.reason, "message": problem.message}
        self.skipped.append(row)
        if self.write and self.output_dir is not None:
            with open(Path(self.output_dir) / PROBLEMS_FILE, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
        if len(self.skipped) > self.max_bad:
            raise OmniBenchError(f"{self.output_dir or 'training'}: {len(self.skipped)} samples failed to decode "
                                 f"during training (more than --max-bad-samples {self.max_bad}); the data is broken "
                                 f"at scale: see {PROBLEMS_FILE} and run validate", reason="too-many-bad")

    def problems(self) -> list[Problem]:
        """Each skip as a :class:`Problem` (the message starts with the step)."""
        return [Problem(str(row["record"]), row["reason"], f"skipped at step {row['step']}: {row['message']}")
                for row in self.skipped]
