"""validate flags over-context samples without being told a budget (issue 11 item 6).

With no ``--max-total-tokens`` the limit is the model's context (the tokenizer's model_max_length
and the config's max_position_embeddings: 32,768 for Qwen2.5-Omni); the report names the limit
that applied, and transformers' "Token indices sequence length is longer than ..." warning never
reaches the user's stderr.
"""

from __future__ import annotations

import json

import pytest

import omni_bench
from omni_bench.core.media import write_clip
from omni_bench.core.processor import resolve_profile
from omni_bench.data.records import load_records
from omni_bench.data.validation import context_limit, validate

WARNING = "Token indices sequence length is longer than"


@pytest.fixture(scope="module")
def processor():
    return omni_bench.load_processor("qwen2.5-omni-7b")


@pytest.fixture(scope="module")
def records_file(tmp_path_factory, processor):
    folder = tmp_path_factory.mktemp("context")
    write_clip(folder / "clip.mkv", seconds=2.0, fps=4.0, width=64, height=64)
    reply = "long " * 84_000
    assert len(processor.tokenizer(reply, verbose=False)["input_ids"]) >= 84_000
    records = [
        {"id": "huge_reply", "video": "clip.mkv",
         "conversations": [{"from": "human", "value": "<video>\nDescribe it."}, {"from": "gpt", "value": reply}]},
        {"id": "short_reply", "video": "clip.mkv",
         "conversations": [{"from": "human", "value": "<video>\nDescribe it."}, {"from": "gpt", "value": "A bar."}]},
    ]
    path = folder / "records.json"
    path.write_text(json.dumps(records))
    return path


def test_the_context_is_the_models(processor):
    limit, source = context_limit(processor, resolve_profile(processor))
    assert limit == processor.tokenizer.model_max_length == resolve_profile(processor).max_position_embeddings == 32768
    assert source == "the model's context, the tokenizer's model_max_length = config max_position_embeddings"


def test_validate_flags_an_84k_reply_with_no_budget_given(records_file, processor, capfd):
    report = validate(load_records(records_file), media_root=records_file.parent, processor=processor)
    assert (report.total, report.valid) == (2, 1)
    (problem,) = report.problems
    assert (problem.source, problem.reason) == ("huge_reply", "over-budget")
    assert "> max_total_tokens 32768" in problem.message
    assert report.max_total_tokens == 32768 and report.budget_source.startswith("the model's context")
    assert str(report).splitlines()[0].startswith("1 of 2 records valid (budget 32768 tokens: the model's context")
    assert WARNING not in capfd.readouterr().err


def test_an_explicit_budget_is_named_as_such(records_file, processor):
    """The rule counts input + label tokens (the LongVALE notebook's): the 84k reply needs 168k."""
    report = validate(load_records(records_file), media_root=records_file.parent, processor=processor,
                      max_total_tokens=200_000)
    assert (report.valid, report.budget_source) == (2, "as given")
    assert "(budget 200000 tokens: as given)" in str(report)


def test_the_cli_says_it_in_one_line_and_no_library_warning(records_file, capfd):
    from omni_bench.cli import main

    assert main(["validate", str(records_file), "--media-root", str(records_file.parent)]) == 0
    out, err = capfd.readouterr()
    assert "1 of 2 records valid (budget 32768 tokens: the model's context" in out
    assert "huge_reply: [over-budget]" in out
    assert WARNING not in err and WARNING not in out
    assert main(["validate", str(records_file), "--media-root", str(records_file.parent), "--json"]) == 0
    data = json.loads(capfd.readouterr().out)
    assert data["max_total_tokens"] == 32768 and data["budget_source"].startswith("the model's context")
    assert [p["source"] for p in data["problems"]] == ["huge_reply"]
