"""Multi-turn samples, exact budgets and data formats, against transformers' own processor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from omni_bench import LayoutSettings, OmniBenchError, probe, read_audio, read_frames
from omni_bench.core.tokens import token_ids
from omni_bench.data.records import (
    Record,
    load_longvale_annotations,
    load_longvale_sft,
    load_qwen_vl,
    load_records,
    mix,
    parse_mix,
    render_time,
    resolve_media,
    sample_percent,
)
from omni_bench.data.samples import (
    Turn,
    build_sample,
    count_tokens,
    drop_turns,
    media_token_count,
    messages,
    split_report,
    synthetic_records,
    turns_of,
)
from omni_bench.layout.frames import resize_frames, sample_indices
from omni_bench.layout.labels import IGNORE_INDEX, assistant_labels, audit_labels

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SETTINGS = LayoutSettings(frames=4, resize=(56, 56))


def _reference(processor, record_turns, clip, settings=SETTINGS, audio=True):
    """transformers' processor called directly, the documented 5.23 way, on hand-built messages."""
    info = probe(clip)
    indices = sample_indices(info, settings)
    frames = read_frames(clip, indices)
    frames = resize_frames(frames, settings.resize, 28)
    msgs = []
    for human, gpt in record_turns:
        content = []
        if human.startswith("<video>\n"):
            content.append({"type": "video", "video": str(clip)})
            human = human[len("<video>"):]
        content.append({"type": "text", "text": human})
        msgs += [{"role": "user", "content": content},
                 {"role": "assistant", "content": [{"type": "text", "text": gpt}]}]
    text = processor.apply_chat_template(msgs, tokenize=False)
    kwargs = dict(text=[text], videos=[frames], return_tensors="pt",
                  videos_kwargs={"fps": len(indices) / info.duration, "do_resize": False})
    if audio:
        kwargs.update(audio=[read_audio(clip)], audio_from_video_indices=[0], load_audio_from_video=True)
    return processor(**kwargs), info


@pytest.fixture(scope="module")
def street(omni_processor):
    record = load_longvale_sft(DATA / "longvale_sft.json")[0]
    clip = resolve_media(record.videos[0], DATA)
    return record, clip


# ---------------------------------------------------------------- labels on the final ids


def test_multi_turn_labels_are_every_reply_and_its_im_end(omni_processor, street):
    record, clip = street
    out, _ = _reference(omni_processor, [(t.human, t.gpt) for t in turns_of(record.conversations)], clip)
    ids = token_ids(omni_processor)
    input_ids = out["input_ids"][0].numpy()
    labels = assistant_labels(input_ids, ids)
    audit = audit_labels(input_ids, labels, omni_processor.tokenizer, ids)
    assert audit.ok and audit.on_media == 0 and audit.on_template == 0
    assert audit.replies == ("From 40 to 60.<|im_end|>", "A steady tone that swells and fades.<|im_end|>")
    expected = sum(len(omni_processor.tokenizer(r[1])["input_ids"]) + 1 for r in record.conversations[1::2])
    assert audit.label_tokens == expected
    # everything that is not a reply is -100: the system turn, both user turns with all media tokens
    assert (labels[np.isin(input_ids, list(ids.media))] == IGNORE_INDEX).all()
    assert int((input_ids == ids.video).sum()) == 8 and int((input_ids == ids.audio).sum()) == 200


def test_single_turn_labels(omni_processor, street):
    _, clip = street
    out, _ = _reference(omni_processor, [("<video>\nDescribe.", "A bar.")], clip)
    ids = token_ids(omni_processor)
    audit = audit_labels(out["input_ids"][0], assistant_labels(out["input_ids"][0], ids), omni_processor.tokenizer, ids)
    assert audit.replies == ("A bar.<|im_end|>",) and audit.ok


# ---------------------------------------------------------------- exact counts


@pytest.mark.parametrize("dropped", [0, 1])
def test_counted_total_equals_the_processors_input_ids(omni_processor, street, dropped):
    record, clip = street
    turns = drop_turns(turns_of(record.conversations), dropped)
    span = media_token_count(probe(clip), SETTINGS, omni_processor)
    count = count_tokens(turns, omni_processor, [span])
    out, _ = _reference(omni_processor, [(t.human, t.gpt) for t in turns], clip)
    labels = assistant_labels(out["input_ids"][0], token_ids(omni_processor))
    assert count.input_tokens == len(out["input_ids"][0])
    assert count.label_tokens == int((labels != IGNORE_INDEX).sum())


def test_counted_total_without_audio(omni_processor, street):
    record, clip = street
    settings = SETTINGS.replace(use_audio=False)
    turns = turns_of(record.conversations)
    count = count_tokens(turns, omni_processor, [media_token_count(probe(clip), settings, omni_processor)])
    out, _ = _reference(omni_processor, [(t.human, t.gpt) for t in turns], clip, settings, audio=False)
    assert count.input_tokens == len(out["input_ids"][0])


def test_counts_with_the_default_dynamic_size(omni_processor):
    """No --resize: the processor's own dynamic resize of a 640x360 video is counted exactly too."""
    clip = DATA / "clips" / "kitchen_talk.mkv"
    settings = LayoutSettings(frames=4)
    info = probe(clip)
    indices = sample_indices(info, settings)
    turns = turns_of(load_longvale_sft(DATA / "longvale_sft.json")[1].conversations)
    text = omni_processor.apply_chat_template(messages(turns), tokenize=False)
    out = omni_processor(text=[text], videos=[read_frames(clip, indices)], audio=[read_audio(clip)],
                         audio_from_video_indices=[0], load_audio_from_video=True, return_tensors="pt",
                         videos_kwargs={"fps": len(indices) / info.duration})
    count = count_tokens(turns, omni_processor, [media_token_count(info, settings, omni_processor)])
    assert count.input_tokens == len(out["input_ids"][0])


# ---------------------------------------------------------------- truncation


def _record(*pairs, video=True):
    conv = []
    for k, (h, g) in enumerate(pairs):
        conv += [("human", ("<video>\n" if video and k == 0 else "") + h), ("gpt", g)]
    return Record("r", tuple(conv), ("v.mkv",) if video else ())


def test_drop_turns_moves_the_media_tag_to_the_new_first_turn():
    turns = turns_of(_record(("A?", "a"), ("B?", "b"), ("C?", "c")).conversations)
    assert drop_turns(turns, 2) == (Turn("<video>\nC?", "c"),)
    assert drop_turns(turns, 1)[1] == Turn("C?", "c")


def test_earliest_turns_are_dropped_until_the_sample_fits(omni_processor):
    long = " ".join(["word"] * 300)
    record = _record(("First?", long), ("Second?", "two"), ("Third?", "three"))
    full = build_sample(record, omni_processor, [50])
    sample = build_sample(record, omni_processor, [50], max_total_tokens=full.total_tokens - 1)
    assert sample.dropped_turns == 1
    assert [t.gpt for t in sample.turns] == ["two", "three"]
    assert sample.turns[0].human == "<video>\nSecond?"
    assert sample.total_tokens <= full.total_tokens - 1
    # the budget is input + label tokens, and both are exact for the kept turns
    assert sample.count == count_tokens(sample.turns, omni_processor, [50])
    assert sample.total_tokens == sample.input_tokens + sample.label_tokens


def test_a_single_turn_over_budget_drops_the_sample(omni_processor):
    record = _record(("Only?", " ".join(["word"] * 300)))
    with pytest.raises(OmniBenchError, match="over budget") as err:
        build_sample(record, omni_processor, [50], max_total_tokens=200)
    assert err.value.reason == "over-budget"


def test_last_turn_over_budget_even_after_dropping_all_others(omni_processor):
    record = _record(("A?", "a"), ("B?", " ".join(["word"] * 300)))
    with pytest.raises(OmniBenchError) as err:
        build_sample(record, omni_processor, [50], max_total_tokens=200)
    assert err.value.reason == "over-budget"


@pytest.mark.parametrize("conv, reason", [
    ((), "no-turns"),
    ((("gpt", "a"), ("human", "b")), "roles"),
    ((("human", "<video>\na"), ("human", "b")), "roles"),
    ((("human", "<video>\na"),), "roles"),
    ((("human", "<video>\na"), ("gpt", "")), "empty-reply"),
    ((("human", "a"), ("gpt", "b")), "tag-count"),
])
def test_bad_records_raise_with_a_reason(omni_processor, conv, reason):
    with pytest.raises(OmniBenchError) as err:
        build_sample(Record("bad", conv, ("v.mkv",)), omni_processor, [10] if "<video>" in str(conv) else [])
    assert err.value.reason == reason


# ---------------------------------------------------------------- split report (LongVALE notebook: 75,075 vs 7,240)


def test_split_report_on_the_bundled_data():
    report = split_report(load_longvale_sft(DATA / "longvale_sft.json"))
    assert (report.records, report.turns) == (3, 4)
    assert (report.single_turn_samples, report.single_turn_extractions) == (4, 4)
    assert (report.multi_turn_samples, report.multi_turn_extractions) == (3, 3)


def test_split_report_on_a_dataset_shaped_like_the_longvale_notebooks():
    records = synthetic_records()
    report = split_report(records)
    assert report.records == 7_240 and report.turns == 75_075
    assert report.single_turn_extractions == 75_075 and report.multi_turn_extractions == 7_240
    assert round(report.extraction_ratio, 2) == 10.37
    assert sorted({r.turn_count for r in records}) == [10, 11]
    assert "75,075" in str(report) and "7,240" in str(report)


# ---------------------------------------------------------------- formats


def test_longvale_sft_renders_relative_and_percent_times():
    relative = load_longvale_sft(DATA / "longvale_sft.json")[0]
    percent = load_longvale_sft(DATA / "longvale_sft.json", time_format="percent")[0]
    assert relative.conversations[1] == ("gpt", "From 40 to 60.")
    assert percent.conversations[1] == ("gpt", "From 40.0% to 60.0%.")
    assert relative.videos == ("clips/street_market.mkv",) and relative.duration == 8.0
    assert relative.timestamps == (3.2, 4.8, 0.0, 2.4)


def test_render_time_matches_longvales_rounding():
    # LongVALE: x = t / d * 100; str(min(round(x), 99)) zero-padded to 2 digits
    for t, d in [(0.0, 10.0), (0.05, 10.0), (4.95, 10.0), (9.99, 10.0), (10.0, 10.0), (83.1, 100.0), (1.25, 2.5)]:
        x = t / d * 100
        assert render_time(t, d) == str(min(round(x), 99)).zfill(2)
    assert render_time(83.1, 100.0, "percent") == "83.1%"
    assert render_time(85.0, 100.0, "percent") == "85.0%"


def test_longvale_id_resolves_to_a_video_under_the_media_root(tmp_path):
    (tmp_path / "abc.mkv").write_bytes(b"x")
    turns = [{"from": "human", "value": "<video>\nWhat happens?"}, {"from": "gpt", "value": "A bar."}]
    record = load_longvale_sft([{"id": "abc", "conversations": turns, "meta": {"duration": 1, "token": {}}}])[0]
    assert record.videos == ("abc",)
    # without a <video> tag the record is text only (text-only turns train too)
    text_only = load_longvale_sft([{"id": "abc", "conversations": turns[1:], "meta": {"duration": 1}}])[0]
    assert text_only.videos == ()
    assert resolve_media(record.videos[0], tmp_path) == tmp_path / "abc.mkv"
    assert resolve_media("zzz", tmp_path) == tmp_path / "zzz.mp4"


def test_unknown_time_token_is_kept_for_validation():
    raw = [{"id": "x", "conversations": [{"from": "human", "value": "<video>\nWhen?"},
                                         {"from": "gpt", "value": "From <s0> to <e7>."}],
            "meta": {"duration": 10, "token": {"<s0>": 1.0}}}]
    record = load_longvale_sft(raw)[0]
    assert record.conversations[1][1] == "From 10 to <e7>." and record.unresolved == ("<e7>",)


@pytest.mark.parametrize("task, first_reply, turns", [
    ("grounding", "From 00 to 50.", 2),
    ("dense", "From 00 to 50, a white bar moves in from the left. From 50 to 99, the bar reaches the right edge.", 1),
    ("segment", "A white bar moves in from the left.", 2),
])
def test_longvale_annotations_become_task_records(task, first_reply, turns):
    records = load_longvale_annotations(DATA / "longvale_annotations.json", task=task)
    street = next(r for r in records if r.id == "street_market")
    assert street.turn_count == turns
    assert street.conversations[0][1].startswith("<video>\n")
    assert street.conversations[1] == ("gpt", first_reply)
    assert street.videos == ("street_market",) and street.duration == 8.0
    assert len(turns_of(street.conversations)) == turns


def test_qwen_vl_format_json_and_jsonl(tmp_path):
    rows = [{"video": "a.mp4", "conversations": [{"from": "human", "value": "<video>\nHi"},
                                                 {"from": "gpt", "value": "Yo"}]},
            {"images": ["a.jpg", "b.jpg"], "conversations": [{"from": "human", "value": "<image><image>Hi"},
                                                             {"from": "gpt", "value": "Yo"}]},
            {"image": "c.jpg", "conversations": [{"from": "user", "value": "<image>Hi"},
                                                 {"from": "assistant", "value": "Yo"}]}]
    (tmp_path / "d.json").write_text(json.dumps(rows))
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    for name in ("d.json", "d.jsonl"):
        records = load_qwen_vl(tmp_path / name)
        assert [r.videos for r in records] == [("a.mp4",), (), ()]
        assert [r.images for r in records] == [(), ("a.jpg", "b.jpg"), ("c.jpg",)]
        assert records[2].conversations == (("human", "<image>Hi"), ("gpt", "Yo"))
        assert records[0].id == "d:0"
        assert load_records(tmp_path / name)[1].images == ("a.jpg", "b.jpg")  # auto-detected as Qwen-VL


def test_load_records_detects_longvale_formats():
    assert load_records(DATA / "longvale_sft.json")[0].source == "longvale"
    assert load_records(DATA / "longvale_annotations.json", task="dense")[0].source == "longvale-dense"


def test_mixing_takes_a_deterministic_share():
    a = [f"a{i}" for i in range(10)]
    b = [f"b{i}" for i in range(4)]
    assert parse_mix("a%50,b") == [("a", 50.0), ("b", 100.0)]
    mixed = mix({"a": a, "b": b}, "a%50,b", seed=3)
    assert len(mixed) == 5 + 4 and mixed[5:] == b
    assert mixed == mix({"a": a, "b": b}, "a%50,b", seed=3)
    assert mixed[:5] == sorted(mixed[:5], key=a.index)  # file order kept
    assert sample_percent(a, 30, seed=0) != sample_percent(a, 30, seed=1)
    for bad in ("a%0", "a%150", "a%x"):
        with pytest.raises(OmniBenchError):
            parse_mix(bad)
    with pytest.raises(OmniBenchError, match="unknown dataset"):
        mix({"a": a}, "c%50")
