"""The token layout of one sample: data first, the "Omni Batch Debug" report as its text form.

:class:`TokenLayout` is what ``inspect`` returns from a real processor run and what
``plan`` predicts from metadata. It holds the final ``input_ids`` and labels, the
segments per role (text, vision spans with their VIDEO/AUDIO runs, standalone audio),
the runs of the first vision span, and :class:`LayoutStats` (shapes, sizes, grids,
audio lengths, the fps handed to the processor and the one actually sampled).
:func:`build_layout` derives everything structural from the ids alone, so a layout made
from a processor and one made by the planner are compared field by field.

Not covered here: drawing (``omni_bench_widgets``) and the real-time alignment of the
chunks (:mod:`omni_bench.layout.alignment`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from omni_bench.core.tokens import TokenIds
from omni_bench.families.qwen2_5_alignment import audio_cap_note
from omni_bench.layout.labels import IGNORE_INDEX, audit_labels

__all__ = ["Segment", "LayoutStats", "TokenLayout", "build_layout", "runs_of", "JSON_FIELDS", "with_audio_track",
           "audio_cap_note"]


@dataclass(frozen=True)
class Segment:
    """A stretch of one role's turn: plain text, a vision span or a standalone audio span."""

    role: str  # "system", "user", "assistant" (or "" before the first turn)
    kind: str  # "text", "vision" or "audio"
    start: int  # first token position
    end: int  # one past the last token position
    text: str = ""  # decoded text (text segments)
    runs: tuple[tuple[str, int], ...] = ()  # VIDEO/AUDIO/IMAGE runs inside a media span
    labelled: int = 0  # positions in the segment whose label is not -100

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class LayoutStats:
    """Numbers of the "Omni Batch Debug" report. Sizes are float32 unless dtype says otherwise."""

    input_ids_shape: tuple[int, ...]  # [batch, seq]
    attention_mask_shape: tuple[int, ...]
    labels_shape: tuple[int, ...]
    label_tokens: int  # labels != -100
    pixel_values_videos_shape: tuple[int, ...] | None = None  # [patches, 1176]
    pixel_values_videos_dtype: str | None = None
    pixel_values_videos_mb: float | None = None
    video_grid_thw: tuple[tuple[int, int, int], ...] = ()  # pre-merge grid per video
    tokens_per_grid: int | None = None  # h * w / merge^2 for the first video
    resized_hw: tuple[int, int] | None = None  # (h, w) in pixels = grid * patch
    video_tokens: int = 0  # VIDEO tokens counted in input_ids
    input_features_shape: tuple[int, ...] | None = None  # [batch, 128, 30000]
    input_features_mb: float | None = None
    mel_frames: int | None = None  # valid mel frames (10 ms each)
    audio_seconds: float | None = None  # mel_frames / 100
    audio_tokens_formula: int | None = None  # ((L-1)//2+1-2)//2+1
    audio_tokens: int = 0  # AUDIO tokens counted in input_ids
    audio_tokens_uncertainty: int = 0  # +- AUDIO tokens a header-only plan can be off (0: exact)
    audio_track_seconds: float | None = None  # audio in the track before the feature extractor's cap
    audio_dropped_seconds: float = 0.0  # audio past the cap (300 s for Qwen2.5-Omni) the model never sees
    sampled_frames: int | None = None  # frames decoded from the video
    frame_indices: tuple[int, ...] = ()  # which ones
    frame_times: tuple[float, ...] = ()  # their timestamps, seconds
    native_fps: float | None = None
    duration: float | None = None  # video seconds
    sampled_fps: float | None = None  # frames / duration
    processor_fps: float | None = None  # fps handed to the processor
    second_per_grid: float | None = None  # temporal_patch_size / processor_fps
    seconds_per_chunk: float | None = None
    position_id_per_seconds: float | None = None
    use_audio_in_video: bool = False
    timestamps: tuple[float, ...] = ()  # Qwen3-VL: the seconds written as text before each grid step


# Fields of the --json output shared by `inspect` and `plan`.
JSON_FIELDS = ("input_ids", "label_tokens", "labelled_text", "video_grid_thw", "video_tokens",
               "audio_tokens", "vision_runs", "sampled_frames", "sampled_fps", "processor_fps",
               "second_per_grid")


@dataclass(frozen=True)
class TokenLayout:
    """Everything a processor produced for one sample, as data. ``str(layout)`` is the report."""

    source: str  # "processor" (inspect) or "planner" (plan)
    profile: str  # profile name or checkpoint path
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    segments: tuple[Segment, ...]
    vision_runs: tuple[tuple[str, int], ...]  # runs of the first vision span
    stats: LayoutStats
    labelled_text: str = ""
    media: str | None = None  # the media file, if any
    notes: tuple[str, ...] = ()  # disagreements and warnings, one line each
    extra: dict = field(default_factory=dict, compare=False)  # free-form, not compared

    @property
    def kinds(self) -> np.ndarray:
        """Per-token kind codes: 0 text, 1 special, 2 VIDEO, 3 AUDIO, 4 IMAGE."""
        codes = {"text": 0, "special": 1, "VIDEO": 2, "AUDIO": 3, "IMAGE": 4}
        ids = self.extra.get("token_ids")
        if ids is None:
            raise ValueError("layout has no token table")
        return np.array([codes[ids.kind_of(t)] for t in self.input_ids], dtype=np.int8)

    def to_dict(self) -> dict:
        """The --json object: the shared JSON_FIELDS first, then every stat."""
        stats = asdict(self.stats)
        out = {
            "input_ids": len(self.input_ids),
            "label_tokens": self.stats.label_tokens,
            "labelled_text": self.labelled_text,
            "video_grid_thw": [list(g) for g in self.stats.video_grid_thw],
            "video_tokens": self.stats.video_tokens,
            "audio_tokens": self.stats.audio_tokens,
            "vision_runs": [[k, n] for k, n in self.vision_runs],
            "sampled_frames": self.stats.sampled_frames,
            "sampled_fps": self.stats.sampled_fps,
            "processor_fps": self.stats.processor_fps,
            "second_per_grid": self.stats.second_per_grid,
        }
        out.update({k: v for k, v in stats.items() if k not in out})
        out.update(source=self.source, profile=self.profile, media=self.media, notes=list(self.notes))
        return json.loads(json.dumps(out, default=_jsonable))

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        return render_report(self)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython shows the report
        printer.text(str(self))


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(type(value))


def runs_of(tokens, ids: TokenIds) -> list[tuple[str, int]]:
    """Run-lengths of media tokens, adjacent runs of one kind merged.

    ``runs_of([VIDEO, VIDEO, AUDIO], ids) -> [("VIDEO", 2), ("AUDIO", 1)]``; structural
    tokens inside a span (<|audio_bos|>, <|audio_eos|>) are skipped; text inside a span (Qwen3-VL's
    timestamps) ends a run, so each of its grid steps is a run of its own.
    """
    runs: list[tuple[str, int]] = []
    broken = False
    for token in tokens:
        kind = ids.kind_of(int(token))
        if kind in ("VIDEO", "AUDIO", "IMAGE"):
            if runs and runs[-1][0] == kind and not broken:
                runs[-1] = (kind, runs[-1][1] + 1)
            else:
                runs.append((kind, 1))
            broken = False
        elif kind == "text":
            broken = True
    return runs


def _role_at(arr: np.ndarray, pos: int, ids: TokenIds) -> tuple[str, int]:
    """Role name of the turn opened at pos (an <|im_start|>) and where its content starts."""
    for name, pattern in zip(ids.role_names, ids.roles):
        if tuple(int(x) for x in arr[pos + 1:pos + 1 + len(pattern)]) == pattern:
            start = pos + 1 + len(pattern)
            return name, start
    return "other", pos + 1


def _span_end(arr: np.ndarray, pos: int, opener: int, closer: int) -> int:
    """One past the closer matching the opener at ``pos`` (spans nest: Qwen3-VL's grid steps)."""
    depth = 0
    for at in np.flatnonzero((arr[pos:] == opener) | (arr[pos:] == closer)):
        depth += 1 if arr[pos + at] == opener else -1
        if depth == 0:
            return pos + int(at) + 1
    return len(arr)


def build_layout(input_ids, labels, tokenizer, ids: TokenIds, stats: LayoutStats, *, source: str,
                 profile: str, media: str | None = None, notes=()) -> TokenLayout:
    """Derive segments, runs and the label audit from final ids; attach the given stats."""
    arr = np.asarray(input_ids).reshape(-1)
    lab = np.asarray(labels).reshape(-1) if labels is not None else np.full(arr.shape, IGNORE_INDEX)
    segments: list[Segment] = []
    role = ""
    pos, n = 0, len(arr)
    text_start = 0

    def flush_text(end: int) -> None:
        # one text segment per stretch of equal label state, so labelled text stands apart
        start = text_start
        while start < end:
            state = lab[start] != IGNORE_INDEX
            stop = start + 1
            while stop < end and (lab[stop] != IGNORE_INDEX) == state:
                stop += 1
            segments.append(Segment(role, "text", start, stop,
                                    text=tokenizer.decode(arr[start:stop].tolist(), skip_special_tokens=False),
                                    labelled=int(state) * (stop - start)))
            start = stop

    while pos < n:
        token = int(arr[pos])
        if token == ids.im_start:
            flush_text(pos)
            role, pos = _role_at(arr, pos, ids)
            text_start = pos
            continue
        closer = {ids.vision_bos: ids.vision_eos, ids.audio_bos: ids.audio_eos}.get(token)
        if closer is not None:
            flush_text(pos)
            end = _span_end(arr, pos, token, closer)
            kind = "vision" if token == ids.vision_bos else "audio"
            segments.append(Segment(role, kind, pos, end, runs=tuple(runs_of(arr[pos:end], ids)),
                                    labelled=int((lab[pos:end] != IGNORE_INDEX).sum())))
            pos = text_start = end
            continue
        pos += 1
    flush_text(n)
    vision = next((s.runs for s in segments if s.kind == "vision"), ())
    audit = audit_labels(arr, lab, tokenizer, ids)
    notes = list(notes)
    if audit.label_tokens and not audit.ok:
        notes.extend(f"labels: {p}" for p in audit.problems)
    return TokenLayout(
        source=source, profile=profile, input_ids=tuple(int(x) for x in arr),
        labels=tuple(int(x) for x in lab), segments=tuple(segments), vision_runs=tuple(vision),
        stats=stats, labelled_text=audit.labelled_text, media=media, notes=tuple(notes),
        extra={"token_ids": ids},
    )


def with_audio_track(layout: TokenLayout, track_samples: int | None, sampling_rate: int,
                     hop_length: int) -> TokenLayout:
    """``layout`` with the audio track's full length recorded, and a note when the feature
    extractor's cap (``stats.mel_frames`` frames kept) dropped the end of it.

    ``track_samples``: samples of the track at ``sampling_rate`` before the cap (None: no audio).
    """
    s = layout.stats
    if track_samples is None or s.mel_frames is None:
        return layout
    lost = int(track_samples) - s.mel_frames * hop_length
    # less than one mel frame is the STFT's last partial frame (Qwen3-Omni keeps samples // hop), not a cap
    dropped = lost / sampling_rate if lost >= hop_length else 0.0
    stats = replace(s, audio_track_seconds=int(track_samples) / sampling_rate, audio_dropped_seconds=dropped)
    notes = (*layout.notes, audio_cap_note(stats)) if dropped > 0 else layout.notes
    return replace(layout, stats=stats, notes=tuple(notes))


def _quote(text: str, limit: int = 80) -> str:
    shown = text if len(text) <= limit else text[:limit] + "..."
    return json.dumps(shown, ensure_ascii=False)


def _shape(shape) -> str:
    return "[" + ", ".join(str(x) for x in shape) + "]" if shape is not None else "-"


def render_report(layout: TokenLayout, *, max_runs: int = 60) -> str:
    """The "Omni Batch Debug" text report: shapes and sizes, then a tree per role."""
    lines = _report_header(layout)
    lines += ["=" * 38, *_report_tree(layout, max_runs)]
    if layout.notes:
        lines += ["", "[Notes]"] + [f"! {note}" for note in layout.notes]
    return "\n".join(lines)


def _report_header(layout: TokenLayout) -> list[str]:
    """The shapes-and-sizes half of the report: [Text], [Video], [Audio]."""
    s = layout.stats
    lines = ["========== Omni Batch Debug ==========",
             f"source: {layout.source}   profile: {layout.profile}" + (f"   media: {layout.media}"
                                                                       if layout.media else ""),
             "[Text]",
             f"input_ids: {_shape(s.input_ids_shape)}",
             f"attention_mask: {_shape(s.attention_mask_shape)}",
             f"labels: {_shape(s.labels_shape)}",
             f"label tokens: {s.label_tokens}"]
    if s.video_grid_thw:
        lines += _video_lines(s)
    if s.input_features_shape is not None:
        lines += _audio_lines(s)
    return [line for i, line in enumerate(lines) if line or (i + 1 < len(lines) and lines[i + 1].startswith("["))]


def _video_lines(s: LayoutStats) -> list[str]:
    lines = ["", "[Video]",
             f"pixel_values_videos: {_shape(s.pixel_values_videos_shape)}",
             f"dtype: {s.pixel_values_videos_dtype}",
             f"video tensor size: {s.pixel_values_videos_mb:.2f} MB",
             f"video_grid_thw: {[list(g) for g in s.video_grid_thw]}",
             f"resized (h x w): {s.resized_hw[0]} x {s.resized_hw[1]}" if s.resized_hw else "",
             f"tokens per grid: {s.tokens_per_grid}   video tokens: {s.video_tokens}"]
    if s.sampled_frames is not None:
        lines.append(f"sampled frames: {s.sampled_frames} of {round(s.duration * s.native_fps)}"
                     f" at {s.native_fps:g} fps over {s.duration:.2f} s"
                     if s.native_fps and s.duration else f"sampled frames: {s.sampled_frames}")
    if s.processor_fps is not None:
        sampled = f"{s.sampled_fps:.4g}" if s.sampled_fps is not None else "-"
        lines.append(f"fps sampled: {sampled}   fps handed to the processor: "
                     f"{s.processor_fps:.4g}   seconds per grid: {s.second_per_grid:.4g}")
    return lines


def _audio_lines(s: LayoutStats) -> list[str]:
    lines = ["", "[Audio]",
             f"input_features: {_shape(s.input_features_shape)}, {s.input_features_mb:.2f} MB",
             f"valid mel frames: {s.mel_frames}",
             f"audio seconds: {s.audio_seconds:.2f}",
             f"audio tokens (formula): {s.audio_tokens_formula}   in input_ids: {s.audio_tokens}"
             + (f" ±{s.audio_tokens_uncertainty}" if s.audio_tokens_uncertainty else "")]
    if s.audio_track_seconds is not None and s.audio_dropped_seconds > 0:
        lines.append(f"audio track: {s.audio_track_seconds:.2f} s   dropped past the cap: "
                     f"{s.audio_dropped_seconds:.2f} s")
    if s.use_audio_in_video:
        chunk = f"seconds_per_chunk {s.seconds_per_chunk:g}, " if s.seconds_per_chunk else "token by token, "
        lines.append(f"interleave: {chunk}position_id_per_seconds {s.position_id_per_seconds:g}")
    return lines


def _report_tree(layout: TokenLayout, max_runs: int) -> list[str]:
    """The tree half of the report: one block per role, vision spans as runs, labelled text marked *."""
    lines, current = [], None
    for seg in layout.segments:
        if seg.role != current:
            current = seg.role
            lines += ["", f"[{seg.role.upper() or 'PREFIX'}]"]
        if seg.kind == "text":
            mark = "*" if seg.labelled else ""
            lines += [f"{mark}{_quote(part)}" for part in _split_keep_newlines(seg.text)]
        else:
            lines += _span_lines(seg, layout.stats.timestamps, max_runs)
    return lines


def _span_lines(seg, timestamps, max_runs: int) -> list[str]:
    """One vision or audio span: its bracket tokens around its runs (Qwen3-VL: each step's timestamp)."""
    opener, closer = (("<|vision_bos|>", "<|vision_eos|>") if seg.kind == "vision"
                      else ("<|audio_bos|>", "<|audio_eos|>"))
    runs = seg.runs
    shown = runs if len(runs) <= max_runs else runs[: max_runs - 2]
    stamps = [f"<{t:.1f} seconds> " for t in timestamps] if len(timestamps) == len(runs) else []
    lines = [opener] + [f"├─ {stamps[i] if stamps else ''}{kind} × {count}" for i, (kind, count) in enumerate(shown)]
    if len(runs) > len(shown):
        lines.append(f"├─ ... {len(runs) - len(shown) - 1} more runs ...")
        lines.append(f"├─ {runs[-1][0]} × {runs[-1][1]}")
    return [*lines, closer]


def _split_keep_newlines(text: str) -> list[str]:
    """Split at template boundaries the way the LongVALE notebook prints them: the trailing "\\n" apart."""
    if text.endswith("\n") and len(text) > 1:
        return [text[:-1], "\n"]
    return [text]
