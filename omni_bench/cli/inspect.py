"""``omni-bench inspect CLIP``: run the real processor on a clip and report its token layout."""

from __future__ import annotations

import json

from omni_bench.cli.flags import add_layout_flags, settings_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser("inspect", help="run the real processor on a clip and report its token layout")
    p.add_argument("clip", metavar="CLIP", help="a video file")
    add_layout_flags(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from omni_bench.layout.inspect import inspect

    print_layout(inspect(args.clip, settings_from_args(args)), args.json)
    return 0


def print_layout(layout, as_json: bool) -> None:
    """The report (or --json object), with the chunks' real-time alignment under it."""
    from omni_bench.layout.alignment import alignment

    try:
        timing = alignment(layout) if layout.stats.video_grid_thw else None
    except ValueError:
        timing = None
    from omni_bench.layout.rope import rope_report

    rope = rope_report(layout)  # Qwen2.5-VL: both rules and the overlap (None otherwise)
    if as_json:
        data = layout.to_dict()
        data["alignment"] = timing.to_dict() if timing is not None else None
        data["rope"] = rope.to_dict() if rope is not None else None
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(str(layout) + "".join(f"\n\n{block}" for block in (timing, rope) if block is not None))
