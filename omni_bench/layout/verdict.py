"""What a researcher should know about a layout before training on it, one line each with its fix.

:func:`findings` looks at a :class:`~omni_bench.layout.token_layout.TokenLayout` (and its
:class:`~omni_bench.layout.alignment.Alignment`) and returns :class:`Finding` lines:

* ``size`` - ``pixel_values_videos`` above :data:`PIXEL_WARN_MB` MB;
* ``context`` - more input ids than the model's context (the profile's ``max_position_embeddings``);
* ``logits`` - the N x V float32 logits a plain loss builds above :data:`LOGITS_WARN_GIB` GiB;
* ``audio`` - audio past the feature extractor's cap (300 s for Qwen2.5-Omni) that the model never hears;
* ``alignment`` - chunks (Qwen3-Omni: grid steps, :mod:`omni_bench.families.qwen3_alignment`) whose
  video and audio drift apart beyond the tolerance (the checked fix);
* ``labels`` - no labelled token (no ``--answer``: the report shows the prompt only).

:func:`size_line` always gives the three sizes in one line; :func:`report_text` is the whole
CLI report (``inspect`` / ``plan``): the "Omni Batch Debug" text, the sizes and findings, the
alignment block and Qwen2.5-VL's rope block. The inspector's banner shows the same lines.
Not covered: memory of the forward pass itself (``omni-bench bench step`` measures it).
"""

from __future__ import annotations

from dataclasses import dataclass

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.profiles import PROFILES, get_profile
from omni_bench.families import family_of
from omni_bench.families.qwen2_5_alignment import audio_cap_note
from omni_bench.families.qwen2_5_vl import rope_report
from omni_bench.layout.alignment import alignment
from omni_bench.layout.alignment_fix import fix_for
from omni_bench.layout.cost import logits_bytes

__all__ = ["Finding", "findings", "size_line", "render_findings", "report_text", "banner_lines", "layout_alignment",
           "PIXEL_WARN_MB", "LOGITS_WARN_GIB"]

PIXEL_WARN_MB = 256.0  # pixel_values_videos above this many MB (float32) get a "size" finding
LOGITS_WARN_GIB = 4.0  # N x V float32 logits above this many GiB get a "logits" finding
_SHRINK = "lower --fps / --frames or --max-pixels"


@dataclass(frozen=True)
class Finding:
    """One warning: what is wrong (``line``) and the one-line ``fix``."""

    kind: str  # "size", "context", "logits", "audio", "alignment" or "labels"
    line: str  # what the layout shows, with its numbers
    fix: str  # what to change

    def __str__(self) -> str:
        return f"{self.kind}: {self.line} - fix: {self.fix}"


def _profile(layout):
    try:
        return get_profile(layout.profile)
    except OmniBenchError:
        return None


def _sizes(layout) -> tuple[int, float, int | None, float | None]:
    """(tokens, pixel MB, context, logits GiB); context and logits None for an unknown profile."""
    tokens = int(layout.stats.input_ids_shape[-1])
    profile = _profile(layout)
    if profile is None:
        return tokens, layout.stats.pixel_values_videos_mb or 0.0, None, None
    gib = float(logits_bytes(tokens, profile.vocab_size)) / 2**30
    return tokens, layout.stats.pixel_values_videos_mb or 0.0, profile.max_position_embeddings, gib


def size_line(layout) -> str:
    """``"size: 1,423 input ids (4.3 % of the 32,768-token context) · pixel_values_videos 10.62 MB ·
    logits 0.81 GiB (float32, 1,423 x 152,064)"``."""
    tokens, mb, context, gib = _sizes(layout)
    line = f"size: {tokens:,} input ids"
    if context:
        line += f" ({100 * tokens / context:.1f} % of the {context:,}-token context)"
    line += f" · pixel_values_videos {mb:.2f} MB"
    if gib is not None:
        line += f" · logits {gib:.2f} GiB (float32, {tokens:,} x {_profile(layout).vocab_size:,})"
    return line


def findings(layout, timing=None) -> tuple[Finding, ...]:
    """The layout's warnings, in the order the module docstring lists their kinds (empty: nothing to say)."""
    tokens, mb, context, gib = _sizes(layout)
    out = []
    if mb > PIXEL_WARN_MB:
        out.append(Finding("size", f"pixel_values_videos is {mb:,.1f} MB (over {PIXEL_WARN_MB:g} MB)", _SHRINK))
    if context and tokens > context:
        out.append(Finding("context", f"{tokens:,} input ids, over the model's {context:,}-token context",
                           _SHRINK + ", or split the clip"))
    if gib is not None and gib > LOGITS_WARN_GIB:
        out.append(Finding("logits", f"the float32 logits of {tokens:,} tokens take {gib:.1f} GiB "
                                     f"(over {LOGITS_WARN_GIB:g} GiB)",
                           "train with the fused loss (omni-bench train does; never the N x V logits), "
                           "or " + _SHRINK))
    if layout.stats.audio_dropped_seconds > 0:
        out.append(Finding("audio", audio_cap_note(layout.stats),
                           "split the clip into pieces the feature extractor keeps whole"))
    if timing is not None and not timing.aligned:
        out.append(Finding("alignment", timing.summary, timing.recommendation.line))
    if layout.stats.label_tokens == 0:
        out.append(Finding("labels", "no token is labelled (no answer given: the sample is the prompt only)",
                           "pass --answer TEXT (LayoutSettings.answer) with the reply to train on"))
    return tuple(out)


def render_findings(layout, timing=None) -> str:
    """The report's ``[Size and warnings]`` block: the size line, then ``! kind: line - fix: ...`` each."""
    return "\n".join(["[Size and warnings]", size_line(layout), *(f"! {f}" for f in findings(layout, timing))])


def banner_lines(layout, timing=None, *, max_chunks: int = 24) -> tuple[list[str], bool]:
    """The verdict banner of the inspector and of the exported report, and whether all is well.

    Lines: the verdict (``aligned: max drift ...``, or the ``! alignment: ... - fix: ...`` finding
    when misaligned), the drift per chunk, the size line, then ``! kind: line - fix: ...`` per
    other finding - the CLI report's own lines.
    """
    warnings = findings(layout, timing)
    first = [f for f in warnings if f.kind == "alignment"]  # misaligned: the verdict with its fix leads
    lines = [f"! {f}" for f in first] if first else ([timing.summary] if timing is not None else [])
    unit, drifts = _drift_row(timing)
    if drifts:
        more = f" ... ({len(drifts) - max_chunks} more)" if len(drifts) > max_chunks else ""
        lines.append(f"drift per {unit} (s): " + " ".join(drifts[:max_chunks]) + more)
    lines += [size_line(layout), *(f"! {f}" for f in warnings if f.kind != "alignment")]
    return lines, (timing is None or timing.aligned) and not warnings


def _drift_row(timing) -> tuple[str, list[str]]:
    """("chunk" or "step", the drifts): Qwen2.5's per chunk, Qwen3-Omni's per grid step."""
    if timing is None:
        return "chunk", []
    steps = getattr(timing, "steps", None)
    if steps is not None:
        return "step", [f"{t.drift:+.2f}" for t in steps]
    return "chunk", [f"{c.drift:+.2f}" for c in timing.chunks if c.drift is not None]


def layout_alignment(layout):
    """The layout's family's alignment report (``Family.alignment``: Qwen2.5's chunks, Qwen3-Omni's
    grid steps), else None (no video, no timing to align, or a family without one: Qwen3-VL)."""
    if not layout.stats.video_grid_thw:
        return None
    profile = PROFILES.get(str(layout.profile).lower())
    try:
        return family_of(profile).alignment(layout, search=fix_for) if profile is not None else alignment(layout)
    except ValueError:
        return None


def report_text(layout, timing=None) -> str:
    """The CLI report: the "Omni Batch Debug" text, sizes and warnings, alignment, Qwen2.5-VL rope."""
    timing = timing if timing is not None else layout_alignment(layout)
    blocks = [render_findings(layout, timing), timing, rope_report(layout)]
    return str(layout) + "".join(f"\n\n{block}" for block in blocks if block is not None)
