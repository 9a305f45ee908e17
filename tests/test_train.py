"""``omni-bench train`` on the tiny model: LoRA on the text model only, a 5-step run, its run directory."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from omni_bench import OmniBenchError
from omni_bench.cli import build_parser, main
from omni_bench.training.config import TrainConfig
from omni_bench.training.prepare import load_trained_model, prepare_model
from omni_bench.training.run import _check_loss_requires_grad

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "longvale_sft.json"
TEXT_LAYER = re.compile(r"model\.language_model\.layers\.\d+\.(self_attn|mlp)\.(q|k|v|o|gate|up|down)_proj$")


@pytest.mark.slow
@pytest.mark.parametrize("profile, layers", [("qwen2.5-omni-7b", 2), ("qwen2.5-vl-7b", 2)])
def test_lora_wraps_the_text_model_only(profile, layers):
    config = TrainConfig(profile=profile, tiny=True, data=str(DATA))
    model = prepare_model(config, torch.float32)
    wrapped = [name.removeprefix("base_model.model.") for name, module in model.named_modules()
               if hasattr(module, "lora_A")]
    assert len(wrapped) == layers * 7 and all(TEXT_LAYER.match(name) for name in wrapped)
    # the towers have q/k/v and gate/up/down projections of their own: none is wrapped
    towers = [name for name, _ in model.named_modules() if ".visual." in name or ".audio_tower." in name]
    assert towers and not any("lora_" in name for name in towers)
    assert any(n.endswith(("mlp.up_proj", "attn.q", "self_attn.q_proj")) for n in towers)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    assert model.get_base_model().is_activation_checkpointing
    from omni_bench.training.fused import fused_loss_enabled

    assert fused_loss_enabled(model)


def test_every_config_field_has_its_flag():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["train"]
    dests = {action.dest for action in sub._actions}
    from omni_bench.core.composed import flat_names, unused_fields

    fields = set(flat_names(TrainConfig)) - set(unused_fields(TrainConfig, "layout"))  # the tree's settings
    assert {"max_steps", "frames", "sampling", "data", "media_root"} <= fields
    assert fields <= dests
    args = parser.parse_args(["train", "--tiny", "--data", "d.json", "--resize", "56x56", "--lora-targets",
                              "q_proj,v_proj", "--no-audio", "--max-steps", "3"])
    config = __import__("omni_bench.cli.train", fromlist=["config_from_args"]).config_from_args(args)
    assert (config.resize, config.lora_targets, config.use_audio, config.max_steps) == \
        ((56, 56), ("q_proj", "v_proj"), False, 3)
    assert config.learning_rate == 1e-4 and (config.lora_r, config.lora_alpha, config.lora_dropout) == (16, 16, 0.05)


def test_config_errors(tmp_path):
    with pytest.raises(OmniBenchError, match=r"pass --model PATH .* or --tiny"):
        TrainConfig(data="x.json")
    with pytest.raises(OmniBenchError, match="--data"):
        TrainConfig(tiny=True)
    with pytest.raises(OmniBenchError, match="loss-backend"):
        TrainConfig(tiny=True, data="x.json", loss_backend="fast")
    with pytest.raises(OmniBenchError, match="unknown training settings: lr"):
        TrainConfig.from_dict({"tiny": True, "data": "x.json", "lr": 1})
    with pytest.raises(OmniBenchError, match="lora-targets: no qkv"):
        prepare_model(TrainConfig(tiny=True, data="x.json", lora_targets=("qkv",)), torch.float32)
    with pytest.raises(OmniBenchError, match="does not require grad"):
        _check_loss_requires_grad(torch.tensor(1.0))


@pytest.mark.slow
def test_five_step_tiny_run(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--tiny", "--data", str(DATA), "--frames", "4", "--resize", "56x56", "--max-steps", "5",
            "--logging-steps", "1", "--save-steps", "100", "--output", str(out), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    print(text)  # the must-show output (pytest -s)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    for row in rows:
        assert math.isfinite(row["loss"]) and math.isfinite(row["grad_norm"]) and row["peak_mib"] > 0
        assert row["tokens"] > row["label_tokens"] > 0
    assert rows[0]["learning_rate"] == pytest.approx(1e-4) and rows[-1]["learning_rate"] < rows[0]["learning_rate"]
    assert "     5 " in text and "trainable 32,768" in text
    for name in ("loss", "learning_rate", "grad_norm"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "config.json").read_text())
    assert saved["media_root"] == str(DATA.parent) and saved["dtype"] in ("float32", "bfloat16")
    assert TrainConfig.from_dict(saved).max_steps == 5

    # the adapter loads back onto the same base and holds the trained weights
    from safetensors.torch import load_file

    model = load_trained_model(out)
    stored = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    params = dict(model.named_parameters())
    assert len(stored) == 2 * 2 * 7  # A and B of 7 projections in 2 layers
    for key, value in stored.items():
        name = key.replace(".weight", ".default.weight")
        assert torch.equal(params[name].detach(), value), key
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in stored.items())  # B left its zero init

    # a second run into the same folder is refused; --resume with other settings too
    assert main(argv) == 2
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert main([*argv, "--resume", "--learning-rate", "1e-3"]) == 2
    assert "different settings (learning_rate)" in capsys.readouterr().err


def test_documented_configs_load():
    """configs/: accelerate reads each launcher config; DeepSpeed files leave sizes to the Trainer."""
    from accelerate.commands.config.config_args import load_config_from_file

    folder = ROOT / "configs"
    kinds = set()
    for path in sorted(folder.glob("accelerate_*.yaml")):
        cluster = load_config_from_file(str(path))
        kinds.add(str(cluster.distributed_type).split(".")[-1])
        if cluster.deepspeed_config:
            ds = json.loads((ROOT / cluster.deepspeed_config["deepspeed_config_file"]).read_text())
            assert ds["train_micro_batch_size_per_gpu"] == "auto" and ds["gradient_accumulation_steps"] == "auto"
        if cluster.fsdp_config:
            assert cluster.fsdp_config["fsdp_activation_checkpointing"] is False  # ours is on instead
    assert kinds == {"MULTI_GPU", "DEEPSPEED", "FSDP"}
    assert TrainConfig.from_file(folder / "train_tiny.json").max_steps == 5
    assert TrainConfig.from_file(folder / "train_omni_7b.json").lora_r == 16


def test_a_run_shorter_than_its_logging_period_still_logs_and_exits_0(tmp_path, capsys):
    """Two steps at the default --logging-steps 5: one metrics row, at step 2 (before: no row, exit 1)."""
    out = tmp_path / "run"
    argv = ["train", "--tiny", "--data", str(DATA), "--frames", "4", "--resize", "56x56", "--max-steps", "2",
            "--save-steps", "100", "--output", str(out), "--no-progress"]
    assert TrainConfig.__dataclass_fields__["logging_steps"].default > 2
    assert main(argv) == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2] and math.isfinite(rows[0]["loss"])
