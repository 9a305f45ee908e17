"""``validate``: check every record of a training file before a run spends GPU hours on it.

Each record is checked in this order; the first failure is its reason:

1. conversation: turns present, roles alternate starting with human, every reply non-empty,
   no media tag inside a reply ("no-turns", "roles", "empty-reply");
2. time tokens: every ``<s0>``/``<e0>`` has a value in ``meta.token`` ("time-token");
3. tags: ``<video>`` tags equal the videos, ``<image>`` tags equal the images ("tag-count");
4. media: each file exists and is a readable video (container probe), its first and last
   *sampled* frames decode ("missing", "unreadable", "corrupt", "truncated"), it has an
   audio track when audio is asked for ("no-audio", "empty-audio"); images exist and decode;
5. timestamps: inside [0, duration] (meta's duration, else the video's) ("timestamps");
6. budget: the multi-turn sample fits ``max_total_tokens`` after dropping the earliest turns
   (:mod:`omni_bench.data.samples`, counted exactly) ("over-budget"). Without a budget the
   model's context is the limit (:func:`context_limit`: 32,768 tokens for Qwen2.5-Omni), and the
   report says which limit applied.

A bad record never stops the run: every record ends up valid or in ``problems`` with its
reason (an unexpected exception is reported as "error" with its message). Not covered:
decoding every frame (only the first and last sampled ones), audio decoding (the track's
presence and length come from the container), duplicate ids.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.problems import Problem, no_audio_error
from omni_bench.layout.settings import LayoutSettings

__all__ = ["ValidationReport", "check_record", "validate", "context_limit"]


@dataclass(frozen=True)
class ValidationReport:
    """The outcome for a whole file: counts and one :class:`Problem` per invalid record."""

    total: int  # records checked
    valid: int  # records with no problem
    problems: tuple[Problem, ...]  # one per invalid record (source: its id), in file order
    max_total_tokens: int | None = None  # the budget checked (None: none)
    truncated: tuple[tuple[str, int], ...] = ()  # valid records that fit only after dropping earliest turns
    budget_source: str | None = None  # where max_total_tokens came from ("as given", the model's context)
    notes: tuple[tuple[str, str], ...] = ()  # (record id, line) for valid records the model sees only in part

    def to_dict(self) -> dict:
        """``{"total": N, "valid": N, "problems": [{"source", "reason", "message"}, ...], "truncated": {id: n},
        "max_total_tokens": N, "budget_source": "..."}``."""
        return {"total": self.total, "valid": self.valid, "problems": [p.to_dict() for p in self.problems],
                "truncated": dict(self.truncated), "max_total_tokens": self.max_total_tokens,
                "budget_source": self.budget_source, "notes": [{"source": s, "note": n} for s, n in self.notes]}

    def __str__(self) -> str:
        source = f": {self.budget_source}" if self.budget_source else ""
        lines = [f"{self.valid} of {self.total} records valid" + (
            f" (budget {self.max_total_tokens} tokens{source})" if self.max_total_tokens else "")]
        lines += [f"  {rid}: valid after dropping its earliest {n} turn(s)" for rid, n in self.truncated]
        lines += [f"  {rid}: {note}" for rid, note in self.notes]
        lines += [f"  {p.source}: [{p.reason}] {p.message}" for p in self.problems]
        return "\n".join(lines)


def context_limit(processor, profile) -> tuple[int, str]:
    """The model's context in tokens, and which setting says it: the smaller of the tokenizer's
    ``model_max_length`` and the profile's ``max_position_embeddings`` (config.json).

    Qwen2.5-Omni: both 32,768. Qwen2.5-VL: the tokenizer's 32,768 (its config allows 128,000 rope
    positions, which the released checkpoints reach only with YaRN scaling).
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    known = [(int(value), name) for value, name in (
        (getattr(tokenizer, "model_max_length", None), "the tokenizer's model_max_length"),
        (getattr(profile, "max_position_embeddings", None), "config max_position_embeddings"))
        if isinstance(value, int) and 0 < value < 10**9]  # unset model_max_length is a huge sentinel
    if not known:
        raise OmniBenchError("the model's context length is unknown: pass --max-total-tokens", reason="no-context")
    limit = min(value for value, _ in known)
    return limit, "the model's context, " + " = ".join(name for value, name in known if value == limit)


def _image_tokens(path: str, profile) -> int:
    from PIL import Image

    from omni_bench.layout import arith
    try:
        with Image.open(path) as image:
            image.load()
            width, height = image.size
    except FileNotFoundError:
        raise OmniBenchError(f"{path}: file not found", source=path, reason="missing") from None
    except Exception as exc:  # PIL raises many types for a bad image
        raise OmniBenchError(f"{path}: not a readable image ({exc})", source=path, reason="unreadable") from None
    # the image processor is transformers' Qwen2VLImageProcessor: its smart_resize, not qwen-vl-utils'
    try:
        height, width = arith.transformers_smart_resize(height, width, factor=profile.factor,
                                                        min_pixels=profile.image_min_pixels,
                                                        max_pixels=profile.image_max_pixels)
    except ValueError as exc:  # an aspect ratio over 200: the processor refuses it too
        raise OmniBenchError(f"{path}: {exc}", source=path, reason="image-size") from None
    return (height // profile.factor) * (width // profile.factor)


def check_record(record, *, media_root: str | os.PathLike = ".", settings: LayoutSettings | None = None,
                 processor=None, max_total_tokens: int | None = None, notes: list | None = None):
    """Check one record (see the module docstring); return its fitted Sample or raise OmniBenchError.

    ``notes``: a list that gets ``(record id, line)`` for what the model will not see of a valid
    record (audio past the feature extractor's 300 s cap).
    """
    from omni_bench.core.media import probe, read_frames
    from omni_bench.core.processor import resolve_profile
    from omni_bench.data.content import check_content, check_silence, check_tracks
    from omni_bench.data.records import resolve_media
    from omni_bench.data.samples import IMAGE_TAG, VIDEO_TAG, build_sample, media_tags, media_token_count, turns_of
    from omni_bench.layout.frames import sample_indices

    settings = settings or LayoutSettings()
    rid = record.id
    check_content(record)  # what the loader noted: broken line, turn values, durations, intervals
    turns = turns_of(record.conversations, source=rid)
    if record.unresolved:
        raise OmniBenchError(f"{rid}: time token(s) {', '.join(record.unresolved)} have no value in meta.token",
                             source=rid, reason="time-token")
    tags = media_tags(turns)
    for tag, kind, media in ((VIDEO_TAG, "video", record.videos), (IMAGE_TAG, "image", record.images)):
        if tags.count(tag) != len(media):
            raise OmniBenchError(f"{rid}: {tags.count(tag)} {tag} tag(s) but {len(media)} {kind}(s)",
                                 source=rid, reason="tag-count")
    from omni_bench.core.processor import load_processor

    processor = processor or load_processor(settings.profile)
    resolved = settings.resolve(resolve_profile(processor))
    profile, use_audio = resolved.profile, resolved.use_audio
    video_tokens, image_tokens, duration = [], [], record.duration
    for name in record.videos:
        path = str(resolve_media(name, media_root))
        info = probe(path)
        indices = sample_indices(info, resolved, profile.temporal_patch_size)
        read_frames(path, sorted({indices[0], indices[-1]}))
        if use_audio and not info.has_audio:
            raise no_audio_error(path)
        if use_audio and not info.audio_seconds:
            raise OmniBenchError(f"{path}: the audio track is empty", source=path, reason="empty-audio")
        check_tracks(info)
        if use_audio:
            check_silence(path)
        video_tokens.append(media_token_count(info, settings, processor))
        if notes is not None and use_audio:
            notes.extend((rid, f"{os.path.basename(path)}: {line}") for line in _cap_notes(info, settings, processor))
        duration = duration or info.duration
    for name in record.images:
        image_tokens.append(_image_tokens(str(resolve_media(name, media_root)), profile))
    outside = [t for t in record.timestamps if duration is not None and not 0 <= t <= duration + 1e-6]
    if outside:
        raise OmniBenchError(f"{rid}: timestamp {outside[0]:g} s is outside the video's duration "
                             f"(0 to {duration:g} s)", source=rid, reason="timestamps")
    if record.timestamps and duration is None:
        raise OmniBenchError(f"{rid}: timestamps but no duration to check them against", source=rid,
                             reason="timestamps")
    order = {VIDEO_TAG: iter(video_tokens), IMAGE_TAG: iter(image_tokens)}
    media_tokens = [next(order[tag]) for tag in tags]
    return build_sample(record, processor, media_tokens, max_total_tokens=max_total_tokens,
                        system=settings.system)


def _cap_notes(info, settings: LayoutSettings, processor) -> list[str]:
    """The report's line on audio past the feature extractor's cap, when this video has any."""
    from omni_bench.core.processor import resolve_profile

    profile = settings.resolve(resolve_profile(processor)).profile
    if round(info.audio_seconds * profile.sampling_rate) <= profile.nb_max_frames * profile.hop_length:
        return []
    from omni_bench.layout.plan import plan

    return [note for note in plan(info, settings, processor=processor).notes if note.startswith("audio: the track")]


def validate(records: Sequence, *, media_root: str | os.PathLike = ".", settings: LayoutSettings | None = None,
             processor=None, max_total_tokens: int | None = None, progress: bool | None = None) -> ValidationReport:
    """Check every record; never stops at a bad one. ``progress``: tqdm bar on stderr (None: when a TTY).

    ``max_total_tokens`` None: the model's context (:func:`context_limit`).
    """
    from tqdm.auto import tqdm

    from omni_bench.core.processor import resolve_profile

    settings = settings or LayoutSettings()
    if processor is None:
        from omni_bench.core.processor import load_processor

        processor = load_processor(settings.profile)
    budget_source = "as given"
    if max_total_tokens is None:
        max_total_tokens, budget_source = context_limit(processor, resolve_profile(processor))
    problems, truncated, notes = [], [], []
    bar = tqdm(records, desc="validate", unit="record", file=sys.stderr,
               disable=(not sys.stderr.isatty()) if progress is None else not progress)
    for record in bar:
        try:
            sample = check_record(record, media_root=media_root, settings=settings, processor=processor,
                                  max_total_tokens=max_total_tokens, notes=(seen := []))
            notes.extend(seen)  # a record that fails has its problem, not notes
            if sample.dropped_turns:
                truncated.append((record.id, sample.dropped_turns))
        except OmniBenchError as exc:
            problems.append(Problem.from_error(record.id, exc))
        except Exception as exc:  # a bad record must never stop the run
            problems.append(Problem(record.id, "error", f"{type(exc).__name__}: {exc}"))
    return ValidationReport(len(records), len(records) - len(problems), tuple(problems), max_total_tokens,
                            tuple(truncated), budget_source, tuple(notes))
