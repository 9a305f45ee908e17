"""The formats researchers have (issue 25 item 1): every example of docs/data_formats.md read in the format
`auto` detects and valid against the bundled clips; LLaMA-Factory's and ms-swift's files through `validate`
and `train`; a record in an unread layout named as such."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from omni_bench import LayoutSettings
from omni_bench.cli import main
from omni_bench.core.errors import OmniBenchError
from omni_bench.data.formats import FORMATS, detect_format
from omni_bench.data.preference import validate_pairs
from omni_bench.data.records import load_records
from omni_bench.data.validation import validate

ROOT = Path(__file__).resolve().parent.parent
CLIPS = ROOT / "data" / "clips"
PAGE = ROOT / "docs" / "data_formats.md"
SETTINGS = LayoutSettings(frames=4, resize=(56, 56))
EXAMPLE = re.compile(r"^```json (?P<what>[^\n]+)\n(?P<body>.*?)^```$", re.S | re.M)


def examples() -> list[tuple[str, str]]:
    """(the fence's words after "json", the JSON text) of every example on the page, in page order."""
    return [(m["what"].strip(), m["body"]) for m in EXAMPLE.finditer(PAGE.read_text(encoding="utf-8"))]


def test_the_page_has_an_example_of_every_format():
    named = {what.split()[0] for what, _ in examples()}
    assert set(FORMATS) <= named and "dataset_info.json" in named and "preference" in named
    assert all(json.loads(body) for _, body in examples())  # each is a whole JSON file


def test_every_example_is_read_as_its_format_and_valid(tmp_path, omni_processor):
    checked = 0
    for number, (what, body) in enumerate(examples()):
        words = what.split()
        if words[0] == "dataset_info.json":  # the data file of the next example sits beside it
            (tmp_path / "dataset_info.json").write_text(body)
            continue
        folder = tmp_path if words[-1] == "data.json" else tmp_path / f"example{number}"
        folder.mkdir(exist_ok=True)
        path = folder / "data.json"
        path.write_text(body)
        if words[0] == "preference":
            report = validate_pairs(path, CLIPS, settings=SETTINGS, processor=omni_processor)
            assert report.data_format == f"preference pairs, {words[1]}", what
        else:
            records = load_records(path, format="auto")
            # ms-swift reads as the OpenAI layout it is (see the page); annotations become records of --task
            expected = {"ms-swift": "sharegpt-openai", "longvale-annotations": "longvale-grounding"}.get(words[0],
                                                                                                        words[0])
            assert {r.source for r in records} == {expected}, what
            if words[0] == "ms-swift":
                named = load_records(path, format="ms-swift")
                assert [r.replace(source="") for r in named] == [r.replace(source="") for r in records]
            report = validate(records, media_root=CLIPS, settings=SETTINGS, processor=omni_processor)
        assert report.problems == () and report.valid == report.total >= 1, (what, str(report))
        checked += 1
    assert checked == len(examples()) - 1


def test_sharegpt_fields_and_audio_in_video(tmp_path, omni_processor):
    rows = [{"messages": [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "<video><audio>What is it?"},
                          {"role": "assistant", "content": "A bar."}],
             "videos": ["portrait_music.mkv"], "audios": ["portrait_music.mp3"]}]
    (tmp_path / "lf.json").write_text(json.dumps(rows))
    (record,) = load_records(tmp_path / "lf.json")
    assert (record.source, record.system, record.videos, record.audios) == (
        "sharegpt-openai", "Be brief.", ("portrait_music.mkv",), ("portrait_music.mp3",))
    assert record.conversations == (("human", "<video><audio>What is it?"), ("gpt", "A bar."))
    report = validate([record], media_root=CLIPS, settings=SETTINGS, processor=omni_processor)
    assert report.valid == 1, str(report)
    from omni_bench.data.dataset import OmniSFTDataset

    dataset = OmniSFTDataset([record], media_root=CLIPS, settings=SETTINGS, processor=omni_processor)
    sample = dataset.sample(0)
    assert sample.system == "Be brief." and sample.turns[0].human == "<video>What is it?"  # the track is the video's
    assert dataset.planned[0].media.use_audio


def test_a_record_in_an_unread_layout_names_the_layouts_read(tmp_path, omni_processor):
    rows = [{"instruction": "Describe.", "output": "A bar.", "videos": ["street_market.mkv"]}]
    (tmp_path / "alpaca.json").write_text(json.dumps(rows))
    report = validate(load_records(tmp_path / "alpaca.json"), media_root=CLIPS, settings=SETTINGS,
                      processor=omni_processor)
    (problem,) = report.problems
    assert problem.reason == "bad-format"
    assert problem.message.startswith("a record with fields instruction, output, videos is in no layout read here")
    for name in FORMATS:
        assert name in problem.message
    with pytest.raises(OmniBenchError, match=r"unknown format 'alpaca'; known: auto, longvale, .*ms-swift"):
        load_records(tmp_path / "alpaca.json", format="alpaca")
    (tmp_path / "dataset_info.json").write_text(json.dumps({"d": {"file_name": "alpaca.json"}}))
    with pytest.raises(OmniBenchError, match="LLaMA-Factory's alpaca formatting; a record with fields"):
        load_records(tmp_path / "alpaca.json")


def test_detect_format_says_why():
    assert detect_format([{"messages": [], "rejected_response": "x"}])[0] == "ms-swift"
    assert detect_format([{"conversations": [], "meta": {}}]) == ("longvale", "records with meta")
    assert detect_format([{"conversations": [], "video": "a.mp4"}])[0] == "qwen-vl"


def _files(folder: Path) -> dict[str, Path]:
    """A LLaMA-Factory messages + videos file and an ms-swift file of the bundled clips."""
    ask = [("street_market.mkv", "<video>What crosses the street?", "A white bar."),
           ("kitchen_talk.mkv", "<video>Where are they?", "In a kitchen.")]
    factory = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}], "videos": [v]}
               for v, q, a in ask]
    swift = [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": q},
                           {"role": "assistant", "content": a}], "videos": [str(CLIPS / v)]} for v, q, a in ask]
    paths = {"sharegpt-openai": folder / "llamafactory.json", "ms-swift": folder / "swift.jsonl"}
    paths["sharegpt-openai"].write_text(json.dumps(factory))
    paths["ms-swift"].write_text("\n".join(json.dumps(row) for row in swift) + "\n")
    return paths


def test_validate_reads_llamafactory_and_ms_swift_files(tmp_path, capsys, monkeypatch, omni_processor):
    for name, path in _files(tmp_path).items():
        assert main(["validate", str(path), "--data-format", name, "--media-root", str(CLIPS), "--frames", "4",
                     "--resize", "56x56", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert (report["total"], report["valid"], report["data_format"]) == (2, 2, name)
    monkeypatch.setenv("OMNI_BENCH_PROGRESS", "1")  # auto's choice is a stage line on stderr
    assert main(["validate", str(tmp_path / "llamafactory.json"), "--media-root", str(CLIPS), "--frames", "4",
                 "--resize", "56x56"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == ("2 of 2 records valid (budget 32768 tokens: the model's context, the tokenizer's "
                                   "model_max_length = config max_position_embeddings)")
    assert f"omni-bench validate: read 2 records from {tmp_path / 'llamafactory.json'} as sharegpt-openai" in err


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sharegpt-openai", "ms-swift"])
def test_train_reads_llamafactory_and_ms_swift_files(name, tmp_path):
    path = _files(tmp_path)[name]
    done = subprocess.run([sys.executable, "-m", "omni_bench.cli", "train", "--tiny", "--data", str(path),
                           "--data-format", name, "--media-root", str(CLIPS), "--frames", "4", "--resize", "56x56",
                           "--max-steps", "1", "--output", str(tmp_path / "run"), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**__import__("os").environ, "OMNI_BENCH_PROGRESS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["samples"], result["dropped"]) == (2, [])
    assert f"read 2 records from {path} as {name}" in done.stderr


def test_budget_counts_a_training_file_as_validate_does(tmp_path, capsys, omni_processor):
    from omni_bench.data.record_budget import VALIDATE_LINE, budget_records
    from omni_bench.data.validation import Gate

    path = _files(tmp_path)["sharegpt-openai"]
    records = load_records(path)
    result = budget_records(records, media_root=CLIPS, settings=SETTINGS, processor=omni_processor)
    gate = Gate(media_root=CLIPS, settings=SETTINGS, processor=omni_processor)
    samples = [gate.check(r).sample for r in records]  # what validate and training count (nothing dropped here)
    assert result.sources == [r.id for r in records] and result.problems == []
    assert result.budget.total_tokens.tolist() == [s.input_tokens for s in samples]
    assert result.budget.label_tokens.tolist() == [s.label_tokens for s in samples]
    assert (result.budget.video_tokens + result.budget.audio_tokens + result.budget.text_tokens).tolist() == \
        result.budget.total_tokens.tolist()
    swift = _files(tmp_path)["ms-swift"]  # absolute media paths
    assert main(["budget", str(swift), "--frames", "4", "--resize", "56x56", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["inputs"], report["budgeted"], report["problems"], report["note"]) == (2, 2, [], VALIDATE_LINE)
    # media relative to the file's folder, where they are not: each record listed with its reason
    assert main(["budget", str(path), "--frames", "4", "--resize", "56x56", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [p["reason"] for p in report["problems"]] == ["missing", "missing"] and report["budgeted"] == 0
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps([{"conversations": [{"from": "human", "value": "Hi?"}], "chosen": "a",
                                  "rejected": "b"}]))
    assert main(["budget", str(pairs)]) == 2
    assert f"preference pairs are budgeted by omni-bench validate {pairs}" in capsys.readouterr().err


def test_an_alpaca_file_without_media_names_the_layouts_read(tmp_path):
    (tmp_path / "alpaca.jsonl").write_text(json.dumps({"instruction": "Say hi.", "output": "Hi."}) + "\n")
    (record,) = load_records(tmp_path / "alpaca.jsonl")
    assert record.defects[0][0] == "bad-format"
    assert record.defects[0][1].startswith("a record with fields instruction, output is in no layout read here")
