"""Temporal grounding as LongVALE scores it: one IoU per event, mIoU and R1@0.3 / 0.5 / 0.7.

The rules:

* the answer's span (:func:`omni_bench.eval.answers.parse_span`) and the event's true span
  are both shares of the video: LongVALE's two digits over 100, the annotation's seconds
  over the duration (neither clipped);
* ``IoU = max(0, min(e, e') - max(s, s')) / (max(e, e') - min(s, s'))`` — the hull as the
  union, no epsilon — then **rounded to two decimals** with Python's ``round`` (so a 0.125
  that is really 0.12499... in binary becomes 0.12, and R1@0.5 counts a 0.495 that rounds
  to 0.5 — or not — exactly as LongVALE does);
* an answer without a span has IoU 0; a reversed span ("From 40 to 10") is taken as written;
* only the first query of each event counts (``query_id == 0``), every such log line once;
* ``mIoU = 100 * mean(IoU)``, ``R1@m = 100 * share of IoU >= m``.

Left out: R1@0.1 and R5 (LongVALE reports neither).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omni_bench.eval.answers import Span

__all__ = ["THRESHOLDS", "GroundingRow", "span_iou", "true_fraction", "predicted_fraction", "grounding_metrics"]

THRESHOLDS = (0.3, 0.5, 0.7)  # R1@m as LongVALE reports it


@dataclass(frozen=True)
class GroundingRow:
    """One scored grounding answer: what was asked, the true and predicted spans and their IoU."""

    video_id: str
    sentence_id: int  # the event's index in the annotation
    sentence: str  # the event's caption, as in the annotation
    true: tuple[float, float]  # the event as shares of the video
    predicted: tuple[float, float] | None  # the answer's span as shares of the video (None: unparseable)
    iou: float  # rounded to two decimals, 0 when unparseable
    answer: str  # the model's answer, verbatim

    def to_dict(self) -> dict:
        return {"video_id": self.video_id, "sentence_id": self.sentence_id, "sentence": self.sentence,
                "true": list(self.true), "predicted": list(self.predicted) if self.predicted else None,
                "iou": self.iou, "answer": self.answer}


def span_iou(predicted: tuple[float, float] | None, true: tuple[float, float]) -> float:
    """LongVALE's grounding IoU of two spans given as shares of the video, rounded to 2 decimals.

    >>> span_iou((0.05, 0.4), (0.0, 0.5)), span_iou(None, (0.0, 0.5)), span_iou((0.4, 0.1), (0.0, 0.5))
    (0.7, 0.0, 0.0)
    """
    if predicted is None:
        return 0.0
    start, end = predicted
    true_start, true_end = true
    intersection = max(0, min(end, true_end) - max(start, true_start))
    union = max(end, true_end) - min(start, true_start)
    if union <= 0:  # a zero-length answer on a zero-length event: nothing to measure
        return 0.0
    return round(intersection / union, 2)


def true_fraction(timestamps: Sequence[float], duration: float) -> tuple[float, float]:
    """An annotation event ``[start s, end s]`` as shares of the video.

    >>> true_fraction([3.0, 6.0], 12.0)
    (0.25, 0.5)
    """
    return timestamps[0] / duration, timestamps[1] / duration


def predicted_fraction(span: Span | None, duration: float) -> tuple[float, float] | None:
    """The answer's span as shares of the video (None stays None)."""
    return None if span is None else span.fraction(duration)


def grounding_metrics(ious: Sequence[float]) -> dict[str, float]:
    """``mIoU`` and ``R1@m`` in percent, summed in the order given (as LongVALE does).

    >>> grounding_metrics([0.7, 0.0, 0.5, 0.3])
    {'mIoU': 37.5, 'R1@0.3': 75.0, 'R1@0.5': 50.0, 'R1@0.7': 25.0}
    """
    count = len(ious)
    if count == 0:
        return {}
    metrics = {"mIoU": sum(ious) / count * 100}
    for m in THRESHOLDS:
        metrics[f"R1@{m}"] = sum(iou >= m for iou in ious) / count * 100
    return metrics
