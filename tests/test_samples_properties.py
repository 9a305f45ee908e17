"""Properties of multi-turn samples over random conversations and budgets (real tokenizer, no decoding).

Media are a fixed synthetic placeholder expansion (or none), so every example is text
arithmetic: labels only on assistant tokens, the sample fits the budget, never zero labels,
no turn cut in half, the earliest turns dropped first and the media never lost.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from omni_bench import OmniBenchError
from omni_bench.core.tokens import token_ids
from omni_bench.data.records import Record
from omni_bench.data.samples import VIDEO_TAG, build_sample, count_tokens, drop_turns, media_tags, messages, turns_of
from omni_bench.layout.labels import IGNORE_INDEX, assistant_labels

_CHARS = st.characters(whitelist_categories=("Lu", "Ll", "Nd", "Po", "Zs"), whitelist_characters="你好视频\n",
                       blacklist_characters="<>")
_TEXT = st.text(_CHARS, min_size=1, max_size=60).map(str.lstrip).filter(lambda s: s.strip() != "")

conversations = st.lists(st.tuples(_TEXT, _TEXT), min_size=1, max_size=5)
media = st.sampled_from([None, 1, 37, 400])  # None: text-only; otherwise tokens one <video> expands into
budgets = st.integers(min_value=40, max_value=1200)

PROPS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


def _record(pairs, with_video: bool) -> Record:
    conv = []
    for k, (human, gpt) in enumerate(pairs):
        conv += [("human", (VIDEO_TAG + "\n" if with_video and k == 0 else "") + human), ("gpt", gpt)]
    return Record("prop", tuple(conv), ("v.mkv",) if with_video else ())


def _strip_tags(text: str) -> str:
    return text.replace(VIDEO_TAG + "\n", "")


def _ids(turns, processor) -> np.ndarray:
    text = processor.apply_chat_template(messages(turns), tokenize=False)
    return np.asarray(processor.tokenizer(text)["input_ids"])


@PROPS
@given(pairs=conversations, span=media, budget=budgets)
def test_samples_fit_are_labelled_right_and_drop_earliest_first(omni_processor, pairs, span, budget):
    record = _record(pairs, span is not None)
    tokens = [] if span is None else [span]
    turns = turns_of(record.conversations)
    try:
        sample = build_sample(record, omni_processor, tokens, max_total_tokens=budget)
    except OmniBenchError as exc:
        # dropped only when even the last turn alone is over budget
        assert exc.reason == "over-budget"
        event("dropped: over budget")
        for first in range(len(turns)):
            assert count_tokens(drop_turns(turns, first), omni_processor, tokens).total_tokens > budget
        return

    event("kept whole" if not sample.dropped_turns else "earliest turns dropped")
    # fits the budget, exactly counted, never zero labels
    assert sample.total_tokens <= budget
    assert sample.label_tokens > 0
    assert sample.count == count_tokens(sample.turns, omni_processor, tokens)

    # no turn cut in half: the kept turns are the last ones, whole
    kept = len(turns) - sample.dropped_turns
    assert len(sample.turns) == kept >= 1
    assert [t.gpt for t in sample.turns] == [t.gpt for t in turns[sample.dropped_turns:]]
    assert [_strip_tags(t.human) for t in sample.turns] == [_strip_tags(t.human) for t in turns[sample.dropped_turns:]]

    # the earliest turns go first: keeping one more turn would not have fitted
    if sample.dropped_turns:
        assert count_tokens(drop_turns(turns, sample.dropped_turns - 1), omni_processor, tokens).total_tokens > budget

    # the media is never lost, and sits in the first kept human turn
    assert media_tags(sample.turns) == media_tags(turns)
    if span is not None:
        assert sample.turns[0].human.startswith(VIDEO_TAG)

    # labels only on assistant tokens: each labelled span decodes to one reply and its <|im_end|>
    ids = token_ids(omni_processor)
    input_ids = _ids(sample.turns, omni_processor)
    labels = assistant_labels(input_ids, ids)
    assert int((labels != IGNORE_INDEX).sum()) == sample.label_tokens
    assert not np.isin(input_ids[labels != IGNORE_INDEX], list(ids.media)).any()
    starts = np.flatnonzero(input_ids == ids.im_start)
    for position in np.flatnonzero(labels != IGNORE_INDEX):
        opener = starts[starts < position].max()
        assert tuple(input_ids[opener + 1:opener + 1 + len(ids.roles[2])]) == ids.roles[2]
    mask = labels != IGNORE_INDEX
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
    spans = [omni_processor.tokenizer.decode(input_ids[a:b]) for a, b in zip(edges[::2], edges[1::2])]
    # (the tokenizer NFC-normalises, as Qwen2's does)
    assert spans == [unicodedata.normalize("NFC", t.gpt) + "<|im_end|>" for t in sample.turns]


@PROPS
@given(pairs=conversations, span=st.sampled_from([1, 37, 400]))
def test_expanding_the_placeholder_adds_exactly_its_tokens(omni_processor, pairs, span):
    """The counted input length is the text length plus the expansion: the media is counted whole."""
    turns = turns_of(_record(pairs, True).conversations)
    text_only = count_tokens(turns, omni_processor, [1])
    assert count_tokens(turns, omni_processor, [span]).input_tokens == text_only.input_tokens + span - 1
    assert count_tokens(turns, omni_processor, [span]).label_tokens == text_only.label_tokens


def test_a_reply_never_ends_up_with_zero_labels(omni_processor):
    with pytest.raises(OmniBenchError) as err:
        build_sample(_record([("Q", " ")], True), omni_processor, [5])
    assert err.value.reason == "empty-reply"
