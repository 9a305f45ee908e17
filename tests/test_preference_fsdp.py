"""DPO and GRPO under FSDP2 (``configs/accelerate_fsdp.yaml``) on 2 CPU processes (gloo), issues 22 and 23 item 9.

2 processes x 1 pair / 1 prompt train like 1 process x 2 micro-batches of 1 (``--grad-accum 2``),
the same global batch: the same loss, grad norm and trl metrics of each step (metrics.jsonl), and the
same adapter, gathered from the shards and written once. What FSDP changes over DDP
(tests/test_dpo_ddp.py, tests/test_grpo_ddp.py): the root unit's weights (a tower's patch embedding,
the LM head) are whole only inside the model's forward, so the towers' pass and GRPO's sampling run
inside it, and the sampling holds every unit whole (training/distributed.py ``whole_units``): the
processes' groups end after different numbers of decoder forwards. The DPO run gives one process
a pair with a video and its audio and the other a text-only pair: the towers run whole (no
collective) on the process that uses them, and the other's idle-tower dummies (training/towers.py)
join nothing, so neither waits for the other (the launch is timeout-bounded).

The single process runs on one thread, as the launched processes do (``OMP_NUM_THREADS=1``), and
its micro-batches are the processes' batches: each pair's or prompt's arithmetic is then the same,
and the adapters compare at tests/test_train_fsdp.py's tolerance (equal to the bit in a DPO run
with media in both pairs). With 2 threads and batch 2 instead, Adam turns the reduction-order noise
of gradient elements near 0 into whole steps: 11 of the 32,768 adapter elements of that DPO run
differed by up to 1.2e-3 after 2 steps
(the metrics still agree to 1e-4, as tests/test_dpo_ddp.py checks). The GRPO reward is
tests/test_grpo_ddp.py's user reward, which varies with the completion's text (a non-zero loss);
GRPO runs with ``--grpo-beta 0.04``, so the reference pass (the adapter disabled) runs inside the
sharded forward as well and ``kl`` is compared, and ``groups.jsonl`` holds every process's groups.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from launch import ROOT, launch, result
from safetensors.torch import load_file
from test_dpo_ddp import _pairs
from test_grpo_ddp import KEYS as GRPO_KEYS
from test_grpo_ddp import _prompts, same_groups

from omni_bench.training.config import GRPOSettings
from omni_bench.training.dpo import DPO_METRICS
from omni_bench.training.run import TrainConfig, train

pytestmark = pytest.mark.slow  # spawns worker processes and trains (minutes)

COMMON = dict(media_root=str(ROOT / "data"), frames=4, resize=(56, 56), max_steps=2, logging_steps=1, save_steps=100,
              learning_rate=1e-2, lora_dropout=0.0, dtype="float32", batch_size=1, grad_accum=2, progress=False)
GRPO = dict(num_generations=4, max_completion_length=6, reward_funcs="ddp_reward:spread", grpo_beta=0.04)


def _flags(method: str, data, output) -> list[str]:
    flags = ["--method", method, "--tiny", "--data", str(data), "--media-root", COMMON["media_root"],
             "--frames", "4", "--resize", "56x56", "--max-steps", "2", "--logging-steps", "1", "--save-steps", "100",
             "--learning-rate", "1e-2", "--lora-dropout", "0", "--dtype", "float32", "--batch-size", "1",
             "--no-progress", "--json", "--output", str(output)]
    if method == "grpo":
        flags += ["--num-generations", "4", "--max-completion-length", "6", "--reward-funcs", GRPO["reward_funcs"],
                  "--grpo-beta", str(GRPO["grpo_beta"])]
    return flags


@pytest.mark.parametrize("method", ["dpo", "grpo"])
def test_fsdp_two_processes_match_one_with_the_same_global_batch(method, tmp_path, monkeypatch):
    if method == "dpo":
        # one process's pair has a video with its audio, the other's is text only: its towers idle
        data, keys, settings = _pairs(tmp_path, text_only=True), ("loss", "grad_norm", *DPO_METRICS), {}
    else:
        # beta > 0: the reference pass (the adapter disabled) runs inside the sharded model's forward too
        data, keys, settings = _prompts(tmp_path), (*GRPO_KEYS, "kl"), {"grpo": GRPOSettings(**GRPO)}
        # the user reward's module, in the launched processes (before what PYTHONPATH held) and in this one
        monkeypatch.setenv("PYTHONPATH", str(tmp_path), prepend=os.pathsep)
        monkeypatch.syspath_prepend(str(tmp_path))
    fsdp_dir = tmp_path / "fsdp"
    fsdp = result(launch("accelerate_fsdp.yaml", _flags(method, data, fsdp_dir), timeout=600))
    assert (fsdp["world_size"], fsdp["parallelism"]) == (2, "fsdp")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each launched process (see the module docstring)
    try:
        single = train(TrainConfig(method=method, tiny=True, data=str(data), output=str(tmp_path / "single"),
                                   **COMMON, **settings))
    finally:
        torch.set_num_threads(threads)

    rows = [json.loads(line) for line in (fsdp_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows == fsdp["metrics"]  # what --json printed is what metrics.jsonl holds
    assert [r["step"] for r in rows] == [r["step"] for r in single.metrics] == [1, 2]
    for ours, theirs in zip(rows, single.metrics, strict=True):
        for key in keys:
            assert ours[key] == pytest.approx(theirs[key], rel=1e-4, abs=1e-6), (ours["step"], key)
    if method == "dpo":  # step 2 compares an update: the margins moved off 0
        assert single.metrics[1]["rewards/margins"] != pytest.approx(0.0, abs=1e-4)
    else:  # the groups had advantages: the loss and the gradients are not 0
        assert all(r["loss"] != 0.0 and r["grad_norm"] > 0 for r in single.metrics)
        # the reference is the step-0 policy (the adapter disabled; LoRA's B starts at 0): KL 0 at step 1,
        # and > 0 at step 2, after an update, in both runs (so the compared KL is not trivially 0)
        assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-6) and single.metrics[0]["kl"] == pytest.approx(0.0, abs=1e-6)
        assert rows[1]["kl"] > 1e-6 and single.metrics[1]["kl"] > 1e-6
        same_groups(fsdp_dir, tmp_path / "single")  # every process's groups, gathered under FSDP too

    # the adapter: gathered from the shards, written once, the single-process run's tensors
    sharded = load_file(fsdp_dir / "adapter" / "adapter_model.safetensors")
    whole = load_file(single.adapter_dir / "adapter_model.safetensors")
    assert sorted(sharded) == sorted(whole) and len(whole) == 28  # 2 layers x 7 projections x (A, B)
    for name in whole:
        torch.testing.assert_close(sharded[name], whole[name], rtol=1e-4, atol=1e-6)
