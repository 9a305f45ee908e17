"""DeepSpeed ZeRO-2 / ZeRO-3 through ``accelerate launch --config_file configs/accelerate_deepspeed_zero*.yaml``.

accelerate reads every launcher config in configs/ (its own loader, always). Where DeepSpeed is
installed (``pip install deepspeed``; on CPU it runs its CPU accelerator over gloo and JIT-builds
its shared-memory op with the C++ compiler on first use), 2 processes x batch 1 train like
1 process x batch 2 under ZeRO-2 and ZeRO-3, and the adapter is written once in peft's layout.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from launch import ROOT, launch, records, result, scaled_checkpoint
from safetensors.torch import load_file

from omni_bench.training.run import TrainConfig, train


@pytest.mark.parametrize("name", ["accelerate_ddp.yaml", "accelerate_fsdp.yaml", "accelerate_deepspeed_zero2.yaml",
                                  "accelerate_deepspeed_zero3.yaml"])
def test_accelerate_reads_the_configs(name):
    import json

    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(ROOT / "configs" / name))
    assert (config.num_processes, config.mixed_precision, config.use_cpu) == (8, "bf16", False)
    if "deepspeed" in name:
        stage = int(name[-6])
        assert config.distributed_type.value == "DEEPSPEED"
        ds_file = ROOT / config.deepspeed_config["deepspeed_config_file"]
        assert json.loads(ds_file.read_text())["zero_optimization"]["stage"] == stage
    elif "fsdp" in name:
        assert (config.distributed_type.value, config.fsdp_config["fsdp_version"]) == ("FSDP", 2)
        assert not config.fsdp_config["fsdp_activation_checkpointing"]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason="deepspeed is not installed")
def test_zero2_and_zero3_two_processes_match_one(tmp_path):
    checkpoint = scaled_checkpoint(tmp_path / "tiny-checkpoint")  # a checkpoint: ZeRO-3 loads it partitioned
    data = records(tmp_path, ["street_market", "portrait_music"])
    common = ["--model", str(checkpoint), "--data", str(data), "--media-root", str(ROOT / "data"), "--frames", "4",
              "--resize", "56x56", "--max-steps", "3", "--save-steps", "3", "--logging-steps", "1",
              "--learning-rate", "1e-3", "--lora-dropout", "0", "--dtype", "float32", "--no-progress", "--json"]
    single = train(TrainConfig(model=str(checkpoint), data=str(data), media_root=str(ROOT / "data"), frames=4,
                               resize=(56, 56), max_steps=3, save_steps=3, logging_steps=1, learning_rate=1e-3,
                               lora_dropout=0.0, dtype="float32", batch_size=2, output=str(tmp_path / "single"),
                               progress=False))
    whole = load_file(single.adapter_dir / "adapter_model.safetensors")
    for stage in (2, 3):
        out = tmp_path / f"zero{stage}"
        run = result(launch(f"accelerate_deepspeed_zero{stage}.yaml", [*common, "--batch-size", "1", "--output",
                                                                         str(out)], timeout=420))
        assert (run["world_size"], run["parallelism"]) == (2, f"deepspeed-zero{stage}")
        assert [r["step"] for r in run["metrics"]] == [1, 2, 3]
        for ours, theirs in zip(run["metrics"], single.metrics):
            for key in ("loss", "grad_norm", "learning_rate"):
                assert ours[key] == pytest.approx(theirs[key], rel=1e-4), (stage, ours["step"], key)
            assert (ours["tokens"], ours["label_tokens"]) == (theirs["tokens"], theirs["label_tokens"])
        assert {p.name for p in (out / "adapter").iterdir()} == {p.name for p in single.adapter_dir.iterdir()}
        sharded = load_file(out / "adapter" / "adapter_model.safetensors")
        assert sorted(sharded) == sorted(whole)
        for name in whole:
            torch.testing.assert_close(sharded[name], whole[name], rtol=1e-4, atol=1e-6)
        # the ZeRO state for --resume: one optimizer partition per process
        states = sorted(p.name for p in (out / "checkpoint-3" / "global_step3").glob("*optim_states.pt"))
        assert len(states) == 2, states
    assert single.metrics[2]["loss"] < single.metrics[0]["loss"] - 0.5
