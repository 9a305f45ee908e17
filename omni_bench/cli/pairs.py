"""``omni-bench pairs --annotations ANN [--tiny | --model PATH | --adapter RUN_DIR] --output FILE``:
preference pairs for DPO, offline from the annotations or sampled from a model and scored
(flags: :class:`~omni_bench.eval.pairs.PairsConfig`'s fields; frame sampling as ``eval run``)."""

from __future__ import annotations

import dataclasses
import json

from omni_bench.cli.flags import add_field_flags, add_json_flag, field_values
from omni_bench.eval.pairs import PairsConfig, build_pairs
from omni_bench.eval.run import SAMPLING_OVERRIDES, EvalConfig
from omni_bench.training.config import TrainConfig

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser("pairs", help="build DPO preference pairs from LongVALE annotations or a model's "
                                            "sampled replies, scored by LongVALE's rules")
    names = [f.name for f in dataclasses.fields(PairsConfig) if f.name != "sampling"]  # sampling: the flags below
    add_field_flags(p, PairsConfig, names, exclusive=[("tiny", "model", "adapter")])
    add_field_flags(p, EvalConfig, SAMPLING_OVERRIDES, defaults=False, borrow=(TrainConfig, SAMPLING_OVERRIDES))
    add_json_flag(p)
    p.set_defaults(func=run_pairs)


def run_pairs(args) -> int:
    sampling = {name: value for name, value in field_values(EvalConfig, args).items() if name in SAMPLING_OVERRIDES}
    values = {name: value for name, value in field_values(PairsConfig, args).items() if name != "sampling"}
    result = build_pairs(PairsConfig(**values, sampling=sampling or None))
    print(json.dumps(result.to_dict(), ensure_ascii=False) if args.json else str(result))
    return 0
