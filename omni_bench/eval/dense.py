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
   :data:`TIOUS`, every prediction (the first :data:`MAX_PROPOSALS`, in the order written)
   is paired with every true event it overlaps by ``tIoU >= threshold`` (true events in
   annotation order); a prediction that overlaps none is paired with a garbage reference.
   Per video, METEOR is the jar's corpus score over those pairs and CIDEr-D their mean
   (document frequencies from that video's references); a video without predictions scores
   0. Scores are averaged over videos, then over the four thresholds.
6. **SODA_c** (:mod:`omni_bench.eval.soda`) on the same merged events, all of them.

**Tokenization is batched, and the batch matters.** Text is made ASCII (every other
character becomes a space) and PTB-tokenized, as LongVALE's code does, one Stanford
tokenizer run per batch of lines. The tokenizer reads across line ends: ``"The runs a."``
keeps ``a.`` as one token when the next line starts with a small letter and splits off the
period when it starts with a capital or the batch ends. So a caption's tokens depend on
which line follows it, and this module builds the very batches LongVALE's code builds: per
threshold, one of hypotheses and one of references, pair after pair, video after video
(the garbage references among them); for SODA, one of predictions and one of true
sentences, each video's in time order.

**The video order is a Python set's.** LongVALE's code visits videos in the iteration
order of a ``set`` of their ids, which changes with the interpreter's string-hash seed;
through the batches above, that order changes the scores of the videos whose last caption
ends the way ``"a."`` does. "LongVALE's number" is here the one its code gives under
``PYTHONHASHSEED=0`` (:data:`HASH_SEED`) on the running interpreter: :func:`visit_orders`
asks a child interpreter started with that seed for the set orders, so every run of this
module gives the same scores in any process (docs/evaluation.md gives the reference's
spread over other seeds). Python 3.11 changed the string hash (SipHash-1-3), so the order,
and those digits, can differ on older interpreters, for LongVALE's code as for this one.

LongVALE pairs an unmatched prediction with a random string of 10-20 lowercase letters. It
is one token no prediction contains, and its first letter is small whatever it is, so its
neighbours tokenize the same: a fixed string of that kind gives the same scores (checked
against LongVALE's code under several random seeds).

Left out: the ActivityNet protocol's detection precision / recall / F1 (LongVALE computes
but does not report them), BLEU and ROUGE-L of dense captions (likewise).
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from omni_bench.core.errors import OmniBenchError
from omni_bench.eval.answers import Event, to_seconds
from omni_bench.eval.coco import cider, meteor, ptb_tokenize, require_scorers
from omni_bench.eval.soda import order_by_start, soda_prf

__all__ = ["TIOUS", "MAX_PROPOSALS", "HASH_SEED", "tiou", "merge_events", "caption_pairs", "ascii_only",
           "visit_orders", "DenseScores", "dense_details", "dense_scores"]

TIOUS = (0.3, 0.5, 0.7, 0.9)  # thresholds METEOR and CIDEr are averaged over
MAX_PROPOSALS = 1000  # predictions per video kept for METEOR / CIDEr (SODA keeps all)
HASH_SEED = 0  # the PYTHONHASHSEED under which LongVALE's code gives "its number"
_GARBAGE = "qxzjvkwpqxzj"  # the reference of a prediction that overlaps no true event

# LongVALE's set operations on video ids, run in a child interpreter under HASH_SEED: the
# ActivityNet evaluator's ``set() |= set(ids)``; SODA's ``set().update(ids)``, kept where
# predicted, then intersected with the set of predicted ids.
_ORDER_SCRIPT = """
import json, sys
truth, predicted = (dict.fromkeys(ids) for ids in json.load(sys.stdin))
activitynet = set([])
activitynet |= set(truth.keys())
loaded = set()
loaded.update(truth.keys())
kept = [v for v in loaded if v in predicted]
print(json.dumps([list(activitynet), list(set(kept) & set(predicted.keys()))]))
"""


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


@functools.lru_cache(maxsize=64)
def _orders(truth_ids: tuple[str, ...], predicted_ids: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        done = subprocess.run([sys.executable, "-S", "-c", _ORDER_SCRIPT], capture_output=True, text=True,
                              check=True, input=json.dumps([truth_ids, predicted_ids]),
                              env={**os.environ, "PYTHONHASHSEED": str(HASH_SEED)})
    except (OSError, subprocess.CalledProcessError) as error:
        raise OmniBenchError(f"could not run {sys.executable or 'python'} to find LongVALE's video order ({error}); "
                             "dense captioning needs a Python interpreter it can start", reason="missing-dependency"
                             ) from None
    activitynet, soda = json.loads(done.stdout)
    return tuple(activitynet), tuple(soda)


def visit_orders(truth_ids: Sequence[str], predicted_ids: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The orders LongVALE's code visits videos in under :data:`HASH_SEED`: (METEOR / CIDEr, SODA).

    ``truth_ids``: the scored videos in annotation-file order; ``predicted_ids``: the same
    videos in the order the log first names them. Both orders hold the same ids; they are
    the same in every process, whatever its own hash seed.
    """
    return _orders(tuple(truth_ids), tuple(predicted_ids))


@functools.lru_cache(maxsize=256)
def _batch(lines: tuple[str, ...]) -> tuple[str, ...]:
    done = ptb_tokenize({k: [ascii_only(text)] for k, text in enumerate(lines)})
    return tuple(done[k][0] for k in range(len(lines)))


def _tokenized(lines: Sequence[str]) -> tuple[str, ...]:
    """One PTB tokenizer run over ``lines`` (one caption each), as one of LongVALE's batches.

    The tokenizer is deterministic, so a batch met again (thresholds with the same pairs) is
    not run again.
    """
    return _batch(tuple(lines))


@dataclass(frozen=True)
class DenseScores:
    """What LongVALE's dense-captioning numbers average: per threshold and video, and per video.

    Scores are fractions (not percent); videos are in LongVALE's visiting order, in which the
    means are taken (so the totals agree with its code to the last bit as well as the values).
    """

    meteor: dict[float, dict[str, float]]  # tIoU threshold -> video -> METEOR (jar's corpus score over the pairs)
    cider: dict[float, dict[str, float]]  # tIoU threshold -> video -> CIDEr-D (mean over the pairs)
    soda: dict[str, float]  # video -> SODA_c's F

    def totals(self) -> dict[str, float]:
        """``soda_c``, ``METEOR``, ``CIDEr``: means over videos, then (METEOR, CIDEr) over thresholds."""
        def over_thresholds(table):
            return float(np.array([np.mean(list(row.values())) for row in table.values()]).mean())

        return {"soda_c": float(np.mean([list(self.soda.values())], axis=1)[0]),
                "METEOR": over_thresholds(self.meteor), "CIDEr": over_thresholds(self.cider)}


def _captions_at(threshold: float, order: Sequence[str], predictions: Mapping, truths: Mapping):
    """(METEOR, CIDEr) per video at one threshold, from LongVALE's two batches of this threshold (rule 5)."""
    pairs = {vid: caption_pairs([e[:2] for e in predictions[vid][:MAX_PROPOSALS]], truths[vid]["timestamps"],
                                threshold) for vid in order}
    hyps = _tokenized([predictions[vid][p][2] for vid in order for p, _ in pairs[vid]])
    refs = _tokenized([truths[vid]["sentences"][t] if t is not None else _GARBAGE
                       for vid in order for _, t in pairs[vid]])
    meteors, ciders, at = {}, {}, 0
    for vid in order:
        n = len(pairs[vid])
        if n == 0:
            meteors[vid], ciders[vid] = 0.0, 0.0
            continue
        video_hyps = {k: [hyps[at + k]] for k in range(n)}
        video_refs = {k: [refs[at + k]] for k in range(n)}
        meteors[vid], ciders[vid] = meteor(video_refs, video_hyps)[0], cider(video_refs, video_hyps)[0]
        at += n
    return meteors, ciders


def _soda(order: Sequence[str], predictions: Mapping, truths: Mapping) -> dict[str, float]:
    """SODA_c's F per video (rule 6), from LongVALE's two SODA batches (each video's events in time order)."""
    pred_order = {vid: order_by_start([e[:2] for e in predictions[vid]]) for vid in order}
    true_order = {vid: order_by_start(truths[vid]["timestamps"]) for vid in order}
    pred_tokens = iter(_tokenized([predictions[vid][k][2] for vid in order for k in pred_order[vid]]))
    true_tokens = iter(_tokenized([truths[vid]["sentences"][k] for vid in order for k in true_order[vid]]))
    scores = {}
    for vid in order:
        said = [next(pred_tokens) for _ in pred_order[vid]]
        true = [next(true_tokens) for _ in true_order[vid]]
        if not said:
            scores[vid] = 0.0
            continue
        iou = np.array([[tiou(predictions[vid][p][:2], truths[vid]["timestamps"][t]) for p in pred_order[vid]]
                        for t in true_order[vid]])
        keys = [(t, p) for t in range(len(true)) for p in range(len(said))]
        refs = {key: [said[key[1]]] for key in keys}
        hyps = {key: [true[key[0]]] for key in keys}  # the true sentence is METEOR's hypothesis
        _, per_pair = meteor(refs, hyps)
        scores[vid] = soda_prf(iou, np.array(per_pair).reshape(iou.shape))[2]
    return scores


def dense_details(predictions: Mapping[str, list[tuple[float, float, str]]],
                  truths: Mapping[str, Mapping]) -> DenseScores:
    """Per-threshold, per-video METEOR and CIDEr and per-video SODA_c of merged events.

    ``predictions``: video id -> :func:`merge_events` output (possibly empty), in the order the
    log first names the videos; ``truths``: the annotation of each of those videos
    (``timestamps`` in seconds, ``sentences``), in the annotation file's order.
    """
    require_scorers()  # before any cached batch could hide a missing Java
    truth_ids = [vid for vid in truths if vid in predictions]
    activitynet, soda_order = visit_orders(truth_ids, list(predictions))
    meteors, ciders = {}, {}
    for threshold in TIOUS:
        meteors[threshold], ciders[threshold] = _captions_at(threshold, activitynet, predictions, truths)
    return DenseScores(meteors, ciders, _soda(soda_order, predictions, truths))


def dense_scores(predictions: Mapping[str, list[tuple[float, float, str]]],
                 truths: Mapping[str, Mapping]) -> dict[str, float]:
    """``soda_c``, ``METEOR``, ``CIDEr`` (fractions, not percent) of merged events per video.

    Arguments as :func:`dense_details`; ``{}`` without predictions.
    """
    if not predictions:
        return {}
    return dense_details(predictions, truths).totals()
