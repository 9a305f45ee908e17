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
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.media import VideoInfo, probe, read_frames
from omni_bench.core.problems import Problem, no_audio_error
from omni_bench.core.processor import load_processor, resolve_profile
from omni_bench.core.stages import track
from omni_bench.data.content import check_content, check_silence, check_tracks
from omni_bench.data.records import resolve_media
from omni_bench.data.samples import Sample, build_sample, media_tags, turns_of
from omni_bench.data.tags import (
    AUDIO_TAG,
    IMAGE_TAG,
    VIDEO_TAG,
    tag_count_error,
    time_token_error,
    timestamps_error,
    unsupported_media_error,
)
from omni_bench.layout import arith
from omni_bench.layout.plan import MediaPlan, plan
from omni_bench.layout.road import plan_media
from omni_bench.layout.settings import LayoutSettings

__all__ = ["ValidationReport", "Gate", "Checked", "check_record", "validate", "context_limit", "fold_audio"]


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
    data_format: str | None = None  # the format(s) the records were read as ("sharegpt-openai", ...)

    def to_dict(self) -> dict:
        """``{"total": N, "valid": N, "problems": [{"source", "reason", "message"}, ...], "truncated": {id: n},
        "max_total_tokens": N, "budget_source": "..."}``."""
        return {"total": self.total, "valid": self.valid, "problems": [p.to_dict() for p in self.problems],
                "truncated": dict(self.truncated), "max_total_tokens": self.max_total_tokens,
                "budget_source": self.budget_source, "notes": [{"source": s, "note": n} for s, n in self.notes],
                "data_format": self.data_format}

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


@dataclass(frozen=True)
class Checked:
    """A record that passed the gate: what the dataset trains on (metadata only, nothing kept decoded)."""

    record: object  # the Record as trained (an <audio> tag of its video's own track folded into the video)
    sample: Sample  # the multi-turn sample fitted to the budget
    videos: tuple[str, ...]  # resolved video paths, in tag order
    infos: tuple[VideoInfo, ...]  # their probes
    plans: tuple[MediaPlan, ...] = ()  # their media plans (omni_bench.layout.road.plan_media): what is decoded
    notes: tuple[str, ...] = ()  # what the model will not see of it (audio past the 300 s cap)


class Gate:
    """The one record gate: ``validate``, the training and evaluation datasets and the preference
    pairs all call :meth:`check`, so a record ``validate`` calls valid is exactly one that trains,
    and one it refuses is dropped with the same reason and message.

    The settings are resolved once; ``max_total_tokens`` None is the model's context
    (:func:`context_limit`), ``budget_source`` says which. Each video file is checked once
    (probe, first and last sampled frames, audio track) however many records name it.

    >>> gate = Gate(media_root="data/clips", settings=LayoutSettings(frames=4))  # doctest: +SKIP
    >>> gate.check(load_records("data/longvale_sft.json")[0]).sample.total_tokens  # doctest: +SKIP
    """

    def __init__(self, *, media_root: str | os.PathLike = ".", settings: LayoutSettings | None = None,
                 processor=None, max_total_tokens: int | None = None):
        self.settings = settings or LayoutSettings()
        self.processor = processor or load_processor(self.settings.profile)
        self.resolved = self.settings.resolve(resolve_profile(self.processor))
        self.media_root = media_root
        self.budget_source = "as given"
        if max_total_tokens is None:
            max_total_tokens, self.budget_source = context_limit(self.processor, self.resolved.profile)
        self.max_total_tokens = max_total_tokens
        self._videos: dict[str, tuple] = {}  # path -> (info, tokens, notes) or the OmniBenchError it raised

    def check(self, record, *, headers_only: bool = False) -> Checked:
        """Check one record (the module docstring's order); raise OmniBenchError with its reason.

        ``headers_only``: the videos are probed and planned but not decoded (no first / last frame, no
        silence check) and the sample holds every turn, not fitted to the budget: what ``budget`` counts.
        """
        rid = record.id
        check_content(record)  # what the loader noted: broken line, turn values, durations, intervals
        turns = turns_of(record.conversations, source=rid)
        if record.unresolved:
            raise time_token_error(rid, record.unresolved)
        record = fold_audio(record, turns)
        tags = media_tags(turns_of(record.conversations, source=rid))
        for tag, media in ((VIDEO_TAG, record.videos), (IMAGE_TAG, record.images)):
            if tags.count(tag) != len(media):
                raise tag_count_error(rid, tag, tags.count(tag), len(media))
        videos = tuple(str(resolve_media(name, self.media_root)) for name in record.videos)
        checked = [self._headers(path) if headers_only else self._video(path) for path in videos]
        image_tokens = [_image_tokens(str(resolve_media(name, self.media_root)), self.resolved.profile)
                        for name in record.images]
        if record.images:
            raise unsupported_media_error(rid, "images")
        if len(videos) > 1:
            raise unsupported_media_error(rid, f"{len(videos)} videos in one record")
        duration = record.duration or (checked[0][0].info.duration if checked else None)
        outside = [t for t in record.timestamps if duration is not None and not 0 <= t <= duration + 1e-6]
        if outside:
            raise timestamps_error(rid, outside[0], duration)
        if record.timestamps and duration is None:
            raise timestamps_error(rid, None, None)
        order = {VIDEO_TAG: iter([tokens for _, tokens, _ in checked]), IMAGE_TAG: iter(image_tokens)}
        media_tokens = [next(order[tag]) for tag in tags]
        sample = build_sample(record, self.processor, media_tokens, system=self.system(record)) if headers_only \
            else self.fit(record, media_tokens)
        notes = tuple(f"{os.path.basename(path)}: {line}" for path, (_, _, lines) in zip(videos, checked)
                      for line in lines)
        return Checked(record, sample, videos, tuple(plan.info for plan, _, _ in checked),
                       plans=tuple(plan for plan, _, _ in checked), notes=notes)

    def fit(self, record, media_tokens) -> Sample:
        """The record's sample under this gate's budget and system prompt, with ``media_tokens`` per tag
        (a record already checked: the dataset after decoding, the rejected side of a pair)."""
        return build_sample(record, self.processor, media_tokens, max_total_tokens=self.max_total_tokens,
                            system=self.system(record))

    def system(self, record) -> str | None:
        """The system prompt a record is trained with: its own, else the settings' (None: the template's)."""
        return record.system if getattr(record, "system", None) is not None else self.settings.system

    def _video(self, path: str) -> tuple:
        """(media plan, placeholder tokens, cap notes) of one video file, checked once; its error every time."""
        if path not in self._videos:
            try:
                self._videos[path] = self._check_video(path)
            except OmniBenchError as exc:
                self._videos[path] = exc
        found = self._videos[path]
        if isinstance(found, OmniBenchError):
            raise found
        return found

    def _headers(self, path: str) -> tuple:
        """(media plan, placeholder tokens, no notes) from the container's headers only (``budget``)."""
        info = probe(path)
        plan = plan_media(info, self.resolved)
        if self.resolved.use_audio and not info.has_audio:
            raise no_audio_error(path)
        return plan, plan.span_tokens, ()

    def _check_video(self, path: str) -> tuple:
        use_audio = self.resolved.use_audio
        info = probe(path)
        plan = plan_media(info, self.resolved)  # the media road's plan: the frames sampled once, here
        read_frames(path, sorted({plan.frame_indices[0], plan.frame_indices[-1]}))
        if use_audio and not info.has_audio:
            raise no_audio_error(path)
        if use_audio and not info.audio_seconds:
            raise OmniBenchError(f"{path}: the audio track is empty", source=path, reason="empty-audio")
        check_tracks(info)
        if use_audio:
            check_silence(path)
        notes = tuple(_cap_notes(info, self.settings, self.processor)) if use_audio else ()
        return plan, plan.span_tokens, notes + info.notes  # and what probe noted (a header off, a variable rate)


def fold_audio(record, turns):
    """The record with each ``<video><audio>`` pair whose audio is the video's own track (the same file,
    or the same name with an audio suffix: LLaMA-Factory's ``4.mp4`` / ``4.mp3``) read as the video
    alone: the audio comes from the video (``use_audio_in_video``). Any other ``<audio>`` is refused.

    >>> from omni_bench.data.records import Record
    >>> r = Record("a", (("human", "<video><audio>Hi?"), ("gpt", "Yo.")), ("4.mp4",), audios=("4.mp3",))
    >>> fold_audio(r, turns_of(r.conversations)).conversations[0]
    ('human', '<video>Hi?')
    """
    tags = media_tags(turns)
    if tags.count(AUDIO_TAG) != len(record.audios):
        raise tag_count_error(record.id, AUDIO_TAG, tags.count(AUDIO_TAG), len(record.audios))
    if not record.audios:
        return record
    videos, audios, folded = iter(record.videos), iter(record.audios), []
    previous, video = None, None
    for tag in tags:
        if tag == VIDEO_TAG:
            video = next(videos, None)
        elif tag == AUDIO_TAG:
            audio = next(audios)
            if previous != VIDEO_TAG or video is None or Path(audio).with_suffix("") != Path(video).with_suffix(""):
                raise unsupported_media_error(record.id, "audio files apart from a video (<audio> not right after "
                                                         "its <video>, or another file than the video's track)")
            folded.append(audio)
        previous = tag
    pair = re.compile(re.escape(VIDEO_TAG) + r"\s*" + re.escape(AUDIO_TAG))
    conversations = tuple((role, pair.sub(VIDEO_TAG, text) if role == "human" else text)
                          for role, text in record.conversations)
    return record.replace(conversations=conversations, audios=())


def check_record(record, *, media_root: str | os.PathLike = ".", settings: LayoutSettings | None = None,
                 processor=None, max_total_tokens: int | None = None, notes: list | None = None):
    """Check one record through a one-off :class:`Gate`; return its fitted Sample or raise OmniBenchError.

    ``notes``: a list that gets ``(record id, line)`` for what the model will not see of a valid
    record (audio past the feature extractor's 300 s cap).
    """
    checked = Gate(media_root=media_root, settings=settings, processor=processor,
                   max_total_tokens=max_total_tokens).check(record)
    if notes is not None:
        notes.extend((record.id, line) for line in checked.notes)
    return checked.sample


def _cap_notes(info, settings: LayoutSettings, processor) -> list[str]:
    """The report's line on audio past the feature extractor's cap, when this video has any."""
    profile = settings.resolve(resolve_profile(processor)).profile
    if round(info.audio_seconds * profile.sampling_rate) <= profile.nb_max_frames * profile.hop_length:
        return []
    return [note for note in plan(info, settings, processor=processor).notes if note.startswith("audio: the track")]


def validate(records: Sequence, *, media_root: str | os.PathLike = ".", settings: LayoutSettings | None = None,
             processor=None, max_total_tokens: int | None = None, progress: bool | None = None) -> ValidationReport:
    """Check every record through one :class:`Gate`; never stops at a bad one. ``progress``: a bar on a terminal,
    stage lines in a log (:func:`omni_bench.core.stages.track`; None: not in a notebook). ``max_total_tokens``
    None: the model's context (:func:`context_limit`).
    """
    gate = Gate(media_root=media_root, settings=settings, processor=processor, max_total_tokens=max_total_tokens)
    problems, truncated, notes = [], [], []
    for record in track(records, "validate", unit="records", progress=progress):
        try:
            checked = gate.check(record)
            notes.extend((record.id, line) for line in checked.notes)  # a record that fails has its problem only
            if checked.sample.dropped_turns:
                truncated.append((record.id, checked.sample.dropped_turns))
        except OmniBenchError as exc:
            problems.append(Problem.from_error(record.id, exc))
        except Exception as exc:  # a bad record must never stop the run
            problems.append(Problem(record.id, "error", f"{type(exc).__name__}: {exc}"))
    formats = ", ".join(dict.fromkeys(getattr(r, "source", "") for r in records if getattr(r, "source", "")))
    return ValidationReport(len(records), len(records) - len(problems), tuple(problems), gate.max_total_tokens,
                            tuple(truncated), gate.budget_source, tuple(notes), formats or None)
