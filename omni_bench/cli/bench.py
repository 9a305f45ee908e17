"""``omni-bench bench loss|step|packing|decode|dpo|grpo``: benchmarks measured side by side in one run.

Every benchmark has one shape (:mod:`omni_bench.bench.base`): a config dataclass and ``run(config)``.
Each subcommand's flags are its config's fields (:func:`omni_bench.cli.flags.add_field_flags`: the
field's comment is the help, a ``Literal`` type the choices), plus ``--json`` (print ``to_dict()``)
and ``--markdown FILE`` (also write ``to_markdown()``); without ``--json`` it prints the result's
text report.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

from omni_bench.bench import decode, dpo, grpo, loss, packing, step
from omni_bench.cli.flags import add_field_flags, add_json_flag, field_values

# name -> (module with run(config), its config dataclass, the subcommand's help)
BENCHMARKS = {
    "loss": (loss, loss.LossBench,
             "transformers' loss path vs ours (and Liger on CUDA): memory, time, grads"),
    "step": (step, step.StepBench,
             "one LoRA training step per loss backend on a thinker with a profile's real text widths: step time, "
             "peak memory, loss"),
    "packing": (packing, packing.PackingBench,
                "padded vs packed batches on a LongVALE-like length distribution: padding fraction and tokens per "
                "second, side by side"),
    "decode": (decode, decode.DecodeBench,
               "decoding only the sampled frames vs every frame of a synthetic clip, decord and PyAV: time, CPU "
               "time, peak memory"),
    "dpo": (dpo, dpo.DPOBench,
            "one DPO step on a LongVALE-like pair, the media once per pair vs the duplicated path: media encodes, "
            "seconds, peak memory, log-prob difference"),
    "grpo": (grpo, grpo.GRPOBench,
             "one GRPO step on a LongVALE-like prompt, one encode and one prefill per group vs the duplicated path: "
             "tower forwards, prefill tokens, seconds, peak memory"),
}
OUTPUT_FLAGS = ("json", "markdown")  # the flags every benchmark has besides its config's


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmarks measured side by side in one run")
    bench = p.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    for name, (_, config, text) in BENCHMARKS.items():
        b = bench.add_parser(name, help=text)
        add_field_flags(b, config)
        _literal_choices(b, config)
        b.add_argument("--markdown", metavar="FILE", help="also write the Markdown table to FILE")
        add_json_flag(b)
        b.set_defaults(func=run_benchmark, benchmark=name)


def _literal_choices(parser, config) -> None:
    """A field typed ``Literal["a", "b"]`` (or ``... | None``) gets ``choices=("a", "b")`` on its flag."""
    hints = typing.get_type_hints(config)
    for action in parser._actions:
        hint = hints.get(action.dest)
        options = [hint, *typing.get_args(hint)] if hint is not None else []
        literal = next((h for h in options if typing.get_origin(h) is typing.Literal), None)
        if literal is not None:
            action.choices, action.metavar = typing.get_args(literal), None


def config_from_args(args):
    """The config dataclass instance the parsed ``bench <name>`` flags describe."""
    _, config, _ = BENCHMARKS[args.benchmark]
    return config(**field_values(config, args))


def run_benchmark(args) -> int:
    module, _, _ = BENCHMARKS[args.benchmark]
    result = module.run(config_from_args(args))
    if args.markdown:
        Path(args.markdown).write_text(result.to_markdown(), encoding="utf-8")
    print(json.dumps(result.to_dict()) if args.json else result)
    return 0
