"""``omni-bench train``: one flag per :class:`~omni_bench.training.run.TrainConfig` field, and the command.

The sampling, size and chunk fields TrainConfig shares with
:class:`~omni_bench.layout.settings.LayoutSettings` take their flags (and help) from LayoutSettings,
so ``train --min-pixels`` is the very flag of ``inspect`` and ``plan``; the other fields take theirs
from TrainConfig's field comments.
"""

from __future__ import annotations

import json
import math
import os

from omni_bench.cli.flags import SAMPLING_FIELDS, add_field_flags, add_json_flag, field_values
from omni_bench.layout.settings import LayoutSettings

__all__ = ["register", "add_train_flags", "config_from_args", "run_train_command"]

_FROM_LAYOUT = (*SAMPLING_FIELDS, "use_audio", "system")  # the fields whose flags LayoutSettings defines


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="LoRA fine-tune with the fused loss; writes a run directory (resumable)")
    add_train_flags(p)
    p.set_defaults(func=run_train_command)


def add_train_flags(parser) -> None:
    """The ``omni-bench train`` flags: one per :class:`TrainConfig` field, plus --config and --json.

    Every flag defaults to "not given", so ``--config FILE`` supplies values and flags override them;
    each help names the field's default.
    """
    from omni_bench import TrainConfig

    parser.add_argument("--config", metavar="FILE",
                        help="a JSON config file (a run's config.json works); flags given override it")
    add_field_flags(parser, TrainConfig, defaults=False, exclusive=[("model", "tiny"), ("frames", "fps")],
                    borrow=(LayoutSettings, _FROM_LAYOUT))
    add_json_flag(parser)


def config_from_args(args):
    """A :class:`TrainConfig` from parsed ``train`` flags (``--config`` first, given flags over it)."""
    from omni_bench import TrainConfig

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
    from omni_bench.core.stages import stage

    config = config_from_args(args)  # a bad --config is refused before the slow imports
    stage("train", "importing torch, transformers and peft...", config.progress)
    from omni_bench import train

    result = train(config)
    if int(os.environ.get("RANK", "0")) == 0:
        if args.json:
            print(json.dumps(result.to_dict(), ensure_ascii=False))
        else:
            print(result)
    return 0 if result.final_loss is not None and math.isfinite(result.final_loss) else 1
