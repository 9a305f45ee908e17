"""``omni-bench train``: one flag per :class:`~omni_bench.training.config.TrainConfig` setting, and the command.

TrainConfig holds its parts (the data part, the layout part, the preference part); the flags are generated
from that tree (:func:`~omni_bench.cli.flags.field_flags`), each with its part's field comment as help, so
``train --min-pixels`` is the very flag of ``inspect`` and ``plan`` and ``train --media-root`` that of
``validate``.
"""

from __future__ import annotations

import json
import math
import os
import sys

from omni_bench import train
from omni_bench.cli.flags import add_field_flags, add_json_flag, field_values
from omni_bench.core.stages import stage
from omni_bench.training.config import TrainConfig
from omni_bench.training.preempt import PREEMPTED_EXIT, Preempted, read_stopped
from omni_bench_widgets.plots import plot_metrics  # the run folder's curves: the CLI composes the views

__all__ = ["register", "add_train_flags", "config_from_args", "run_train_command"]


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="LoRA fine-tune with the fused loss; writes a run directory (resumable)")
    add_train_flags(p)
    p.set_defaults(func=run_train_command)


def add_train_flags(parser) -> None:
    """The ``omni-bench train`` flags: one per :class:`TrainConfig` setting, plus --config and --json.

    Every flag defaults to "not given", so ``--config FILE`` supplies values and flags override them;
    each help names the field's default.
    """
    parser.add_argument("--config", metavar="FILE",
                        help="a JSON config file (a run's config.json works); flags given override it")
    add_field_flags(parser, TrainConfig, defaults=False, exclusive=[("model", "tiny"), ("frames", "fps")])
    add_json_flag(parser)


def config_from_args(args):
    """A :class:`TrainConfig` from parsed ``train`` flags (``--config`` first, given flags over it)."""
    given = field_values(TrainConfig, args)
    if getattr(args, "config", None):
        return TrainConfig.from_file(args.config, **given)
    return TrainConfig(**given)


def run_train_command(args) -> int:
    """``omni-bench train``: train, then print the run's text form (or JSON) on the main process.

    Stage lines on stderr (a terminal, or OMNI_BENCH_PROGRESS=1; not with --no-progress) say what it
    does before the first step: importing, loading the processor, reading the records, building the
    samples and the model, starting step 1 (omni_bench.core.stages).
    """
    config = config_from_args(args)  # a bad --config is refused before the slow imports
    stage("train", "importing torch, transformers and peft...", config.progress)
    try:
        result = train(config, plot=plot_metrics)
    except Preempted as stop:  # SIGTERM / SIGINT: a checkpoint was written; one line, exit 75 (training/preempt.py)
        if int(os.environ.get("RANK", "0")) == 0:
            if args.json:
                print(json.dumps({"stopped": read_stopped(stop.output_dir)}, ensure_ascii=False))
            print(f"omni-bench: {stop}", file=sys.stderr)
        return PREEMPTED_EXIT
    if int(os.environ.get("RANK", "0")) == 0:
        if args.json:
            print(json.dumps(result.to_dict(), ensure_ascii=False))
        else:
            print(result)
    return 0 if result.final_loss is not None and math.isfinite(result.final_loss) else 1
