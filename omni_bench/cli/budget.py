"""``omni-bench budget FILE...``: tokens, budget share and logits memory of many videos (headers only);
``--method grpo``: the tokens and memory of one GRPO step per prompt as well (training/grpo_budget.py)."""

from __future__ import annotations

import json
from dataclasses import replace

from omni_bench.cli.flags import add_field_flags, add_layout_flags, field_values, number_type, settings_from_args
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.profiles import get_profile
from omni_bench.data.record_budget import VALIDATE_LINE, budget_training_file, is_training_file
from omni_bench.data.records import _read_json
from omni_bench.data.settings import DataSettings
from omni_bench.layout.budget import budget_dataset
from omni_bench.training.config import GRPOSettings
from omni_bench.training.grpo_budget import grpo_step_budget, reply_tokens

_DATA_FLAGS = ("data_format", "task", "time_format", "split_turns", "media_root")  # a training file's, as train's
_GRPO_FLAGS = ("num_generations", "max_completion_length")  # --method grpo's step, as train --method grpo names them


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
    p.add_argument("--method", choices=("sft", "grpo"), default="sft",
                   help="grpo: also the tokens and memory of one train --method grpo step per prompt (the prompt "
                        "without its final reply, G completions, the KV cache expanded to G rows, the replay)")
    add_field_flags(p, GRPOSettings, _GRPO_FLAGS, defaults=False)
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


def _grpo_view(args, result, settings, last_replies=None):
    """The GRPO step of every budgeted prompt: P = the sample's input ids (without a reply), or a training
    record's less its final reply's tokens."""
    step = GRPOSettings(**field_values(GRPOSettings, args))
    prompts = result.budget.total_tokens
    if last_replies is not None:
        prompts = prompts - reply_tokens([last_replies[name] for name in result.sources], settings)
    try:
        profile = get_profile(settings.profile)
    except OmniBenchError:
        raise OmniBenchError(f"--method grpo estimates memory from a profile's widths; {settings.profile!r} is not "
                             "one: pass --profile NAME", reason="bad-settings") from None
    return grpo_step_budget(prompts, result.budget.video_tokens, result.budget.audio_tokens, profile,
                            num_generations=step.num_generations, max_completion_length=step.max_completion_length,
                            sources=result.sources)


def _print(args, result, grpo=None, note=None) -> None:
    report = result.to_dict(per_sample=args.per_sample)
    if grpo is not None:
        report["grpo"] = grpo.to_dict(per_sample=args.per_sample)
    if note:
        report["note"] = note
    text = "\n".join(str(x) for x in (result, grpo, note) if x is not None)
    print(json.dumps(report, ensure_ascii=False) if args.json else text)


def run(args) -> int:
    from pathlib import Path

    grpo = args.method == "grpo"
    if not grpo and field_values(GRPOSettings, args):
        raise OmniBenchError("--num-generations / --max-completion-length: for --method grpo", reason="bad-settings")
    training = [name for name in args.inputs if is_training_file(name)]
    given = {name: value for name, value in field_values(DataSettings, args).items() if name in _DATA_FLAGS}
    if training:  # a training file: every record's prompts, replies and media, as validate counts them
        if len(args.inputs) > 1:
            raise OmniBenchError(f"{training[0]}: a training file is budgeted alone (omni-bench budget "
                                 f"{training[0]}), not with other inputs", source=training[0], reason="bad-settings")
        data = DataSettings(**given, data=training[0])
        settings = settings_from_args(args)
        result = budget_training_file(data, settings, max_total_tokens=args.max_total_tokens)
        last = {r.id: r.conversations[-1][1] for r in data.read()} if grpo else None  # each prompt's target
        _print(args, result, _grpo_view(args, result, settings, last) if grpo else None, VALIDATE_LINE)
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
    settings = settings_from_args(args)
    if grpo:  # the prompt ends with the generation prompt: the completions are sampled, not --answer
        settings = replace(settings, answer=None)
    result = budget_dataset(items, settings, max_total_tokens=args.max_total_tokens, progress=None)
    _print(args, result, _grpo_view(args, result, settings) if grpo else None)
    return 0
