"""``omni-bench validate ANNOTATIONS``: check every record of a training file (media, tags, roles, budget)."""

from __future__ import annotations

import argparse
import json

from omni_bench.cli.flags import add_field_flags, add_layout_flags, field_flags, field_values, settings_from_args
from omni_bench.core.stages import stage
from omni_bench.data.preference import is_preference_file, validate_pairs
from omni_bench.data.settings import DataSettings
from omni_bench.data.validation import validate

__all__ = ["register", "config_from_args", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser("validate", help="check every record of a training file (media, tags, roles, budget)")
    p.add_argument("annotations", metavar="ANNOTATIONS", help="the annotation file (train's --data): LongVALE SFT "
                   "or annotations, Qwen-VL, LLaMA-Factory sharegpt or ms-swift; JSON or JSON Lines")
    # the data part's flags, as train's (--media-root: the file's folder when not given, in every command)
    add_field_flags(p, DataSettings, [name for name in field_flags(DataSettings) if name != "data"])
    p.add_argument("--format", dest="data_format", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # old name
    add_layout_flags(p, unused=("prompt", "answer"))  # sampling and size decide the budget
    p.set_defaults(func=run)


def config_from_args(args):
    """(:class:`~omni_bench.data.settings.DataSettings`, :class:`~omni_bench.layout.settings.LayoutSettings`)
    the parsed flags describe."""
    return DataSettings(**field_values(DataSettings, args), data=args.annotations), settings_from_args(args)


def run(args) -> int:
    """Every record valid or listed with its reason; exit 0 either way (bad records are data)."""
    data, settings = config_from_args(args)
    if is_preference_file(data.data):  # chosen / rejected pairs: the same gate, both sides
        report = validate_pairs(data.data, data.media_folder(), settings=settings,
                                max_total_tokens=data.max_total_tokens)
    else:
        records = data.read()
        formats = ", ".join(dict.fromkeys(r.source for r in records))  # the format auto chose (train says it too)
        stage("validate", f"read {len(records)} records from {data.data} as {formats}; checking them...")
        report = validate(records, media_root=data.media_folder(), settings=settings,
                          max_total_tokens=data.max_total_tokens)
    print(json.dumps(report.to_dict(), ensure_ascii=False) if args.json else str(report))
    return 0
