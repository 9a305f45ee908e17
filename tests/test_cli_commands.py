"""The command line's shape: --version, env, one positional CLIP per media command, flags and their
help generated from the settings dataclasses' field comments, one flag name per concept."""

from __future__ import annotations

import dataclasses
import json
import re
from importlib import metadata
from pathlib import Path

import pytest

from omni_bench import LayoutSettings, TrainConfig, probe
from omni_bench.cli import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _help(*command: str) -> str:
    """A subcommand's --help text with the wrapping undone."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command[0]]
    return " ".join(sub.format_help().split())


def _source_comments(cls) -> dict[str, str]:
    """Each field's comment, read from the defining file by a plain regex (independent of cli.flags)."""
    import inspect

    lines = Path(inspect.getsourcefile(cls)).read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"class {cls.__name__}"))
    names = {f.name for f in dataclasses.fields(cls)}
    found: dict[str, str] = {}
    for i in range(start + 1, len(lines)):
        match = re.match(r"(\s+)(\w+): [^#]*?  # (.*)$", lines[i])
        if match and match.group(2) in names and match.group(2) not in found:
            parts, indent = [match.group(3)], len(match.group(1))
            for more in lines[i + 1:]:
                if not more.lstrip().startswith("#") or len(more) - len(more.lstrip()) <= indent:
                    break
                parts.append(more.strip().lstrip("#").strip())
            found[match.group(2)] = " ".join(parts)
    return found


def _flag_and_help(comment: str) -> tuple[str, str]:
    """'--min-pixels N: lower bound ...' -> ('--min-pixels N', 'lower bound ...')."""
    head, _, text = comment.partition(": ")
    return head, text


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"omni-bench 0.1.0 (transformers {metadata.version('transformers')})"


def test_env_json_and_text(monkeypatch, capsys):
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    assert main(["env", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) == {"omni_bench", "python", "platform", "packages", "torchvision_status", "cpu",
                         "cpu_capability", "environment", "torch_threads", "cuda", "cuda_version", "gpus"}
    for name in ("torch", "transformers", "peft", "accelerate", "decord", "av", "librosa", "liger_kernel",
                 "qwen_vl_utils"):
        assert info["packages"][name] == metadata.version(name), name
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert info["torchvision_status"] in ("native", "shimmed", "imported")
    assert info["environment"] == {"OMP_NUM_THREADS": "3"}
    assert info["cuda"] == torch.cuda.is_available() and len(info["gpus"]) == torch.cuda.device_count()
    assert main(["env"]) == 0
    text = capsys.readouterr().out
    assert re.search(rf"^transformers +{re.escape(metadata.version('transformers'))}$", text, re.M)
    assert re.search(rf"^cpu kernel path +{info['cpu_capability']}$", text, re.M)
    assert re.search(r"^OMP_NUM_THREADS +3$", text, re.M)


def test_env_names_a_missing_package_without_a_traceback(monkeypatch, capsys):
    from omni_bench.core import machine

    monkeypatch.setattr(machine, "ENV_PACKAGES", (*machine.ENV_PACKAGES, "omni_bench_no_such_package"))
    assert main(["env"]) == 0
    assert re.search(r"^omni_bench_no_such_package +not installed$", capsys.readouterr().out, re.M)


def test_every_command_module_registers_its_subcommand():
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert list(choices) == list(COMMANDS)
    assert '"--"' in parser.epilog and "-clip.mp4" in parser.epilog


@pytest.mark.parametrize("clip", ["street_market.mkv", "kitchen_talk.mkv"])
def test_plan_clip_equals_plan_with_the_probed_metadata_flags(clip, clips, capsys):
    path = str(clips / clip)
    info = probe(path)
    settings = ["--frames", "8", "--resize", "224x224", "--json"]
    assert main(["plan", path, *settings]) == 0
    from_clip = json.loads(capsys.readouterr().out)
    flags = ["--duration", repr(info.duration), "--width", str(info.width), "--height", str(info.height),
             "--native-fps", repr(info.native_fps), "--total-frames", str(info.total_frames),
             "--audio-seconds", repr(info.audio_seconds)]
    assert main(["plan", *flags, *settings]) == 0
    assert json.loads(capsys.readouterr().out) == from_clip
    assert from_clip["sampled_frames"] == 8
    # a metadata flag given with the clip replaces what its headers say
    assert main(["plan", path, "--duration", "4.0", *settings]) == 0
    overridden = json.loads(capsys.readouterr().out)
    assert main(["plan", *flags[2:], "--duration", "4.0", *settings]) == 0
    assert json.loads(capsys.readouterr().out) == overridden


def test_plan_without_clip_or_metadata_is_one_line_naming_the_missing_flags(capsys):
    assert main(["plan", "--width", "640"]) == 2
    assert capsys.readouterr().err == ("omni-bench: error: plan needs a CLIP, or the video's metadata: --duration, "
                                       "--height, --native-fps\n")


def test_samplers_clip_is_the_video_flag_and_the_metadata_flags(clips, capsys):
    path = str(clips / "street_market.mkv")
    info = probe(path)
    outputs = []
    for source in ([path], ["--video", path],
                   ["--total-frames", str(info.total_frames), "--native-fps", repr(info.native_fps),
                    "--height", str(info.height), "--width", str(info.width)]):
        assert main(["samplers", *source, "--frames", "16", "--json"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0] == outputs[1] == outputs[2]
    assert main(["samplers", path, "--video", str(clips / "kitchen_talk.mkv")]) == 2
    assert "two videos given" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["plan", "samplers", "inspect"])
def test_a_file_named_like_a_flag_reaches_the_command_after_double_dash(command, capsys):
    assert main([command, "--frames", "8", "--", "-clip.mp4"]) == 2
    err = capsys.readouterr().err
    assert err == "omni-bench: error: -clip.mp4: file not found\n"


def test_layout_flag_help_is_the_layout_settings_field_comment():
    comments = _source_comments(LayoutSettings)
    assert set(comments) == {f.name for f in dataclasses.fields(LayoutSettings)}
    text = _help("plan")
    for name, comment in comments.items():
        flag, help_text = _flag_and_help(comment)
        assert flag in text and help_text in text, name
    assert "lower bound of each frame's pixel AREA (height x width)" in text  # not "shortest_edge (pixels)"


def test_train_flag_help_is_the_train_config_field_comment():
    from omni_bench.core.composed import parts, unused_fields

    held = parts(TrainConfig)  # the parts' flags take their help from the part's own comments
    text = _help("train")
    fields = [(TrainConfig, f.name) for f in dataclasses.fields(TrainConfig) if f.name not in held]
    fields += [(cls, f.name) for part, cls in held.items() for f in dataclasses.fields(cls)
               if f.name not in unused_fields(TrainConfig, part)]
    assert {"frames", "sampling", "data", "media_root", "max_steps"} <= {name for _, name in fields}
    for cls, name in fields:
        flag, help_text = _flag_and_help(_source_comments(cls)[name])
        flag = flag.split(" ")[0]  # a switch's comment may go on after its flag without a colon
        assert flag in text, name
        if help_text:
            assert help_text in text, name


def test_one_flag_name_per_concept():
    parser = build_parser()
    args = parser.parse_args(["validate", "a.json", "--data-format", "qwen-vl"])
    assert args.data_format == "qwen-vl"
    assert parser.parse_args(["validate", "a.json", "--format", "qwen-vl"]).data_format == "qwen-vl"  # old name
    assert parser.parse_args(["validate", "a.json"]).data_format == "auto"
    assert "--format" not in _help("validate").replace("--data-format", "") and "--data-format" in _help("train")
    for command in ("inspect", "plan", "budget", "validate", "train"):
        text = _help(command)
        assert "--min-pixels N lower bound of each frame's pixel AREA" in text, command


def test_switches_and_lists_from_the_train_config():
    from omni_bench.cli.train import config_from_args

    parser = build_parser()
    args = parser.parse_args(["train", "--tiny", "--data", "d.json", "--no-gradient-checkpointing",
                              "--no-progress", "--lora-targets", "q_proj, v_proj", "--resize", "56x84"])
    config = config_from_args(args)
    assert (config.gradient_checkpointing, config.progress, config.use_audio) == (False, False, True)
    assert config.lora_targets == ("q_proj", "v_proj") and config.resize == (56, 84)
    assert config_from_args(parser.parse_args(["train", "--tiny", "--data", "d.json"])) == \
        TrainConfig(tiny=True, data="d.json")
