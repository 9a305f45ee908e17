"""Small things a user reads: a warm-up longer than the run is refused in one line."""

from __future__ import annotations

import pytest

from omni_bench import OmniBenchError, TrainConfig


def test_a_warmup_longer_than_the_run_is_refused():
    with pytest.raises(OmniBenchError, match=r"--warmup-steps 10 is not shorter than the run \(--max-steps 5\)"):
        TrainConfig(tiny=True, data="data/longvale_sft.json", max_steps=5, warmup_steps=10)
    with pytest.raises(OmniBenchError, match="--warmup-steps 5 is not shorter"):
        TrainConfig(tiny=True, data="data/longvale_sft.json", max_steps=5, warmup_steps=5)
    assert TrainConfig(tiny=True, data="data/longvale_sft.json", max_steps=5, warmup_steps=4).warmup_steps == 4
    # the constant schedule has no warm-up: nothing to flag
    assert TrainConfig(tiny=True, data="data/longvale_sft.json", max_steps=5, warmup_steps=10,
                       lr_scheduler="constant").max_steps == 5
