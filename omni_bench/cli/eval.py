"""``omni-bench eval``: ``score LOG --annotations ANN`` scores a LongVALE answer log as LongVALE does;
``run --annotations ANN (--tiny | --model PATH | --adapter RUN_DIR) --output LOG`` asks a model the
questions first (flags: :class:`~omni_bench.eval.run.EvalConfig`'s settings, its data and layout parts
included; ``--media-root`` defaults to ANN's folder)."""

from __future__ import annotations

import json

from omni_bench.cli.flags import add_field_flags, add_json_flag, field_values, number_type
from omni_bench.eval.answers import PARSE_MODES
from omni_bench.eval.run import EvalConfig, evaluate
from omni_bench.eval.score import SCORE_TASKS, score

__all__ = ["register", "config_from_args"]


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="score LongVALE answer logs (grounding, dense and segment captioning)")
    commands = p.add_subparsers(dest="eval_command", required=True, metavar="EVAL_COMMAND")
    s = commands.add_parser("score", help="score a LongVALE answer log against its annotations")
    s.add_argument("log", metavar="LOG", help="JSON Lines: video_id, task, query_id, answer, info (LongVALE's log)")
    s.add_argument("--annotations", metavar="ANN", required=True,
                   help="LongVALE eval annotations: {video_id: {duration, timestamps, sentences}}")
    s.add_argument("--task", default="all", choices=SCORE_TASKS,
                   help="which task to score (default: every task the log has answers for)")
    s.add_argument("--parse", default="longvale", choices=PARSE_MODES,
                   help="longvale: LongVALE's two-digit rules (comparable numbers); lenient: also seconds, "
                        "clock times and percentages, reported as such")
    s.add_argument("--examples", type=number_type("examples", int), default=3, metavar="N",
                   help="unparseable answers quoted per task")
    add_json_flag(s)
    s.set_defaults(func=run_score)
    _register_run(commands)


def run_score(args) -> int:
    result = score(args.log, args.annotations, task=args.task, parse=args.parse, examples=args.examples)
    print(result.to_json(ensure_ascii=False) if args.json else str(result))
    return 0


def _register_run(commands) -> None:
    r = commands.add_parser("run", help="ask a model LongVALE's questions, append its answers to a log, score it")
    add_field_flags(r, EvalConfig, defaults=False, exclusive=[("tiny", "model", "adapter"), ("frames", "fps")])
    add_json_flag(r)
    r.set_defaults(func=run_eval)


def config_from_args(args):
    """The :class:`~omni_bench.eval.run.EvalConfig` the parsed ``eval run`` flags describe (resolved: with
    ``--adapter``, the run's settings with the flags given over them)."""
    return EvalConfig(**field_values(EvalConfig, args))


def run_eval(args) -> int:
    result = evaluate(config_from_args(args))
    print(json.dumps(result.to_dict(), ensure_ascii=False) if args.json else str(result))
    return 0
