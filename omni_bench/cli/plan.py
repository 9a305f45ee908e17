"""``omni-bench plan [CLIP]``: predict the token layout from container headers or metadata flags, nothing decoded."""

from __future__ import annotations

from omni_bench.cli.flags import add_layout_flags, add_metadata_flags, settings_from_args
from omni_bench.cli.inspect import print_layout
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.media import probe
from omni_bench.layout.plan import _NO_PATH, plan

_REQUIRED = ("duration", "width", "height", "native_fps")


def register(subparsers) -> None:
    p = subparsers.add_parser("plan", help="predict the token layout from a clip's container headers (or from "
                                           "metadata flags), nothing decoded")
    p.add_argument("clip", metavar="CLIP", nargs="?",
                   help="a video file: only its headers are read (omni_bench.probe)")
    add_metadata_flags(p)
    add_layout_flags(p)  # without a CLIP, --no-audio also means the video has no audio track
    p.set_defaults(func=run)


def metadata_from_args(args) -> dict:
    """The video metadata plan works from: the CLIP's headers, then the metadata flags given over them."""
    meta: dict = {}
    if args.clip is not None:
        meta = probe(args.clip).to_dict()
        del meta["path"]
    else:
        missing = [f"--{name.replace('_', '-')}" for name in _REQUIRED if getattr(args, name) is None]
        if missing:
            raise OmniBenchError(f"plan needs a CLIP, or the video's metadata: {', '.join(missing)}",
                                 reason="bad-settings")
        meta["has_audio"] = args.use_audio
    for name in (*_REQUIRED, "total_frames", "audio_seconds"):
        if getattr(args, name) is not None:
            meta[name] = getattr(args, name)
    return meta


def run(args) -> int:
    meta = metadata_from_args(args)
    try:
        layout = plan(meta, settings_from_args(args))
    except OmniBenchError as exc:  # the planner names headers-only metadata "<metadata>": name the CLIP
        if args.clip is None or not str(exc).startswith(_NO_PATH):
            raise
        raise OmniBenchError(args.clip + str(exc)[len(_NO_PATH):], source=args.clip, reason=exc.reason) from None
    print_layout(layout, args.json)
    return 0
