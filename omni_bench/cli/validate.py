"""``omni-bench validate ANNOTATIONS``: check every record of a training file (media, tags, roles, budget)."""

from __future__ import annotations

import argparse
import json

from omni_bench.cli.flags import add_field_flags, add_layout_flags, settings_from_args


def register(subparsers) -> None:
    from omni_bench import TrainConfig
    from omni_bench.data.records import TASKS, TIME_FORMATS

    p = subparsers.add_parser("validate", help="check every record of a training file (media, tags, roles, budget)")
    p.add_argument("annotations", metavar="ANNOTATIONS",
                   help="LongVALE SFT / LongVALE annotations / Qwen-VL JSON or JSONL file")
    p.add_argument("--media-root", metavar="DIR", default=".",
                   help="folder the records' media paths are relative to (default: the current folder)")
    add_field_flags(p, TrainConfig, ["data_format", "max_total_tokens"])  # the same flags as train's
    p.add_argument("--format", dest="data_format", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # old name
    p.add_argument("--task", default="grounding", choices=TASKS, help="what LongVALE annotations are turned into")
    p.add_argument("--time-format", default="relative", choices=TIME_FORMATS,
                   help="timestamps as LongVALE's two digits (40) or percentages (40.0%%)")
    add_layout_flags(p)  # sampling and size decide the budget; --prompt/--answer are not used here
    p.set_defaults(func=run)


def run(args) -> int:
    """Every record valid or listed with its reason; exit 0 either way (bad records are data)."""
    from omni_bench.data.preference import is_preference_file, validate_pairs
    from omni_bench.data.records import load_records
    from omni_bench.data.validation import validate

    if is_preference_file(args.annotations):  # chosen / rejected pairs: the same gate, both sides
        report = validate_pairs(args.annotations, args.media_root, settings=settings_from_args(args),
                                max_total_tokens=args.max_total_tokens)
    else:
        records = load_records(args.annotations, format=args.data_format, task=args.task,
                               time_format=args.time_format)
        report = validate(records, media_root=args.media_root, settings=settings_from_args(args),
                          max_total_tokens=args.max_total_tokens)
    print(json.dumps(report.to_dict(), ensure_ascii=False) if args.json else str(report))
    return 0
