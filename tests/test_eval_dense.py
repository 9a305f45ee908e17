"""Dense captioning's rules (merge, +1 end, tIoU, matching, tokenizer batches, video order) and SODA's DP,
each on a hand-computed case.

The rules are pure Python and need nothing; the METEOR / CIDEr totals at the end call
pycocoevalcap (Java) on the pairs the rules give, listed here by hand.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import string
import subprocess
import sys

import numpy as np
import pytest

from omni_bench import OmniBenchError, score
from omni_bench.eval.answers import parse_events
from omni_bench.eval.dense import TIOUS, caption_pairs, dense_details, merge_events, tiou, visit_orders
from omni_bench.eval.soda import best_matching, soda_prf

needs_java = pytest.mark.skipif(shutil.which("java") is None,
                                reason="pycocoevalcap's METEOR and PTB tokenizer need Java")


def merged(answer: str, duration: float = 100.0):
    return merge_events(parse_events(answer), duration)


def test_plus_one_on_the_end_of_relative_times():
    # "From 20 to 39" on a 50 s video: start 20 * 50 / 100 = 10 s, end (39 + 1) * 50 / 100 = 20 s
    assert merged("From 20 to 39, a dog barks.", 50.0) == [(10.0, 20.0, "a dog barks.")]


@pytest.mark.parametrize("second, expected_events", [
    ("From 11 to 20, a dog runs.", 1),  # start - end = 11 - 10 = 1: merged
    ("From 12 to 20, a dog runs.", 2),  # 2: not merged
    ("From 09 to 20, a dog runs.", 1),  # -1 (overlap by one bin): merged
    ("From 08 to 20, a dog runs.", 2),  # -2: not merged
    ("From 10 to 20, a cat runs.", 2),  # ratio 2 * 10 / 22 = 0.91: not near-identical
])
def test_merge_rule_gap_and_similarity(second, expected_events):
    events = merged("From 00 to 10, a dog runs.\n" + second)
    assert len(events) == expected_events
    if expected_events == 1:  # the current sentence kept, the end extended to the second event's (+1)
        assert events == [(0.0, 21.0, "a dog runs.")]


def test_merge_similarity_threshold_is_above_098():
    # difflib's ratio is 2 * matches / (len(a) + len(b)): one extra letter after n equal ones gives 2n / (2n + 1)
    def ratio_case(n):
        return len(merged(f"From 00 to 10, {'a' * n}\nFrom 10 to 20, {'a' * n + 'b'}"))

    assert ratio_case(99) == 1  # 198 / 199 = 0.995
    assert ratio_case(25) == 1  # 50 / 51 = 0.9804 > 0.98
    assert ratio_case(24) == 2  # 48 / 49 = 0.9796


def test_merge_chains_and_compares_with_the_kept_sentence():
    events = merged("From 00 to 09, a dog runs.\nFrom 10 to 19, a dog runs.\nFrom 20 to 29, a dog runs.\n"
                    "From 30 to 39, a cat sits.\nFrom 40 to 49, a dog runs.")
    assert events == [(0.0, 30.0, "a dog runs."), (30.0, 40.0, "a cat sits."), (40.0, 50.0, "a dog runs.")]


def test_merge_of_lenient_seconds_decides_in_relative_units():
    events = merge_events(parse_events("0 to 10 seconds, a dog runs. 10.5 to 20 seconds, a dog runs.",
                                       "lenient"), 100.0)
    assert events == [(0.0, 20.0, "a dog runs.")]  # 10.5 s on a 100 s video is 0.5 bins after 10 s


def test_tiou_epsilon_and_disjoint_union():
    assert tiou((0, 50), (0, 100)) == 50 / (100 + 1e-8) < 0.5  # exactly half is just below 0.5
    assert tiou((10, 20), (20, 45)) == 0.0  # touching
    assert tiou((20, 30), (20, 45)) == 10 / (25 + 1e-8)
    assert tiou((30, 50), (20, 45)) == 15 / (30 + 1e-8)


def test_matching_at_each_threshold():
    predicted = [(10, 20), (20, 30), (30, 50), (0, 50)]
    true = [(10, 20), (20, 45)]
    # tIoUs: p0: 1, 0 | p1: 0, 0.4 | p2: 0, 0.5 | p3: 0.2, 0.5
    assert caption_pairs(predicted, true, 0.3) == [(0, 0), (1, 1), (2, 1), (3, 1)]
    assert caption_pairs(predicted, true, 0.5) == [(0, 0), (1, None), (2, None), (3, None)]  # 0.5 - eps
    assert caption_pairs(predicted, true, 0.1) == [(0, 0), (1, 1), (2, 1), (3, 0), (3, 1)]  # one to many


def test_soda_dp_on_a_2x2_example():
    # true g0 = [0, 10], g1 = [10, 20]; predicted p0 = [0, 10], p1 = [5, 20]
    iou = np.array([[tiou((0, 10), (0, 10)), tiou((5, 20), (0, 10))],
                    [tiou((0, 10), (10, 20)), tiou((5, 20), (10, 20))]])
    assert np.allclose(iou, [[1.0, 0.25], [0.0, 2 / 3]], atol=1e-8)
    meteor = np.array([[0.5, 0.2], [0.1, 0.4]])
    # products [[0.5, 0.05], [0, 0.2667]]: the best order-preserving matching takes both diagonals
    total = iou[0, 0] * 0.5 + iou[1, 1] * 0.4
    p, r, f = soda_prf(iou, meteor)
    assert (p, r) == (total / 2, total / 2) and f == pytest.approx(0.38333333, abs=1e-7)


def test_soda_matches_never_cross_in_time():
    # g0 fits p1 (0.9) and g1 fits p0 (0.8) but those matches cross: only one may count
    scores = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.0]])
    assert best_matching(scores) == (0.9, [(0, 1)])
    p, r, f = soda_prf(scores, np.ones_like(scores))
    assert (p, r) == (0.9 / 3, 0.9 / 2) and f == pytest.approx(2 * 0.3 * 0.45 / 0.75)
    assert soda_prf(np.zeros((2, 0)), np.zeros((2, 0))) == (0.0, 0.0, 0.0)


def _brute_force(scores: np.ndarray) -> float:
    rows, cols = scores.shape
    best = 0.0
    for k in range(1, min(rows, cols) + 1):
        for picked_rows in itertools.combinations(range(rows), k):
            for picked_cols in itertools.combinations(range(cols), k):
                best = max(best, sum(scores[i, j] for i, j in zip(picked_rows, picked_cols)))
    return best


def test_soda_dp_equals_brute_force_over_order_preserving_matchings():
    rng = np.random.default_rng(0)
    for _ in range(60):
        scores = rng.random((rng.integers(1, 5), rng.integers(1, 5))) * (rng.random() < 0.8)
        scores[rng.random(scores.shape) < 0.4] = 0.0
        total, pairs = best_matching(scores)
        assert total == pytest.approx(_brute_force(scores), abs=1e-12)
        assert sum(scores[i, j] for i, j in pairs) == pytest.approx(total, abs=1e-12)
        assert all(a[0] < b[0] and a[1] < b[1] for a, b in itertools.pairwise(pairs))


ANNOTATIONS = {
    "A": {"duration": 100.0, "timestamps": [[0, 40], [40, 100]],
          "sentences": ["A man walks into a room.", "He sits down on a chair."]},
    "B": {"duration": 50.0, "timestamps": [[10, 20], [20, 45]],
          "sentences": ["A dog barks at the door.", "The dog runs outside."]},
    "C": {"duration": 30.0, "timestamps": [[0, 30]], "sentences": ["Nothing happens."]},
}
ANSWERS = {
    # 40-79 and 80-99 repeat one sentence one bin apart: merged to [40, 100] s
    "A": "From 00 to 39, a man walks into a room.\nFrom 40 to 79, he sits down on a chair.\n"
         "From 80 to 99, he sits down on a chair.",
    # [10, 20] s, [20, 30] s, [30, 50] s
    "B": "From 20 to 39, a dog barks.\nFrom 40 to 59, the dog runs outside.\nFrom 60 to 99, a cat sleeps on the sofa.",
    "C": "Nothing I can describe.",  # no event: scores 0
}
TOKENS = {  # PTB tokenized: lower case, punctuation tokens dropped
    "A man walks into a room.": "a man walks into a room", "He sits down on a chair.": "he sits down on a chair",
    "A dog barks at the door.": "a dog barks at the door", "The dog runs outside.": "the dog runs outside",
    "a man walks into a room.": "a man walks into a room", "he sits down on a chair.": "he sits down on a chair",
    "a dog barks.": "a dog barks", "the dog runs outside.": "the dog runs outside",
    "a cat sleeps on the sofa.": "a cat sleeps on the sofa",
}
# (predicted sentence, true sentence or None) per video per threshold, read off the tIoUs by hand:
# A: both predictions are the true spans (tIoU 1 - 1e-10). B: p0 = g0 (1), p1-g1 10/25 = 0.4,
# p2-g1 15/30 = 0.5 - 1e-9 (below 0.5).
_A = [("a man walks into a room.", "A man walks into a room."),
      ("he sits down on a chair.", "He sits down on a chair.")]
PAIRS = {
    0.3: {"A": _A, "B": [("a dog barks.", "A dog barks at the door."),
                         ("the dog runs outside.", "The dog runs outside."),
                         ("a cat sleeps on the sofa.", "The dog runs outside.")]},
    0.5: {"A": _A, "B": [("a dog barks.", "A dog barks at the door."), ("the dog runs outside.", None),
                         ("a cat sleeps on the sofa.", None)]},
    0.7: {"A": _A, "B": [("a dog barks.", "A dog barks at the door."), ("the dog runs outside.", None),
                         ("a cat sleeps on the sofa.", None)]},
    0.9: {"A": _A, "B": [("a dog barks.", "A dog barks at the door."), ("the dog runs outside.", None),
                         ("a cat sleeps on the sofa.", None)]},
}


def _log():
    return [{"video_id": vid, "task": "captioning", "query_id": 0, "answer": text} for vid, text in ANSWERS.items()]


@needs_java
def test_ptb_tokenizer_as_listed():
    from omni_bench.eval.coco import ptb_tokenize

    assert ptb_tokenize({k: [k] for k in TOKENS}) == {k: [v] for k, v in TOKENS.items()}


@needs_java
def test_dense_meteor_and_cider_are_the_scorers_on_the_hand_listed_pairs():
    from pycocoevalcap.cider.cider import Cider

    from omni_bench.eval.coco import meteor_scorer

    garbage = "".join(random.Random(1).choice(string.ascii_lowercase) for _ in range(15))  # any such string
    meteor_at, cider_at = [], []
    for _threshold, videos in PAIRS.items():
        meteors, ciders = [], []
        for vid in ANSWERS:
            pairs = videos.get(vid, [])
            if not pairs:
                meteors.append(0.0), ciders.append(0.0)
                continue
            res = {n: [TOKENS[p]] for n, (p, _) in enumerate(pairs)}
            gts = {n: [TOKENS[t] if t else garbage] for n, (_, t) in enumerate(pairs)}
            meteors.append(meteor_scorer().compute_score(gts, res)[0])
            ciders.append(Cider().compute_score(gts, res)[0])
        meteor_at.append(np.mean(meteors)), cider_at.append(np.mean(ciders))
    result = score(_log(), ANNOTATIONS, task="captioning")
    assert result["captioning"]["METEOR"] == pytest.approx(np.mean(meteor_at) * 100, rel=1e-12)
    assert result["captioning"]["CIDEr"] == pytest.approx(np.mean(cider_at) * 100, rel=1e-12)
    captioning = result.tasks[0]
    assert (captioning.answers, captioning.unparseable) == (3, 1)
    assert captioning.examples == (("C", "Nothing I can describe."),)


@needs_java
def test_soda_c_is_the_dp_over_iou_times_meteor():
    from omni_bench.eval.coco import meteor_scorer

    def m(true: str, predicted: str) -> float:  # the true sentence is METEOR's hypothesis
        return meteor_scorer().compute_score({0: [TOKENS[predicted]]}, {0: [TOKENS[true]]})[1][0]

    a = (40 / (40 + 1e-8) * m(*_A[0][::-1]) + 60 / (60 + 1e-8) * m(*_A[1][::-1])) / 2
    # B: 2 true x 3 predicted; g0 only overlaps p0 (10 / (10 + 1e-8)); g1 overlaps p1 (0.4) and p2 (0.5)
    g0p0 = 10 / (10 + 1e-8) * m("A dog barks at the door.", "a dog barks.")
    g1p1 = 10 / (25 + 1e-8) * m("The dog runs outside.", "the dog runs outside.")
    g1p2 = 15 / (30 + 1e-8) * m("The dog runs outside.", "a cat sleeps on the sofa.")
    total_b = g0p0 + max(g1p1, g1p2)
    p, r = total_b / 3, total_b / 2
    b = 2 * p * r / (p + r)
    result = score(_log(), ANNOTATIONS, task="captioning")
    assert result["captioning"]["soda_c"] == pytest.approx((a + b + 0.0) / 3 * 100, rel=1e-12)


def test_without_java_one_clear_line(monkeypatch):
    import omni_bench.eval.coco as coco

    monkeypatch.setattr(coco.shutil, "which", lambda name: None)
    with pytest.raises(OmniBenchError, match="java not found on PATH: METEOR and the PTB tokenizer"):
        score(_log(), ANNOTATIONS, task="captioning")


# ---- issue 26: the rules LongVALE's code follows that a single tokenizer run hides ----------------
# LongVALE's code tokenizes in batches (one Stanford PTBTokenizer run per batch of lines), and the
# tokenizer reads across line ends: "a." at the end of a line stays one token unless the next line
# opens with a sentence starter ("The", "A", "He"). Which line comes next depends on the batch: per
# threshold, hypotheses and references pair after pair (garbage references among them), videos in
# a Python set's order (PYTHONHASHSEED=0 is the documented control); SODA has its own two batches.

py311 = pytest.mark.skipif(sys.version_info < (3, 11), reason="set orders listed for CPython 3.11+'s string hash")


def _tokens(lines):
    from omni_bench.eval.coco import ptb_tokenize

    done = ptb_tokenize({k: [line] for k, line in enumerate(lines)})
    return [done[k][0] for k in range(len(lines))]


@needs_java
def test_ptb_reads_across_line_ends():
    assert _tokens(["a man plays with a.", "The dog runs."]) == ["a man plays with a", "the dog runs"]
    assert _tokens(["a man plays with a.", "the dog runs."]) == ["a man plays with a.", "the dog runs"]
    assert _tokens(["a man plays with a.", "Dogs run."]) == ["a man plays with a.", "dogs run"]
    assert _tokens(["qxzjvkwpqxzj", "He plays with a."]) == ["qxzjvkwpqxzj", "he plays with a."]  # end of batch


@py311
def test_videos_are_visited_in_a_python_sets_order_under_hash_seed_0():
    # LongVALE iterates set(video ids); under PYTHONHASHSEED=0, CPython 3.11+ gives v2, v1, v3 for these
    assert visit_orders(["v1", "v2", "v3"], ["v3", "v1", "v2"]) == (("v2", "v1", "v3"), ("v2", "v1", "v3"))
    assert visit_orders(["a", "b"], ["b", "a"]) == (("a", "b"), ("a", "b"))


def test_visit_orders_are_the_same_in_processes_with_other_hash_seeds():
    code = ("import json; from omni_bench.eval.dense import visit_orders; "
            "print(json.dumps(visit_orders(['v%d' % i for i in range(40)], ['v%d' % i for i in range(39, -1, -1)])))")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(runs) == 1
    activitynet, soda = json.loads(runs.pop())
    assert sorted(activitynet) == sorted(soda) == sorted(f"v{i}" for i in range(40))


def _scorers(refs: list[str], hyps: list[str]) -> tuple[float, float]:
    from pycocoevalcap.cider.cider import Cider

    from omni_bench.eval.coco import meteor_scorer

    gts, res = {k: [r] for k, r in enumerate(refs)}, {k: [h] for k, h in enumerate(hyps)}
    return meteor_scorer().compute_score(gts, res)[0], Cider().compute_score(gts, res)[0]


def _details(answers: dict, annotations: dict):
    predictions = {vid: merged(text) for vid, text in answers.items()}
    return dense_details(predictions, {vid: annotations[vid] for vid in annotations if vid in predictions})


@pytest.mark.slow
@needs_java
def test_each_threshold_tokenizes_its_own_pairs_with_the_garbage_among_them():
    annotations = {"solo": {"duration": 100.0, "timestamps": [[0, 50], [0, 100]],
                            "sentences": ["He plays with a.", "The cat sleeps."]}}
    # p0 = [50, 100] "The cat sleeps.", p1 = [0, 50] "he plays with a."; tIoUs: p0-t1 0.5 - eps,
    # p1-t0 1 - eps, p1-t1 0.5 - eps. At 0.3: (p0, t1), (p1, t0), (p1, t1); above: (p0, garbage), (p1, t0).
    details = _details({"solo": "From 50 to 99, The cat sleeps.\nFrom 00 to 49, he plays with a."}, annotations)
    # 0.3, hypotheses: "he plays with a." is followed by "he ..." then ends the batch: kept whole both times;
    # references: "He plays with a." is followed by "The cat sleeps.": split
    low = _scorers(["the cat sleeps", "he plays with a", "the cat sleeps"],
                   ["the cat sleeps", "he plays with a.", "he plays with a."])
    assert (details.meteor[0.3]["solo"], details.cider[0.3]["solo"]) == low
    # 0.5 and up: both "a." lines end their batch (kept), the garbage reference comes first
    garbage = "".join(random.Random(7).choice(string.ascii_lowercase) for _ in range(17))  # any such string
    high = _scorers([garbage, "he plays with a."], ["the cat sleeps", "he plays with a."])
    for threshold in (0.5, 0.7, 0.9):
        assert (details.meteor[threshold]["solo"], details.cider[threshold]["solo"]) == high
    assert low[0] < high[0]  # the split "a." costs the 0.3 pair its exact match


@pytest.mark.slow
@needs_java
@py311
def test_the_next_video_in_set_order_decides_how_the_last_caption_tokenizes():
    annotations = {"v1": {"duration": 100.0, "timestamps": [[0, 50]], "sentences": ["Dogs run."]},
                   "v2": {"duration": 100.0, "timestamps": [[50, 100], [0, 50]],
                          "sentences": ["A woman sings.", "A man plays with a."]}}
    answers = {"v1": "From 00 to 49, The dog runs.",  # the log names v1 first; LongVALE visits v2 first
               "v2": "From 50 to 99, a woman sings.\nFrom 00 to 49, a man plays with a."}
    details = _details(answers, annotations)
    assert list(details.meteor[0.5]) == ["v2", "v1"]
    # METEOR / CIDEr batches: [v2's pairs, v1's]; v2's "a." line is followed by v1's first line:
    # hypotheses "The dog runs." (split), references "Dogs run." (kept)
    v2 = _scorers(["a woman sings", "a man plays with a."], ["a woman sings", "a man plays with a"])
    v1 = _scorers(["dogs run"], ["the dog runs"])
    for threshold in TIOUS:
        assert (details.meteor[threshold]["v2"], details.cider[threshold]["v2"]) == v2
        assert (details.meteor[threshold]["v1"], details.cider[threshold]["v1"]) == v1
    # SODA's batches, each video in time order: predictions "a man plays with a." then "a woman sings."
    # (kept); true sentences "A man plays with a." then "A woman sings." (split)
    from omni_bench.eval.coco import meteor_scorer

    def m(true: str, predicted: str) -> float:  # the true sentence is METEOR's hypothesis
        return meteor_scorer().compute_score({0: [predicted]}, {0: [true]})[1][0]

    total = 50 / (50 + 1e-8) * m("a man plays with a", "a man plays with a.") \
        + 50 / (50 + 1e-8) * m("a woman sings", "a woman sings")
    assert details.soda["v2"] == pytest.approx(total / 2, rel=1e-12)  # P = R = total / 2
    assert details.soda["v1"] == pytest.approx(50 / (50 + 1e-8) * m("dogs run", "the dog runs"), rel=1e-12)
    totals = details.totals()
    assert totals["METEOR"] == pytest.approx((v2[0] + v1[0]) / 2, rel=1e-12)
    assert totals["CIDEr"] == pytest.approx((v2[1] + v1[1]) / 2, rel=1e-12)


def test_visit_orders_without_an_interpreter_is_one_clear_line(monkeypatch):
    import omni_bench.eval.dense as dense

    monkeypatch.setattr(dense.sys, "executable", "/nonexistent/python")
    with pytest.raises(OmniBenchError, match="could not run /nonexistent/python to find LongVALE's video order"):
        visit_orders(["only-in-this-test"], ["only-in-this-test"])


@pytest.mark.slow
@needs_java
def test_identical_in_fresh_processes_with_other_hash_seeds(tmp_path):
    from longvale_reference import ours_dense, write_case

    ann_path, log_path = write_case(tmp_path, seed=5, videos=5)  # gaps, repeats, out-of-order events
    first, second = (ours_dense(log_path, ann_path, hash_seed=seed) for seed in (1, 2))
    assert first == second and len(first["METEOR"]["0.3"]) == 5
