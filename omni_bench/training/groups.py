"""The groups a GRPO run sampled: ``groups.jsonl`` in the run folder, its reader and its text twin.

At every logging step (``--logging-steps``) the GRPO trainer (:mod:`omni_bench.training.grpo`) writes
one line per prompt of the step: what was asked, the truth, the G completions, what each reward gave
each completion and the group-relative advantages the loss used. :func:`group_record` makes that line
from what the step computed (nothing is scored twice); :func:`read_groups` reads a run folder's lines
into :class:`GroupRecord` objects; :func:`render_group_text` is the text twin of the group view
(``omni_bench_widgets.draw_grpo_group`` draws the same record on the video's timeline), and
``omni-bench report RUN`` prints it for the last recorded step.

A line, as written (spans in seconds; ``spans`` are each completion's span(s) as the rewards read them,
shares of the video, ``null`` when nothing parsed)::

    {"step": 1, "index": 0, "record": "v1:0", "video": "data/clips/street_market.mkv",
     "question": "When does ...?", "duration": 12.0, "task": "grounding", "target": "From 40 to 60.",
     "true_spans": [[4.8, 7.2]], "completions": ["From 40 to 55.", ...], "spans": [[[0.4, 0.55]], ...],
     "rewards": {"grounding_iou": [0.75, ...], "format": [1.0, ...]}, "reward": [1.75, ...],
     "advantages": [0.86, ...], "lengths": [9, ...], "truncated": [false, ...], "scale_rewards": "group",
     "fault": null}

Under several processes (DDP, FSDP) each process makes its own prompt's record and
:func:`gather_groups` brings every process's to the main process, which writes them all, in the
order of their index in the step's global batch (the lines a single process with the same global
batch writes). A resumed run writes its steps again, and the reader keeps the last line of each
(step, index). Not covered: the completions' token ids and log-probs (``metrics.jsonl`` holds the
step's statistics).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omni_bench.core.errors import OmniBenchError
from omni_bench.training.rewards import completion_spans, target_spans

__all__ = ["GROUPS_FILE", "GroupRecord", "group_record", "gather_groups", "append_group", "read_groups",
           "render_group_text"]

GROUPS_FILE = "groups.jsonl"  # one JSON object per prompt of each logging step, in a GRPO run folder


@dataclass(frozen=True)
class GroupRecord:
    """One prompt's group of G completions at one step (a line of ``groups.jsonl``)."""

    step: int  # the optimizer step that sampled it (1-based, as metrics.jsonl's)
    index: int  # the prompt's index in the step's global batch (k x world size + process, k its micro-batch)
    record: str  # the record's id
    video: str | None  # the prompt's video (None: text only)
    question: str  # the final human turn (the prompt's last words)
    duration: float  # the video's duration in seconds (the rewards' T)
    task: str  # what the rewards read: "grounding" (one span) or "dense" (events)
    target: str  # the reference reply the rewards score against
    true_spans: tuple[tuple[float, float], ...]  # the target's span(s) in seconds
    completions: tuple[str, ...]  # the G decoded completions
    spans: tuple[tuple[tuple[float, float], ...] | None, ...]  # per completion its span(s), shares; None: unparsed
    rewards: dict[str, tuple[float, ...]]  # reward name -> its G values, in --reward-funcs order
    reward: tuple[float, ...]  # the summed reward of each completion
    advantages: tuple[float, ...]  # the group-relative advantages the loss used
    lengths: tuple[int, ...]  # completion tokens (up to and including the end token)
    truncated: tuple[bool, ...]  # no end token within --max-completion-length
    scale_rewards: str = "group"  # how the advantages were scaled (trl's scale_rewards)
    fault: str | None = None  # the reward fault that skipped the group (zero advantages), if any

    @property
    def num_generations(self) -> int:
        return len(self.completions)

    @classmethod
    def from_dict(cls, row: dict) -> GroupRecord:
        spans = tuple(None if s is None else tuple(tuple(map(float, pair)) for pair in s) for s in row["spans"])
        return cls(step=int(row["step"]), index=int(row["index"]), record=str(row["record"]), video=row.get("video"),
                   question=str(row.get("question") or ""), duration=float(row["duration"]), task=str(row["task"]),
                   target=str(row["target"]), true_spans=tuple(tuple(map(float, s)) for s in row["true_spans"]),
                   completions=tuple(row["completions"]), spans=spans,
                   rewards={k: tuple(map(float, v)) for k, v in row["rewards"].items()},
                   reward=tuple(map(float, row["reward"])), advantages=tuple(map(float, row["advantages"])),
                   lengths=tuple(map(int, row["lengths"])), truncated=tuple(map(bool, row["truncated"])),
                   scale_rewards=str(row.get("scale_rewards", "group")), fault=row.get("fault"))

    def to_dict(self) -> dict:
        return {"step": self.step, "index": self.index, "record": self.record, "video": self.video,
                "question": self.question, "duration": self.duration, "task": self.task, "target": self.target,
                "true_spans": [list(s) for s in self.true_spans], "completions": list(self.completions),
                "spans": [None if s is None else [list(p) for p in s] for s in self.spans],
                "rewards": {k: list(v) for k, v in self.rewards.items()}, "reward": list(self.reward),
                "advantages": list(self.advantages), "lengths": list(self.lengths),
                "truncated": list(self.truncated), "scale_rewards": self.scale_rewards, "fault": self.fault}

    def __str__(self) -> str:
        return render_group_text(self)


def group_record(*, step: int, index: int, record: str | None, video: str | None, question: str, duration: float,
                 task: str, target: str, completions: Sequence[str], rewards: dict, advantages: Sequence[float],
                 lengths: Sequence[int], truncated: Sequence[bool], scale_rewards: str = "group",
                 fault: str | None = None) -> GroupRecord:
    """The record of one group from what the step computed (``rewards``: name -> G values, as summed).

    The spans are read with the rewards' own parser (:func:`omni_bench.training.rewards.completion_spans`,
    LongVALE's form) so the view shows what was scored.
    """
    try:
        true = tuple((s * duration, e * duration) for s, e in target_spans(target, duration, task))
    except OmniBenchError:  # a target the rewards cannot read (the group was skipped as a fault)
        true = ()
    spans = tuple(None if (found := completion_spans(text, duration, task)) is None else tuple(found)
                  for text in completions)
    values = {str(name): tuple(float(v) for v in vals) for name, vals in rewards.items()}
    total = tuple(float(sum(column)) for column in zip(*values.values())) if values else ()
    return GroupRecord(step=int(step), index=int(index), record=str(record), video=video, question=question,
                       duration=float(duration), task=task, target=target, true_spans=true,
                       completions=tuple(completions), spans=spans, rewards=values, reward=total,
                       advantages=tuple(float(a) for a in advantages), lengths=tuple(int(n) for n in lengths),
                       truncated=tuple(bool(t) for t in truncated), scale_rewards=scale_rewards, fault=fault)


def gather_groups(group: GroupRecord) -> list[GroupRecord]:
    """Every process's ``group`` of this micro-batch, by index (each process gets the list): a collective,
    so every process calls it at the same point of the step. ``[group]`` in a single process."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [group]
    found: list = [None] * dist.get_world_size()
    dist.all_gather_object(found, group)
    return sorted(found, key=lambda g: g.index)


def append_group(run_dir: str | os.PathLike, group: GroupRecord) -> None:
    """Append one group's line to ``run_dir/groups.jsonl``."""
    with open(Path(run_dir) / GROUPS_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(group.to_dict(), ensure_ascii=False) + "\n")


def read_groups(path: str | os.PathLike, *, step: int | None = None) -> list[GroupRecord]:
    """The groups of a run folder (or a ``groups.jsonl``), by (step, index); the last line of each wins
    (a resumed run writes its steps again). ``step``: that step's only; ``-1``: the last recorded step's.
    An empty list when there is no file; a line that is not a group is skipped."""
    path = Path(path)
    file = path / GROUPS_FILE if path.is_dir() else path
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    found: dict[tuple[int, int], GroupRecord] = {}
    for line in text.splitlines():
        try:
            group = GroupRecord.from_dict(json.loads(line))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            continue  # a half-written last line, or not a group
        found[group.step, group.index] = group
    groups = [found[key] for key in sorted(found)]
    if step == -1 and groups:
        step = groups[-1].step
    return groups if step is None else [g for g in groups if g.step == step]


def _span_text(spans, duration: float) -> str:
    """``4.8-7.2 s`` per span (seconds of the video), ``-`` when nothing parsed."""
    if spans is None:
        return "-"
    return ", ".join(f"{s * duration:.1f}-{e * duration:.1f} s" for s, e in spans)


def render_group_text(group: GroupRecord, *, width: int = 40) -> str:
    """The text twin of the group view: the prompt, the truth, then one row per completion: its answer,
    the span(s) the rewards read (seconds), each reward, the sum and the advantage.

    >>> g = group_record(step=1, index=0, record="r", video="v.mkv", question="When?", duration=10.0,
    ...                  task="grounding", target="From 20 to 50.", completions=["From 20 to 50.", "no idea"],
    ...                  rewards={"grounding_iou": [1.0, 0.0]}, advantages=[0.7071, -0.7071], lengths=[8, 4],
    ...                  truncated=[False, False])
    >>> print(render_group_text(g))  # doctest: +NORMALIZE_WHITESPACE
    step 1 · prompt 0 · record r · v.mkv (10.0 s) · task grounding · G = 2
    question: When?
    truth: From 20 to 50. -> 2.0-5.0 s
       i  answer          span         grounding_iou  reward  advantage
       0  From 20 to 50.  2.0-5.0 s    1.0000         1.0000  +0.7071
       1  no idea         -            0.0000         0.0000  -0.7071
    reward mean 0.5000 · std 0.7071 · advantages scaled by group
    """
    names = list(group.rewards)
    head = (f"step {group.step} · prompt {group.index} · record {group.record} · {group.video or 'no video'} "
            f"({group.duration:.1f} s) · task {group.task} · G = {group.num_generations}")
    truth = ", ".join(f"{s:.1f}-{e:.1f} s" for s, e in group.true_spans) or "-"
    lines = [head, f"question: {group.question}", f"truth: {group.target} -> {truth}"]
    answers = [text.replace("\n", " / ") for text in group.completions]
    answers = [a if len(a) <= width else a[:width - 1] + "…" for a in answers]
    spans = [_span_text(s, group.duration) + (" (cut)" if cut else "") for s, cut in zip(group.spans, group.truncated)]
    a_w = max(6, *(len(a) for a in answers)) if answers else 6
    s_w = max(11, *(len(s) for s in spans)) if spans else 11
    widths = [max(6, len(n)) for n in names]
    lines.append(f"   i  {'answer':<{a_w}}  {'span':<{s_w}}  " + "  ".join(f"{n:<{w}}" for n, w in zip(names, widths))
                 + "  reward  advantage")
    for i, (answer, span) in enumerate(zip(answers, spans)):
        values = "  ".join(f"{group.rewards[n][i]:<{w}.4f}" for n, w in zip(names, widths))
        lines.append(f"  {i:>2}  {answer:<{a_w}}  {span:<{s_w}}  {values}  {group.reward[i]:<6.4f}  "
                     f"{group.advantages[i]:+.4f}")
    count = len(group.reward)
    mean = sum(group.reward) / count if count else 0.0
    std = (sum((r - mean) ** 2 for r in group.reward) / (count - 1)) ** 0.5 if count > 1 else 0.0
    lines.append(f"reward mean {mean:.4f} · std {std:.4f} · advantages scaled by {group.scale_rewards}"
                 + (f" · skipped: {group.fault}" if group.fault else ""))
    return "\n".join(lines)
