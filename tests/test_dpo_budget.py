"""Truncation never cuts media: a pair over --max-total-tokens is dropped and listed, never cut."""

from __future__ import annotations

from pathlib import Path

import pytest

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.processor import load_processor
from omni_bench.data.preference import PreferencePair
from omni_bench.layout.settings import LayoutSettings
from omni_bench.training.preference_batch import PreferenceDataset

pytestmark = pytest.mark.slow  # probes and decodes the bundled clip, imports the trainer

CLIPS = Path(__file__).resolve().parent.parent / "data" / "clips"
QUESTION = "<video>\nWhen does the white bar cross the middle of the frame?"


def _pair(index: int, rejected: str) -> PreferencePair:
    return PreferencePair(index, f"p{index}", (("human", QUESTION),), "From 40 to 60.", rejected,
                          videos=(str(CLIPS / "street_market.mkv"),), use_audio_in_video=True)


def test_an_over_budget_pair_is_dropped_with_its_reason():
    processor = load_processor("qwen2.5-omni-7b")
    settings = LayoutSettings(frames=4, resize=(56, 56))
    pairs = [_pair(0, "From 00 to 99."), _pair(1, "From 00 to 99. " + "It never crosses at all. " * 40)]
    whole = PreferenceDataset(pairs, settings=settings, processor=processor)
    short, long = whole.planned[0].tokens, whole.planned[1].tokens
    assert max(short) < max(long)
    budget = max(short)  # the first pair fits exactly, the second's rejected side does not
    dataset = PreferenceDataset(pairs, settings=settings, processor=processor, max_total_tokens=budget)
    assert len(dataset) == 1 and dataset.planned[0].pair.id == "p0"
    assert [(d.source, d.reason) for d in dataset.dropped] == [("p1", "over-budget")]
    assert f"> --max-total-tokens {budget}" in dataset.dropped[0].message
    kept = dataset[0]  # the pair kept is whole: its media as without a budget
    assert kept["chosen_input_ids"].tolist() == whole[0]["chosen_input_ids"].tolist()
    assert kept["pixel_values_videos"].shape == whole[0]["pixel_values_videos"].shape


def test_train_refuses_when_no_pair_fits(tmp_path):
    import json

    from omni_bench.training.config import TrainConfig
    from omni_bench.training.run import train

    data = tmp_path / "pairs.json"
    data.write_text(json.dumps([{"id": "p0", "video": "clips/street_market.mkv",
                                 "conversations": [{"from": "human", "value": QUESTION}],
                                 "chosen": "From 40 to 60.", "rejected": "From 00 to 99."}]))
    config = TrainConfig(method="dpo", tiny=True, data=str(data), media_root=str(CLIPS.parent), frames=4,
                         resize=(56, 56), max_total_tokens=64, max_steps=1, output=str(tmp_path / "run"),
                         progress=False)
    with pytest.raises(OmniBenchError, match="over-budget"):
        train(config)
