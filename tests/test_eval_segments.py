"""Segment captioning (BLEU4 and ROUGE_L by hand, METEOR / CIDEr the scorers' own) and ``omni-bench eval score``."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from omni_bench import score
from omni_bench.cli import main

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="pycocoevalcap's PTB tokenizer needs Java")

ANNOTATIONS = {
    "v1": {"duration": 100.0, "timestamps": [[0, 40], [40, 100]],
           "sentences": ["A man walks into a room.", "He sits down on a chair."]},
}
# written out of annotation order on purpose: answers are paired with their event by sentence_id
LOG = [
    {"video_id": "v1", "task": "seg_captioning", "query_id": 0, "answer": "He sits on a chair!",
     "info": {"sentence_id": 1}},
    {"video_id": "v1", "task": "seg_captioning", "query_id": 0, "answer": "A man walks into the room.",
     "info": {"sentence_id": 0}},
]


def test_bleu4_and_rouge_l_by_hand():
    result = score(LOG, ANNOTATIONS, task="seg_captioning")["seg_captioning"]
    # tokens: "he sits on a chair" | "he sits down on a chair";  "a man walks into the room" | "a man walks into a room"
    # clipped n-gram matches / guesses summed over both: 1-grams 5+5 / 11, 2-grams 3+3 / 9, 3-grams 1+2 / 7,
    # 4-grams 0+1 / 5; hypothesis length 11, closest references 6 + 6 = 12, brevity penalty exp(1 - 12/11)
    precision = (10 / 11) * (6 / 9) * (3 / 7) * (1 / 5)
    assert result["BLEU4"] == pytest.approx(precision ** 0.25 * math.exp(1 - 12 / 11) * 100, rel=1e-8)
    # ROUGE-L F with beta 1.2: LCS 5 of 5 / 6 tokens, then 5 of 6 / 6

    def f(p, r, beta=1.2):
        return (1 + beta ** 2) * p * r / (r + beta ** 2 * p)

    assert result["ROUGE_L"] == pytest.approx((f(1, 5 / 6) + f(5 / 6, 5 / 6)) / 2 * 100, rel=1e-12)


def test_meteor_and_cider_are_the_scorers_on_the_sentence_id_pairs():
    from pycocoevalcap.cider.cider import Cider

    from omni_bench.eval.coco import meteor_scorer

    res = {0: ["he sits on a chair"], 1: ["a man walks into the room"]}
    gts = {0: ["he sits down on a chair"], 1: ["a man walks into a room"]}
    result = score(LOG, ANNOTATIONS, task="seg_captioning")
    assert result["seg_captioning"]["METEOR"] == meteor_scorer().compute_score(gts, res)[0] * 100
    assert result["seg_captioning"]["CIDEr"] == Cider().compute_score(gts, res)[0] * 100
    assert list(result["seg_captioning"]) == ["BLEU4", "METEOR", "ROUGE_L", "CIDEr"]


def test_empty_answers_are_counted():
    log = [dict(LOG[0], answer="  "), *LOG[1:]]
    seg = score(log, ANNOTATIONS, task="seg_captioning").tasks[0]
    assert (seg.answers, seg.unparseable, seg.examples) == (2, 1, (("v1 event 1", "  "),))


def test_cli_eval_score_text_and_json(tmp_path, capsys):
    log, ann = tmp_path / "log.jsonl", tmp_path / "ann.json"
    grounding = {"video_id": "v1", "task": "grounding", "query_id": 0, "answer": "From 05 to 40.",
                 "info": {"sentence_id": 0}}
    log.write_text("".join(json.dumps(e) + "\n" for e in [grounding, *LOG]))
    ann.write_text(json.dumps(ANNOTATIONS))
    assert main(["eval", "score", str(log), "--annotations", str(ann), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data["tasks"]) == ["grounding", "seg_captioning"]
    assert data["tasks"]["grounding"]["metrics"]["mIoU"] == 88.0  # 0.35 / 0.40 = 0.875 -> 0.88
    assert data["tasks"]["seg_captioning"]["metrics"] == score(LOG, ANNOTATIONS)["seg_captioning"]
    assert main(["eval", "score", str(log), "--annotations", str(ann), "--task", "grounding"]) == 0
    assert "mIoU 88.00  R1@0.3 100.00  R1@0.5 100.00  R1@0.7 100.00" in capsys.readouterr().out
    assert main(["eval", "score", str(tmp_path / "none.jsonl"), "--annotations", str(ann)]) == 2
    assert capsys.readouterr().err.strip().endswith("none.jsonl: log file not found")
