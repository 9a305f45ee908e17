"""``omni-bench budget FILE...``: tokens, budget share and logits memory of many videos (headers only)."""

from __future__ import annotations

import json

from omni_bench.cli.flags import add_field_flags, add_layout_flags, field_values, number_type, settings_from_args
from omni_bench.core.errors import OmniBenchError
from omni_bench.data.record_budget import VALIDATE_LINE, budget_training_file, is_training_file
from omni_bench.data.records import _read_json
from omni_bench.data.settings import DataSettings
from omni_bench.layout.budget import budget_dataset

_DATA_FLAGS = ("data_format", "task", "time_format", "split_turns", "media_root")  # a training file's, as train's


def register(subparsers) -> None:
    p = subparsers.add_parser("budget", help="tokens per sample, share over a budget and logits memory of many "
                                             "videos (container headers only, nothing decoded)")
    p.add_argument("inputs", metavar="FILE", nargs="+", help="video files, folders of videos (searched "
                   "recursively), or JSON / JSONL files of metadata records (duration, width, height, native_fps; "
                   "optional path, has_audio, total_frames, audio_seconds, prompt, answer, system)")
    p.add_argument("--max-total-tokens", type=number_type("max_total_tokens", int), metavar="N",
                   help="count and list the samples above N tokens (input + label), and show how the dataset "
                        "packs into rows of N tokens (rows, fill, padding: packed vs one sample per row)")
    p.add_argument("--per-sample", action="store_true", help="with --json: per-sample counts and names")
    add_field_flags(p, DataSettings, _DATA_FLAGS, defaults=False)  # --media-root: the file's folder when not given
    add_layout_flags(p)
    p.set_defaults(func=run)


def _metadata_records(path: str) -> list[dict]:
    """The records of a JSON (a list, or {"samples": [...]}) or JSONL metadata file."""
    data = _read_json(path)
    if isinstance(data, dict):
        data = data.get("samples")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise OmniBenchError(f"{path}: expected a list of metadata objects (or {{\"samples\": [...]}})",
                             source=path, reason="bad-metadata")
    return [{"path": r.get("path") or f"{path}#{i}", **r} for i, r in enumerate(data)]


def run(args) -> int:
    from pathlib import Path

    training = [name for name in args.inputs if is_training_file(name)]
    given = {name: value for name, value in field_values(DataSettings, args).items() if name in _DATA_FLAGS}
    if training:  # a training file: every record's prompts, replies and media, as validate counts them
        if len(args.inputs) > 1:
            raise OmniBenchError(f"{training[0]}: a training file is budgeted alone (omni-bench budget "
                                 f"{training[0]}), not with other inputs", source=training[0], reason="bad-settings")
        data = DataSettings(**given, data=training[0])
        result = budget_training_file(data, settings_from_args(args), max_total_tokens=args.max_total_tokens)
        report = {**result.to_dict(per_sample=args.per_sample), "note": VALIDATE_LINE}
        print(json.dumps(report, ensure_ascii=False) if args.json else f"{result}\n{VALIDATE_LINE}")
        return 0
    if given:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in given)
        raise OmniBenchError(f"{flags}: for a training file (omni-bench budget ANNOTATIONS), not for videos or "
                             "metadata records", reason="bad-settings")
    items: list = []
    for name in args.inputs:
        if Path(name).suffix.lower() in (".json", ".jsonl") and Path(name).is_file():
            items.extend(_metadata_records(name))
        else:
            items.append(name)
    result = budget_dataset(items, settings_from_args(args), max_total_tokens=args.max_total_tokens,
                            progress=None)
    print(json.dumps(result.to_dict(per_sample=args.per_sample), ensure_ascii=False) if args.json else str(result))
    return 0
