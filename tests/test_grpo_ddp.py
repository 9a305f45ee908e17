"""GRPO under ``accelerate launch`` on 2 CPU processes (gloo), issue 23 item 9.

2 processes x 1 prompt train like 1 process x 2 prompts (``--grad-accum 2``), the same global batch:
each process rolls out and scores its own prompt's G completions (a group never spans processes, so
the advantages are per group), the sampling generator is seeded per prompt (seed, step, the prompt's
index in the step's global batch; training/grpo.py ``prompt_seed``), the gradients are averaged and
the metrics gathered; so the loss, grad norm, rewards and completion statistics of each step are equal.
Every process's groups are gathered to the main process, so the DDP run's ``groups.jsonl`` holds both
prompts' groups of each logged step, the single process's lines (training/groups.py).

The reward is a user reward (``module:function``) that varies with the completion's text, so the
random tiny model's groups have non-zero advantages and the loss and gradients are not trivially 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from launch import launch, result

from omni_bench.training.config import GRPOSettings
from omni_bench.training.groups import GROUPS_FILE, read_groups
from omni_bench.training.run import TrainConfig, train

pytestmark = pytest.mark.slow  # spawns worker processes and trains (minutes)

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "<video>\nAt which time interval in the video can we see the white bar cross the middle of the frame?"
REWARD = '''
def spread(completions, targets, durations, **kwargs):
    """A reward that differs between completions: the share of distinct characters."""
    return [len(set(c)) / (len(c) + 1) for c in completions]
'''
KEYS = ("loss", "grad_norm", "reward", "reward_std", "rewards/ddp_reward:spread/mean", "frac_reward_zero_std",
        "completions/mean_length", "completions/clipped_ratio", "entropy", "clip_ratio")


def _prompts(tmp_path: Path) -> Path:
    prompts = [{"id": "street", "video": "clips/street_market.mkv",
                "conversations": [{"from": "human", "value": QUESTION}, {"from": "gpt", "value": "From 40 to 60."}]},
               {"id": "kitchen", "video": "clips/kitchen_talk.mkv",
                "conversations": [{"from": "human", "value": "<video>\nWhen does the voice speak?"},
                                  {"from": "gpt", "value": "From 10 to 70."}]}]
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps(prompts))
    (tmp_path / "ddp_reward.py").write_text(REWARD)
    return path


def test_two_processes_match_one_with_the_same_global_batch(tmp_path, monkeypatch):
    data = _prompts(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the user reward's module, in the launched processes
    monkeypatch.syspath_prepend(str(tmp_path))  # and in this one
    common = dict(num_generations=4, max_completion_length=6, reward_funcs="ddp_reward:spread")
    args = ["--method", "grpo", "--tiny", "--data", str(data), "--media-root", str(ROOT / "data"), "--frames", "4",
            "--resize", "56x56", "--max-steps", "2", "--logging-steps", "1", "--save-steps", "100",
            "--learning-rate", "1e-2", "--batch-size", "1", "--grad-accum", "1", "--lora-dropout", "0",
            "--dtype", "float32", "--num-generations", "4", "--max-completion-length", "6",
            "--reward-funcs", common["reward_funcs"], "--no-progress", "--json", "--output", str(tmp_path / "ddp")]
    ddp = result(launch(None, args, timeout=600))
    assert ddp["world_size"] == 2
    single = train(TrainConfig(method="grpo", tiny=True, data=str(data), media_root=str(ROOT / "data"), frames=4,
                               resize=(56, 56), max_steps=2, logging_steps=1, save_steps=100, learning_rate=1e-2,
                               batch_size=1, grad_accum=2, lora_dropout=0.0, dtype="float32",
                               grpo=GRPOSettings(**common), output=str(tmp_path / "single"), progress=False))
    assert [r["step"] for r in ddp["metrics"]] == [r["step"] for r in single.metrics] == [1, 2]
    for ours, theirs in zip(ddp["metrics"], single.metrics, strict=True):
        for key in KEYS:
            assert ours[key] == pytest.approx(theirs[key], rel=1e-4, abs=1e-6), (ours["step"], key)
    assert all(r["loss"] != 0.0 and r["grad_norm"] > 0 for r in single.metrics)  # the groups had advantages

    same_groups(tmp_path / "ddp", tmp_path / "single")


def same_groups(ours_dir: Path, theirs_dir: Path) -> None:
    """groups.jsonl of a 2-process run (``ours_dir``): both processes' groups of each of 2 steps, in the
    order and with the values the 1-process run with the same global batch (``theirs_dir``) wrote."""
    lines = {folder: [json.loads(line) for line in (folder / GROUPS_FILE).read_text().splitlines()]
             for folder in (ours_dir, theirs_dir)}
    for rows in lines.values():
        assert [(r["step"], r["index"]) for r in rows] == [(1, 0), (1, 1), (2, 0), (2, 1)]
        assert {r["record"] for r in rows[:2]} == {r["record"] for r in rows[2:]} == {"street", "kitchen"}
    assert [r["record"] for r in lines[ours_dir]] == [r["record"] for r in lines[theirs_dir]]
    for ours, theirs in zip(read_groups(ours_dir), read_groups(theirs_dir), strict=True):
        where = (ours.step, ours.index)
        assert (ours.record, ours.video, ours.question, ours.target, ours.true_spans) == (
            theirs.record, theirs.video, theirs.question, theirs.target, theirs.true_spans), where
        assert (ours.completions, ours.spans, ours.lengths, ours.truncated) == (
            theirs.completions, theirs.spans, theirs.lengths, theirs.truncated), where
        assert list(ours.rewards) == list(theirs.rewards) == ["ddp_reward:spread"], where
        for name, values in theirs.rewards.items():
            assert ours.rewards[name] == pytest.approx(values, rel=1e-4, abs=1e-6), where
        assert ours.reward == pytest.approx(theirs.reward, rel=1e-4, abs=1e-6), where
        assert ours.advantages == pytest.approx(theirs.advantages, rel=1e-4, abs=1e-6), where
        assert any(a != 0.0 for a in ours.advantages), where  # a group with advantages (not trivially equal)
