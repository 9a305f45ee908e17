"""One shape for every benchmark: ``omni-bench bench <name>``'s flags are exactly its config dataclass's
fields (plus --json and --markdown), and every flag reaches the config that ``run`` receives."""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest

from omni_bench.bench.base import BenchResult
from omni_bench.cli import bench as cli_bench
from omni_bench.cli import build_parser, main
from omni_bench.cli.flags import field_flags


def _subparser(name: str):
    bench = next(a for a in build_parser()._subparsers._group_actions[0].choices["bench"]._actions
                 if a.dest == "bench")
    return bench.choices[name]


def _given(config, field: dataclasses.Field) -> tuple[list[str], object]:
    """Command-line words that set ``field`` to a value other than its default, and that value."""
    spec, hint = field_flags(config)[field.name], typing.get_type_hints(config)[field.name]
    literal = next((h for h in [hint, *typing.get_args(hint)] if typing.get_origin(h) is typing.Literal), None)
    if spec.kind == "switch":
        return [spec.flag], not field.default
    if literal is not None:
        value = next(v for v in typing.get_args(literal) if v != field.default)
        return [spec.flag, value], value
    if spec.kind == "int":
        value = (field.default or 1) + 2
        return [spec.flag, str(value)], value
    if spec.kind == "float":
        value = 0.5 if field.default != 0.5 else 0.25
        return [spec.flag, str(value)], value
    if spec.kind == "size":
        return [spec.flag, "84x112"], (84, 112)
    if spec.kind == "names":
        return [spec.flag, "pyav-seek,naive"], ("pyav-seek", "naive")
    return [spec.flag, "qwen2.5-omni-7b"], "qwen2.5-omni-7b"


@pytest.mark.parametrize("name", list(cli_bench.BENCHMARKS))
def test_flags_are_exactly_the_configs_fields(name):
    _, config, _ = cli_bench.BENCHMARKS[name]
    parser = _subparser(name)
    dests = {a.dest for a in parser._actions if a.dest != "help"}
    assert dests == {f.name for f in dataclasses.fields(config)} | set(cli_bench.OUTPUT_FLAGS)
    flags = {a.dest: a.option_strings for a in parser._actions}
    for field, spec in field_flags(config).items():
        assert flags[field] == [spec.flag]


@pytest.mark.parametrize("name", list(cli_bench.BENCHMARKS))
def test_every_flag_reaches_the_config(name, monkeypatch, capsys, tmp_path):
    module, config, _ = cli_bench.BENCHMARKS[name]
    words, expected = ["bench", name], {}
    for field in dataclasses.fields(config):
        flag_words, expected[field.name] = _given(config, field)
        words += flag_words
    seen = []

    def fake_run(received):
        seen.append(received)
        return BenchResult(name, dataclasses.asdict(received), ("case",), [{"case": "x"}], summary={"figure": 1})

    monkeypatch.setattr(module, "run", fake_run)
    markdown = tmp_path / "out.md"
    assert main([*words, "--json", "--markdown", str(markdown)]) == 0
    assert seen == [config(**expected)]
    for field in dataclasses.fields(config):
        assert getattr(seen[0], field.name) != field.default, field.name
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == name and out["figure"] == 1 and out["rows"] == [{"case": "x"}]
    assert markdown.read_text().startswith(f"### {name}\n")


def test_defaults_are_the_configs():
    for name, (_, config, _) in cli_bench.BENCHMARKS.items():
        args = build_parser().parse_args(["bench", name])
        assert cli_bench.config_from_args(args) == config(), name
