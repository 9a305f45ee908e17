"""The one record gate: what `validate` calls valid is exactly what trains, and every record it refuses is
dropped by training with the same reason and message (issue 21 item 5, issue 25 item 3)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from omni_bench import LayoutSettings
from omni_bench.core.problems import Problem
from omni_bench.data.dataset import OmniSFTDataset
from omni_bench.data.records import load_records
from omni_bench.data.validation import validate

ROOT = Path(__file__).resolve().parent.parent
CLIPS = ROOT / "data" / "clips"
SETTINGS = LayoutSettings(frames=4, resize=(56, 56))
ASK = "<video>\nAt which time interval can we see the white bar?"


def _record(rid, video="street_market.mkv", human=ASK, reply="From <s0> to <e0>.", token=None, **more):
    token = {"<s0>": 3.2, "<e0>": 4.8} if token is None else token
    return {"id": rid, "video": video, "meta": {"duration": 8.0, "token": token},
            "conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": reply}], **more}


MIXED = [
    _record("good"),
    _record("good_two_turns") | {"conversations": [
        {"from": "human", "value": ASK}, {"from": "gpt", "value": "From <s0> to <e0>."},
        {"from": "human", "value": "And the tone?"}, {"from": "gpt", "value": "It swells."}]},
    _record("image", video=None, human="<image>\nWhat colour?", reply="Red.", token={}, image="red.png"),
    _record("two_videos", video=["street_market.mkv", "kitchen_talk.mkv"], human="<video><video>\nSame place?",
            reply="No."),
    _record("unresolved_time_token", reply="From <s0> to <e3>."),
    _record("timestamp_outside", token={"<s0>": 3.2, "<e0>": 30.0}),
    _record("empty_reply", reply="  "),
    _record("missing_media", video="gone.mkv"),
    _record("no_audio_track", video="silent_walk.mkv"),
    _record("over_the_context", reply="word " * 33_000),
]
REASONS = {"image": "unsupported", "two_videos": "unsupported", "unresolved_time_token": "time-token",
           "timestamp_outside": "timestamps", "empty_reply": "empty-reply", "missing_media": "missing",
           "no_audio_track": "no-audio", "over_the_context": "over-budget"}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    from PIL import Image

    folder = tmp_path_factory.mktemp("gate")
    Image.new("RGB", (64, 48), (200, 10, 10)).save(folder / "red.png")
    rows = [{**row, "video": str(CLIPS / row["video"]) if isinstance(row.get("video"), str) else
             [str(CLIPS / v) for v in row["video"]]} if row.get("video") else
            {k: v for k, v in row.items() if k != "video"} for row in MIXED]
    (folder / "mixed.json").write_text(json.dumps(rows))
    return folder / "mixed.json"


def test_validate_and_the_training_dataset_agree_record_for_record(mixed, omni_processor):
    records = load_records(mixed)
    report = validate(records, media_root=mixed.parent, settings=SETTINGS, processor=omni_processor)
    dataset = OmniSFTDataset(records, media_root=mixed.parent, settings=SETTINGS, processor=omni_processor)
    assert {p.source: p.reason for p in report.problems} == REASONS
    assert list(report.problems) == dataset.dropped  # source, reason and message, in file order
    assert [p.record.id for p in dataset.planned] == ["good", "good_two_turns"] and report.valid == 2
    assert report.max_total_tokens == dataset.max_total_tokens == 32_768  # no budget given: the model's context
    # the unresolved token would have been trained as the text "<e3>"; the message says so
    assert dataset.dropped[2] == Problem("unresolved_time_token", "time-token", "time token(s) <e3> have no value "
                                         "in meta.token (it would be trained as the literal text)")
    # a given budget: the same records over it in both
    small = validate(records, media_root=mixed.parent, settings=SETTINGS, processor=omni_processor,
                     max_total_tokens=285)
    cut = OmniSFTDataset(records, media_root=mixed.parent, settings=SETTINGS, processor=omni_processor,
                         max_total_tokens=285)
    assert list(small.problems) == cut.dropped and small.valid == len(cut) == 1
    assert small.problems[0].source == "good" and small.problems[0].reason == "over-budget"  # 293 tokens > 285
    assert small.truncated == (("good_two_turns", 1),) and cut.sample(0).dropped_turns == 1


def _cli(*argv) -> dict:
    done = subprocess.run([sys.executable, "-m", "omni_bench.cli", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_validate_and_train_cli_list_the_same_records(mixed, tmp_path):
    shape = ["--frames", "4", "--resize", "56x56"]
    checked = _cli("validate", str(mixed), *shape, "--json")
    trained = _cli("train", "--tiny", "--data", str(mixed), *shape, "--max-steps", "1", "--output",
                   str(tmp_path / "run"), "--no-progress", "--json")
    assert trained["dropped"] == checked["problems"]  # the same default budget: the model's context
    assert {p["source"]: p["reason"] for p in trained["dropped"]} == REASONS
    assert trained["samples"] == checked["valid"] == 2
