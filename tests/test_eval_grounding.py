"""Grounding scored by LongVALE's rules, every number computed by hand (no Java needed)."""

from __future__ import annotations

import doctest
import importlib

import pytest

from omni_bench import OmniBenchError, score
from omni_bench.eval.grounding import grounding_metrics, span_iou

ANNOTATIONS = {
    "v1": {"duration": 100.0, "timestamps": [[0, 40], [40, 100]], "sentences": ["A man walks in.", "He sits."]},
    "v2": {"duration": 50.0, "timestamps": [[10, 20], [20, 45]], "sentences": ["A dog barks.", "It runs out."]},
}


def line(vid, sid, answer, query_id=0, **info):
    return {"video_id": vid, "task": "grounding", "query_id": query_id, "answer": answer,
            "info": {"sentence_id": sid, **info}}


@pytest.mark.parametrize("module", ["answers", "grounding", "dense", "soda", "segments", "log"])
def test_docstring_examples(module):
    failures, _ = doctest.testmod(importlib.import_module(f"omni_bench.eval.{module}"))
    assert failures == 0


def test_iou_is_rounded_as_python_rounds():
    # 0.35 / 0.4 = 0.875 exactly: round-half-even keeps 0.88
    assert span_iou((0.05, 0.40), (0.0, 0.4)) == 0.88
    # "From 02 to 43" on an event at 10-90 %: 0.33 / 0.88 = 3/8 = 0.375 exactly, which half-even and
    # half-up both round to 0.38; in binary it is 0.37499999999999994, so LongVALE's round gives 0.37
    assert (0.43 - 0.1) / (0.9 - 0.02) < 0.375 and span_iou((0.02, 0.43), (0.1, 0.9)) == 0.37
    # hull as the union, no epsilon: a prediction on exactly half the event is 0.5 and counts for R1@0.5
    assert span_iou((0.0, 0.2), (0.0, 0.4)) == 0.5
    assert span_iou((0.5, 0.6), (0.0, 0.4)) == 0.0  # disjoint
    assert span_iou((0.4, 0.1), (0.0, 0.4)) == 0.0  # reversed answer: min(0.1, 0.4) - max(0.4, 0) < 0
    assert span_iou(None, (0.0, 0.4)) == 0.0


def test_metrics_by_hand():
    ious = [0.88, 0.0, 1.0, 0.3, 0.69]
    metrics = grounding_metrics(ious)
    # >= 0.3: 0.88, 1.0, 0.3, 0.69; >= 0.5: 0.88, 1.0, 0.69; >= 0.7: 0.88, 1.0 (0.69 just misses)
    assert metrics == {"mIoU": (0.88 + 0.0 + 1.0 + 0.3 + 0.69) / 5 * 100, "R1@0.3": 80.0,
                       "R1@0.5": 60.0, "R1@0.7": 40.0}
    assert grounding_metrics([]) == {}


def test_score_a_hand_made_log():
    log = [
        line("v1", 0, "From 05 to 40.", iou=0.88),  # 0.35 / 0.40 -> 0.88
        line("v1", 1, "I don't know."),  # unparseable -> 0
        line("v2", 0, "It happens from 20 and 40", iou=0.5),  # exact -> 1.0; the log's 0.5 is wrong
        line("v2", 1, "From 40 to 90."),  # (0.4, 0.9) vs (0.4, 0.9) -> 1.0
        line("v2", 1, "From 00 to 10.", query_id=1),  # a second query of the event: not counted
        {"video_id": "v1", "task": "seg_captioning", "query_id": 0, "answer": "x", "info": {"sentence_id": 0}},
    ]
    result = score(log, ANNOTATIONS, task="grounding")
    assert [t.task for t in result.tasks] == ["grounding"]
    assert [r.iou for r in result.rows] == [0.88, 0.0, 1.0, 1.0]
    assert result["grounding"] == {"mIoU": (0.88 + 0 + 1 + 1) / 4 * 100, "R1@0.3": 75.0, "R1@0.5": 75.0,
                                   "R1@0.7": 75.0}
    grounding = result.tasks[0]
    assert (grounding.answers, grounding.unparseable) == (4, 1)
    assert grounding.examples == (("v1 event 1", "I don't know."),)
    assert grounding.notes == ("1 of 2 recomputed IoUs equal the log's info.iou",)
    text = str(result)
    assert "mIoU 72.00  R1@0.3 75.00  R1@0.5 75.00  R1@0.7 75.00" in text
    assert "unparseable: 1 of 4" in text and "v1 event 1: \"I don't know.\"" in text


def test_lenient_mode_reads_seconds_and_says_so():
    log = [line("v2", 0, "from 10 to 20 seconds"), line("v2", 1, "00:20 - 00:45"), line("v1", 0, "05 to 40")]
    longvale = score(log, ANNOTATIONS, parse="longvale")
    lenient = score(log, ANNOTATIONS, parse="lenient")
    # LongVALE mode reads "10 to 20" as 10-20 % of 50 s; "00:20 - 00:45" has no span; "05 to 40" is 0.88
    assert [r.iou for r in longvale.rows] == [0.0, 0.0, 0.88]
    assert [r.iou for r in lenient.rows] == [1.0, 1.0, 0.88]
    assert lenient["grounding"]["mIoU"] == (1 + 1 + 0.88) / 3 * 100
    assert str(lenient).startswith("Lenient-parse scores") and str(longvale).startswith("LongVALE scores")
    assert lenient.to_dict()["parse"] == "lenient"


def test_bad_logs_are_one_line_errors(tmp_path):
    with pytest.raises(OmniBenchError, match="video 'v9' of the log is not in the annotations"):
        score([line("v9", 0, "From 00 to 10")], ANNOTATIONS)
    with pytest.raises(OmniBenchError, match="sentence_id 5 is not one of its 2 events"):
        score([line("v1", 5, "From 00 to 10")], ANNOTATIONS)
    with pytest.raises(OmniBenchError, match=r"needs info\.sentence_id"):
        score([{"video_id": "v1", "task": "grounding", "answer": "From 00 to 10"}], ANNOTATIONS)
    with pytest.raises(OmniBenchError, match="unknown task 'qa'"):
        score([{"video_id": "v1", "task": "qa", "answer": "x"}], ANNOTATIONS)
    with pytest.raises(OmniBenchError, match="no positive duration"):
        score([], {"v1": {"duration": 0, "timestamps": [], "sentences": []}})
    with pytest.raises(OmniBenchError, match="log file not found"):
        score(tmp_path / "missing.jsonl", ANNOTATIONS)


def test_a_torn_last_line_is_skipped_and_counted(tmp_path):
    import json

    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps(line("v1", 0, "From 00 to 40.")) + "\n" + '{"video_id": "v1", "ta')
    result = score(path, ANNOTATIONS)
    assert result.skipped_lines == 1 and result["grounding"]["mIoU"] == 100.0
    assert "1 log line(s) were not JSON" in str(result)


def test_bundled_grounding_data_needs_the_video_to_answer():
    import json
    from pathlib import Path

    from omni_bench.eval.prompts import make_queries

    path = Path(__file__).resolve().parent.parent / "data" / "longvale_grounding.json"
    queries = make_queries(json.loads(path.read_text()), "grounding", "training")
    by_question: dict[str, set[str]] = {}
    for query in queries:
        by_question.setdefault(query.text, set()).add(query.reference)
    # every question is asked of several videos and has a different true answer for each
    assert all(len(answers) == 3 for answers in by_question.values()) and len(by_question) == 3
