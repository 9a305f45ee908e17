"""Dataset budget from metadata (omni_bench.layout.budget) vs running the real processor per sample.

    .venv/bin/python benchmarks/bench_budget.py                 # 100,000 samples, 24 through the processor
    .venv/bin/python benchmarks/bench_budget.py --samples 10000 --processor-samples 8   # a quick look

Makes a deterministic synthetic dataset of video metadata (durations 5 s - 15 min, common
sizes and frame rates, a 16 kHz audio track, four different answers), then

* ``budget``: ``omni_bench.budget(metas, settings)`` over all samples (median of the
  repeats; the first call, which tokenizes the four answers, is timed apart);
* ``plan``: ``omni_bench.plan`` per sample (tokenizes every sample) on a slice, for scale;
* ``processor``: transformers' processor itself (``inspection.processor_call``, as
  ``inspect`` calls it) on synthetic uint8 frames of each sample's native size and zero
  float32 audio of its length - no decoding, so this is a lower bound of ``inspect``.

It checks that the processor's VIDEO, AUDIO and total token counts and label counts equal
the budget's for every sample it ran, and writes ``benchmarks/results/budget_throughput.json``
and ``.md`` with the samples/s of each path, their ratio, the machine and the command.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from omni_bench.core.machine import describe_machine

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = [(640, 360), (1280, 720), (854, 480), (480, 270), (360, 640), (720, 1280), (320, 240), (1920, 1080)]
RATES = [23.976, 24.0, 25.0, 29.97, 30.0, 50.0, 60.0]
ANSWERS = ["From 12.5% to 20.0%.", "A man slices onions while a kettle whistles in the background.",
           "The crowd cheers as the runner crosses the line.", "Two people talk at a table; music plays."]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000, help="dataset size for budget (default 100000)")
    parser.add_argument("--processor-samples", type=int, default=24,
                        help="samples run through the real processor (default 24)")
    parser.add_argument("--plan-samples", type=int, default=300, help="samples run through plan() (default 300)")
    parser.add_argument("--repeats", type=int, default=5, help="budget repeats (median)")
    parser.add_argument("--max-total-tokens", type=int, default=8192)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def dataset(n: int, seed: int) -> list[dict]:
    """n metadata dicts, deterministic: duration, size, native fps, audio, one of four answers."""
    rng = np.random.default_rng(seed)
    durations = np.round(np.exp(rng.uniform(np.log(5.0), np.log(900.0), n)), 2)
    sizes = rng.integers(0, len(SIZES), n)
    rates = rng.integers(0, len(RATES), n)
    answers = rng.integers(0, len(ANSWERS), n)
    return [dict(duration=float(d), width=SIZES[s][0], height=SIZES[s][1], native_fps=RATES[r], has_audio=True,
                 answer=ANSWERS[a]) for d, s, r, a in zip(durations, sizes, rates, answers)]


def machine() -> dict:
    info = describe_machine("numpy", "transformers")
    info["load_average_1min"] = info["load_average"][0]
    return info


def run_processor(processor, metas, settings) -> tuple[list[dict], float]:
    """Counts from transformers' processor on synthetic media for each sample, and seconds per sample."""
    from omni_bench.core.processor import resolve_profile
    from omni_bench.layout.frames import sample_indices
    from omni_bench.layout.plan import media_info
    from omni_bench.layout.processor_call import conversation, layout_from_output, processor_call

    profile = resolve_profile(processor)
    counts, started = [], time.perf_counter()
    for meta in metas:
        s = settings.replace(answer=meta["answer"])
        info = media_info({k: v for k, v in meta.items() if k != "answer"})
        indices = sample_indices(info, s)
        frames = np.zeros((len(indices), info.height, info.width, 3), np.uint8)
        audio = np.zeros(int(round(info.audio_seconds * 16000)), np.float32)
        text = processor.apply_chat_template(conversation(s), tokenize=False)
        fps = len(indices) / info.duration
        resolved = s.resolve(profile)
        out = processor_call(processor, resolved, text, frames, audio, fps)
        layout = layout_from_output(out, processor, resolved, info=info, indices=indices, processor_fps=fps,
                                    use_audio=True)
        counts.append({"video": layout.stats.video_tokens, "audio": layout.stats.audio_tokens,
                       "total": len(layout.input_ids), "labels": layout.stats.label_tokens})
    return counts, (time.perf_counter() - started) / max(1, len(metas))


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def render_markdown(report: dict) -> str:
    m, r = report["machine"], report["results"]
    lines = [
        "# Dataset budget from metadata vs the real processor",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, NumPy {m['numpy']}, "
        f"transformers {m['transformers']}; 1-minute load average {m['load_average_1min']:.1f} at the start "
        "(the machine may be shared: timings are wall clock).",
        f"Command: `{report['command']}` ({report['seconds']:.0f} s in all).",
        "",
        f"Dataset: {report['samples']:,} synthetic metadata records (5 s - 15 min, 8 sizes, 7 frame rates, "
        "16 kHz audio, 4 answers). Settings: " + report["settings"] + ".",
        "",
        "| path | samples | seconds per sample | samples / s | x processor |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("budget", "plan", "processor"):
        row = r[name]
        lines.append(f"| {row['what']} | {row['samples']:,} | {row['seconds_per_sample']:.3g} | "
                     f"{_num(row['samples_per_second'])} | {_num(row['speedup_vs_processor'])} |")
    lines += [
        "",
        f"budget: median of {report['repeats']} calls over the whole dataset (the first call, "
        f"{r['budget']['first_call_seconds']:.3f} s, also tokenizes the 4 answers once). "
        "plan: one `plan()` per sample (renders and tokenizes each). processor: transformers' "
        "processor on synthetic frames of each sample's native size and zero audio (no decoding; "
        "`inspect` also decodes).",
        "",
        f"Counts checked: VIDEO, AUDIO, total and label tokens of all {r['processor']['samples']} processor "
        f"samples equal the budget's ({'all equal' if report['counts_equal'] else 'MISMATCH'}); plan agrees "
        f"with budget on all {r['plan']['samples']} planned samples "
        f"({'all equal' if report['plan_equal'] else 'MISMATCH'}).",
        "",
        f"Budget of the dataset: {100 * report['budget']['fraction_over']:.1f}% of samples over "
        f"{report['budget']['max_total_tokens']:,} tokens; total tokens mean "
        f"{report['budget']['total_tokens']['mean']:,.0f}, p95 {report['budget']['total_tokens']['p95']:,.0f}; "
        f"float32 logits of the loss mean {report['budget']['logits_gib']['mean']:.2f} GiB, "
        f"max {report['budget']['logits_gib']['max']:.2f} GiB.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    from omni_bench import LayoutSettings, budget, load_processor, plan

    settings = LayoutSettings(fps=0.5, max_frames=32, min_pixels=16 * 28 * 28, max_pixels=64 * 28 * 28)
    processor = load_processor(settings.profile)
    metas = dataset(args.samples, args.seed)

    t0 = time.perf_counter()
    result = budget(metas, settings, processor=processor, max_total_tokens=args.max_total_tokens)
    first = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        again = budget(metas, settings, processor=processor, max_total_tokens=args.max_total_tokens)
        times.append(time.perf_counter() - t0)
        assert np.array_equal(again.total_tokens, result.total_tokens)
    per_budget = statistics.median(times) / len(metas)

    step = max(1, len(metas) // args.plan_samples)
    picked = list(range(0, len(metas), step))[: args.plan_samples]
    t0 = time.perf_counter()
    planned = [plan({k: v for k, v in metas[i].items() if k != "answer"}, settings.replace(answer=metas[i]["answer"]),
                    processor=processor) for i in picked]
    per_plan = (time.perf_counter() - t0) / len(picked)
    plan_equal = all(len(p.input_ids) == result.total_tokens[i] and p.stats.label_tokens == result.label_tokens[i]
                     for p, i in zip(planned, picked))

    step = max(1, len(metas) // args.processor_samples)
    chosen = list(range(0, len(metas), step))[: args.processor_samples]
    counts, per_processor = run_processor(processor, [metas[i] for i in chosen], settings)
    counts_equal = all(c == {"video": int(result.video_tokens[i]), "audio": int(result.audio_tokens[i]),
                             "total": int(result.total_tokens[i]), "labels": int(result.label_tokens[i])}
                       for c, i in zip(counts, chosen))

    def row(what, n, per):
        return {"what": what, "samples": n, "seconds_per_sample": per, "samples_per_second": 1 / per,
                "speedup_vs_processor": per_processor / per}

    report = {
        "command": " ".join(shlex.quote(a) for a in [".venv/bin/python", "benchmarks/bench_budget.py",
                                                      *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "samples": len(metas), "repeats": args.repeats,
        "settings": "fps 0.5 (max 32 frames), 16-64 x 28 x 28 pixels per frame, Omni-7B, audio in video",
        "results": {
            "budget": {**row("budget (arrays)", len(metas), per_budget), "first_call_seconds": first,
                       "median_call_seconds": statistics.median(times)},
            "plan": row("plan per sample", len(picked), per_plan),
            "processor": row("real processor per sample", len(chosen), per_processor),
        },
        "counts_equal": counts_equal, "plan_equal": plan_equal,
        "budget": result.to_dict(),
        "seconds": time.perf_counter() - started,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "budget_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "budget_throughput.md").write_text(render_markdown(report))
    print(render_markdown(report))
    return 0 if counts_equal and plan_equal else 1


if __name__ == "__main__":
    sys.exit(main())
