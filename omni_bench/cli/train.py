"""``omni-bench train``: the flags of :class:`~omni_bench.training.run.TrainConfig`, and the command."""

from __future__ import annotations

import dataclasses
import json
import math
import os

from omni_bench.layout.settings import add_sampling_flags
from omni_bench.training.run import DEFAULT_LORA_TARGETS, TrainConfig, train

__all__ = ["add_train_flags", "config_from_args", "run_train_command"]


def add_train_flags(parser) -> None:
    """The ``omni-bench train`` flags: one per :class:`TrainConfig` field, plus --config and --json.

    Every flag defaults to "not given", so ``--config FILE`` supplies values and flags override them.
    """
    parser.add_argument("--config", help="a JSON config file (a run's config.json works); flags override it")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", help="a checkpoint directory (Qwen2.5-Omni / thinker / Qwen2.5-VL)")
    which.add_argument("--tiny", action="store_true", default=None, help="random-init tiny model of --profile")
    parser.add_argument("--profile", help="processor profile (default qwen2.5-omni-7b)")
    parser.add_argument("--data", help="annotations: LongVALE SFT / LongVALE annotations / Qwen-VL JSON")
    parser.add_argument("--data-format", help="auto | longvale | longvale-annotations | qwen-vl")
    parser.add_argument("--media-root", help="videos are relative to this folder (default: the --data folder)")
    parser.add_argument("--max-total-tokens", type=int, help="input + label token budget per sample")
    add_sampling_flags(parser, defaults=False)
    parser.add_argument("--no-audio", dest="use_audio", action="store_false", default=None,
                        help="ignore the videos' audio tracks")
    parser.add_argument("--system", help="system prompt (default: the chat template's)")
    parser.add_argument("--max-steps", type=int, help="optimizer steps (default 100)")
    parser.add_argument("--learning-rate", type=float, help="peak learning rate (default 1e-4)")
    parser.add_argument("--lr-scheduler", help="linear | cosine | constant | constant_with_warmup")
    parser.add_argument("--warmup-steps", type=int, help="linear warm-up steps (default 0)")
    parser.add_argument("--weight-decay", type=float, help="AdamW weight decay (default 0)")
    parser.add_argument("--max-grad-norm", type=float, help="gradient clipping, 0 = off (default 1.0)")
    parser.add_argument("--batch-size", type=int, help="samples per process per micro-batch (default 1)")
    parser.add_argument("--grad-accum", type=int, help="micro-batches per optimizer step (default 1)")
    parser.add_argument("--lora-r", type=int, help="LoRA rank (default 16)")
    parser.add_argument("--lora-alpha", type=int, help="LoRA alpha (default 16)")
    parser.add_argument("--lora-dropout", type=float, help="LoRA dropout (default 0.05)")
    parser.add_argument("--lora-targets", help="comma-separated text-model projections "
                                               f"(default {','.join(DEFAULT_LORA_TARGETS)})")
    parser.add_argument("--loss-backend", help="auto | chunked | liger | naive (default auto)")
    parser.add_argument("--loss-chunk-size", type=int, help="rows per chunk of the chunked loss (default 512)")
    parser.add_argument("--no-gradient-checkpointing", dest="gradient_checkpointing", action="store_false",
                        default=None, help="keep all activations (faster, more memory)")
    parser.add_argument("--dtype", help="auto (bfloat16 on CUDA, float32 on CPU) | float32 | bfloat16")
    parser.add_argument("--output", help="the run directory (default runs/train)")
    parser.add_argument("--logging-steps", type=int, help="a metrics row every N steps (default 5)")
    parser.add_argument("--save-steps", type=int, help="a resumable checkpoint every N steps (default 100)")
    parser.add_argument("--save-total-limit", type=int, help="keep only the newest N checkpoints")
    parser.add_argument("--seed", type=int, help="seed for init, data order and dropout (default 0)")
    parser.add_argument("--num-workers", type=int, help="DataLoader worker processes (default 0)")
    parser.add_argument("--resume", action="store_true", default=None,
                        help="continue from the last complete checkpoint in --output")
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                        help="hide the progress bar")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def config_from_args(args) -> TrainConfig:
    """A :class:`TrainConfig` from parsed ``train`` flags (``--config`` first, given flags over it)."""
    from omni_bench.layout.settings import parse_resize

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {name: value for name, value in vars(args).items() if name in names and value is not None}
    if "resize" in given:
        given["resize"] = parse_resize(given["resize"])
    if "lora_targets" in given:
        given["lora_targets"] = tuple(t.strip() for t in given["lora_targets"].split(",") if t.strip())
    if getattr(args, "config", None):
        return TrainConfig.from_file(args.config, **given)
    return TrainConfig(**given)


def run_train_command(args) -> int:
    """``omni-bench train``: train, then print the run's text form (or JSON) on the main process."""
    result = train(config_from_args(args))
    if int(os.environ.get("RANK", "0")) == 0:
        if args.json:
            print(json.dumps(result.to_dict(), ensure_ascii=False))
        else:
            print(result)
    return 0 if result.final_loss is not None and math.isfinite(result.final_loss) else 1
