"""The queries of an evaluation: one per video for dense captioning, one per event for the others.

``longvale`` prompts are the questions of LongVALE's ``eval.py``, word for word (its typo
"fromat" included, so that answers stay comparable), each after ``<video>\\n``:

* grounding: the event's caption, stripped, lower-cased and without its final period, in
  "At which time interval can we find ... taking place in the video? Give the timestamps
  in the fromat: From xx to xx.";
* captioning: "Could you please detail the events ... From xx to xx, event1. \\n ...";
* seg_captioning: the event's span as LongVALE's two-digit relative times
  (:func:`omni_bench.data.records.render_time`) in "Can you describe what occurred from
  <start> to <end> in the video? ...".

``training`` prompts are the ones ``omni-bench train`` trains on when it reads LongVALE
annotations (:func:`omni_bench.data.records.load_longvale_annotations`, one turn per event):
use them to check that a fine-tune learned what it was shown (a memorisation check), not
to report a benchmark number.

Queries come in the order LongVALE's ``eval.py`` asks them: per video, captioning, then
grounding per event, then segment captioning per event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from omni_bench.core.errors import OmniBenchError
from omni_bench.data.records import load_longvale_annotations, render_time
from omni_bench.data.tags import VIDEO_TAG
from omni_bench.eval.log import LOG_TASKS

__all__ = ["PROMPT_STYLES", "LONGVALE_QUESTIONS", "Query", "make_queries"]

PROMPT_STYLES = ("longvale", "training")  # LongVALE eval.py's questions / omni-bench train's prompts
LONGVALE_QUESTIONS = {
    "grounding": "At which time interval can we find {} taking place in the video? "
                 "Give the timestamps in the fromat: From xx to xx.",
    "captioning": "Could you please detail the events that took place during different time segments in the "
                  "video? List the events in the format: From xx to xx, event1. \n From xx to xx, event2. \n ...",
    "seg_captioning": "Can you describe what occurred from <start> to <end> in the video? "
                      "Please give the event description directly.",
}
_VIDEO_LEAD = {"grounding": f"{VIDEO_TAG}\n", "captioning": f"{VIDEO_TAG}\n ", "seg_captioning": f"{VIDEO_TAG}\n "}
_RECORD_TASK = {"grounding": "grounding", "captioning": "dense", "seg_captioning": "segment"}


@dataclass(frozen=True)
class Query:
    """One question to the model and where its answer goes in the log."""

    video_id: str
    task: str  # a LongVALE task name
    sentence_id: int | None  # the event asked about (None for captioning)
    text: str  # the human turn, "<video>\n..." included
    reference: str  # what a correct answer looks like (the annotation's; only used to build the sample)
    query_id: int = 0  # LongVALE's question index (it has one question per task)

    @property
    def key(self) -> tuple:
        """The log's identity of this query (:func:`omni_bench.eval.log.entry_key`)."""
        return self.video_id, self.task, self.sentence_id, self.query_id


def _longvale(vid: str, video: Mapping, task: str) -> list[Query]:
    duration, question = video["duration"], LONGVALE_QUESTIONS[task]
    lead = _VIDEO_LEAD[task]
    if task == "captioning":
        reply = "\n".join(f"From {render_time(s, duration)} to {render_time(e, duration)}, {text}"
                          for (s, e), text in zip(video["timestamps"], video["sentences"]))
        return [Query(vid, task, None, lead + question, reply)]
    out = []
    for sid, ((start, end), sentence) in enumerate(zip(video["timestamps"], video["sentences"])):
        first, last = render_time(start, duration), render_time(end, duration)
        if task == "grounding":
            caption = sentence.strip().lower()
            caption = caption[:-1] if caption.endswith(".") else caption
            out.append(Query(vid, task, sid, lead + question.format(caption), f"From {first} to {last}."))
        else:
            text = question.replace("<start>", first).replace("<end>", last)
            out.append(Query(vid, task, sid, lead + text, sentence))
    return out


def _training(vid: str, video: Mapping, task: str) -> list[Query]:
    (record,) = load_longvale_annotations({vid: video}, task=_RECORD_TASK[task])
    turns = record.conversations
    pairs = [(turns[i][1], turns[i + 1][1]) for i in range(0, len(turns) - 1, 2)]
    out = []
    for sid, (human, reply) in enumerate(pairs):
        human = human if human.startswith(VIDEO_TAG) else f"{VIDEO_TAG}\n" + human
        out.append(Query(vid, task, None if task == "captioning" else sid, human, reply))
    return out


def make_queries(annotations: Mapping[str, Mapping], task: str = "all", style: str = "longvale") -> list[Query]:
    """Every query of the annotations for ``task`` (a LongVALE task name or "all").

    >>> ann = {"v": {"duration": 8.0, "timestamps": [[0, 4]], "sentences": ["A bar moves."]}}
    >>> [q.text for q in make_queries(ann, "grounding")]  # doctest: +NORMALIZE_WHITESPACE
    ['<video>\\nAt which time interval can we find a bar moves taking place in the video? Give the
    timestamps in the fromat: From xx to xx.']
    >>> make_queries(ann, "seg_captioning")[0].text.splitlines()[1]
    ' Can you describe what occurred from 00 to 50 in the video? Please give the event description directly.'
    """
    if task != "all" and task not in LOG_TASKS:
        raise OmniBenchError(f"unknown task {task!r}; known: {', '.join(LOG_TASKS)}, all", reason="bad-settings")
    if style not in PROMPT_STYLES:
        raise OmniBenchError(f"unknown prompt style {style!r}; known: {', '.join(PROMPT_STYLES)}",
                             reason="bad-settings")
    build = _longvale if style == "longvale" else _training
    order = ("captioning", "grounding", "seg_captioning")  # eval.py's order within a video
    return [query for vid, video in annotations.items() for name in order if task in ("all", name)
            for query in build(vid, video, name)]
