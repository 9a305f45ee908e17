"""Verifiable temporal rewards for GRPO, read with the scorer's own parsers.

Every reward reads a completion the way ``omni-bench eval score`` reads an answer
(:func:`omni_bench.eval.answers.parse_span` / ``parse_events``, ``parse="longvale"`` or
``"lenient"``), so a reward and the metric it stands for never disagree on what was said.

One call shape for all of them, one entry per completion (a group's G completions repeat
their prompt's target and duration)::

    reward(completions, targets, durations, *, task="grounding", parse="longvale") -> list[float]

* ``completions``: the decoded replies;
* ``targets``: per completion, the truth: the reference reply as text (``"From 05 to 40."``,
  read with the lenient parser, which also reads LongVALE's form), or spans in **seconds**
  as the annotation gives them: ``[start, end]`` for grounding, ``[[start, end], ...]`` for
  dense captioning;
* ``durations``: per completion, the video's duration in seconds;
* ``task``: ``"grounding"`` or ``"dense"`` (LongVALE's ``"captioning"`` is the same);
* ``parse``: the parse mode of the completions.

Spans are compared as **shares of the video** (``[0, 1]``): LongVALE's two digits ``xx``
are ``xx / 100``, a percentage ``p`` is ``p / 100``, seconds ``t`` are ``t / duration``
(so ``From 05 to 40.`` of a 200 s video is 10 s to 80 s). Dense events are read as the
dense scorer reads them (:func:`omni_bench.eval.dense.merge_events`: near-identical
consecutive events merged, LongVALE's ``A to B`` covering ``[A, B + 1)`` percent).

The rewards (:data:`REWARDS`):

``grounding_iou``
    LongVALE's grounding IoU, the scorer's own :func:`omni_bench.eval.grounding.span_iou`
    (hull as union, rounded to two decimals): at greedy decoding the mean reward times 100
    is ``eval score``'s mIoU on the same answers.
``time_r1_iou``
    Time-R1's distance-penalised IoU ``IoU x (1 - |Δstart| / T) x (1 - |Δend| / T)``, T the
    duration. In shares of the video ``T = 1``, and ``|Δ| / T`` is the same number whether
    the times are shares, percent or seconds. IoU unrounded; each factor floored at 0 (an
    answer past the video's end cannot turn the product positive again).
``dense_f1``
    Multi-span F1 of dense captioning with an optimal one-to-one pairing: the events of the
    completion and the true events are paired to maximise the summed IoU
    (``scipy.optimize.linear_sum_assignment``; scipy comes with librosa), not in the order
    written. Soft counts: with ``S`` the summed IoU of the pairs, precision ``S / predicted``,
    recall ``S / true``, ``F1 = 2PR / (P + R) = 2S / (predicted + true)``. The IoU is the
    plain one (hull union, no ``1e-8``, unrounded). :func:`multi_span_f1` also gives the
    thresholded form (a pair counts 1 when its IoU ``>= threshold``, pairs chosen to count
    the most). Captions' words are not scored.
``format``
    1 when the completion parses in the expected format (a span for grounding, at least one
    event for dense captioning), else 0.

A user reward is named ``module:function`` (:func:`resolve_rewards`); it is called with the
same arguments. Every reward :func:`resolve_rewards` returns is checked as it runs: one
that raises, returns the wrong number of values or a non-finite value raises
:class:`RewardError` (an :class:`~omni_bench.core.errors.OmniBenchError`: one line naming the
reward), never a stack trace from inside the trainer.

Degenerate answers (:func:`span_problem`, :func:`rewards_stats`):

* unparseable: every reward 0, counted as a format failure;
* reversed (``start > end``): taken as written, as the scorer does; its intersection with
  any span is empty, so IoU 0;
* zero-length (``start == end``): IoU 0, also when the true span is the same point (the union
  is 0: the reward is 0, never a stale value or 1.0 as in Time-R1's / VideoChat-R1's code);
* out of range (before 0 or past the end): not clipped, as the scorer does not clip; IoU
  with the hull union stays in ``[0, 1]``;
* whole video (``start <= 0`` and ``end >= 0.99``, LongVALE's ``From 00 to 99``): scored as
  any span (its IoU is the true span's share of the video) and counted.

Left out: caption-text rewards for dense captioning (METEOR / CIDEr per rollout need Java and
seconds per call), segment captioning (free text), rewards on the thinking part of a reply.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from omni_bench.core.errors import OmniBenchError
from omni_bench.eval.answers import PARSE_MODES, parse_events, parse_span
from omni_bench.eval.dense import merge_events
from omni_bench.eval.grounding import predicted_fraction, span_iou, true_fraction

__all__ = ["REWARD_TASKS", "DEGENERATE_KINDS", "WHOLE_VIDEO_END", "RewardError", "completion_spans", "target_spans",
           "interval_iou", "time_r1_iou", "multi_span_f1", "span_problem", "grounding_iou_reward", "time_r1_reward",
           "dense_f1_reward", "format_reward", "REWARDS", "resolve_rewards", "rewards_stats"]

REWARD_TASKS = ("grounding", "dense")  # what the rewards read; LongVALE's "captioning" is "dense"
DEGENERATE_KINDS = ("reversed", "zero-length", "out-of-range", "whole-video")  # what span_problem names
WHOLE_VIDEO_END = 0.99  # a span from 0 to at least this share is "the whole video" (LongVALE's From 00 to 99)
_RANGE_SLACK = 1e-9  # shares computed through seconds (x * d / 100 / d) may miss 1.0 by an ulp

Spans = list[tuple[float, float]]


class RewardError(OmniBenchError):
    """A reward that failed as it ran (raised, wrong length, non-finite value): one line naming it."""

    def __init__(self, message: str, *, source: str | None = None):
        super().__init__(message, source=source, reason="reward")


def _task(task: str) -> str:
    task = "dense" if task == "captioning" else task
    if task not in REWARD_TASKS:
        raise OmniBenchError(f"rewards: unknown task {task!r}; known: {', '.join(REWARD_TASKS)}",
                             reason="bad-settings")
    return task


def _parse_mode(parse: str) -> str:
    if parse not in PARSE_MODES:
        raise OmniBenchError(f"rewards: unknown parse mode {parse!r}; known: {', '.join(PARSE_MODES)}",
                             reason="bad-settings")
    return parse


def _check_duration(duration) -> None:
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration) \
            or duration <= 0:
        raise OmniBenchError(f"rewards: a video duration in seconds is needed for every completion (got {duration!r}); "
                             "temporal rewards compare spans as shares of the video", reason="duration")


def completion_spans(completion: str, duration: float, task: str = "grounding",
                     parse: str = "longvale") -> Spans | None:
    """The spans of a completion as shares of the video, as the scorer reads them; None when unparseable.

    >>> completion_spans("From 05 to 40.", 200.0)
    [(0.05, 0.4)]
    >>> completion_spans("From 0 to 49, a bar moves.\\nFrom 50 to 99, it stops.", 200.0, "dense")
    [(0.0, 0.5), (0.5, 1.0)]
    >>> completion_spans("about twelve seconds", 200.0) is None
    True
    """
    task, parse = _task(task), _parse_mode(parse)
    _check_duration(duration)
    if task == "grounding":
        span = predicted_fraction(parse_span(completion, parse), duration)
        return None if span is None else [span]
    events = parse_events(completion, parse)
    if not events:
        return None
    return [(start / duration, end / duration) for start, end, _ in merge_events(events, duration)]


def target_spans(target, duration: float, task: str = "grounding") -> Spans:
    """The true spans as shares of the video: from seconds (``[s, e]`` / ``[[s, e], ...]``) or a reference reply.

    >>> target_spans([3.0, 6.0], 12.0), target_spans("From 25 to 50.", 12.0)
    ([(0.25, 0.5)], [(0.25, 0.5)])
    """
    task = _task(task)
    _check_duration(duration)
    if isinstance(target, str):
        spans = completion_spans(target, duration, task, "lenient")
        if spans is None:
            raise OmniBenchError(f"rewards: no {'span' if task == 'grounding' else 'event'} in the target "
                                 f"{target[:60]!r}", reason="bad-target")
        return spans
    pairs = [target] if len(target) and not isinstance(target[0], (list, tuple)) else list(target)
    if not pairs or any(len(pair) != 2 for pair in pairs):
        raise OmniBenchError(f"rewards: a target is [start, end] or [[start, end], ...] in seconds (got {target!r})",
                             reason="bad-target")
    return [true_fraction(pair, duration) for pair in pairs]


def interval_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two spans with the hull as the union (the scorer's rule, unrounded); 0 when the union is 0.

    >>> interval_iou((0, 0.25), (0, 1)), interval_iou((0.4, 0.1), (0.0, 0.5)), interval_iou((0.3, 0.3), (0.3, 0.3))
    (0.25, 0.0, 0.0)
    """
    intersection = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return intersection / union if union > 0 else 0.0


def time_r1_iou(predicted: Sequence[float], true: Sequence[float]) -> float:
    """Time-R1's ``IoU x (1 - |Δstart|) x (1 - |Δend|)`` of two spans in shares of the video (T = 1).

    >>> round(time_r1_iou((0.1, 0.5), (0.0, 0.5)), 6)  # 0.8 x 0.9 x 1.0
    0.72
    """
    penalty_start = max(0.0, 1.0 - abs(predicted[0] - true[0]))
    penalty_end = max(0.0, 1.0 - abs(predicted[1] - true[1]))
    return interval_iou(predicted, true) * penalty_start * penalty_end


def multi_span_f1(predicted: Sequence[Sequence[float]], true: Sequence[Sequence[float]],
                  threshold: float | None = None) -> tuple[float, float, float]:
    """``(precision, recall, F1)`` of predicted against true spans under the best one-to-one pairing.

    ``threshold`` None: soft counts (a pair counts its IoU; pairs maximise the summed IoU);
    a number: a pair counts 1 when its IoU is at least ``threshold`` (pairs maximise that count).

    >>> multi_span_f1([(0.5, 1.0), (0.0, 0.5)], [(0.0, 0.5), (0.5, 1.0)])  # written out of order
    (1.0, 1.0, 1.0)
    >>> multi_span_f1([(0.0, 0.5)], [(0.0, 0.5), (0.5, 1.0)])
    (1.0, 0.5, 0.6666666666666666)
    """
    if not predicted or not true:
        return 0.0, 0.0, 0.0
    iou = np.array([[interval_iou(p, t) for t in true] for p in predicted])
    gain = iou if threshold is None else (iou >= threshold).astype(float)
    rows, cols = linear_sum_assignment(gain, maximize=True)
    matched = float(gain[rows, cols].sum())
    precision, recall = matched / len(predicted), matched / len(true)
    f1 = 2 * matched / (len(predicted) + len(true))
    return precision, recall, f1


def span_problem(span: Sequence[float]) -> str | None:
    """What is degenerate about a span in shares of the video, or None.

    >>> [span_problem(s) for s in [(0.4, 0.1), (0.3, 0.3), (-0.1, 0.5), (0.0, 0.99), (0.1, 0.4)]]
    ['reversed', 'zero-length', 'out-of-range', 'whole-video', None]
    """
    start, end = span
    if start > end:
        return "reversed"
    if start == end:
        return "zero-length"
    if start < -_RANGE_SLACK or end > 1 + _RANGE_SLACK:
        return "out-of-range"
    if start <= 0 and end >= WHOLE_VIDEO_END:
        return "whole-video"
    return None


def _each(completions, targets, durations, task, parse, score) -> list[float]:
    """``score(predicted_spans, true_spans)`` per completion; 0 for an unparseable one."""
    if not len(completions) == len(targets) == len(durations):
        raise OmniBenchError(f"rewards: {len(completions)} completions, {len(targets)} targets and "
                             f"{len(durations)} durations; give one of each per completion", reason="bad-settings")
    out = []
    for completion, target, duration in zip(completions, targets, durations):
        predicted = completion_spans(completion, duration, task, parse)
        out.append(0.0 if predicted is None else float(score(predicted, target_spans(target, duration, task))))
    return out


def _one_span(task: str, name: str) -> None:
    if _task(task) != "grounding":
        raise OmniBenchError(f"reward {name!r} scores grounding answers; for task {task!r} use dense_f1 or format",
                             reason="bad-settings")


def grounding_iou_reward(completions, targets, durations, *, task: str = "grounding",
                         parse: str = "longvale") -> list[float]:
    """LongVALE's grounding IoU (rounded to two decimals, as ``eval score``) of each completion.

    >>> grounding_iou_reward(["From 05 to 40.", "From 40 to 10.", "soon"], [[0.0, 6.0]] * 3, [12.0] * 3)
    [0.7, 0.0, 0.0]
    """
    _one_span(task, "grounding_iou")
    return _each(completions, targets, durations, task, parse, lambda p, t: span_iou(p[0], t[0]))


def time_r1_reward(completions, targets, durations, *, task: str = "grounding",
                   parse: str = "longvale") -> list[float]:
    """Time-R1's distance-penalised IoU of each completion (:func:`time_r1_iou`)."""
    _one_span(task, "time_r1_iou")
    return _each(completions, targets, durations, task, parse, lambda p, t: time_r1_iou(p[0], t[0]))


def dense_f1_reward(completions, targets, durations, *, task: str = "dense",
                    parse: str = "longvale") -> list[float]:
    """Soft multi-span F1 of each completion's events against the true events (:func:`multi_span_f1`)."""
    return _each(completions, targets, durations, task, parse, lambda p, t: multi_span_f1(p, t)[2])


def format_reward(completions, targets, durations, *, task: str = "grounding",
                  parse: str = "longvale") -> list[float]:
    """1 when the completion parses in the expected format (a span / at least one event), else 0."""
    return [float(completion_spans(c, d, task, parse) is not None) for c, d in zip(completions, durations)]


REWARDS: dict[str, Callable[..., list[float]]] = {
    "grounding_iou": grounding_iou_reward,
    "time_r1_iou": time_r1_reward,
    "dense_f1": dense_f1_reward,
    "format": format_reward,
}


def _user_reward(name: str) -> Callable[..., list[float]]:
    module, _, function = name.partition(":")
    if not module or not function:
        raise OmniBenchError(f"unknown reward {name!r}; known: {', '.join(REWARDS)}, or module:function",
                             reason="bad-settings")
    try:
        imported = importlib.import_module(module)
    except Exception as error:  # ImportError, or whatever the user's module raises as it is imported
        raise OmniBenchError(f"reward {name!r}: cannot import {module!r} ({type(error).__name__}: {error})",
                             reason="bad-settings") from None
    found = getattr(imported, function, None)
    if found is None:
        raise OmniBenchError(f"reward {name!r}: {module!r} has no {function!r}", reason="bad-settings")
    if not callable(found):
        raise OmniBenchError(f"reward {name!r} is not callable", reason="bad-settings")
    return found


def _checked(name: str, function: Callable[..., list[float]]) -> Callable[..., list[float]]:
    """``function`` with its failures turned into one :class:`RewardError` line naming the reward.

    A built-in reward's own :class:`OmniBenchError` (a target it cannot read) passes unchanged.
    """
    builtin = REWARDS.get(name) is function

    def reward(completions, targets, durations, **kwargs) -> list[float]:
        try:
            values = [float(v) for v in function(completions, targets, durations, **kwargs)]
        except OmniBenchError as error:
            if builtin:
                raise
            raise RewardError(f"reward {name!r} failed: {error}", source=name) from error
        except Exception as error:  # a user's reward may raise anything: report it as one line
            raise RewardError(f"reward {name!r} raised {type(error).__name__}: {error}", source=name) from error
        if len(values) != len(completions):
            raise RewardError(f"reward {name!r} returned {len(values)} values for {len(completions)} completions",
                              source=name)
        bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
        if bad:
            raise RewardError(f"reward {name!r} returned a non-finite value ({values[bad[0]]}) for completion "
                              f"{bad[0]}", source=name)
        return values

    reward.__name__ = reward.__qualname__ = name.replace(":", ".")
    reward.reward_name = name
    return reward


def resolve_rewards(names: Sequence[str] | str) -> list[Callable[..., list[float]]]:
    """The rewards of built-in names (:data:`REWARDS`) and ``module:function`` paths, each checked as it runs.

    >>> [f.reward_name for f in resolve_rewards(["grounding_iou", "format"])]
    ['grounding_iou', 'format']
    """
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise OmniBenchError(f"no reward named; known: {', '.join(REWARDS)}, or module:function",
                             reason="bad-settings")
    return [_checked(name, REWARDS[name] if name in REWARDS else _user_reward(name)) for name in names]


def rewards_stats(completions, targets, durations, *, task: str = "grounding",
                  parse: str = "longvale") -> dict[str, float]:
    """``format_failure_rate`` (unparseable) and ``degenerate_rate`` (a span :func:`span_problem` names),
    shares of all completions, then ``degenerate/<kind>`` for every kind of :data:`DEGENERATE_KINDS`
    (the same keys at every call, so a metrics log has the same columns at every step).

    A dense completion is degenerate when any of its events is, and counts once per kind it
    has. ``targets`` is unused (taken for the common call shape).

    >>> stats = rewards_stats(["From 40 to 10.", "From 05 to 40.", "no idea", "From 00 to 99."], [None] * 4, [8.0] * 4)
    >>> stats["format_failure_rate"], stats["degenerate_rate"], stats["degenerate/reversed"]
    (0.25, 0.5, 0.25)
    """
    kinds = dict.fromkeys(DEGENERATE_KINDS, 0)
    failures, degenerate = 0, 0
    for completion, duration in zip(completions, durations):
        spans = completion_spans(completion, duration, task, parse)
        if spans is None:
            failures += 1
            continue
        problems = {p for p in map(span_problem, spans) if p is not None}
        degenerate += bool(problems)
        for kind in problems:
            kinds[kind] += 1
    count = max(len(completions), 1)
    return {"format_failure_rate": failures / count, "degenerate_rate": degenerate / count,
            **{f"degenerate/{kind}": n / count for kind, n in kinds.items()}}
