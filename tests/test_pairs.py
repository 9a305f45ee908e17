"""``omni-bench pairs`` (issue 22 item 2): preference pairs offline from LongVALE annotations and
on-policy from a model, scored by the project's own scorer, written in LLaMA-Factory's sharegpt
preference form and read back through the one record gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from omni_bench.core.errors import OmniBenchError
from omni_bench.data.preference import read_pairs
from omni_bench.eval.log import load_eval_annotations
from omni_bench.eval.pairs import PairsConfig, answer_iou, build_pairs, offline_pairs, reply_scores, well_formed
from omni_bench.eval.prompts import make_queries
from omni_bench.eval.score import score

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "longvale_grounding.json"
CLIPS = ROOT / "data" / "clips"


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMNI_BENCH_PROGRESS": "0"}
    return subprocess.run([sys.executable, "-m", "omni_bench.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=1800)


def test_offline_pairs_record_the_iou_eval_score_gives_the_same_replies(tmp_path):
    """Every offline pair's recorded IoU (chosen and rejected) equals the IoU `eval score` computes for the
    same reply written as an answer log line, and the chosen reply is the training records' own answer."""
    run = build_pairs(annotations=str(DATA), media_root=str(CLIPS), output=str(tmp_path / "pairs.json"),
                      progress=False)
    assert run.source == "offline" and len(run.pairs) > 9
    assert {p.kind for p in run.pairs} == {"shifted", "other", "whole"}
    log = tmp_path / "log.jsonl"
    for side in ("chosen", "rejected"):
        lines = [{"video_id": p.query.video_id, "task": "grounding", "query_id": 0, "answer": getattr(p, side),
                  "info": {"sentence_id": p.query.sentence_id}} for p in run.pairs]
        log.write_text("".join(json.dumps(line) + "\n" for line in lines))
        rows = score(log, str(DATA), task="grounding").rows
        assert [row.iou for row in rows] == [getattr(p, f"{side}_score") for p in run.pairs]
    written = json.loads((tmp_path / "pairs.json").read_text())
    assert [r["rejected_iou"] for r in written] == [p.rejected_score for p in run.pairs]
    assert [r["chosen_iou"] for r in written] == [p.chosen_score for p in run.pairs]
    # the chosen reply is exactly what `train --task grounding --split-turns` teaches for that question
    references = {(q.video_id, q.sentence_id): q.reference
                  for q in make_queries(load_eval_annotations(str(DATA)), "grounding", "training")}
    assert all(p.chosen == references[p.query.video_id, p.query.sentence_id] for p in run.pairs)
    assert all(r["chosen"]["value"].startswith("From ") and r["videos"][0].endswith(".mkv") for r in written)


def test_offline_wrong_spans_are_the_controlled_ones():
    ann = {"v": {"duration": 10.0, "timestamps": [[1.0, 3.0], [3.0, 10.0]], "sentences": ["A bar.", "It stops."]}}
    queries = make_queries(ann, "grounding", "training")
    pairs, skipped = offline_pairs(ann, queries, shift=0.5)
    first = [(p.kind, p.rejected) for p in pairs if p.query.sentence_id == 0]
    # shifted by half the video (later), the other event's span, the whole video
    assert first == [("shifted", "From 60 to 80."), ("other", "From 30 to 99."), ("whole", "From 00 to 99.")]
    second = [(p.kind, p.rejected) for p in pairs if p.query.sentence_id == 1]
    assert second[0] == ("shifted", "From 00 to 50.")  # would leave the video: moved earlier instead
    assert [p.rejected_score for p in pairs] == [answer_iou(p.rejected, ann["v"]["timestamps"][p.query.sentence_id],
                                                            10.0) for p in pairs]
    kept, dropped = offline_pairs(ann, queries, shift=0.5, min_margin=0.5)
    assert all(p.margin >= 0.5 for p in kept) and {r for _, r, _ in dropped} == {"margin"}
    assert len(kept) + len(dropped) == len(pairs) + len(skipped)


def test_offline_pairs_pass_the_preference_gate(tmp_path):
    """The written file reads back through data.preference (the gate `validate` and `train --method dpo` use):
    every pair valid, videos found, the prompt's <video> tag matched."""
    run = build_pairs(annotations=str(DATA), media_root=str(CLIPS), output=str(tmp_path / "pairs.json"),
                      progress=False)
    pairs, problems = read_pairs(tmp_path / "pairs.json", CLIPS, check_media=False)
    assert problems == [] and len(pairs) == len(run.pairs)
    assert [p.rejected for p in pairs] == [p.rejected for p in run.pairs]
    assert all(Path(p.videos[0]).is_file() for p in pairs)


def test_validate_passes_the_written_file(tmp_path):
    build_pairs(annotations=str(DATA), media_root=str(CLIPS), output=str(tmp_path / "pairs.json"), progress=False)
    done = _cli("validate", str(tmp_path / "pairs.json"), "--media-root", str(CLIPS), "--frames", "4", "--resize",
                "56x56", "--no-audio", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["valid"] == report["total"] > 9 and report["problems"] == []


def test_strict_format_scores_a_malformed_grounding_reply_0():
    """LongVALE's parser reads "From 00 to 999999." as 00-99; as a chosen reply it would teach a malformed
    answer, so on-policy scoring gives it 0 unless --no-strict-format."""
    annotations = load_eval_annotations(str(DATA))
    query = make_queries(annotations, "grounding", "training")[2]  # street_market's last event, 70-100 %
    replies = ["From 70 to 99.", "From 70 to 999999.", "From 70 to 99 to 99.", "no span"]
    assert [well_formed(r) for r in replies] == [True, False, False, False]
    lenient = reply_scores("grounding", "iou", query, replies, annotations)
    assert lenient == [answer_iou(r, [5.6, 8.0], 8.0) for r in replies] == [0.97, 0.97, 0.97, 0.0]
    assert reply_scores("grounding", "iou", query, replies, annotations, strict_format=True) == [0.97, 0, 0, 0]


@pytest.mark.parametrize("fields, words", [
    ({"task": "seg_captioning"}, "offline pairs are built for --task grounding only"),
    ({"source": "on-policy"}, "on-policy pairs sample a model"),
    ({"tiny": True, "num_generations": 1}, "--num-generations must be >= 2"),
    ({"wrong": ("shifted", "late")}, "--wrong takes some of shifted, other, whole"),
    ({"tiny": True, "metric": "CIDEr"}, "--metric for grounding must be one of iou"),
    ({"tiny": True, "adapter": "runs/x"}, "at most one of --tiny"),
])
def test_bad_settings_are_one_line(fields, words):
    with pytest.raises(OmniBenchError, match=words.replace("-", r"\-").replace(".", r"\.")):
        PairsConfig(annotations=str(DATA), **fields)


def test_cli_bad_input_exits_2_with_one_line(tmp_path):
    done = _cli("pairs", "--annotations", str(tmp_path / "missing.json"), "--output", str(tmp_path / "p.json"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "missing.json" in done.stderr


@pytest.mark.slow
def test_on_policy_pairs_from_an_sft_run_keep_the_margin(tmp_path):
    """Sampled from the closed loop's SFT start (configs/train_tiny_grounding_start.json) through the CLI: every
    kept pair's chosen IoU is at least the rejected one's plus --min-margin, both are the scorer's IoU of the
    written replies, the file passes the gate, and the same seed gives the same file."""
    trained = _cli("train", "--config", str(ROOT / "configs" / "train_tiny_grounding_start.json"), "--data",
                   str(DATA), "--media-root", str(CLIPS), "--output", str(tmp_path / "A"), "--no-progress", "--json")
    assert trained.returncode == 0, trained.stderr[-2000:]
    args = ["pairs", "--annotations", str(DATA), "--media-root", str(CLIPS), "--adapter", str(tmp_path / "A"),
            "--num-generations", "4", "--min-margin", "0.3", "--json"]
    done = _cli(*args, "--output", str(tmp_path / "p.json"))
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["source"] == "on-policy" and result["questions"] == 9 and result["kept"] > 0
    assert result["kept"] + sum(result["skipped"].values()) == 9
    assert set(result["skipped"]) <= {"margin"}
    annotations = load_eval_annotations(str(DATA))
    for pair in result["pairs"]:
        stamps = annotations[pair["video_id"]]["timestamps"][pair["sentence_id"]]
        duration = annotations[pair["video_id"]]["duration"]
        for side in ("chosen", "rejected"):  # the scorer's IoU; a malformed reply scores 0 (the format reward)
            reply = pair[side]
            assert pair[f"{side}_score"] == (answer_iou(reply, stamps, duration) if well_formed(reply) else 0.0)
        assert well_formed(pair["chosen"]) and pair["chosen_score"] >= pair["rejected_score"] + 0.3
    written = json.loads((tmp_path / "p.json").read_text())
    assert [(r["chosen"]["value"], r["rejected_iou"]) for r in written] == \
        [(p["chosen"], p["rejected_score"]) for p in result["pairs"]]
    pairs, problems = read_pairs(tmp_path / "p.json", CLIPS, check_media=False)
    assert problems == [] and len(pairs) == result["kept"]
    again = _cli(*args, "--output", str(tmp_path / "q.json"))
    assert again.returncode == 0, again.stderr[-2000:]
    assert (tmp_path / "q.json").read_text() == (tmp_path / "p.json").read_text()
