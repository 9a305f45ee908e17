"""Dense video captioning as LongVALE scores it: merging, tIoU matching, METEOR / CIDEr and SODA_c.

The rules, in the order they apply to one video's answer:

1. **Events** are read with :func:`omni_bench.eval.answers.parse_events`.
2. **Merging** (:func:`merge_events`): walking the events in the order written, an event
   whose sentence is near-identical to the current one (``difflib`` ratio above 0.98) and
   whose start lies within one relative bin of the current end (``-1 <= start - end <= 1``,
   in LongVALE's 0-99 units) extends the current event to its own end; the current
   sentence is kept. Models that repeat one caption over consecutive spans get one event.
3. **Seconds**: ``A to B`` covers ``[A, B + 1)`` percent of the video (LongVALE's ``+1`` on
   the end, :func:`omni_bench.eval.answers.to_seconds`).
4. **tIoU** (:func:`tiou`) of two spans is ``intersection / (union + 1e-8)`` with the union
   of disjoint spans taken as the sum of their lengths. The ``1e-8`` matters: a prediction
   covering exactly half of a true event has tIoU just below 0.5.
5. **METEOR and CIDEr** (the ActivityNet-captions protocol): at each threshold in
   :data:`TIOUS`, every prediction (the first :data:`MAX_PROPOSALS`) is paired with every
   true event it overlaps by ``tIoU >= threshold``; a prediction that overlaps none is
   paired with a garbage reference. Per video, METEOR is the jar's corpus score over those
   pairs and CIDEr-D their mean (document frequencies from that video's references); a
   video without predictions scores 0. Scores are averaged over videos, then over the
   four thresholds.
6. **SODA_c** (:mod:`omni_bench.eval.soda`) on the same merged events, all of them.

Text is made ASCII (every other character becomes a space) and PTB-tokenized before
scoring, as LongVALE's code does. LongVALE pairs an unmatched prediction with a random
lowercase string of 10-20 letters; it is one token that no prediction contains, so any
such string gives the same scores: a fixed one is used here.

Left out: the ActivityNet protocol's detection precision / recall / F1 (LongVALE computes
but does not report them), BLEU and ROUGE-L of dense captions (likewise).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

import numpy as np

from omni_bench.eval.answers import Event, to_seconds
from omni_bench.eval.coco import cider, meteor, ptb_tokenize
from omni_bench.eval.soda import order_by_start, soda_prf

__all__ = ["TIOUS", "MAX_PROPOSALS", "tiou", "merge_events", "caption_pairs", "ascii_only", "dense_scores"]

TIOUS = (0.3, 0.5, 0.7, 0.9)  # thresholds METEOR and CIDEr are averaged over
MAX_PROPOSALS = 1000  # predictions per video kept for METEOR / CIDEr (SODA keeps all)
_GARBAGE = "qxzjvkwpqxzj"  # the reference of a prediction that overlaps no true event


def tiou(a: Sequence[float], b: Sequence[float]) -> float:
    """Temporal IoU of two ``(start, end)`` spans, with the reference's ``1e-8`` in the denominator.

    >>> round(tiou((0, 10), (5, 15)), 6), tiou((0, 50), (0, 100)) < 0.5, tiou((0, 1), (2, 3))
    (0.333333, True, 0.0)
    """
    intersection = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = min(max(a[1], b[1]) - min(a[0], b[0]), a[1] - a[0] + b[1] - b[0])
    return intersection / (union + 1e-8)


def _relative(event: Event, duration: float) -> tuple[float, float]:
    """The event in LongVALE's relative units (share of the video x 100), where merging is decided."""
    span = event.span
    if span.unit in ("relative", "percent"):
        return span.start, span.end
    return span.start / duration * 100, span.end / duration * 100


def merge_events(events: Sequence[Event], duration: float) -> list[tuple[float, float, str]]:
    """Events as ``(start s, end s, sentence)``, near-identical consecutive ones merged (rule 2).

    >>> from omni_bench.eval.answers import parse_events
    >>> merge_events(parse_events("From 00 to 09, a dog runs.\\nFrom 10 to 19, a dog runs."), 100.0)
    [(0.0, 20.0, 'a dog runs.')]
    """
    merged: list[tuple[float, float, str]] = []
    current_end = 0.0  # relative end of merged[-1]
    for event in events:
        start_s, end_s = to_seconds(event.span, duration)
        start_r, end_r = _relative(event, duration)
        if merged and difflib.SequenceMatcher(None, merged[-1][2], event.sentence).ratio() > 0.98 \
                and -1 <= start_r - current_end <= 1:
            merged[-1] = (merged[-1][0], end_s, merged[-1][2])
        else:
            merged.append((start_s, end_s, event.sentence))
        current_end = end_r
    return merged


def caption_pairs(predicted: Sequence[Sequence[float]], true: Sequence[Sequence[float]],
                  threshold: float) -> list[tuple[int, int | None]]:
    """``(prediction, true event)`` index pairs at one tIoU threshold; ``None`` for an unmatched prediction.

    >>> caption_pairs([(0, 10), (40, 50), (0, 100)], [(0, 12), (0, 90)], 0.5)
    [(0, 0), (1, None), (2, 1)]
    """
    pairs: list[tuple[int, int | None]] = []
    for p, span in enumerate(predicted):
        matched = [t for t, truth in enumerate(true) if tiou(span, truth) >= threshold]
        pairs.extend((p, t) for t in matched or [None])
    return pairs


def ascii_only(text: str) -> str:
    """Every non-ASCII character as a space, as the reference does before tokenizing.

    >>> ascii_only("café au lait")
    'caf  au lait'
    """
    return "".join(c if ord(c) < 128 else " " for c in text)


def _tokenized(predictions: Mapping[str, list], truths: Mapping[str, Mapping]) -> dict:
    captions = {("p", vid, k): [ascii_only(e[2])] for vid, events in predictions.items()
                for k, e in enumerate(events)}
    captions.update({("t", vid, k): [ascii_only(s)] for vid in predictions
                     for k, s in enumerate(truths[vid]["sentences"])})
    return {key: texts[0] for key, texts in ptb_tokenize(captions).items()}


def _video_scores(vid: str, events: list, truth: Mapping, tokens: dict, threshold: float) -> tuple[float, float]:
    """(METEOR, CIDEr) of one video at one threshold (rule 5)."""
    kept = events[:MAX_PROPOSALS]
    pairs = caption_pairs([e[:2] for e in kept], truth["timestamps"], threshold)
    if not pairs:
        return 0.0, 0.0
    hyps = {n: [tokens["p", vid, p]] for n, (p, _) in enumerate(pairs)}
    refs = {n: [tokens["t", vid, t] if t is not None else _GARBAGE] for n, (_, t) in enumerate(pairs)}
    return meteor(refs, hyps)[0], cider(refs, hyps)[0]


def _video_soda(vid: str, events: list, truth: Mapping, tokens: dict) -> float:
    """SODA_c's F of one video (rule 6)."""
    if not events:
        return 0.0
    pred_order = order_by_start([e[:2] for e in events])
    true_order = order_by_start(truth["timestamps"])
    iou = np.array([[tiou(events[p][:2], truth["timestamps"][t]) for p in pred_order] for t in true_order])
    keys = [(t, p) for t in true_order for p in pred_order]
    refs = {key: [tokens["p", vid, key[1]]] for key in keys}
    hyps = {key: [tokens["t", vid, key[0]]] for key in keys}  # the true sentence is METEOR's hypothesis
    _, per_pair = meteor(refs, hyps)
    return soda_prf(iou, np.array(per_pair).reshape(iou.shape))[2]


def dense_scores(predictions: Mapping[str, list[tuple[float, float, str]]],
                 truths: Mapping[str, Mapping]) -> dict[str, float]:
    """``soda_c``, ``METEOR``, ``CIDEr`` (fractions, not percent) of merged events per video.

    ``predictions``: video id -> :func:`merge_events` output (possibly empty); ``truths``: the
    annotation of each of those videos (``timestamps`` in seconds, ``sentences``).
    """
    if not predictions:
        return {}
    tokens = _tokenized(predictions, truths)
    per_threshold = {"METEOR": [], "CIDEr": []}
    for threshold in TIOUS:
        scores = [_video_scores(vid, events, truths[vid], tokens, threshold) for vid, events in predictions.items()]
        per_threshold["METEOR"].append(np.mean([s[0] for s in scores]))
        per_threshold["CIDEr"].append(np.mean([s[1] for s in scores]))
    soda = np.mean([_video_soda(vid, events, truths[vid], tokens) for vid, events in predictions.items()])
    return {"soda_c": float(soda), "METEOR": float(np.array(per_threshold["METEOR"]).mean()),
            "CIDEr": float(np.array(per_threshold["CIDEr"]).mean())}
