"""Time to first output of each ``omni-bench`` subcommand, before and after, in one run.

Each command runs in a fresh process (``python -c "from omni_bench.cli import main; main([...])"``
with the tree first on ``sys.path``), for the "before" tree (a ``git worktree`` of an older
commit, ``--before``) and the current one, alternating so both see the same machine load. We
record the seconds to the first byte on stdout or stderr ("first output"; ``OMNI_BENCH_PROGRESS=1``
gives the pipe the stage lines a terminal gets), and to exit; a command still running
``--limit`` seconds after its first output (``train``) is stopped there.
Not a test: wall times on a shared CPU vary from run to run (the load average is recorded).

    git worktree add /tmp/before 09eb030
    python benchmarks/bench_cli_startup.py --before /tmp/before --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
META = ["--duration", "12", "--width", "640", "--height", "360", "--native-fps", "15"]
COMMANDS = {  # name -> argv after "omni-bench"; {tmp} is a fresh folder per run
    "--help": ["--help"],
    "plan (metadata flags)": ["plan", *META, "--frames", "16"],
    "plan CLIP": ["plan", "data/clips/kitchen_talk.mkv", "--frames", "16"],
    "plan CLIP (qwen3-vl-8b)": ["plan", "data/clips/kitchen_talk.mkv", "--profile", "qwen3-vl-8b", "--frames", "16"],
    "samplers": ["samplers", "--total-frames", "180", "--native-fps", "15", "--frames", "16"],
    "samplers CLIP": ["samplers", "data/clips/street_market.mkv", "--frames", "16"],
    "budget (4 clips)": ["budget", "data/clips"],
    "budget (4 clips, qwen3-omni)": ["budget", "data/clips", "--profile", "qwen3-omni-30b-a3b"],
    "error: missing clip": ["inspect", "data/clips/no_such_clip.mkv"],
    "error: missing clip (plan)": ["plan", "data/clips/no_such_clip.mkv"],
    "error: bad flag": ["plan", *META, "--frames", "-3"],
    "error: train bad flag": ["train", "--tiny", "--data", "data/longvale_sft.json", "--loss-backend", "x"],
    "inspect CLIP": ["inspect", "data/clips/kitchen_talk.mkv", "--frames", "8"],
    "train (tiny)": ["train", "--tiny", "--data", "data/longvale_sft.json", "--frames", "4", "--resize", "56x56",
                     "--max-steps", "1", "--output", "{tmp}/run"],
}


def _run(tree: Path, argv: list[str], limit: float) -> dict:
    """Seconds to first output and to exit (None: stopped), and the exit status."""
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); from omni_bench.cli import main; sys.exit(main({argv!r}))"
    env = dict(os.environ, PYTHONPATH=str(tree), OMNI_BENCH_PROGRESS="1")  # stage lines as on a terminal
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tree, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    first, stream = None, None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
    sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
    open_streams = 2
    while open_streams:
        deadline = None if first is None else first + limit - (time.perf_counter() - began)
        if deadline is not None and deadline <= 0:
            break
        events = sel.select(timeout=deadline)
        if not events:
            break
        for key, _ in events:
            data = os.read(key.fileobj.fileno(), 65536)
            if not data:
                sel.unregister(key.fileobj)
                open_streams -= 1
            elif first is None:
                first, stream = time.perf_counter() - began, key.data
    stopped = False
    try:
        proc.wait(timeout=None if open_streams == 0 else 0.1)  # both streams closed: it is exiting
    except subprocess.TimeoutExpired:
        stopped = True  # still running at first output + limit (a training run): stopped here
        proc.kill()
    rc = proc.wait()
    total = None if stopped else time.perf_counter() - began
    return dict(first_output=first, exit=total, rc=None if stopped else rc, stream=stream)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True, help="worktree of the older commit")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--limit", type=float, default=30.0, help="seconds a command may run after its first output")
    ap.add_argument("--only", nargs="*", help="command names to run (default: all)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cli_startup")
    ap.add_argument("--table-only", action="store_true", help="rewrite the .md from the .json of the last run")
    args = ap.parse_args()
    if args.table_only:
        args.out.with_suffix(".md").write_text(_markdown(json.loads(args.out.with_suffix(".json").read_text()), args))
        return
    trees = {"before": args.before.resolve(), "after": ROOT}
    rows = []
    for name, argv in COMMANDS.items():
        if args.only and name not in args.only:
            continue
        for _ in range(args.repeat):
            for label, tree in trees.items():
                with tempfile.TemporaryDirectory() as tmp:
                    result = _run(tree, [a.replace("{tmp}", tmp) for a in argv], args.limit)
                rows.append(dict(command=name, tree=label, load=os.getloadavg()[0], **result))
                print(json.dumps(rows[-1]), flush=True)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(_markdown(rows, args))


def _cell(values, rows=()) -> str:
    values = [v for v in values if v is not None]
    failed = sorted({r["rc"] for r in rows if r["rc"] not in (0, None)})
    return (f"{min(values):.1f}" if values else "-") + (f" (exit {failed[0]})" if failed else "")


def _markdown(rows: list[dict], args) -> str:
    commit = subprocess.run(["git", "-C", str(args.before), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    lines = [f"# CLI time to first output (s), before ({commit}) and after ({head} + working tree)", "",
             f"`python benchmarks/bench_cli_startup.py --before {args.before} --repeat {args.repeat}` on "
             f"{os.cpu_count()} CPUs; best of {args.repeat}; load average while measuring "
             f"{min(r['load'] for r in rows):.1f}-{max(r['load'] for r in rows):.1f} (a shared machine: "
             "wall times are inflated by the load, compare the columns, not the absolute values).", "",
             "| command | first output before | first output after | exit before | exit after | first line after on |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for name in dict.fromkeys(r["command"] for r in rows):
        got = {t: [r for r in rows if r["command"] == name and r["tree"] == t] for t in ("before", "after")}
        stream = next((r["stream"] for r in got["after"] if r["stream"]), "-")
        lines.append(f"| `{name}` | {_cell(r['first_output'] for r in got['before'])} | "
                     f"{_cell(r['first_output'] for r in got['after'])} | "
                     f"{_cell((r['exit'] for r in got['before']), got['before'])} | "
                     f"{_cell((r['exit'] for r in got['after']), got['after'])} | {stream} |")
    lines += ["", "`-` under exit: still running at its first output + `--limit` s (stopped there). `(exit 2)`: a user "
              "error, by design. `train (tiny)` exits 1 in both trees: one step with the default `--logging-steps 10` "
              "logs no loss, and `train` says so with its status.", "",
              "Where the time goes now (`plan CLIP`, each step timed in one process at load ~4): Python and the "
              "subcommand modules' imports (numpy, PyAV, jinja2, `tokenizers`; argparse over every subcommand) "
              "0.5-0.6 s, the container headers (`probe`) 0.14 s, reading the cached `tokenizer.json` with the "
              "`tokenizers` library (151,643 merges) 1.2-1.5 s - the largest part left - and compiling the chat "
              "template, tokenizing and planning 0.15-0.2 s. torch, transformers and torchvision are no longer "
              "imported by `plan`, `budget`, `samplers` or any error path (tests/test_light_planner.py checks "
              "`sys.modules` at exit). Before (09eb030, measured at load 0.2: `plan CLIP` 12.1 s wall), "
              "`load_processor` imported, for the tokenizer and the chat template alone, transformers' image "
              "processing utilities "
              "(4.1 s cumulative in `python -X importtime`, 3.3 s of it torchvision, which pulls in torch and "
              "torch._dynamo), transformers itself (1.0 s) and `transformers.processing_utils` (0.85 s), then built "
              "the processor. "
              "`train --loss-backend x` answered after importing torch (TrainConfig checked the name against "
              "`training.loss`); it now answers before. `train` prints its first stage line at once (importing, "
              "loading the processor, N records, the samples, the model, step 1); its first step still comes after "
              "torch, transformers and peft are imported and the processor is built. `inspect` is unchanged: its stage "
              "lines come at once, then it decodes and runs transformers' processor (10-15 s)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
