"""``omni-bench inspect CLIP``: run the real processor on a clip and report its token layout."""

from __future__ import annotations

import json

from omni_bench.cli.flags import add_layout_flags, settings_from_args
from omni_bench.core.media import probe
from omni_bench.core.processor import load_processor
from omni_bench.core.stages import stage
from omni_bench.layout.inspect import inspect
from omni_bench.layout.report_html import report_path, write_report
from omni_bench.layout.rope import rope_report
from omni_bench.layout.verdict import findings, layout_alignment, report_text, size_line


def register(subparsers) -> None:
    p = subparsers.add_parser("inspect", help="run the real processor on a clip and report its token layout")
    p.add_argument("clip", metavar="CLIP", help="a video file")
    add_layout_flags(p)
    add_report_flags(p)
    p.set_defaults(func=run)


def add_report_flags(p) -> None:
    """--html FILE / --markdown FILE: also write the report as a self-contained file."""
    p.add_argument("--html", metavar="FILE", help="also write the report as one self-contained HTML file "
                   "(figures inlined; nothing else to copy)")
    p.add_argument("--markdown", metavar="FILE", help="also write the report as one Markdown file "
                   "(figures inlined as data URIs)")


def run(args) -> int:
    settings = settings_from_args(args)
    reports = report_targets(args)  # a bad --html / --markdown path is refused before any decoding
    info, processor = _staged_processor(args.clip, settings)
    layout = inspect(info, settings, processor=processor)  # the clip probed once
    print_layout(layout, args.json)
    write_reports(layout, reports)
    return 0


def _staged_processor(clip: str, settings):
    """(the clip's VideoInfo, the processor), with stage lines on stderr (stdout stays the report): what is being
    done, in order."""
    import time

    info = probe(clip)  # a missing or unreadable clip is refused before the slow part
    stage("inspect", f"{info.path}: {info.duration:.2f} s, {info.width}x{info.height}, {info.total_frames} frames"
                     f"{', audio' if info.has_audio else ', no audio'}")
    for note in info.notes:  # a header that disagrees with the stream, a variable frame rate
        stage("inspect", f"{info.path}: note: {note}")
    began = time.perf_counter()
    stage("inspect", f"loading the {settings.profile} processor (transformers)...")
    processor = load_processor(settings.profile)
    stage("inspect", f"processor ready in {time.perf_counter() - began:.1f} s; decoding the sampled frames and "
                     "the audio, running the processor...")
    return info, processor


def report_targets(args) -> list[tuple[str, str]]:
    """[(path, format)] of --html / --markdown, each checked (omni_bench.layout.report_html.report_path)."""
    return [report_path(path, fmt) for path, fmt in ((getattr(args, "html", None), "html"),
                                                     (getattr(args, "markdown", None), "markdown")) if path]


def write_reports(layout, targets) -> None:
    """Write the reports of :func:`report_targets`; without omni_bench_widgets (matplotlib), without figures."""
    import sys

    for path, fmt in targets:
        try:
            from omni_bench_widgets.report import save_layout_report
        except ImportError:  # the package without its notebook views: the text and banner only
            write_report(path, layout, fmt=fmt)
        else:
            save_layout_report(layout, path, fmt=fmt)
        print(f"omni-bench: report written to {path}", file=sys.stderr)


def print_layout(layout, as_json: bool) -> None:
    """The report (or --json object): sizes and warnings, the real-time alignment (Qwen2.5: chunks; Qwen3-Omni:
    grid steps, ``Family.alignment``), VL rope."""
    timing = layout_alignment(layout)
    if as_json:
        rope = rope_report(layout)  # Qwen2.5-VL: both rules and the overlap (None otherwise)
        data = layout.to_dict()
        data["alignment"] = timing.to_dict() if timing is not None else None
        data["rope"] = rope.to_dict() if rope is not None else None
        data["size"] = size_line(layout)
        data["warnings"] = [dict(kind=f.kind, line=f.line, fix=f.fix) for f in findings(layout, timing)]
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(report_text(layout, timing))
