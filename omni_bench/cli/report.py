"""``omni-bench report RUN_DIR --html FILE [--md FILE]``: a training run folder as one self-contained report
(config, data, loss / grad-norm curves, final metrics, eval scores); without a file, the text form."""

from __future__ import annotations

import json

from omni_bench.cli.flags import add_json_flag
from omni_bench.training.run_report import run_report_text, write_run_report

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="a training run folder as a self-contained HTML / Markdown report")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run folder of omni-bench train (its --output DIR)")
    p.add_argument("--html", metavar="FILE", help="write the report as one HTML file (figures inlined)")
    p.add_argument("--md", "--markdown", dest="md", metavar="FILE",
                   help="write the report as Markdown (figures inlined as data: URIs)")
    p.add_argument("--eval", dest="eval_log", metavar="LOG",
                   help="an answer log of omni-bench eval run (default: eval.jsonl in RUN_DIR, when there)")
    p.add_argument("--annotations", metavar="ANN",
                   help="the LongVALE annotations the answer log is scored against (default: the run's --data)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    figures = None
    if args.html or args.md:  # the curves are drawn by the views: the CLI composes them (matplotlib loads here)
        from omni_bench_widgets.report import run_figures as figures
    record = write_run_report(args.run_dir, html_path=args.html, md_path=args.md, eval_log=args.eval_log,
                              annotations=args.annotations, figures=figures)
    for path in (args.html, args.md):
        if path:
            print(f"omni-bench: report written to {path}", file=sys.stderr)
    if args.json:
        print(json.dumps({"run_dir": str(record.path), "config": record.config, "metrics": list(record.metrics),
                          "scores": record.scores.to_dict() if record.scores is not None else None,
                          "eval_log": None if record.eval_log is None else str(record.eval_log)}))
    elif not (args.html or args.md):
        print(run_report_text(record), end="")
    return 0
