"""``omni-bench bench loss|step|packing|dpo|grpo``: benchmarks measured side by side in one run."""

from __future__ import annotations

import json

from omni_bench.bench import grpo as grpo_bench
from omni_bench.bench.dpo import DPOBench, run
from omni_bench.bench.packing import bench_packing, format_bench_packing
from omni_bench.bench.step import bench_step, format_bench_step
from omni_bench.cli.flags import add_json_flag, number_type
from omni_bench.core.errors import OmniBenchError
from omni_bench.layout.settings import LayoutSettings

_DEVICES = ("auto", "cpu", "cuda")


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmarks measured side by side in one run")
    bench = p.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    b = bench.add_parser("loss", help="transformers' loss path vs ours (and Liger on CUDA): memory, time, grads")
    b.add_argument("--tokens", type=number_type("tokens", int), default=4096, help="N: rows of hidden states")
    b.add_argument("--hidden", type=number_type("hidden", int), default=1024, help="H: hidden size")
    b.add_argument("--vocab", type=number_type("vocab", int), default=151936, help="V: vocabulary (LM head rows)")
    b.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    b.add_argument("--device", default="auto", choices=_DEVICES, help="cpu, cuda or auto (default: cuda if present)")
    b.add_argument("--chunk-size", type=number_type("chunk_size", int),
                   help="rows per chunk of ours (default: the benchmark's)")
    b.add_argument("--repeats", type=number_type("repeats", int), default=1, help="runs per backend, best kept")
    b.add_argument("--cce", action="store_true", help="also Apple's Cut Cross-Entropy (cut-cross-entropy; "
                                                      "torch.compile on CPU)")
    add_json_flag(b)
    b.set_defaults(func=run_loss)
    b = bench.add_parser("step", help="one LoRA training step per loss backend on a thinker with a profile's "
                                      "real text widths: step time, peak memory, loss")
    b.add_argument("--profile", default="qwen2.5-omni-3b", help="whose text dimensions (default qwen2.5-omni-3b)")
    b.add_argument("--tokens", type=number_type("tokens", int), default=8192, help="sequence length (default 8192)")
    b.add_argument("--layers", type=number_type("layers", int), help="decoder layers (default: the profile's)")
    b.add_argument("--tiny", action="store_true", help="tiny widths instead of the profile's (a quick check)")
    b.add_argument("--device", default="auto", choices=_DEVICES, help="cpu, cuda or auto (default: cuda if present)")
    b.add_argument("--dtype", choices=["float32", "bfloat16"], help="default: bfloat16 on CUDA, float32 on CPU")
    b.add_argument("--steps", type=number_type("steps", int), default=2,
                   help="measured steps per backend, after one warm-up")
    add_json_flag(b)
    b.set_defaults(func=run_step)
    b = bench.add_parser("packing", help="padded vs packed batches on a LongVALE-like length distribution: "
                                         "padding fraction and tokens per second, side by side")
    b.add_argument("--samples", type=number_type("samples", int), default=32, help="videos planned (default 32)")
    b.add_argument("--batch-size", type=number_type("batch_size", int), default=8, help="samples per batch")
    b.add_argument("--capacity", type=number_type("capacity", int), help="tokens per packed row (default: longest)")
    b.add_argument("--audio", action="store_true", help="plan each video's audio track too (~8k-token rows)")
    b.add_argument("--seed", type=number_type("seed", int), default=0, help="seed of the durations and tokens")
    b.add_argument("--device", default="cpu", choices=_DEVICES, help="cpu (default), cuda or auto")
    b.add_argument("--attention", choices=["sdpa", "eager", "flash_attention_2"],
                   help="attention implementation (default: flash_attention_2 on CUDA where installed, else sdpa)")
    add_json_flag(b)
    b.set_defaults(func=run_packing)
    b = bench.add_parser("dpo", help="one DPO step on a LongVALE-like pair, the media once per pair vs the "
                                     "duplicated path: media encodes, seconds, peak memory, log-prob difference")
    b.add_argument("--seconds", type=number_type("seconds"), default=120.0, help="clip length (default 120 s)")
    b.add_argument("--fps", type=number_type("fps"), default=1.0, help="frames sampled per second (default 1)")
    b.add_argument("--steps", type=number_type("steps", int), default=3,
                   help="measured steps per way, after one warm-up (default 3, the fastest kept)")
    b.add_argument("--markdown", metavar="FILE", help="also write the Markdown table to FILE")
    add_json_flag(b)
    b.set_defaults(func=run_dpo)
    b = bench.add_parser("grpo", help="one GRPO step on a LongVALE-like prompt, one encode and one prefill per group "
                                      "vs the duplicated path: tower forwards, prefill tokens, seconds, peak memory")
    b.add_argument("--seconds", type=number_type("seconds"), default=120.0, help="clip length (default 120 s)")
    b.add_argument("--fps", type=number_type("fps"), default=1.0, help="frames sampled per second (default 1)")
    b.add_argument("--num-generations", type=number_type("num_generations", int), default=8,
                   help="G, completions per prompt (default 8)")
    b.add_argument("--steps", type=number_type("steps", int), default=1,
                   help="measured steps per way, after one warm-up (default 1, the fastest kept)")
    b.add_argument("--markdown", metavar="FILE", help="also write the Markdown table to FILE")
    add_json_flag(b)
    b.set_defaults(func=run_grpo)


def _device(name: str) -> str:
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise OmniBenchError("--device cuda: no CUDA device is available here; pass --device cpu",
                             reason="bad-settings")
    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def run_loss(args) -> int:
    from omni_bench.bench.loss import bench_loss, format_bench_loss

    extra = {"chunk_size": args.chunk_size} if args.chunk_size else {}
    if args.cce:
        extra["backends"] = ("naive", "chunked") + (("liger",) if _device(args.device) == "cuda" else ()) + ("cce",)
    result = bench_loss(args.tokens, args.hidden, args.vocab, dtype=args.dtype, device=_device(args.device),
                        repeats=args.repeats, **extra)
    print(json.dumps(result) if args.json else format_bench_loss(result))
    return 0


def run_step(args) -> int:
    result = bench_step(args.profile, args.tokens, device=_device(args.device), dtype=args.dtype,
                        text_dims=not args.tiny, layers=args.layers, steps=args.steps)
    print(json.dumps(result) if args.json else format_bench_step(result))
    return 0


def run_packing(args) -> int:
    settings = LayoutSettings(fps=0.5, resize=(56, 56), use_audio=args.audio)
    result = bench_packing(args.samples, args.batch_size, capacity=args.capacity, seed=args.seed, settings=settings,
                           device=_device(args.device), attention=args.attention)
    print(json.dumps(result) if args.json else format_bench_packing(result))
    return 0


def run_grpo(args) -> int:
    from pathlib import Path

    result = grpo_bench.run(grpo_bench.GRPOBench(seconds=args.seconds, fps=args.fps,
                                                 num_generations=args.num_generations, steps=args.steps))
    if args.markdown:
        Path(args.markdown).write_text(result.to_markdown(), encoding="utf-8")
    print(json.dumps(result.to_dict()) if args.json else result)
    return 0


def run_dpo(args) -> int:
    from pathlib import Path

    result = run(DPOBench(seconds=args.seconds, fps=args.fps, steps=args.steps))
    if args.markdown:
        Path(args.markdown).write_text(result.to_markdown(), encoding="utf-8")
    print(json.dumps(result.to_dict()) if args.json else result)
    return 0
