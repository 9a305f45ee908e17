"""Bad samples cost a sample, not the run: a clip that stops decoding mid-epoch is skipped and listed.

Every record passes the gate before training (its video probed, its first and last sampled frames
decoded), but a file can still fail later: damaged between those frames, truncated or replaced while
the run goes on (and under ``--method grpo`` a reward can fail on a prompt's completions: the trainer
skips that group and lists it here, :meth:`SkippingDataset.record_fault`, reason ``reward``).
:class:`SkippingDataset` wraps the training dataset (SFT, DPO pairs, GRPO prompts alike): when item ``i`` raises
:class:`~omni_bench.core.errors.OmniBenchError`, the record is listed
and item ``i + 1`` (then ``i + 2``, ...) is taken in its place, so the batch keeps its size and the
data order stays a function of the sampler alone: a resumed run meets the same failure at the same
step and makes the same substitution, and reproduces the uninterrupted run step for step.
A clip damaged during the run fails the gate when the run resumes and is dropped at planning; the
checkpoint's ``planned.json`` (the items' record ids when the run started) keeps the resumed run's items
where they were, the dropped one failing in place as it did, so the data order is the uninterrupted run's.

Each skip is appended to the run folder's ``problems.jsonl`` (``{"step", "record", "reason",
"message"}``; the rows past the checkpoint are dropped on ``--resume``, as ``metrics.jsonl``'s are)
and comes back in the result's ``dropped``. More than ``--max-bad-samples`` skips over the run
stop it with one line: the data is broken at scale, ``validate`` lists what is wrong.

The step of a skip is the optimizer step whose batch holds the item, counted from the items served
(the data loader fetches one batch ahead, so the trainer's own step at the fetch is not it; where an
epoch's batches are not a multiple of ``--grad-accum`` the count is approximate).
Left out: with ``--num-workers`` > 0 the items are made in worker
processes; a skip there is still substituted, but it is listed (and counted against the bound) only
from the main process's view, i.e. not at all. Run with the default 0 workers to have the list.
"""

from __future__ import annotations

import json
from pathlib import Path

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.problems import Problem

__all__ = ["PROBLEMS_FILE", "PLAN_FILE", "SkippingDataset", "read_problems", "truncate_problems"]

PROBLEMS_FILE = "problems.jsonl"  # in the run folder: one row per sample skipped during training
PLAN_FILE = "planned.json"  # in each checkpoint: the record ids of the items when the run started, in order


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


def _same_positions(plan: list[str], ids: list[str]) -> list[int | None]:
    """For each record of the run's first plan, its position among ``ids`` now (None: no longer planned).

    ``_same_positions(["a", "b", "c"], ["a", "c"]) -> [0, None, 1]``
    """
    free: dict[str, list[int]] = {}
    for position, record in enumerate(ids):
        free.setdefault(record, []).append(position)
    return [free[record].pop(0) if free.get(record) else None for record in plan]


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

    def __init__(self, dataset, *, output_dir: Path | None = None, max_bad: int = 10, write: bool = True,
                 resumed_from: Path | None = None):
        self.dataset = dataset
        self.output_dir = output_dir
        self.max_bad = max_bad
        self.write = write
        self.trainer = None  # the Trainer (set once it exists): batch size, accumulation, the step resumed from
        self.served = 0  # items handed out by this invocation (the data loader asks for them in order)
        self.first_step: int | None = None  # the trainer's step when the first item was asked for
        earlier = read_problems(output_dir) if output_dir is not None else []
        self.skipped: list[dict] = list(earlier)  # this run's skips, the resumed ones first
        self.plan = [_record_id(dataset, i) for i in range(len(dataset))]  # record ids of the items, in order
        self.index: list[int | None] = list(range(len(dataset)))  # item -> wrapped item (None: dropped since)
        plan_file = None if resumed_from is None else Path(resumed_from) / PLAN_FILE
        if plan_file is not None and plan_file.is_file():  # the plan the checkpoint was trained with
            ids, self.plan = self.plan, json.loads(plan_file.read_text(encoding="utf-8"))
            self.index = _same_positions(self.plan, ids)

    def __getattr__(self, name):  # the wrapped dataset's attributes (planned, sft, dropped, ...)
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index: int):
        if self.first_step is None and self.trainer is not None:
            self.first_step = int(self.trainer.state.global_step)
        self.served += 1
        for offset in range(len(self.index)):
            position = (index + offset) % len(self.index)
            at = self.index[position]
            try:
                if at is None:  # planned when the run started, dropped by the gate on resume: it fails as then
                    raise self._dropped_since(position)
                return self.dataset[at]
            except OmniBenchError as exc:
                self._skip(position, exc)
        raise OmniBenchError("no training item can be made any more: every sample failed to decode",
                             reason="no-samples")

    def _dropped_since(self, position: int) -> OmniBenchError:
        record = self.plan[position]
        found = next((p for p in getattr(self.dataset, "dropped", ()) if str(p.source) == record), None)
        if found is None:
            return OmniBenchError(f"{record}: planned when the run started, not found on resume", reason="missing")
        return OmniBenchError(found.message, source=record, reason=found.reason)

    def _skip(self, position: int, exc: OmniBenchError) -> None:
        self.record_fault(self.plan[position], exc, self._step())

    def record_fault(self, record: str, exc: OmniBenchError, step: int) -> None:
        """List ``record`` as skipped at ``step`` for ``exc`` (a GRPO reward fault: the trainer skips the prompt's
        group) and count it toward ``max_bad``."""
        problem = Problem.from_error(record, exc)
        row = {"step": step, "record": problem.source, "reason": problem.reason, "message": problem.message}
        self.skipped.append(row)
        if self.write and self.output_dir is not None:
            with open(Path(self.output_dir) / PROBLEMS_FILE, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
        if len(self.skipped) > self.max_bad:
            raise OmniBenchError(f"{self.output_dir or 'training'}: {len(self.skipped)} samples failed to decode "
                                 f"during training (more than --max-bad-samples {self.max_bad}); the data is broken "
                                 f"at scale: see {PROBLEMS_FILE} and run validate", reason="too-many-bad")

    def _step(self) -> int:
        """The optimizer step whose batch holds the item being served, counted from the items served (the
        data loader fetches a batch ahead, so the trainer's own step is not it)."""
        if self.trainer is None:
            return 0
        args = self.trainer.args
        size, accumulate = args.per_device_train_batch_size, args.gradient_accumulation_steps
        per_process = -(-len(self.index) // max(args.world_size, 1))  # items one process sees in an epoch
        per_epoch = -(-per_process // size)  # batches of an epoch
        done = (self.first_step or 0) * accumulate  # batches trained before this invocation (skipped on resume)
        epochs, into = divmod(done, per_epoch)
        at = epochs * per_process + into * size + self.served - 1  # the item's place in the run's item stream
        epochs, within = divmod(at, per_process)
        return (epochs * per_epoch + within // size) // accumulate + 1

    def problems(self) -> list[Problem]:
        """Each skip as a :class:`Problem` (the message starts with the step)."""
        return [Problem(str(row["record"]), row["reason"], f"skipped at step {row['step']}: {row['message']}")
                for row in self.skipped]
