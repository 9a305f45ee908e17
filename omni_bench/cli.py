"""``omni-bench``: the command line over the library. Each subcommand prints a text form by
default and one JSON object with ``--json``. User errors exit with status 2 and one line.
"""

from __future__ import annotations

import argparse
import json
import sys

from .errors import OmniBenchError
from .settings import LayoutSettings, parse_resize

__all__ = ["main", "build_parser"]


def _add_layout_flags(parser: argparse.ArgumentParser) -> None:
    """The sampling / size / chunk / prompt flags `inspect` and `plan` share (LayoutSettings)."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--profile", default="qwen2.5-omni-7b",
                       help="built-in processor profile (default qwen2.5-omni-7b)")
    which.add_argument("--model", help="a local checkpoint directory (AutoProcessor)")
    sampling = parser.add_mutually_exclusive_group()
    sampling.add_argument("--frames", type=int, help="sample N frames (qwen-vl-utils nframes)")
    sampling.add_argument("--fps", type=float, help="sample F frames per second (default 2.0)")
    parser.add_argument("--min-frames", type=int, default=4, help="lower bound of fps sampling")
    parser.add_argument("--max-frames", type=int, default=768, help="upper bound of fps sampling")
    parser.add_argument("--min-pixels", type=int, help="per-frame size.shortest_edge (pixels)")
    parser.add_argument("--max-pixels", type=int, help="per-frame size.longest_edge (pixels)")
    parser.add_argument("--resize", help="explicit frame size HxW, e.g. 224x224 (multiples of 28)")
    parser.add_argument("--seconds-per-chunk", type=float, help="VIDEO/AUDIO interleave chunk (default 2)")
    parser.add_argument("--position-id-per-seconds", type=float, help="temporal ids per second (default 25)")
    parser.add_argument("--processor-fps", type=float,
                        help="fps handed to the processor (default: the fps actually sampled)")
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
    print(layout.to_json(ensure_ascii=False) if as_json else str(layout))


def _cmd_inspect(args: argparse.Namespace) -> int:
    from .inspection import inspect

    _print_layout(inspect(args.media, settings_from_args(args)), args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omni-bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("inspect", help="run the real processor on a clip and report its token layout")
    p.add_argument("media", help="a video file")
    _add_layout_flags(p)
    p.set_defaults(func=_cmd_inspect)

    # >>> further subcommands register below this line (plan, samplers, validate, train, bench)
    return parser


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


if __name__ == "__main__":
    sys.exit(main())
