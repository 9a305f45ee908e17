"""FSDP2 through ``accelerate launch --config_file configs/accelerate_fsdp.yaml`` on 2 CPU processes (gloo).

2 processes x batch 1 train like 1 process x batch 2 (loss, grad norm and the adapter itself), the
model is really sharded (accelerate would silently run plain data parallel on CPU: see
omni_bench/training/distributed.py), the adapter is written once in the single-process layout, and
``--resume`` continues from a sharded checkpoint step for step. Also: the loss under bf16 autocast
on a float32 model (the configs' ``mixed_precision: bf16`` on a CPU run), the issue's
``index_copy_(): self and source expected to have the same dtype``.
"""

from __future__ import annotations

import shutil

import pytest
import torch
from launch import ROOT, launch, records, result, scaled_checkpoint
from safetensors.torch import load_file

from omni_bench.training.run import TrainConfig, train

PEFT_FILES = {"adapter_config.json", "adapter_model.safetensors", "README.md", "training_args.bin"}


def test_loss_under_bf16_autocast_on_a_float32_model():
    from omni_bench import load_processor
    from omni_bench.data.dataset import OmniCollator, OmniSFTDataset
    from omni_bench.data.records import load_records
    from omni_bench.layout.settings import LayoutSettings
    from omni_bench.training.prepare import prepare_model

    config = TrainConfig(tiny=True, data=str(ROOT / "data" / "longvale_sft.json"), lora_dropout=0.0,
                         gradient_checkpointing=False)
    model = prepare_model(config, torch.float32)
    processor = load_processor("qwen2.5-omni-7b")
    record = load_records(str(ROOT / "data" / "longvale_sft.json"))[0]
    dataset = OmniSFTDataset([record], media_root=str(ROOT / "data"), processor=processor,
                             settings=LayoutSettings(frames=4, resize=(56, 56)))
    batch = OmniCollator(processor)([dataset[0]])
    exact = model(**batch).loss
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = model(**batch).loss
    mixed.backward()  # the chunked loss's gradients were where the dtypes clashed
    assert mixed.dtype == torch.float32  # the loss itself runs outside autocast, in the head's dtype
    assert float(mixed.detach()) == pytest.approx(float(exact.detach()), rel=2e-2)  # bf16 matmuls in the decoder only
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


@pytest.mark.slow
def test_fsdp_two_processes_match_one_and_resume(tmp_path):
    checkpoint = scaled_checkpoint(tmp_path / "tiny-checkpoint")
    # two records of different lengths and label counts (20 and 14): the loss is normalised by the
    # label tokens of the whole step over both processes
    data = records(tmp_path, ["street_market", "portrait_music"])
    common = ["--model", str(checkpoint), "--data", str(data), "--media-root", str(ROOT / "data"), "--frames", "4",
              "--resize", "56x56", "--max-steps", "4", "--save-steps", "2", "--logging-steps", "1",
              "--learning-rate", "1e-3", "--lora-dropout", "0", "--dtype", "float32", "--no-progress", "--json"]
    fsdp_dir = tmp_path / "fsdp"
    fsdp = result(launch("accelerate_fsdp.yaml", [*common, "--batch-size", "1", "--output", str(fsdp_dir)],
                         timeout=420))
    assert (fsdp["world_size"], fsdp["parallelism"]) == (2, "fsdp")
    # sharded checkpoints: one DCP file per process (what resuming reads), beside the peft files
    shards = sorted(p.name for p in (fsdp_dir / "checkpoint-2" / "pytorch_model_fsdp_0").glob("*.distcp"))
    assert shards == ["__0_0.distcp", "__1_0.distcp"]

    single = train(TrainConfig(model=str(checkpoint), data=str(data), media_root=str(ROOT / "data"), frames=4,
                               resize=(56, 56), max_steps=4, save_steps=2, logging_steps=1, learning_rate=1e-3,
                               lora_dropout=0.0, dtype="float32", batch_size=2, output=str(tmp_path / "single"),
                               progress=False))
    assert [r["step"] for r in fsdp["metrics"]] == [r["step"] for r in single.metrics] == [1, 2, 3, 4]
    for ours, theirs in zip(fsdp["metrics"], single.metrics):
        for key in ("loss", "grad_norm", "learning_rate"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-4), (ours["step"], key)
        assert (ours["tokens"], ours["label_tokens"]) == (theirs["tokens"], theirs["label_tokens"])
    losses = [r["loss"] for r in single.metrics]
    assert losses[3] < losses[0] - 0.5  # the steps moved the weights: the later losses compare updates too

    # the adapter: written once by the main process, the files and tensors of the single-process run
    assert {p.name for p in (fsdp_dir / "adapter").iterdir()} == PEFT_FILES
    assert {p.name for p in single.adapter_dir.iterdir()} == PEFT_FILES
    sharded = load_file(fsdp_dir / "adapter" / "adapter_model.safetensors")
    whole = load_file(single.adapter_dir / "adapter_model.safetensors")
    assert sorted(sharded) == sorted(whole) and len(sharded) == 28  # 2 layers x 7 projections x (A, B)
    for name in whole:
        torch.testing.assert_close(sharded[name], whole[name], rtol=1e-4, atol=1e-6)
    assert PEFT_FILES - {"training_args.bin"} <= {p.name for p in (fsdp_dir / "checkpoint-2").iterdir()}

    # resume: the run as if killed after checkpoint-2 (its later rows are in metrics.jsonl and dropped)
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(fsdp_dir, resumed_dir, ignore=shutil.ignore_patterns("checkpoint-4", "adapter", "run.lock"))
    resumed = result(launch("accelerate_fsdp.yaml", [*common, "--batch-size", "1", "--output", str(resumed_dir),
                                                     "--resume"], timeout=420))
    assert resumed["resumed_from"] == str(resumed_dir / "checkpoint-2")
    assert [r["step"] for r in resumed["metrics"]] == [1, 2, 3, 4]
    for ours, theirs in zip(resumed["metrics"], fsdp["metrics"]):
        for key in ("loss", "grad_norm", "learning_rate"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-5), (ours["step"], key)
    resumed_adapter = load_file(resumed_dir / "adapter" / "adapter_model.safetensors")
    for name in sharded:
        torch.testing.assert_close(resumed_adapter[name], sharded[name], rtol=1e-5, atol=1e-7)
