"""``omni-bench train --method grpo``: the issue's must-show run on tiny Qwen2.5-Omni with audio in video
(parity in --json, trl's metric names in metrics.jsonl), and bad GRPO settings refused in one line."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from omni_bench.core.errors import OmniBenchError
from omni_bench.training.config import GRPOSettings, TrainConfig

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("changes, words", [
    ({"num_generations": 1}, "--num-generations"),
    ({"grpo_loss_type": "bnpo"}, "--grpo-loss-type"),
    ({"scale_rewards": "max"}, "--scale-rewards"),
    ({"top_p": 0.0}, "--top-p"),
    ({"temperature": 0.0}, "--temperature"),
    ({"grpo_beta": -0.1}, "--grpo-beta"),
    ({"reward_funcs": ""}, "--reward-funcs"),
])
def test_bad_settings_one_line(changes, words):
    with pytest.raises(OmniBenchError) as info:
        TrainConfig(tiny=True, data="x.json", method="grpo", **changes)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_defaults_are_trls():
    trl = pytest.importorskip("trl")
    from types import SimpleNamespace

    ours = GRPOSettings()  # trl's GRPOConfig field defaults, read from the dataclass (building one wants a GPU's bf16)
    theirs = SimpleNamespace(**{f.name: f.default for f in dataclasses.fields(trl.GRPOConfig)})
    for name, their_name in (("num_generations", "num_generations"), ("temperature", "temperature"),
                             ("top_p", "top_p"), ("max_completion_length", "max_completion_length"),
                             ("grpo_beta", "beta"), ("epsilon", "epsilon"), ("grpo_loss_type", "loss_type"),
                             ("scale_rewards", "scale_rewards"),
                             ("mask_truncated_completions", "mask_truncated_completions")):
        assert getattr(ours, name) == getattr(theirs, their_name), name
    assert theirs.epsilon_high is None and ours.epsilon_high is None  # both: epsilon_high = epsilon


@pytest.mark.slow
def test_must_show_run(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMNI_BENCH_PROGRESS": "0"}
    command = [sys.executable, "-m", "omni_bench.cli", "train", "--method", "grpo", "--profile", "qwen2.5-omni-7b",
               "--tiny", "--data", "data/longvale_grounding.json", "--media-root", "data/clips", "--task",
               "grounding", "--frames", "4", "--resize", "56x56", "--num-generations", "4", "--max-steps", "1",
               "--max-completion-length", "8", "--reward-funcs", "grounding_iou,format", "--output", str(out),
               "--json"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    parity = result["parity"]
    assert parity["checked"] > 0 and parity["position_ids_equal"] is True and parity["max_logprob_diff"] <= 1e-5
    assert result["config"]["use_audio"] is True
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    for key in ("reward", "reward_std", "rewards/grounding_iou/mean", "rewards/format/mean", "frac_reward_zero_std",
                "completions/mean_length", "completions/clipped_ratio", "clip_ratio", "entropy",
                "format_failure_rate", "degenerate_rate"):
        assert key in rows[-1], key
    assert rows[-1]["completions/mean_length"] <= 8
    assert (out / "adapter" / "adapter_config.json").is_file()
