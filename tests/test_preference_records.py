"""Preference pairs through the one record gate: the forms read, every bad pair listed with its reason,
and the writer's file read back to the same pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omni_bench import LayoutSettings
from omni_bench.cli import main
from omni_bench.data.preference import PreferencePair, read_pairs, write_pairs

CLIPS = Path(__file__).resolve().parent.parent / "data" / "clips"
SETTINGS = LayoutSettings(frames=4, max_pixels=64 * 28 * 28)
ASK = "<video>\nAt which time interval can we see the white bar cross the middle?"


def _turn(role, text):
    return {"from": role, "value": text}


def _lf(rid, chosen, rejected, videos=("street_market.mkv",), prompt=ASK, **more):
    """A LLaMA-Factory sharegpt preference record."""
    return {"id": rid, "conversations": [_turn("human", prompt)], "chosen": chosen, "rejected": rejected,
            "videos": list(videos), **more}


MIXED = [
    _lf("good_dicts", _turn("gpt", "From 40 to 60."), _turn("gpt", "From 00 to 99."), rejected_iou=0.2),
    _lf("good_strings", "From 40 to 60.", "From 70 to 90.", rejected_iou=0.0),
    _lf("audio_in_video", "From 40 to 60.", "From 10 to 20.", prompt="<video><audio>When?",
        audios=["street_market.mkv"]),
    _lf("identical", "From 40 to 60.", " From 40 to 60. "),
    _lf("empty_rejected", "From 40 to 60.", _turn("gpt", "")),
    _lf("two_tags", "From 40 to 60.", "From 10 to 20.", prompt="<video><video>When?"),
    _lf("missing_video", "From 40 to 60.", "From 10 to 20.", videos=("gone.mkv",)),
    _lf("silent_video", "From 40 to 60.", "From 10 to 20.", videos=("silent_walk.mkv",)),
    _lf("ends_in_gpt", "a", "b") | {"conversations": [_turn("human", ASK), _turn("gpt", "x")]},
    _lf("over_budget", "From 40 to 60. " * 200, "From 10 to 20."),
    _lf("separate_audio", "From 40 to 60.", "From 10 to 20.", prompt="<video><audio>When?",
        audios=["music.wav"]),
]
EXPECTED = {"identical": ("same-replies", "chosen and rejected are the same text"),
            "empty_rejected": ("empty-reply", "the rejected reply is empty"),
            "two_tags": ("tag-count", "2 <video> tag(s) but 1 video(s)"),
            "missing_video": ("missing", "gone.mkv: file not found"),
            "silent_video": ("no-audio", "silent_walk.mkv: no audio track but audio is asked for"),
            "ends_in_gpt": ("roles", "the prompt ends in a gpt turn"),
            "over_budget": ("over-budget", "over budget: the last turn alone needs"),
            "separate_audio": ("unsupported", "audio files apart from a video")}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pairs") / "pairs.json"
    path.write_text(json.dumps(MIXED))
    return path


def test_every_bad_pair_is_listed_with_its_reason(mixed, omni_processor):
    pairs, problems = read_pairs(mixed, CLIPS, settings=SETTINGS, processor=omni_processor, max_total_tokens=1024)
    assert [p.id for p in pairs] == ["good_dicts", "good_strings", "audio_in_video"]
    assert {p.source: (p.reason, p.message) for p in problems}.keys() == EXPECTED.keys()
    for problem in problems:
        reason, text = EXPECTED[problem.source]
        assert problem.reason == reason and text in problem.message, problem


def test_the_good_pairs_hold_what_a_trainer_needs(mixed, omni_processor):
    pairs, _ = read_pairs(mixed, CLIPS, settings=SETTINGS, processor=omni_processor, max_total_tokens=1024)
    first, strings, folded = pairs
    assert (first.index, first.chosen, first.rejected) == (0, "From 40 to 60.", "From 00 to 99.")
    assert first.prompt == (("human", ASK),) and first.extra == {"rejected_iou": 0.2}
    assert first.videos == (str(CLIPS / "street_market.mkv"),) and first.use_audio_in_video
    assert strings.rejected == "From 70 to 90." and strings.extra == {"rejected_iou": 0.0}
    # LLaMA-Factory's <video><audio> of the video's own track: the video alone, its audio in it
    assert folded.prompt == (("human", "<video>When?"),) and folded.audios == () and folded.use_audio_in_video
    assert folded.messages(folded.chosen)[0]["content"] == [{"type": "video"}, {"type": "text", "text": "When?"}]
    no_audio, _ = read_pairs(mixed, CLIPS, settings=LayoutSettings(frames=4, max_pixels=64 * 28 * 28,
                                                                   use_audio=False),
                             processor=omni_processor, max_total_tokens=1024)
    assert "silent_video" in [p.id for p in no_audio] and not any(p.use_audio_in_video for p in no_audio)


def test_qwen_vl_and_ms_swift_forms(tmp_path):
    vl = [{"video": "street_market.mkv", "conversations": [_turn("human", ASK)], "chosen": "From 40 to 60.",
           "rejected": "From 10 to 20."}]
    swift = [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": ASK},
                           {"role": "assistant", "content": "From 40 to 60."}],
              "rejected_response": "From 10 to 20.", "videos": ["street_market.mkv"]}]
    for rows in (vl, swift):
        (tmp_path / "p.json").write_text(json.dumps(rows))
        pairs, problems = read_pairs(tmp_path / "p.json", CLIPS, check_media=False)
        assert problems == []
        (pair,) = pairs
        assert (pair.prompt, pair.chosen, pair.rejected) == ((("human", ASK),), "From 40 to 60.", "From 10 to 20.")
        assert pair.videos == (str(CLIPS / "street_market.mkv"),)
    assert pair.system == "Be brief."


def test_written_pairs_read_back_equal(mixed, tmp_path):
    pairs, _ = read_pairs(mixed, CLIPS, check_media=False)
    out = write_pairs(tmp_path / "out.json", pairs, media_root=CLIPS)
    rows = json.loads(out.read_text())
    assert rows[0]["videos"] == ["street_market.mkv"] and rows[0]["chosen"] == {"from": "gpt",
                                                                               "value": "From 40 to 60."}
    again, problems = read_pairs(out, CLIPS, check_media=False)
    assert problems == [] and [replace_index(p) for p in again] == [replace_index(p) for p in pairs]


def replace_index(pair: PreferencePair) -> PreferencePair:
    from dataclasses import replace

    return replace(pair, index=0)


def test_validate_lists_bad_pairs(mixed, capsys, omni_processor):
    status = main(["validate", str(mixed), "--media-root", str(CLIPS), "--frames", "4", "--max-pixels",
                   str(64 * 28 * 28), "--max-total-tokens", "1024", "--json"])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["total"], report["valid"]) == (len(MIXED), 3)
    assert {p["source"]: p["reason"] for p in report["problems"]} == {k: v[0] for k, v in EXPECTED.items()}
    assert report["data_format"] == "preference pairs, sharegpt"


def test_a_pair_is_never_truncated(tmp_path, omni_processor):
    """A two-turn prompt that fits only without its first turn: an SFT record would drop that turn, a pair is
    dropped whole (cutting one side's context would make the two sides disagree)."""
    from omni_bench.data.validation import Gate

    long_turn = [_turn("human", ASK), _turn("gpt", "From 40 to 60. " * 30), _turn("human", "And the tone?")]
    rows = [_lf("two_turns", "It swells.", "It stops.") | {"conversations": long_turn}]
    (tmp_path / "p.json").write_text(json.dumps(rows))
    gate = Gate(media_root=CLIPS, settings=SETTINGS, processor=omni_processor)
    (pair,) = read_pairs(tmp_path / "p.json", CLIPS, settings=SETTINGS, processor=omni_processor)[0]
    whole = gate.check(pair.record("chosen")).sample.total_tokens
    last = gate.check(pair.record("chosen").replace(conversations=(("human", ASK), ("gpt", "It swells.")))).sample
    budget = (whole + last.total_tokens) // 2  # between the last turn alone and the whole pair
    pairs, problems = read_pairs(tmp_path / "p.json", CLIPS, settings=SETTINGS, processor=omni_processor,
                                 max_total_tokens=budget)
    assert pairs == [] and [(p.reason, "a pair is never truncated" in p.message) for p in problems] == [
        ("over-budget", True)]
    # pairs made in memory (omni-bench pairs) go through the same checks
    from omni_bench.data.preference import check_pairs

    small = Gate(media_root=CLIPS, settings=SETTINGS, processor=omni_processor, max_total_tokens=budget)
    assert [p.reason for p in check_pairs([pair], small)] == ["over-budget"] and check_pairs([pair], gate) == []


def test_openai_layout_and_dataset_info_columns(tmp_path):
    openai = [{"messages": [{"role": "user", "content": ASK}],
               "chosen": {"role": "assistant", "content": "From 40 to 60."},
               "rejected": {"role": "assistant", "content": "From 10 to 20."}, "videos": ["street_market.mkv"]}]
    renamed = [{"dialog": [{"who": "q", "text": ASK}], "better": "From 40 to 60.", "worse": "From 10 to 20.",
                "clips": ["street_market.mkv"]}]
    info = {"mine": {"file_name": "renamed.json", "formatting": "sharegpt", "ranking": True,
                     "columns": {"messages": "dialog", "chosen": "better", "rejected": "worse", "videos": "clips"},
                     "tags": {"role_tag": "who", "content_tag": "text", "user_tag": "q", "assistant_tag": "a"}}}
    (tmp_path / "openai.json").write_text(json.dumps(openai))
    (tmp_path / "renamed.json").write_text(json.dumps(renamed))
    (tmp_path / "dataset_info.json").write_text(json.dumps(info))
    for name in ("openai.json", "renamed.json"):
        pairs, problems = read_pairs(tmp_path / name, CLIPS, check_media=False)
        assert problems == [] and [(p.prompt, p.chosen, p.rejected, p.extra) for p in pairs] == [
            ((("human", ASK),), "From 40 to 60.", "From 10 to 20.", {})], name
        assert pairs[0].videos == (str(CLIPS / "street_market.mkv"),)
