"""Audio past Qwen2.5-Omni's 300 s cap is never dropped silently (issue 11 item 4).

The feature extractor keeps 30,000 mel frames (300 s); a 330 s clip written by ffmpeg (AAC, 1 fps,
64 x 64) must have every report say how many seconds are dropped and from which chunk on the video
has no audio: inspect's text and --json notes, plan (equal to inspect), the alignment table, budget
and validate.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from ffmpeg_media import ClipSpec, make_clip, requires_ffmpeg

import omni_bench
from omni_bench.core.media import probe, read_audio
from omni_bench.layout.budget import budget_dataset
from omni_bench.layout.settings import LayoutSettings

pytestmark = requires_ffmpeg

LONG = ClipSpec("mkv", "h264", "aac", 330.0, "1", width=64, height=64, sample_rate=16000)
SETTINGS = LayoutSettings(fps=0.5, resize=(56, 56))


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return make_clip(LONG, tmp_path_factory.mktemp("long_clip"))


@pytest.fixture(scope="module")
def processor():
    return omni_bench.load_processor("qwen2.5-omni-7b")


@pytest.fixture(scope="module")
def real(long_clip, processor):
    return omni_bench.inspect(str(long_clip), SETTINGS, processor=processor)


def test_the_processor_keeps_300_s_and_inspect_says_what_is_dropped(long_clip, real):
    samples = len(read_audio(long_clip))
    dropped = samples / 16000 - 300
    assert dropped >= 30  # the AAC track decodes to a little over 330 s
    assert real.stats.mel_frames == 30000 and real.stats.audio_tokens == 7500
    assert real.stats.audio_track_seconds == samples / 16000
    assert real.stats.audio_dropped_seconds == pytest.approx(dropped, abs=1e-9)
    notes = [n for n in real.notes if n.startswith("audio: the track has")]
    assert len(notes) == 1
    assert f"the last {dropped:.2f} s are dropped" in notes[0]
    # 7500 audio tokens fill chunks 0-149 (2 s = 50 tokens each); the video runs on to 330 s
    assert "chunks 150-" in notes[0] and "(the video from 300 s on) have no audio" in notes[0]
    text = str(real)
    assert f"dropped past the cap: {dropped:.2f} s" in text and notes[0] in text


def test_plan_from_the_header_equals_inspect_notes_included(long_clip, real, processor):
    planned = omni_bench.plan(probe(long_clip), SETTINGS, processor=processor)
    assert dataclasses.replace(planned, source="processor") == real


def test_the_alignment_table_names_the_silent_chunks(real):
    timing = omni_bench.alignment(real)
    assert any(n.startswith("audio: the track has") and "chunks 150-" in n for n in timing.notes)
    silent = [c for c in timing.chunks if c.index >= 150]
    assert silent and all(c.audio_tokens == 0 and c.video_tokens > 0 for c in silent)
    assert "have no audio" in str(timing)


def test_inspect_json_carries_the_note(long_clip, capsys):
    from omni_bench.cli import main

    assert main(["inspect", str(long_clip), "--fps", "0.5", "--resize", "56x56", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert any("are dropped" in n and "chunks 150-" in n for n in data["notes"])
    assert data["audio_dropped_seconds"] >= 30
    assert any("are dropped" in n for n in data["alignment"]["notes"])


def test_budget_says_how_much_audio_is_lost(long_clip, processor):
    result = budget_dataset([long_clip], SETTINGS, processor=processor)
    dropped = len(read_audio(long_clip)) / 16000 - 300
    summary = result.to_dict()["audio_dropped_seconds"]
    assert summary["samples"] == 1 and summary["max"] == pytest.approx(dropped, abs=1e-9)
    assert f"1 of 1 samples lose {dropped:.2f} s" in str(result)
    assert int(result.budget.audio_tokens[0]) == 7500


def test_validate_notes_the_dropped_audio(long_clip, processor, tmp_path):
    from omni_bench.data.records import load_records
    from omni_bench.data.validation import validate

    records_file = tmp_path / "records.json"
    records_file.write_text(json.dumps([{
        "id": "long_one", "video": str(long_clip),
        "conversations": [{"from": "human", "value": "<video>\nWhat happens?"},
                          {"from": "gpt", "value": "A test pattern moves while a tone plays."}]}]))
    report = validate(load_records(records_file), settings=SETTINGS, processor=processor)
    assert (report.total, report.valid) == (1, 1)
    assert len(report.notes) == 1 and report.notes[0][0] == "long_one"
    assert "are dropped" in report.notes[0][1] and "chunks 150-" in report.notes[0][1]
    assert "long_one: " + long_clip.name in str(report)
    assert report.to_dict()["notes"][0]["source"] == "long_one"


def test_audio_max_seconds_keeps_the_whole_track_as_the_processor_does(long_clip, processor):
    """--audio-max-seconds 340 hands the feature extractor max_length = 340 s: nothing is dropped, and
    plan, budget and inspect agree on the longer audio (all of it: ceil(samples / 160) mel frames)."""
    settings = SETTINGS.replace(audio_max_seconds=340)
    samples = len(read_audio(long_clip))
    real = omni_bench.inspect(str(long_clip), settings, processor=processor)
    assert real.stats.input_features_shape == (1, 128, 34000)
    assert real.stats.mel_frames == -(-samples // 160) > 30000
    assert real.stats.audio_tokens > 7500 and real.stats.audio_dropped_seconds == 0
    assert not any("are dropped" in n for n in real.notes)
    planned = omni_bench.plan(probe(long_clip), settings, processor=processor)
    assert dataclasses.replace(planned, source="processor") == real
    budgeted = budget_dataset([long_clip], settings, processor=processor).budget
    assert int(budgeted.audio_tokens[0]) == real.stats.audio_tokens
    assert int(budgeted.total_tokens[0]) == len(real.input_ids)
    # a cap below the track drops the rest, and says so
    short = omni_bench.inspect(str(long_clip), SETTINGS.replace(audio_max_seconds=120), processor=processor)
    assert short.stats.mel_frames == 12000 and short.stats.audio_tokens == 3000
    assert short.stats.audio_dropped_seconds == pytest.approx(samples / 16000 - 120, abs=1e-9)
    assert any("keeps the first 120.00 s" in n for n in short.notes)
