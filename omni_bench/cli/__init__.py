"""``omni-bench``: the command line over the library. Each subcommand prints a text form by
default and one JSON object with ``--json``. User errors exit with status 2 and one line.
"""

from __future__ import annotations

import argparse
import json
import sys

from omni_bench.core.errors import OmniBenchError
from omni_bench.layout.settings import LayoutSettings, add_sampling_flags, parse_resize

__all__ = ["main", "build_parser"]


def _add_layout_flags(parser: argparse.ArgumentParser) -> None:
    """The sampling / size / chunk / prompt flags `inspect` and `plan` share (LayoutSettings)."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--profile", default="qwen2.5-omni-7b",
                       help="built-in processor profile (default qwen2.5-omni-7b)")
    which.add_argument("--model", help="a local checkpoint directory (AutoProcessor)")
    add_sampling_flags(parser)
    parser.add_argument("--no-audio", action="store_true", help="ignore the video's audio track")
    parser.add_argument("--prompt", default=LayoutSettings.prompt, help="user text after the video")
    parser.add_argument("--answer", default=LayoutSettings.answer, help="assistant reply (labelled)")
    parser.add_argument("--system", help="system prompt (default: the chat template's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def settings_from_args(args: argparse.Namespace) -> LayoutSettings:
    return LayoutSettings(
        profile=args.model or args.profile, frames=args.frames, fps=args.fps, min_frames=args.min_frames,
        max_frames=args.max_frames, min_pixels=args.min_pixels, max_pixels=args.max_pixels,
        resize=parse_resize(args.resize), seconds_per_chunk=args.seconds_per_chunk,
        position_id_per_seconds=args.position_id_per_seconds, processor_fps=args.processor_fps,
        use_audio=not args.no_audio, prompt=args.prompt, answer=args.answer, system=args.system,
    )


def _print_layout(layout, as_json: bool) -> None:
    """The report (or --json object), with the chunks' real-time alignment under it."""
    from omni_bench.layout.alignment import alignment

    try:
        timing = alignment(layout) if layout.stats.video_grid_thw else None
    except ValueError:
        timing = None
    if as_json:
        data = layout.to_dict()
        data["alignment"] = timing.to_dict() if timing is not None else None
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(str(layout) + (f"\n\n{timing}" if timing is not None else ""))


def _cmd_inspect(args: argparse.Namespace) -> int:
    from omni_bench.layout.inspect import inspect

    _print_layout(inspect(args.media, settings_from_args(args)), args.json)
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from omni_bench.layout.plan import plan

    meta = dict(duration=args.duration, width=args.width, height=args.height, native_fps=args.native_fps,
                has_audio=not args.no_audio, total_frames=args.total_frames, audio_seconds=args.audio_seconds)
    _print_layout(plan(meta, settings_from_args(args)), args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omni-bench",
        description="omni_bench: what the Qwen2.5-Omni / Qwen2.5-VL processor produces, predicted and checked. "
                    "Each subcommand prints a text report, or one JSON object with --json; bad input exits with "
                    "status 2 and one line.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("inspect", help="run the real processor on a clip and report its token layout")
    p.add_argument("media", help="a video file")
    _add_layout_flags(p)
    p.set_defaults(func=_cmd_inspect)

    # >>> further subcommands register below this line (plan, samplers, validate, train, bench)

    p = sub.add_parser("bench", help="benchmarks measured side by side in one run")
    bench = p.add_subparsers(dest="bench", required=True)
    b = bench.add_parser("loss", help="transformers' loss path vs ours (and Liger on CUDA): memory, time, grads")
    b.add_argument("--tokens", type=int, default=4096, help="N: rows of hidden states")
    b.add_argument("--hidden", type=int, default=1024, help="H: hidden size")
    b.add_argument("--vocab", type=int, default=151936, help="V: vocabulary (LM head rows)")
    b.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    b.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda if present)")
    b.add_argument("--chunk-size", type=int, help="rows per chunk of ours (default: the benchmark's)")
    b.add_argument("--repeats", type=int, default=1, help="runs per backend, best kept")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(func=_cmd_bench_loss)
    b = bench.add_parser("step", help="one LoRA training step per loss backend on a thinker with a profile's "
                                      "real text widths: step time, peak memory, loss")
    b.add_argument("--profile", default="qwen2.5-omni-3b", help="whose text dimensions (default qwen2.5-omni-3b)")
    b.add_argument("--tokens", type=int, default=8192, help="sequence length (default 8192)")
    b.add_argument("--layers", type=int, help="decoder layers (default: the profile's)")
    b.add_argument("--tiny", action="store_true", help="tiny widths instead of the profile's (a quick check)")
    b.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda if present)")
    b.add_argument("--dtype", choices=["float32", "bfloat16"], help="default: bfloat16 on CUDA, float32 on CPU")
    b.add_argument("--steps", type=int, default=2, help="measured steps per backend, after one warm-up")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.set_defaults(func=_cmd_bench_step)

    from omni_bench.cli.train import add_train_flags, run_train_command

    p = sub.add_parser("train", help="LoRA fine-tune with the fused loss; writes a run directory (resumable)")
    add_train_flags(p)
    p.set_defaults(func=run_train_command)

    p = sub.add_parser("plan", help="predict the token layout from media metadata alone (nothing decoded)")
    p.add_argument("--duration", type=float, required=True, help="video seconds")
    p.add_argument("--width", type=int, required=True, help="frame width, pixels")
    p.add_argument("--height", type=int, required=True, help="frame height, pixels")
    p.add_argument("--native-fps", type=float, required=True, help="the video's frame rate")
    p.add_argument("--total-frames", type=int, help="frames in the video (default: round(duration * fps))")
    p.add_argument("--audio-seconds", type=float, help="audio track length (default: the duration)")
    _add_layout_flags(p)  # --no-audio here also means the video has no audio track
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("budget", help="tokens per sample, share over a budget and logits memory of many videos "
                                      "(container headers only, nothing decoded)")
    p.add_argument("inputs", nargs="+", help="video files, folders of videos (searched recursively), or JSON / "
                   "JSONL files of metadata records (duration, width, height, native_fps; optional path, "
                   "has_audio, total_frames, audio_seconds, prompt, answer, system)")
    p.add_argument("--max-total-tokens", type=int, help="count and list the samples above this many tokens")
    p.add_argument("--per-sample", action="store_true", help="with --json: per-sample counts and names")
    _add_layout_flags(p)
    p.set_defaults(func=_cmd_budget)

    p = sub.add_parser("validate", help="check every record of a training file (media, tags, roles, budget)")
    p.add_argument("annotations", help="LongVALE SFT / LongVALE annotations / Qwen-VL JSON or JSONL file")
    p.add_argument("--media-root", default=".", help="folder the records' media paths are relative to")
    p.add_argument("--max-total-tokens", type=int, help="budget: input + label tokens per sample")
    p.add_argument("--format", default="auto", choices=["auto", "longvale", "longvale-annotations", "qwen-vl"],
                   help="file format (default: detected)")
    p.add_argument("--task", default="grounding", choices=["grounding", "dense", "segment"],
                   help="what LongVALE annotations are turned into")
    p.add_argument("--time-format", default="relative", choices=["relative", "percent"],
                   help="timestamps as LongVALE's two digits (40) or percentages (40.0%%)")
    _add_layout_flags(p)  # sampling and size decide the budget; --prompt/--answer are not used here
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("samplers", help="every frame sampler side by side on one video and one request")
    p.add_argument("--video", help="a video file: take frames, fps and size from it")
    p.add_argument("--total-frames", type=int, help="frames in the video")
    p.add_argument("--native-fps", type=float, help="the video's frame rate")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--frames", type=int, help="ask every sampler for N frames")
    which.add_argument("--fps", type=float, help="ask every sampler for F frames per second (default 2.0)")
    p.add_argument("--min-frames", type=int, default=4, help="lower bound of fps sampling")
    p.add_argument("--max-frames", type=int, default=768, help="upper bound of fps sampling")
    p.add_argument("--height", type=int, help="frame height, for grids and tokens")
    p.add_argument("--width", type=int, help="frame width, for grids and tokens")
    p.add_argument("--min-pixels", type=int, help="per-frame size.shortest_edge (default: the profile's)")
    p.add_argument("--max-pixels", type=int, help="per-frame size.longest_edge (default: the profile's)")
    p.add_argument("--cap-pixels-per-frame", action="store_true",
                   help="shrink frames with the frame count as qwen-vl-utils does")
    p.add_argument("--profile", default="qwen2.5-omni-7b", help="processor profile (patching, pixel range)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_samplers)
    return parser


def _cmd_bench_loss(args: argparse.Namespace) -> int:
    import torch

    from omni_bench.bench.loss import bench_loss, format_bench_loss

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    extra = {"chunk_size": args.chunk_size} if args.chunk_size else {}
    result = bench_loss(args.tokens, args.hidden, args.vocab, dtype=args.dtype, device=device,
                        repeats=args.repeats, **extra)
    print(json.dumps(result) if args.json else format_bench_loss(result))
    return 0


def _cmd_bench_step(args: argparse.Namespace) -> int:
    import torch

    from omni_bench.bench.step import bench_step, format_bench_step

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    result = bench_step(args.profile, args.tokens, device=device, dtype=args.dtype, text_dims=not args.tiny,
                        layers=args.layers, steps=args.steps)
    print(json.dumps(result) if args.json else format_bench_step(result))
    return 0


def _cmd_samplers(args: argparse.Namespace) -> int:
    from omni_bench.sampling.samplers import compare_samplers

    total, fps, height, width = args.total_frames, args.native_fps, args.height, args.width
    if args.video:
        from omni_bench.core.media import probe

        info = probe(args.video)
        total, fps = total or info.total_frames, fps or info.native_fps
        height, width = height or info.height, width or info.width
    if total is None or fps is None:
        raise OmniBenchError("samplers needs --total-frames and --native-fps (or --video PATH)",
                             reason="bad-settings")
    comparison = compare_samplers(total, fps, frames=args.frames, fps=args.fps, min_frames=args.min_frames,
                                  max_frames=args.max_frames, height=height, width=width,
                                  min_pixels=args.min_pixels, max_pixels=args.max_pixels, profile=args.profile,
                                  cap_pixels_per_frame=args.cap_pixels_per_frame)
    print(comparison.to_json(ensure_ascii=False) if args.json else str(comparison))
    return 0


def _metadata_records(path: str) -> list[dict]:
    """The records of a JSON (a list, or {"samples": [...]}) or JSONL metadata file."""
    from omni_bench.data.records import _read_json

    data = _read_json(path)
    if isinstance(data, dict):
        data = data.get("samples")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise OmniBenchError(f"{path}: expected a list of metadata objects (or {{\"samples\": [...]}})",
                             source=path, reason="bad-metadata")
    return [{"path": r.get("path") or f"{path}#{i}", **r} for i, r in enumerate(data)]


def _cmd_budget(args: argparse.Namespace) -> int:
    from pathlib import Path

    from omni_bench.layout.budget import budget_dataset

    items: list = []
    for name in args.inputs:
        if Path(name).suffix.lower() in (".json", ".jsonl") and Path(name).is_file():
            items.extend(_metadata_records(name))
        else:
            items.append(name)
    result = budget_dataset(items, settings_from_args(args), max_total_tokens=args.max_total_tokens,
                            progress=None)
    print(json.dumps(result.to_dict(per_sample=args.per_sample), ensure_ascii=False) if args.json else str(result))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    """Every record valid or listed with its reason; exit 0 either way (bad records are data)."""
    from omni_bench.data.records import load_records
    from omni_bench.data.validation import validate

    records = load_records(args.annotations, format=args.format, task=args.task, time_format=args.time_format)
    report = validate(records, media_root=args.media_root, settings=settings_from_args(args),
                      max_total_tokens=args.max_total_tokens)
    print(json.dumps(report.to_dict(), ensure_ascii=False) if args.json else str(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except OmniBenchError as exc:
        print(f"omni-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("omni-bench: interrupted", file=sys.stderr)
        return 130


def print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False))

