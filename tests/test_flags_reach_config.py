"""No flag is accepted and dropped: every flag of every subcommand reaches what the command runs with.

For the commands whose flags are settings (``train``, ``eval run``, ``validate``, ``inspect``, ``plan``,
``budget``, ``samplers``) each flag is given alone, with a value that is not its default, and must come
out in the config the command resolves: ``train``'s :class:`~omni_bench.training.config.TrainConfig`
as its ``config.json`` records it (``to_dict``), ``eval run``'s :class:`~omni_bench.eval.run.EvalConfig`,
``validate``'s data and layout settings, the layout commands' :class:`LayoutSettings` (and ``plan``'s
metadata). Every other flag of every subcommand must at least be read by its command module
(``args.NAME``, or a dataclass field read by ``field_values``). Then one real tiny training run shows
``train --sampling fps`` recorded in the run's ``config.json`` (it used to be accepted and dropped).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import re
from pathlib import Path

import pytest

from omni_bench.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]

# A value that is not the default, for the flags whose values are names (the others: 7, 0.5, "x"), with
# what the config must then hold; a few flags need a companion flag to be valid at all.
NAMED = {
    "profile": ("qwen2.5-vl-7b", "qwen2.5-vl-7b"), "loss_type": ("hinge", "hinge"),
    "data_format": ("qwen-vl", "qwen-vl"), "task": ("dense", "dense"), "time_format": ("percent", "percent"),
    "sampling": ("fps", "fps"), "lr_scheduler": ("cosine", "cosine"), "loss_backend": ("naive", "naive"),
    "dtype": ("float32", "float32"), "resize": ("56x84", (56, 84)), "lora_targets": ("q_proj, v_proj",
                                                                                    ("q_proj", "v_proj")),
    "train_modules": ("norm,lm_head", ("norm", "lm_head")), "prompts": ("training", "training"),
    "parse": ("lenient", "lenient"), "max_memory": ("8GiB", "8GiB"), "label_smoothing": ("0.25", 0.25),
    "lora_dropout": ("0.25", 0.25), "grpo_loss_type": ("dr_grpo", "dr_grpo"), "scale_rewards": ("none", "none"),
    "reward_funcs": ("format,time_r1_iou", ("format", "time_r1_iou")),
    "loss_weights": ("0.5", (0.5,)),
}
COMPANIONS = {"pack_dataset": ["--max-total-tokens", "64"]}
EVAL_TASKS = {"task": ("grounding", "grounding")}  # eval run's --task is the scoring task


def _subparsers(parser) -> dict[str, argparse.ArgumentParser]:
    """``{"train": parser, "eval run": parser, ...}``: every (sub)subcommand's parser."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                inner = _subparsers(sub)
                found.update({f"{name} {k}": v for k, v in inner.items()} if inner else {name: sub})
    return found


def _flags(sub) -> list[argparse.Action]:
    return [a for a in sub._actions if a.option_strings and not isinstance(a, argparse._HelpAction)
            and a.help is not argparse.SUPPRESS]


def _given(action: argparse.Action, named: dict) -> tuple[list[str], object]:
    """(argv giving this flag a value other than its default, the value the config must hold)."""
    flag = action.option_strings[0]
    if isinstance(action, argparse._StoreTrueAction):
        return [flag], True
    if isinstance(action, argparse._StoreFalseAction):
        return [flag], False
    if action.dest in named:
        text, value = named[action.dest]
        return [flag, text], value
    kind = getattr(action.type, "__name__", "str")
    text, value = {"int": ("7", 7), "float": ("0.5", 0.5)}.get(kind, ("x", "x"))
    return [flag, text], value


def _setting_flags(sub, skip=()) -> list[argparse.Action]:
    return [a for a in _flags(sub) if a.dest not in ("json", *skip)]


def test_every_subcommand_is_walked():
    subs = _subparsers(build_parser())
    assert {"train", "eval run", "eval score", "validate", "inspect", "plan", "budget", "samplers"} <= set(subs)


def test_every_train_flag_reaches_the_config_json_record():
    from omni_bench.cli.flags import field_flags
    from omni_bench.cli.train import config_from_args
    from omni_bench.training.config import METHODS, TrainConfig

    parser = build_parser()
    sub = _subparsers(parser)["train"]
    checked = []
    others = [m for m in METHODS if m != "sft"]  # --init-adapter is refused with sft: tried with another method
    named = {**NAMED, "method": (others[0], others[0])} if others else NAMED
    for action in _setting_flags(sub, skip=("config",)):
        if action.dest in ("method", "init_adapter") and not others:
            continue  # sft alone: --method has no other value; test_train covers --init-adapter's refusal
        argv, value = _given(action, named)
        base = {"model": ["--data", "d.json"], "tiny": ["--data", "d.json"], "data": ["--tiny"]}.get(
            action.dest, ["--data", "d.json", "--tiny"])
        companions = [*COMPANIONS.get(action.dest, []), *(["--method", others[0]] if action.dest == "init_adapter"
                                                           else [])]
        config = config_from_args(parser.parse_args(["train", *base, *companions, *argv]))
        record = json.loads(json.dumps(config.to_dict()))  # what config.json holds
        assert action.dest in record, f"train {action.option_strings[0]} reaches no config.json key"
        assert config.to_dict()[action.dest] == value != field_flags(TrainConfig)[action.dest].default, \
            f"train {action.option_strings[0]}: {record[action.dest]!r}"
        checked.append(action.dest)
    assert {"sampling", "audio_max_seconds", "min_frames", "media_root", "time_format", "max_steps"} <= set(checked)


def test_train_config_flag_reaches_the_config(tmp_path):
    from omni_bench.cli.train import config_from_args

    file = tmp_path / "c.json"
    file.write_text(json.dumps({"tiny": True, "data": "d.json", "max_steps": 9, "sampling": "fps"}))
    config = config_from_args(build_parser().parse_args(["train", "--config", str(file), "--max-steps", "3"]))
    assert (config.max_steps, config.sampling, config.data) == (3, "fps", "d.json")  # the file, flags over it


def test_every_eval_run_flag_reaches_the_resolved_config():
    from omni_bench.cli.eval import config_from_args

    parser = build_parser()
    sub = _subparsers(parser)["eval run"]
    checked = []
    for action in _setting_flags(sub):
        argv, value = _given(action, {**NAMED, **EVAL_TASKS})
        base = ["--annotations", "a.json"] if action.dest in ("tiny", "model", "adapter") else \
            ["--annotations", "a.json", "--tiny"]
        if action.dest == "data":
            base = ["--tiny"]
        if action.dest == "adapter":
            continue  # reads the run folder: test_eval_run_adapter_settings_are_the_runs_with_flags_over_them
        config = config_from_args(parser.parse_args(["eval", "run", *base, *argv]))
        held = getattr(config, action.dest)
        assert held == value, f"eval run {action.option_strings[0]}: {held!r}"
        checked.append(action.dest)
    assert {"sampling", "min_frames", "max_frames", "audio_max_seconds", "media_root", "data"} <= set(checked)


def test_eval_run_adapter_settings_are_the_runs_with_flags_over_them(tmp_path):
    from omni_bench.cli.eval import config_from_args
    from omni_bench.training.config import TrainConfig

    run = tmp_path / "run"
    run.mkdir()
    recorded = TrainConfig(tiny=True, data="d.json", frames=4, resize=(56, 56), max_frames=9, use_audio=False)
    (run / "config.json").write_text(json.dumps(recorded.to_dict()))
    parser = build_parser()
    config = config_from_args(parser.parse_args(["eval", "run", "--annotations", "a.json", "--adapter", str(run)]))
    assert config.layout == recorded.layout_settings()
    config = config_from_args(parser.parse_args(["eval", "run", "--annotations", "a.json", "--adapter", str(run),
                                                 "--max-frames", "12", "--sampling", "fps", "--fps", "1"]))
    assert (config.frames, config.fps, config.max_frames, config.sampling, config.resize, config.use_audio) == \
        (None, 1.0, 12, "fps", (56, 56), False)


def test_every_validate_flag_reaches_its_settings():
    from omni_bench.cli.validate import config_from_args

    parser = build_parser()
    for action in _setting_flags(_subparsers(parser)["validate"]):
        argv, value = _given(action, NAMED)
        if action.dest == "model":
            value = "x"  # the checkpoint is the processor's profile
        data, layout = config_from_args(parser.parse_args(["validate", "a.json", *argv]))
        owner = data if action.dest in {f.name for f in dataclasses.fields(data)} else layout
        name = "profile" if action.dest == "model" else action.dest
        assert getattr(owner, name) == value, f"validate {action.option_strings[0]}"


@pytest.mark.parametrize("command", ["inspect", "plan", "budget", "samplers"])
def test_every_layout_command_flag_reaches_its_settings(command):
    from omni_bench.cli.flags import settings_from_args
    from omni_bench.layout.settings import LayoutSettings

    parser = build_parser()
    layout_fields = {f.name for f in dataclasses.fields(LayoutSettings)} | {"model"}
    found = 0
    for action in _setting_flags(_subparsers(parser)[command]):
        if action.dest not in layout_fields:
            continue  # not a setting: read by the command (test_every_flag_is_read_by_its_command)
        argv, value = _given(action, NAMED)
        args = parser.parse_args([command, *({"inspect": ["clip.mp4"], "budget": ["clip.mp4"]}.get(command, [])),
                                  *argv])
        if command == "samplers":  # it passes the fields to compare_samplers itself
            held = getattr(args, action.dest)
            held = tuple(int(x) for x in held.split("x")) if action.dest == "resize" else held
        else:
            settings = settings_from_args(args)
            held = settings.profile if action.dest == "model" else getattr(settings, action.dest)
        assert held == (value if action.dest != "model" else "x"), f"{command} {action.option_strings[0]}"
        found += 1
    assert found >= 6


def test_plan_metadata_flags_reach_the_metadata():
    from omni_bench.cli.plan import metadata_from_args

    args = build_parser().parse_args(["plan", "--duration", "9.5", "--width", "640", "--height", "360",
                                      "--native-fps", "25", "--total-frames", "237", "--audio-seconds", "9"])
    assert metadata_from_args(args) == {"has_audio": True, "duration": 9.5, "width": 640, "height": 360,
                                        "native_fps": 25.0, "total_frames": 237, "audio_seconds": 9.0}


def _reads(module, dest: str) -> bool:
    """Does the command module read ``args.<dest>`` (or a field of a dataclass it reads with field_values)?"""
    source = inspect.getsource(module)
    if re.search(rf"args\.{dest}\b|getattr\(args, \"{dest}\"", source):
        return True
    from omni_bench.cli.flags import field_flags

    for name in re.findall(r"field_values\((\w+), args\)", source):
        cls = getattr(module, name, None) or _dataclass_named(name)
        if cls is not None and dest in field_flags(cls):
            return True
    if any(dest in field_flags(config) for _, config, _ in getattr(module, "BENCHMARKS", {}).values()):
        return True  # bench <name>: field_values(config, args) of each config (tests/test_bench_shape.py)
    if "metadata_from_args" in source and dest in _metadata_dests():  # test_plan_metadata_flags_reach_the_metadata
        return True
    return "settings_from_args(args)" in source and dest in _layout_dests()


def _metadata_dests() -> set[str]:
    from omni_bench.cli.flags import _METADATA

    return set(_METADATA)


def _dataclass_named(name: str):
    import importlib

    for where in ("omni_bench.training.config", "omni_bench.eval.run", "omni_bench.data.settings",
                  "omni_bench.layout.settings", "omni_bench.eval.pairs"):
        try:
            found = getattr(importlib.import_module(where), name, None)
        except ImportError:
            continue
        if found is not None:
            return found
    return None


def _layout_dests() -> set[str]:
    from omni_bench.layout.settings import LayoutSettings

    return {f.name for f in dataclasses.fields(LayoutSettings)} | {"model"}


def test_every_flag_is_read_by_its_command():
    import importlib

    unread = []
    for name, sub in _subparsers(build_parser()).items():
        module = importlib.import_module(f"omni_bench.cli.{name.split()[0]}")
        for action in _flags(sub):
            if action.dest == "version" or (action.dest == "json" and "args.json" in inspect.getsource(module)):
                continue
            if not _reads(module, action.dest):
                unread.append(f"{name} {action.option_strings[0]}")
    assert unread == []


@pytest.mark.slow
def test_train_sampling_fps_is_recorded_in_the_runs_config_json(tmp_path):
    from omni_bench.cli import main

    output = tmp_path / "run"
    code = main(["train", "--tiny", "--data", str(ROOT / "data" / "longvale_sft.json"), "--sampling", "fps",
                 "--fps", "0.5", "--resize", "56x56", "--max-frames", "4", "--max-steps", "1", "--save-steps", "1",
                 "--output", str(output), "--no-progress", "--json"])
    assert code == 0
    record = json.loads((output / "config.json").read_text())
    assert (record["sampling"], record["fps"], record["max_frames"]) == ("fps", 0.5, 4)
    assert record["data"] == str(ROOT / "data" / "longvale_sft.json") and Path(record["media_root"]).is_absolute()
