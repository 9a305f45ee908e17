"""``omni_bench.score``: a LongVALE answer log scored against its annotations, task by task.

Task names and metric keys are LongVALE's, values in percent as it prints them:

* ``grounding``: ``mIoU``, ``R1@0.3``, ``R1@0.5``, ``R1@0.7`` (:mod:`omni_bench.eval.grounding`);
* ``captioning`` (dense): ``soda_c``, ``METEOR``, ``CIDEr`` (:mod:`omni_bench.eval.dense`);
* ``seg_captioning``: ``BLEU4``, ``METEOR``, ``ROUGE_L``, ``CIDEr`` (:mod:`omni_bench.eval.segments`).

Which log lines count, as in LongVALE's ``metric.py``: grounding, every line with
``query_id == 0``; captioning, the last line of each video; segment captioning, every line.
Grounding IoUs are recomputed from the answers (so a parse mode can change them); where the
line carries LongVALE's own ``info.iou`` the report says how many agree.

Every task's report counts the answers it could not read (no span, no event, an empty
caption) and quotes a few. ``parse="lenient"`` (:mod:`omni_bench.eval.answers`) is reported
as such: its numbers are not comparable with LongVALE's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from omni_bench.core.errors import OmniBenchError
from omni_bench.eval.answers import PARSE_MODES, parse_events, parse_span
from omni_bench.eval.dense import dense_scores, merge_events
from omni_bench.eval.grounding import GroundingRow, grounding_metrics, predicted_fraction, span_iou, true_fraction
from omni_bench.eval.log import LOG_TASKS, load_eval_annotations, read_log
from omni_bench.eval.segments import segment_scores

__all__ = ["TaskScores", "Scores", "score", "SCORE_TASKS"]

SCORE_TASKS = (*LOG_TASKS, "all")  # what --task accepts


@dataclass(frozen=True)
class TaskScores:
    """One task's metrics (percent) and how many answers could not be read."""

    task: str  # a LongVALE task name
    metrics: dict[str, float]  # LongVALE's keys, percent
    answers: int  # log lines scored
    unparseable: int  # answers without a span / event / text
    examples: tuple[tuple[str, str], ...] = ()  # (where, answer) of a few unparseable answers
    notes: tuple[str, ...] = ()  # what else the reader should know (e.g. agreement with info.iou)

    def to_dict(self) -> dict:
        return {"metrics": dict(self.metrics), "answers": self.answers, "unparseable": self.unparseable,
                "examples": [{"where": w, "answer": a} for w, a in self.examples], "notes": list(self.notes)}


@dataclass(frozen=True)
class Scores:
    """The scores of one log: per task, in LongVALE's order. ``scores["grounding"]["mIoU"]``."""

    parse: str  # "longvale" or "lenient"
    tasks: tuple[TaskScores, ...]
    skipped_lines: int = 0  # log lines that were not JSON
    rows: tuple[GroundingRow, ...] = field(default=(), repr=False)  # every scored grounding answer

    def __getitem__(self, task: str) -> dict[str, float]:
        for item in self.tasks:
            if item.task == task:
                return item.metrics
        raise KeyError(task)

    def to_dict(self, *, rows: bool = False) -> dict:
        out = {"parse": self.parse, "skipped_lines": self.skipped_lines,
               "tasks": {t.task: t.to_dict() for t in self.tasks}}
        if rows:
            out["rows"] = [r.to_dict() for r in self.rows]
        return out

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        title = "LongVALE scores" if self.parse == "longvale" else \
            "Lenient-parse scores (seconds, clock times, percentages: not comparable with LongVALE's)"
        lines = [title]
        for item in self.tasks:
            values = "  ".join(f"{k} {v:.2f}" for k, v in item.metrics.items()) or "no answers"
            lines.append(f"{item.task:<15} {item.answers:>5} answers  {values}")
            if item.unparseable:
                lines.append(f"{'':<15} unparseable: {item.unparseable} of {item.answers}")
                lines.extend(f"{'':<17}{where}: {answer[:70]!r}" for where, answer in item.examples)
            lines.extend(f"{'':<15} {note}" for note in item.notes)
        if self.skipped_lines:
            lines.append(f"{self.skipped_lines} log line(s) were not JSON and were skipped")
        return "\n".join(lines)


def _event(annotations: Mapping, entry: dict) -> tuple[dict, int]:
    vid, sid = entry["video_id"], entry["info"].get("sentence_id")
    if vid not in annotations:
        raise OmniBenchError(f"video {vid!r} of the log is not in the annotations", source=vid, reason="unknown-video")
    video = annotations[vid]
    if sid is not None and not 0 <= sid < len(video["sentences"]):
        raise OmniBenchError(f"video {vid!r}: the log's sentence_id {sid} is not one of its "
                             f"{len(video['sentences'])} events", source=vid, reason="unknown-event")
    return video, sid


def _grounding(entries: list[dict], annotations: Mapping, parse: str, examples: int):
    rows, agree, carried = [], 0, 0
    for entry in (e for e in entries if e["task"] == "grounding" and e["query_id"] == 0):
        video, sid = _event(annotations, entry)
        true = true_fraction(video["timestamps"][sid], video["duration"])
        predicted = predicted_fraction(parse_span(entry["answer"], parse), video["duration"])
        iou = span_iou(predicted, true)
        rows.append(GroundingRow(entry["video_id"], sid, video["sentences"][sid], true, predicted, iou,
                                 entry["answer"]))
        if "iou" in entry["info"]:
            carried += 1
            agree += entry["info"]["iou"] == iou
    bad = [r for r in rows if r.predicted is None]
    notes = (f"{agree} of {carried} recomputed IoUs equal the log's info.iou",) if carried else ()
    result = TaskScores("grounding", grounding_metrics([r.iou for r in rows]), len(rows), len(bad),
                        tuple((f"{r.video_id} event {r.sentence_id}", r.answer) for r in bad[:examples]), notes)
    return result, tuple(rows)


def _captioning(entries: list[dict], annotations: Mapping, parse: str, examples: int) -> TaskScores:
    answers = {e["video_id"]: e for e in entries if e["task"] == "captioning"}  # the last line per video wins
    predictions, bad = {}, []
    for vid, entry in answers.items():
        video, _ = _event(annotations, entry)
        events = parse_events(entry["answer"], parse)
        if not events:
            bad.append((vid, entry["answer"]))
        predictions[vid] = merge_events(events, video["duration"])
    truths = {v: annotations[v] for v in annotations if v in predictions}  # the annotation file's order
    metrics = {k: v * 100 for k, v in dense_scores(predictions, truths).items()}
    return TaskScores("captioning", metrics, len(answers), len(bad), tuple(bad[:examples]))


def _seg_captioning(entries: list[dict], annotations: Mapping, examples: int) -> TaskScores:
    chosen = [e for e in entries if e["task"] == "seg_captioning"]
    references = []
    for entry in chosen:
        video, sid = _event(annotations, entry)
        references.append(video["sentences"][sid])
    metrics = {k: v * 100 for k, v in segment_scores([e["answer"] for e in chosen], references).items()}
    bad = [(f"{e['video_id']} event {e['info']['sentence_id']}", e["answer"]) for e in chosen
           if not e["answer"].strip()]
    return TaskScores("seg_captioning", metrics, len(chosen), len(bad), tuple(bad[:examples]))


def score(log, annotations, *, task: str = "all", parse: str = "longvale", examples: int = 3) -> Scores:
    """Score a LongVALE answer log (path or list of dicts) against annotations (path or dict).

    ``task``: one of :data:`SCORE_TASKS`; ``"all"`` scores every task the log has answers for.
    ``parse``: ``"longvale"`` (its rules, comparable numbers) or ``"lenient"``.
    """
    if task not in SCORE_TASKS:
        raise OmniBenchError(f"unknown task {task!r}; known: {', '.join(SCORE_TASKS)}", reason="bad-settings")
    if parse not in PARSE_MODES:
        raise OmniBenchError(f"unknown parse mode {parse!r}; known: {', '.join(PARSE_MODES)}", reason="bad-settings")
    entries, skipped = read_log(log)
    truth = load_eval_annotations(annotations)
    present = {e["task"] for e in entries}
    wanted = [t for t in LOG_TASKS if t == task or (task == "all" and t in present)]
    results, rows = [], ()
    for name in wanted:
        if name == "grounding":
            item, rows = _grounding(entries, truth, parse, examples)
        elif name == "captioning":
            item = _captioning(entries, truth, parse, examples)
        else:
            item = _seg_captioning(entries, truth, examples)
        results.append(item)
    return Scores(parse, tuple(results), skipped, rows)
