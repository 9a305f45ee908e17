"""``omni-bench samplers [CLIP]``: every frame sampler side by side on one video and one request."""

from __future__ import annotations

import argparse

from omni_bench.cli.flags import add_field_flags, add_json_flag, add_metadata_flags
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.media import probe
from omni_bench.layout.settings import LayoutSettings
from omni_bench.sampling.comparison import compare_samplers


def register(subparsers) -> None:
    p = subparsers.add_parser("samplers", help="every frame sampler side by side on one video and one request")
    p.add_argument("clip", metavar="CLIP", nargs="?", help="a video file: frames, fps and size from its headers")
    p.add_argument("--video", dest="video_option", metavar="CLIP", help=argparse.SUPPRESS)  # the old spelling
    add_metadata_flags(p, ("total_frames", "native_fps", "height", "width"))
    add_field_flags(p, LayoutSettings, ["frames", "fps", "min_frames", "max_frames", "min_pixels", "max_pixels"],
                    exclusive=[("frames", "fps")])
    p.add_argument("--cap-pixels-per-frame", action="store_true",
                   help="shrink frames with the frame count as qwen-vl-utils does")
    add_field_flags(p, LayoutSettings, ["profile"])
    add_json_flag(p)
    p.set_defaults(func=run)


def _clip(args) -> str | None:
    if args.clip and args.video_option and args.clip != args.video_option:
        raise OmniBenchError(f"two videos given ({args.clip}, --video {args.video_option}); pass one CLIP",
                             reason="bad-settings")
    return args.clip or args.video_option


def run(args) -> int:
    total, fps, height, width = args.total_frames, args.native_fps, args.height, args.width
    clip = _clip(args)
    if clip:
        info = probe(clip)
        total, fps = total or info.total_frames, fps or info.native_fps
        height, width = height or info.height, width or info.width
    if total is None or fps is None:
        raise OmniBenchError("samplers needs --total-frames and --native-fps, or a CLIP to read them from",
                             reason="bad-settings")
    comparison = compare_samplers(total, fps, frames=args.frames, fps=args.fps, min_frames=args.min_frames,
                                  max_frames=args.max_frames, height=height, width=width,
                                  min_pixels=args.min_pixels, max_pixels=args.max_pixels, profile=args.profile,
                                  cap_pixels_per_frame=args.cap_pixels_per_frame)
    print(comparison.to_json(ensure_ascii=False) if args.json else str(comparison))
    return 0
