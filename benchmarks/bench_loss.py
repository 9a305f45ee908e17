"""Benchmark the causal-LM loss backends at the CPU goal size; write results/loss_cpu.{json,md}.

Goal size: N=4096 tokens, H=1024, V=151936 (Qwen2.5-Omni's vocabulary), float32 on CPU.
Goal: the chunked loss at most 10% of the naive (transformers) peak memory above the
baseline, and no slower than it. Takes about 5 minutes on a 2-core machine (each backend
runs twice, best time kept: the machine may be shared).

    python benchmarks/bench_loss.py
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

from omni_bench.bench.loss import DEFAULT_BENCH_CHUNK_SIZE, bench_loss, format_bench_loss
from omni_bench.core.machine import describe_machine

ROOT = Path(__file__).resolve().parent.parent  # results go to ROOT/benchmarks/results


GOAL = {"tokens": 4096, "hidden": 1024, "vocab": 151936}


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> dict:
    return describe_machine("torch")


def markdown(result: dict, info: dict, command: str) -> str:
    verdict_peak = "met" if result["ratio_peak"] <= 0.10 else "NOT met"
    verdict_time = "met" if result["ratio_seconds"] <= 1.0 else "NOT met"
    verdict_cpu = "met" if result["ratio_cpu_seconds"] <= 1.0 else "NOT met"
    return "\n".join(
        [
            "# Fused linear cross-entropy: memory and time on CPU",
            "",
            "One forward + backward of the causal-LM loss from hidden states [N, H] and an LM head",
            "[V, H] (both requiring grad), each backend in its own subprocess; peak resident memory",
            "above a baseline of inputs + weight + a weight-sized gradient. Each backend ran",
            f"{result['repeats']} time(s), alternating, in fresh subprocesses: best time, largest peak.",
            "See `omni_bench/bench/loss.py`.",
            "",
            "```",
            format_bench_loss(result),
            "```",
            "",
            f"- Goal peak <= 10% of naive: **{verdict_peak}** ({result['ratio_peak']:.1%}).",
            f"- Goal no slower than naive, wall clock: **{verdict_time}** "
            f"(ratio {result['ratio_seconds']:.2f}); in CPU time of the worker: **{verdict_cpu}** "
            f"(ratio {result['ratio_cpu_seconds']:.2f}).",
            "",
            "## Machine",
            "",
            f"- CPU: {info['cpu']}, {info['cores']} cores (torch threads: {info['torch_threads']}), "
            f"{info['memory_gib']} GiB RAM",
            f"- torch {info['torch']}, Python {info['python']}, {info['platform']}",
            f"- load average (1, 5, 15 min) before / after: {info['load_before']} / {info['load_after']}. "
            "With a load above the core count the machine was shared with other work: wall-clock "
            "seconds are then indicative only, CPU seconds less disturbed, memory figures unaffected.",
            f"- date: {info['date']}",
            "",
            "## Reproduce",
            "",
            "```",
            command,
            "```",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_BENCH_CHUNK_SIZE)
    parser.add_argument("--repeats", type=int, default=2, help="runs per backend, best time kept")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)

    info = machine()
    info["load_before"] = load_average()
    result = bench_loss(**GOAL, chunk_size=args.chunk_size, repeats=args.repeats)
    info["load_after"] = load_average()
    info["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    command = "python benchmarks/bench_loss.py"
    if args.chunk_size != DEFAULT_BENCH_CHUNK_SIZE:
        command += f" --chunk-size {args.chunk_size}"
    if args.repeats != 2:
        command += f" --repeats {args.repeats}"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "loss_cpu.json").write_text(
        json.dumps({"result": result, "machine": info, "command": command}, indent=2) + "\n"
    )
    (args.out_dir / "loss_cpu.md").write_text(markdown(result, info, command))
    print(format_bench_loss(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
