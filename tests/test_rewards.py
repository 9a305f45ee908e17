"""The GRPO rewards (omni_bench.training.rewards): hand-computed values, every degenerate answer, and
equality with ``eval score`` on the same answers."""

from __future__ import annotations

import doctest
import itertools
import json
import random
import re
from pathlib import Path

import pytest

from omni_bench import OmniBenchError, score
from omni_bench.data.records import render_time
from omni_bench.eval.grounding import grounding_metrics
from omni_bench.training import rewards
from omni_bench.training.rewards import (
    DEGENERATE_KINDS,
    REWARDS,
    RewardError,
    dense_f1_reward,
    format_reward,
    grounding_iou_reward,
    interval_iou,
    multi_span_f1,
    resolve_rewards,
    rewards_stats,
    span_problem,
    time_r1_reward,
)

ROOT = Path(__file__).resolve().parent.parent
GROUNDING = ROOT / "data" / "longvale_grounding.json"


def test_docstring_examples():
    failures, tried = doctest.testmod(rewards)
    assert failures == 0 and tried > 10


def test_registry_names_and_one_call_shape():
    assert list(REWARDS) == ["grounding_iou", "time_r1_iou", "dense_f1", "format"]
    resolved = resolve_rewards(list(REWARDS))
    assert [f.reward_name for f in resolved] == list(REWARDS)
    # grounding reads "00 to 50" as shares 0-0.5; dense captioning's "0 to 49" covers [0, 50) percent
    answers = {"grounding": "From 00 to 50.", "dense": "From 0 to 49, a bar moves."}
    for f, task in zip(resolved, ["grounding", "grounding", "dense", "dense"]):
        assert f([answers[task]], [[[0.0, 6.0]]], [12.0], task=task) == [1.0]


# --------------------------------------------------------------------------- hand-computed values


def test_grounding_iou_by_hand():
    # a 12 s video, the event at 0-6 s: shares (0, 0.5)
    completions = ["From 05 to 40.", "From 25 to 75.", "From 00 to 50."]
    assert grounding_iou_reward(completions, [[0.0, 6.0]] * 3, [12.0] * 3) == [0.7, 0.33, 1.0]
    # 0.35 / 0.5 = 0.7; 0.25 / 0.75 -> 0.33 (rounded as LongVALE rounds); exact
    # the same answers in seconds need the lenient parser; the longvale one reads nothing there
    seconds = ["from 0.6 to 4.8 seconds", "from 3 to 9 s", "00:00 - 00:06"]
    assert grounding_iou_reward(seconds, [[0.0, 6.0]] * 3, [12.0] * 3, parse="lenient") == [0.7, 0.33, 1.0]
    assert grounding_iou_reward(seconds, [[0.0, 6.0]] * 3, [12.0] * 3) == [0.0, 0.0, 0.0]
    # a target given as the reference reply reads as LongVALE's two digits, or as the percentages
    # of render_time's "percent" form
    assert grounding_iou_reward(["From 05 to 40."], ["From 00 to 50."], [12.0]) == [0.7]
    assert grounding_iou_reward(["From 05 to 40."], ["From 0.0% to 50.0%."], [12.0]) == [0.7]


def test_time_r1_iou_by_hand():
    # shares: (0.1, 0.5) vs (0, 0.5): IoU 0.4 / 0.5 = 0.8, x (1 - 0.1) x (1 - 0) = 0.72
    (value,) = time_r1_reward(["From 10 to 50."], [[0.0, 6.0]], [12.0])
    assert value == pytest.approx(0.72, abs=1e-12)
    # seconds: 2-8 s vs 4-10 s of a 20 s video: IoU 4 / 8 = 0.5; |Δstart| / T = |Δend| / T = 2 / 20
    (value,) = time_r1_reward(["from 2 to 8 seconds"], [[4.0, 10.0]], [20.0], parse="lenient")
    assert value == pytest.approx(0.5 * 0.9 * 0.9, abs=1e-12)
    # the same span as two-digit percentages of the 20 s video gives the same reward
    (same,) = time_r1_reward(["From 10 to 40."], [[4.0, 10.0]], [20.0])
    assert same == pytest.approx(value, abs=1e-12)
    # unrounded, unlike grounding_iou: 0-0.5 vs 0-1/3 of a 9 s video: IoU 2/3, end factor 1 - (0.5 - 1/3)
    (value,) = time_r1_reward(["From 00 to 50."], [[0.0, 3.0]], [9.0])
    assert value == pytest.approx(2 / 3 * 5 / 6, abs=1e-12)
    assert grounding_iou_reward(["From 00 to 50."], [[0.0, 3.0]], [9.0]) == [0.67]


def test_dense_f1_by_hand():
    true = [[[0.0, 4.0], [4.0, 8.0]]]  # an 8 s video, two events: shares (0, 0.5), (0.5, 1)
    # LongVALE's "A to B" covers [A, B + 1) percent: 0-49 is 0-4 s, 50-99 is 4-8 s
    assert dense_f1_reward(["From 0 to 49, a bar moves.\nFrom 50 to 99, it stops."], true, [8.0]) == [1.0]
    # one event on half of the first: S = 0.5; P = 0.5 / 1, R = 0.5 / 2, F1 = 2 x 0.5 / (1 + 2) = 1/3
    (value,) = dense_f1_reward(["From 0 to 24, a bar moves."], true, [8.0])
    assert value == pytest.approx(1 / 3, abs=1e-12)
    assert multi_span_f1([(0.0, 0.25)], [(0.0, 0.5), (0.5, 1.0)]) == pytest.approx((0.5, 0.25, 1 / 3), abs=1e-12)
    # near-identical consecutive events merge, as the dense scorer merges them: one event 0-8 s
    (merged,) = dense_f1_reward(["From 0 to 49, a bar moves.\nFrom 50 to 99, a bar moves."], true, [8.0])
    assert merged == pytest.approx(2 * 0.5 / (1 + 2), abs=1e-12)  # IoU of (0, 1) with each event is 0.5
    # the target as the reference reply, read as the scorer reads events
    reply = "From 0 to 49, a bar moves.\nFrom 50 to 99, it stops."
    assert dense_f1_reward([reply], [reply], [8.0]) == [1.0]
    # an extra, wrong event lowers precision: S = 2, F1 = 2 x 2 / (3 + 2)
    (extra,) = dense_f1_reward(["From 0 to 49, a.\nFrom 50 to 99, b.\nFrom 50 to 99, c."], true, [8.0])
    assert extra == pytest.approx(0.8, abs=1e-12)


def test_thresholded_f1_by_hand():
    predicted, true = [(0.0, 0.5), (0.5, 1.0)], [(0.0, 0.4), (0.6, 1.0)]  # two pairs of IoU 0.8
    assert multi_span_f1(predicted, true, threshold=0.5) == (1.0, 1.0, 1.0)
    assert multi_span_f1(predicted, true, threshold=0.9) == (0.0, 0.0, 0.0)
    assert multi_span_f1([], true) == multi_span_f1(predicted, []) == (0.0, 0.0, 0.0)


def _order_f1(predicted, true):
    """Pairing in the order written (the mistake the optimal pairing avoids), soft F1."""
    matched = sum(interval_iou(p, t) for p, t in zip(predicted, true))
    return 2 * matched / (len(predicted) + len(true))


def test_optimal_pairing_beats_order_pairing():
    # the same two events, written last first: in order, each pairs with the wrong one
    predicted, true = [(0.5, 1.0), (0.0, 0.5)], [(0.0, 0.5), (0.5, 1.0)]
    assert _order_f1(predicted, true) == 0.0
    assert multi_span_f1(predicted, true)[2] == 1.0
    # a pairing greedy by the first prediction's best match also loses: A = (0, 0.6) is best with t1
    # (IoU 5/6) but B = (0.05, 0.5) only overlaps t1; the best total pairs A with t2 and B with t1
    predicted, true = [(0.0, 0.6), (0.05, 0.5)], [(0.0, 0.5), (0.5, 0.7)]
    best = multi_span_f1(predicted, true)[2]
    greedy = 2 * interval_iou(predicted[0], true[0]) / 4
    assert best == pytest.approx(2 * (interval_iou((0.0, 0.6), (0.5, 0.7)) + 0.9) / 4, abs=1e-12)
    assert best > greedy and best > _order_f1(predicted, true)
    (reward,) = dense_f1_reward(["From 50 to 99, it stops.\nFrom 0 to 49, a bar moves."],
                                [[[0.0, 4.0], [4.0, 8.0]]], [8.0])
    assert reward == 1.0


def test_optimal_pairing_is_the_best_of_all_pairings():
    rng = random.Random(0)
    for _ in range(200):
        predicted = [tuple(sorted(rng.random() for _ in range(2))) for _ in range(rng.randint(1, 4))]
        true = [tuple(sorted(rng.random() for _ in range(2))) for _ in range(rng.randint(1, 4))]
        small, large = sorted([predicted, true], key=len)
        by_hand = max(sum(interval_iou(a, b) for a, b in zip(small, chosen))
                      for chosen in itertools.permutations(large, len(small)))
        assert multi_span_f1(predicted, true)[2] == pytest.approx(2 * by_hand / (len(predicted) + len(true)),
                                                                  abs=1e-12)


def test_format_reward():
    completions = ["From 05 to 40.", "From 5 to 40.", "from 3 to 9 seconds", ""]
    assert format_reward(completions, [None] * 4, [12.0] * 4) == [1.0, 0.0, 0.0, 0.0]
    assert format_reward(completions, [None] * 4, [12.0] * 4, parse="lenient") == [1.0, 1.0, 1.0, 0.0]
    dense = ["From 0 to 49, a bar moves.", "From 05 to 40."]  # the second has no sentence: not an event
    assert format_reward(dense, [None] * 2, [8.0] * 2, task="dense") == [1.0, 0.0]
    assert format_reward(dense, [None] * 2, [8.0] * 2, task="captioning") == [1.0, 0.0]


# --------------------------------------------------------------------------- degenerate answers


def test_reversed_span_scores_zero():
    assert grounding_iou_reward(["From 40 to 10."], [[0.0, 6.0]], [12.0]) == [0.0]
    assert time_r1_reward(["From 40 to 10."], [[0.0, 6.0]], [12.0]) == [0.0]
    assert dense_f1_reward(["From 40 to 10, a."], [[[0.0, 6.0]]], [12.0]) == [0.0]
    assert span_problem((0.4, 0.1)) == "reversed"


def test_zero_length_and_union_zero_score_zero_not_a_stale_value():
    # a zero-length answer on a zero-length event at the same point: the union is 0. Time-R1's code
    # keeps the previous sample's IoU there, VideoChat-R1's gives 1.0; here it is 0, after a perfect one too
    completions, targets = ["From 00 to 50.", "From 20 to 20."], [[0.0, 5.0], [2.0, 2.0]]
    for reward in (grounding_iou_reward, time_r1_reward):
        assert reward(completions, targets, [10.0, 10.0]) == [1.0, 0.0]
    assert interval_iou((0.2, 0.2), (0.2, 0.2)) == 0.0
    assert grounding_iou_reward(["From 20 to 20."], [[0.0, 5.0]], [10.0]) == [0.0]  # zero-length answer
    assert span_problem((0.2, 0.2)) == "zero-length"
    # the scorer agrees on the union-0 case
    annotations = {"v": {"duration": 10.0, "timestamps": [[2.0, 2.0]], "sentences": ["A flash."]}}
    log = [{"video_id": "v", "task": "grounding", "query_id": 0, "answer": "From 20 to 20.",
            "info": {"sentence_id": 0}}]
    assert [r.iou for r in score(log, annotations, task="grounding").rows] == [0.0]


def test_whole_video_is_scored_and_counted():
    # LongVALE's "From 00 to 99": (0, 0.99) vs (0, 0.5): 0.5 / 0.99 = 0.505... -> 0.51
    assert grounding_iou_reward(["From 00 to 99."], [[0.0, 6.0]], [12.0]) == [0.51]
    assert span_problem((0.0, 0.99)) == span_problem((0.0, 1.0)) == "whole-video"
    assert span_problem((0.01, 0.99)) is None and span_problem((0.0, 0.98)) is None
    stats = rewards_stats(["From 0 to 99, all of it."], [None], [8.0], task="dense")  # [0, 100) percent
    assert stats == {**_no_problem(), "degenerate_rate": 1.0, "degenerate/whole-video": 1.0}


def test_unparseable_scores_zero_and_is_a_format_failure():
    completions = ["From 5 to 40.", "I cannot tell.", ""]
    for name, reward in REWARDS.items():
        task = "dense" if name == "dense_f1" else "grounding"
        targets = [[[0.0, 6.0]]] * 3
        assert reward(completions, targets, [12.0] * 3, task=task) == [0.0, 0.0, 0.0], name
    assert rewards_stats(completions, [None] * 3, [12.0] * 3) == {**_no_problem(), "format_failure_rate": 1.0}


def test_out_of_range_is_not_clipped_as_the_scorer_does_not_clip():
    # 6-18 s of a 12 s video: shares (0.5, 1.5) vs (0.5, 1.0): IoU 0.5 / 1.0 (clipping would give 1.0)
    answer, event = "from 6 to 18 seconds", [6.0, 12.0]
    assert grounding_iou_reward([answer], [event], [12.0], parse="lenient") == [0.5]
    annotations = {"v": {"duration": 12.0, "timestamps": [event], "sentences": ["A bar."]}}
    log = [{"video_id": "v", "task": "grounding", "query_id": 0, "answer": answer, "info": {"sentence_id": 0}}]
    assert [r.iou for r in score(log, annotations, task="grounding", parse="lenient").rows] == [0.5]
    assert span_problem((0.5, 1.5)) == span_problem((-0.1, 0.5)) == "out-of-range"
    # Time-R1's end factor 1 - |1.5 - 1| = 0.5; far past the end it is floored at 0, never negative
    (value,) = time_r1_reward([answer], [event], [12.0], parse="lenient")
    assert value == pytest.approx(0.5 * 1.0 * 0.5, abs=1e-12)
    assert time_r1_reward(["from 0 to 36 seconds"], [[0.0, 12.0]], [12.0], parse="lenient") == [0.0]
    # LongVALE's "A to B" of the last bin reaches 1.0 exactly, through seconds: in range
    assert span_problem((0.0, 100 * 7.3 / 100 / 7.3)) == "whole-video"


def _no_problem():
    return {"format_failure_rate": 0.0, "degenerate_rate": 0.0, **{f"degenerate/{k}": 0.0 for k in DEGENERATE_KINDS}}


def test_rewards_stats_counts_each_kind():
    completions = ["From 40 to 10.", "From 05 to 40.", "no idea", "From 00 to 99.", "From 20 to 20.",
                   "from 0 to 20 seconds", "from 2 to 4 seconds"]
    stats = rewards_stats(completions, [None] * 7, [8.0] * 7, parse="lenient")
    assert stats == {"format_failure_rate": 1 / 7, "degenerate_rate": 4 / 7, "degenerate/reversed": 1 / 7,
                     "degenerate/zero-length": 1 / 7, "degenerate/out-of-range": 1 / 7,
                     "degenerate/whole-video": 1 / 7}
    assert list(stats) == list(_no_problem())  # the same keys, in the same order, at every call
    # a dense completion is degenerate when one of its events is, counted once per kind
    dense = ["From 0 to 49, a.\nFrom 60 to 50, b.\nFrom 70 to 60, c.", "From 0 to 49, a."]
    assert rewards_stats(dense, [None] * 2, [8.0] * 2, task="dense") == {
        **_no_problem(), "degenerate_rate": 0.5, "degenerate/reversed": 0.5}
    assert rewards_stats([], [], []) == _no_problem()


# --------------------------------------------------------------------------- equal to eval score


def _answers_for(annotations):
    """Several kinds of answer per event of the bundled grounding data, cycled over the events."""
    kinds = [
        lambda s, e, d: f"From {render_time(s, d)} to {render_time(e, d)}.",  # the reference reply
        lambda s, e, d: f"It is from {render_time(s, d)} and {render_time(min(e + 1.0, d), d)}.",
        lambda s, e, d: f"From {render_time(e, d)} to {render_time(s, d)}.",  # reversed
        lambda s, e, d: "I am not sure.",  # unparseable
        lambda s, e, d: "From 00 to 99.",  # whole video
        lambda s, e, d: "From 5 to 40.",  # one digit: unparseable by LongVALE's rule
        lambda s, e, d: f"From {render_time(s, d)} to {render_time(s, d)}.",  # zero-length
        lambda s, e, d: "from 1.5 to 4 seconds",  # seconds: read by the lenient parser only
    ]
    log, targets, durations, answers = [], [], [], []
    events = [(vid, sid, ts, video["duration"]) for vid, video in annotations.items()
              for sid, ts in enumerate(video["timestamps"])]
    for index, (vid, sid, (start, end), duration) in enumerate(events):
        answer = kinds[index % len(kinds)](start, end, duration)
        log.append({"video_id": vid, "task": "grounding", "query_id": 0, "answer": answer,
                    "info": {"sentence_id": sid}})
        targets.append([start, end])
        durations.append(duration)
        answers.append(answer)
    return log, answers, targets, durations


@pytest.mark.parametrize("parse", ["longvale", "lenient"])
def test_grounding_reward_mean_is_eval_scores_miou(parse):
    annotations = json.loads(GROUNDING.read_text())
    log, answers, targets, durations = _answers_for(annotations)
    assert len(answers) >= 8  # every kind of answer met at least once
    scores = score(log, GROUNDING, task="grounding", parse=parse)
    values = resolve_rewards("grounding_iou")[0](answers, targets, durations, parse=parse)
    assert values == [row.iou for row in scores.rows]  # each reward is the scorer's IoU, bit for bit
    mean = sum(values) / len(values)
    # the scorer's mIoU is this very mean times 100: equal as floats. (mIoU / 100 can miss the mean by
    # one ulp, 33.33333333333333 / 100 != 1 / 3 in binary, which is why the equality is stated this way.)
    assert mean * 100 == scores["grounding"]["mIoU"] == grounding_metrics(values)["mIoU"]
    unparseable = scores.tasks[0].unparseable
    assert unparseable > 0 and rewards_stats(answers, targets, durations, parse=parse)["format_failure_rate"] \
        == unparseable / len(answers)
    assert 0 < mean < 1


# --------------------------------------------------------------------------- user rewards


def test_user_reward_by_module_path():
    (reward,) = resolve_rewards(["reward_helpers:says_from"])
    assert reward.reward_name == "reward_helpers:says_from"
    assert reward(["From 05 to 40.", "soon"], ["From 00 to 50."] * 2, [12.0, 12.0], task="grounding",
                  parse="lenient") == [1.0, 0.0]
    import reward_helpers

    assert reward_helpers.says_from.seen == {"targets": ["From 00 to 50."] * 2, "durations": [12.0, 12.0],
                                             "task": "grounding", "parse": "lenient"}
    both = resolve_rewards(["format", "reward_helpers:says_from"])
    assert [f(["From 5 to 40."], [[0.0, 6.0]], [12.0]) for f in both] == [[0.0], [1.0]]


@pytest.mark.parametrize("name, message", [
    ("reward_helpers:raising", "reward 'reward_helpers:raising' raised ValueError: no video here"),
    ("reward_helpers:not_finite", "reward 'reward_helpers:not_finite' returned a non-finite value (nan) for "
                                  "completion 0"),
    ("reward_helpers:one_short", "reward 'reward_helpers:one_short' returned 1 values for 2 completions"),
    ("reward_helpers:refuses", "reward 'reward_helpers:refuses' failed: this reward reads no dense captions"),
])
def test_a_failing_user_reward_is_one_clear_error(name, message):
    (reward,) = resolve_rewards([name])
    with pytest.raises(RewardError) as caught:
        reward(["From 05 to 40.", "soon"], [[0.0, 6.0]] * 2, [12.0] * 2)
    assert str(caught.value) == message and caught.value.reason == "reward" and caught.value.source == name
    assert isinstance(caught.value, OmniBenchError)
    if name.endswith("raising"):
        assert isinstance(caught.value.__cause__, ValueError)


@pytest.mark.parametrize("name, message", [
    ("no_such_reward", "unknown reward 'no_such_reward'"),
    ("no_such_module_xyz:f", "reward 'no_such_module_xyz:f': cannot import 'no_such_module_xyz' "
                             "(ModuleNotFoundError"),
    ("reward_helpers_broken:f", "reward 'reward_helpers_broken:f': cannot import 'reward_helpers_broken' "
                                "(RuntimeError: this module needs a GPU)"),
    ("reward_helpers:missing", "reward 'reward_helpers:missing': 'reward_helpers' has no 'missing'"),
    ("reward_helpers:NOT_A_FUNCTION", "reward 'reward_helpers:NOT_A_FUNCTION' is not callable"),
])
def test_unknown_rewards_are_one_line(name, message):
    with pytest.raises(OmniBenchError, match=re.escape(message)):
        resolve_rewards([name])
    with pytest.raises(OmniBenchError, match="no reward named"):
        resolve_rewards([])


def test_bad_inputs_are_one_line():
    with pytest.raises(OmniBenchError, match="scores grounding answers"):
        grounding_iou_reward(["From 0 to 49, a."], [[[0.0, 4.0]]], [8.0], task="dense")
    with pytest.raises(OmniBenchError, match="unknown task 'segment'"):
        format_reward(["x"], [None], [8.0], task="segment")
    with pytest.raises(OmniBenchError, match="unknown parse mode 'loose'"):
        format_reward(["x"], [None], [8.0], parse="loose")
    with pytest.raises(OmniBenchError, match="2 completions, 1 targets and 1 durations"):
        grounding_iou_reward(["a", "b"], [[0.0, 1.0]], [8.0])
    with pytest.raises(OmniBenchError, match="no span in the target"):
        grounding_iou_reward(["From 05 to 40."], ["somewhere"], [8.0])
    with pytest.raises(OmniBenchError, match=r"a target is \[start, end\]"):
        grounding_iou_reward(["From 05 to 40."], [[1.0, 2.0, 3.0]], [8.0])
    for duration in (None, 0.0, float("nan"), "8"):
        with pytest.raises(OmniBenchError, match="a video duration in seconds is needed"):
            format_reward(["From 05 to 40."], [[0.0, 1.0]], [duration])
    # a built-in reward's own OmniBenchError passes through resolve_rewards' check unchanged
    with pytest.raises(OmniBenchError, match="no span in the target") as caught:
        resolve_rewards("grounding_iou")[0](["From 05 to 40."], ["somewhere"], [8.0])
    assert not isinstance(caught.value, RewardError)
