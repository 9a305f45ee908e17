"""`omni-bench validate` on a file mixing good records with every kind of bad one."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from omni_bench import LayoutSettings
from omni_bench.cli import main
from omni_bench.data.records import load_qwen_vl, load_records
from omni_bench.data.validation import validate

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "validate"

EXPECTED = {
    "missing_video": ("missing", "missing.mkv: file not found"),
    "truncated_video": ("truncated", "truncated.mkv: truncated: the header says 3.00 s of video but its packets end "
                                     "at 1.50 s (15 frames)"),
    "silent_video": ("no-audio", "silent.mkv: no audio track but audio is asked for"),
    "tag_count_mismatch": ("tag-count", "2 <video> tag(s) but 1 video(s)"),
    "roles_not_alternating": ("roles", "turn 2 is from 'human', expected 'gpt'"),
    "empty_reply": ("empty-reply", "reply 1 is empty"),
    "timestamp_outside_video": ("timestamps", "timestamp 9 s is outside the video's duration (0 to 3 s)"),
    "over_long_single_turn": ("over-budget", "the last turn alone needs"),
}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("validate")
    runpy.run_path(str(FIXTURE / "make.py"))["make"](folder)
    return folder


def test_every_bad_record_is_listed_with_its_reason_and_the_good_ones_count(media, capsys, omni_processor):
    status = main(["validate", str(media / "records.json"), "--media-root", str(media), "--json",
                   "--max-total-tokens", "1024"])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total"] == 11 and report["valid"] == 3
    problems = {p["source"]: p for p in report["problems"]}
    assert set(problems) == set(EXPECTED)
    for rid, (code, text) in EXPECTED.items():
        assert problems[rid]["reason"] == code, rid
        assert text in problems[rid]["message"], rid
    # the three good ones: two fit as they are, one fits after dropping its earliest turn
    assert report["truncated"] == {"good_after_truncation": 1}


def test_no_audio_makes_the_silent_video_valid(media, omni_processor):
    records = [r for r in load_records(media / "records.json") if r.id in ("silent_video", "good_single_turn")]
    report = validate(records, media_root=media, settings=LayoutSettings(use_audio=False), processor=omni_processor)
    assert (report.total, report.valid, report.problems) == (2, 2, ())


def test_text_report_and_progress_bar(media, omni_processor, capsys, monkeypatch):
    monkeypatch.delenv("OMNI_BENCH_PROGRESS", raising=False)  # the suite's default (conftest) silences stage lines
    records = load_records(media / "records.json")[:4]
    report = validate(records, media_root=media, processor=omni_processor, progress=True)
    assert "omni-bench validate: 4/4 records" in capsys.readouterr().err  # a log's stage line (a terminal: tqdm)
    text = str(report)
    assert text.splitlines()[0] == ("3 of 4 records valid (budget 32768 tokens: the model's context, the tokenizer's "
                                    "model_max_length = config max_position_embeddings)")
    assert "missing_video: [missing]" in text


def test_images_and_unexpected_errors_never_stop_the_run(tmp_path, omni_processor):
    from PIL import Image

    Image.new("RGB", (120, 80), (200, 10, 10)).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    rows = [{"image": "ok.png", "conversations": [{"from": "human", "value": "<image>\nColour?"},
                                                  {"from": "gpt", "value": "Red."}]},
            {"image": "bad.png", "conversations": [{"from": "human", "value": "<image>\nColour?"},
                                                   {"from": "gpt", "value": "Red."}]},
            {"images": ["ok.png", "gone.png"], "conversations": [{"from": "human", "value": "<image><image>?"},
                                                                 {"from": "gpt", "value": "Red."}]},
            "not even a record"]
    (tmp_path / "vl.json").write_text(json.dumps(rows))
    report = validate(load_qwen_vl(tmp_path / "vl.json"), media_root=tmp_path, processor=omni_processor)
    # a readable image is checked (it exists, decodes, resizes) and then refused as training refuses it: the
    # training dataset takes one video per record (the one record gate, omni_bench.data.validation.Gate)
    assert report.total == 4 and report.valid == 0
    assert [(p.source, p.reason) for p in report.problems] == [("vl:0", "unsupported"), ("vl:1", "unreadable"),
                                                         ("vl:2", "missing"), ("vl:3", "no-turns")]
    assert report.problems[0].message.startswith("images are not trained")
