"""Preference pairs (a prompt, a chosen and a rejected reply) read through the one record gate.

Forms read (docs/data_formats.md has an example of each):

* LLaMA-Factory's sharegpt preference form: ``conversations`` (``from`` / ``value``) ending in a
  human turn, ``chosen`` and ``rejected`` each a ``{"from": "gpt", "value": ...}`` turn or a
  string, ``videos`` / ``audios`` / ``images``; its OpenAI layout (``messages``, ``role`` /
  ``content``) the same way, and the columns of a ``dataset_info.json`` beside the file;
* a Qwen-VL-style form: ``video`` (a path or a list), ``conversations``, ``chosen``, ``rejected``;
* ms-swift's: ``messages`` ending in the chosen assistant turn, ``rejected_response``.

Every other field of a record (``id`` aside) is kept in :attr:`PreferencePair.extra`, e.g. the
``rejected_iou`` that ``omni-bench pairs`` writes. ``<video><audio>`` with the video's own track
(LLaMA-Factory's audio-in-video convention) reads as ``<video>`` with ``use_audio_in_video``.

Checks, the first failure is the pair's reason: what the loader noted ("bad-line",
"turn-value"); the prompt's roles ("no-turns", "roles": human, gpt, ..., ending in human); an
empty side ("empty-reply"); the same text on both sides ("same-replies"); a media tag in a reply
("tag-count"); then prompt + chosen through :class:`~omni_bench.data.validation.Gate` (time
tokens, tags against the media, missing / unreadable / silent media, timestamps, the budget), and
prompt + rejected against the same budget. A pair is never truncated: turns or media cut from one
side would make the two sides disagree, so a pair over the budget is dropped ("over-budget").

>>> pairs, problems = read_pairs("pairs.json", media_root="data/clips")  # doctest: +SKIP
>>> pairs[0].chosen, pairs[0].videos, pairs[0].extra.get("rejected_iou")  # doctest: +SKIP
('From 10 to 35.', ('/.../data/clips/street_market.mkv',), 0.0)
>>> write_pairs("out.json", pairs, media_root="data/clips")  # doctest: +SKIP

Left out: KTO (one reply with a label), several rejected replies per prompt, images (the gate
refuses them as training does).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.problems import Problem
from omni_bench.data.formats import OPENAI, SHAREGPT, Layout, layout_of_dataset_info, sharegpt_fields
from omni_bench.data.records import BrokenLine, Record, _read_json, _stem, resolve_media
from omni_bench.data.samples import Turn, media_tags, messages, turns_of
from omni_bench.data.tags import IMAGE_TAG, TAG, TIME_TOKEN, VIDEO_TAG, tag_count_error, time_token_error
from omni_bench.data.validation import Gate, ValidationReport, fold_audio
from omni_bench.layout.settings import LayoutSettings

__all__ = ["PreferencePair", "PREFERENCE_FORMATS", "is_preference_data", "is_preference_file", "read_pairs",
           "check_pairs", "validate_pairs", "write_pairs"]

PREFERENCE_FORMATS = {
    "sharegpt": "LLaMA-Factory sharegpt preference: conversations ending in a human turn, chosen, rejected",
    "sharegpt-openai": "LLaMA-Factory, OpenAI layout: messages ending in a user turn, chosen, rejected",
    "qwen-vl": "Qwen-VL style: video, conversations, chosen, rejected",
    "ms-swift": "ms-swift: messages ending in the chosen assistant turn, rejected_response",
}
_QWEN_VL = replace(SHAREGPT, videos="video", images="image")
_SWIFT = replace(OPENAI, rejected="rejected_response")


@dataclass(frozen=True)
class PreferencePair:
    """One prompt with a chosen and a rejected reply, and its media.

    >>> p = PreferencePair(0, "v", (("human", "<video>\\nWhen?"),), "From 10 to 20.", "From 50 to 90.",
    ...                    videos=("clips/v.mkv",), use_audio_in_video=True, extra={"rejected_iou": 0.0})
    >>> [m["role"] for m in p.messages(p.chosen)], p.record("rejected").conversations[-1]
    (['user', 'assistant'], ('gpt', 'From 50 to 90.'))
    """

    index: int  # the record's position in the file
    id: str  # the record's "id", else "<file stem>:<index>"
    prompt: tuple[tuple[str, str], ...]  # (role, text) turns "human" / "gpt", ending in "human"; tags in place
    chosen: str  # the preferred reply
    rejected: str  # the dispreferred reply
    videos: tuple[str, ...] = ()  # absolute video paths (resolved against the media root), one per <video> tag
    audios: tuple[str, ...] = ()  # separate audio files (none once an <audio> is the video's own track)
    use_audio_in_video: bool = False  # the video's own audio track is part of the input (Omni, audio on)
    system: str | None = None  # the record's system prompt (None: the settings' / the template's)
    extra: Mapping = field(default_factory=dict)  # the record's other fields, e.g. {"rejected_iou": 0.12}

    def record(self, side: str) -> Record:
        """The prompt with the ``"chosen"`` or ``"rejected"`` reply as a :class:`Record` (what the gate checks)."""
        if side not in ("chosen", "rejected"):
            raise ValueError(f"side must be 'chosen' or 'rejected', got {side!r}")
        return Record(f"{self.id}:{side}", (*self.prompt, ("gpt", getattr(self, side))), self.videos,
                      source="preference", audios=self.audios, system=self.system)

    def messages(self, reply: str | None = None, *, system: str | None = None) -> list[dict]:
        """Chat messages for the processor's template: the prompt's turns (each tag a media item where it
        stands), then ``reply`` as the assistant's (None: none, the generation prompt's messages)."""
        turns = [*self.prompt, ("gpt", "" if reply is None else reply)]
        out = messages([Turn(turns[i][1], turns[i + 1][1]) for i in range(0, len(turns), 2)],
                       system=self.system if system is None else system)
        return out if reply is not None else out[:-1]


def is_preference_data(data, layout: Layout = SHAREGPT) -> bool:
    """Whether a parsed file holds preference records (``chosen`` / ``rejected`` / ``rejected_response``, or the
    columns ``layout`` names for them)."""
    records = [r for r in data if isinstance(r, Mapping)] if isinstance(data, list) else []
    return any((layout.chosen in r and layout.rejected in r) or "rejected_response" in r for r in records)


def is_preference_file(path) -> bool:
    """Whether a JSON / JSON Lines file holds preference records, by its ``dataset_info.json`` columns where one
    names it (False for a file that does not parse)."""
    try:
        data = _read_json(path)
        return is_preference_data(data, _form(data, path)[1])
    except OmniBenchError:
        return False


def _form(data, source) -> tuple[str, Layout]:
    given = layout_of_dataset_info(source) if isinstance(source, (str, os.PathLike)) else None
    if given is not None:
        return given
    records = [r for r in data if isinstance(r, Mapping)] if isinstance(data, list) else []
    if any("rejected_response" in r for r in records):
        return "ms-swift", _SWIFT
    if any("messages" in r for r in records):
        return "sharegpt-openai", OPENAI
    if any("video" in r or "image" in r for r in records):
        return "qwen-vl", _QWEN_VL
    return "sharegpt", SHAREGPT


def _reply(value, layout: Layout) -> str:
    if isinstance(value, Mapping):
        value = value.get(layout.content_tag, value.get("value", value.get("content")))
    return value if isinstance(value, str) else ""


def _problem(rid: str, reason: str, message: str) -> OmniBenchError:
    return OmniBenchError(f"{rid}: {message}", source=rid, reason=reason)


def _pair(raw, index: int, stem: str, fmt: str, layout: Layout, media_root, use_audio: bool) -> tuple:
    """(pair, images, unresolved time tokens, use_audio) of one record; raises OmniBenchError for what makes
    it no pair (never opens a file)."""
    rid = f"{stem}:{index}"
    if isinstance(raw, BrokenLine):
        raise _problem(rid, "bad-line", raw.message)
    if not isinstance(raw, Mapping):
        raise _problem(rid, "no-turns", "not a record (a JSON object)")
    rid = str(raw.get("id", rid))
    fields = sharegpt_fields(raw, layout)
    if fields.defects:
        raise _problem(rid, *fields.defects[0])
    turns, chosen = list(fields.turns), _reply(raw.get(layout.chosen), layout)
    if fmt == "ms-swift" and turns and turns[-1][0] == "gpt":
        chosen, turns = turns[-1][1], turns[:-1]
    rejected = _reply(raw.get(layout.rejected), layout)
    if not turns:
        raise _problem(rid, "no-turns", "no prompt turns")
    for position, (role, _) in enumerate(turns):
        expected = "human" if position % 2 == 0 else "gpt"
        if role != expected:
            raise _problem(rid, "roles", f"prompt turn {position + 1} is from {role!r}, expected {expected!r} "
                                         "(human, gpt, ..., ending in a human turn)")
    if len(turns) % 2 == 0:
        raise _problem(rid, "roles", "the prompt ends in a gpt turn; it must end in the human turn both replies "
                                     "answer")
    for side, text in (("chosen", chosen), ("rejected", rejected)):
        if not text.strip():
            raise _problem(rid, "empty-reply", f"the {side} reply is empty")
        if TAG.search(text):
            raise _problem(rid, "tag-count", f"the {side} reply contains a media tag; tags belong in the prompt")
    if chosen.strip() == rejected.strip():
        raise _problem(rid, "same-replies", "chosen and rejected are the same text: the pair teaches nothing")
    known = {"id", layout.messages, layout.system, layout.videos, layout.audios, layout.images, layout.chosen,
             layout.rejected}
    extra = {k: v for k, v in raw.items() if k not in known}
    videos = tuple(os.path.abspath(resolve_media(v, media_root)) for v in fields.videos)
    audios = tuple(os.path.abspath(resolve_media(a, media_root)) for a in fields.audios)
    unresolved = tuple(dict.fromkeys(t for _, text in turns for t in TIME_TOKEN.findall(text)))
    pair = PreferencePair(index, rid, tuple(turns), chosen, rejected, videos, audios, False, fields.system,
                          extra)
    return pair, fields.images, unresolved, use_audio


def read_pairs(path, media_root: str | os.PathLike | None = None, *, settings: LayoutSettings | None = None,
               processor=None, max_total_tokens: int | None = None, check_media: bool = True,
               progress: bool | None = None) -> tuple[list[PreferencePair], list[Problem]]:
    """The good pairs of a preference file and one :class:`Problem` per bad record (file order).

    ``media_root`` None: the file's folder. ``check_media`` False: the record's own checks only
    (roles, empty sides, same replies, tags in replies), no file opened, no processor loaded.
    ``max_total_tokens`` None: the model's context. The file itself unreadable or not a list of
    preference records: OmniBenchError.
    """
    data = _read_json(path)
    if not isinstance(data, list) or not is_preference_data(data, _form(data, path)[1]):
        raise OmniBenchError(f"{path}: not a preference file (a JSON list of records with chosen and rejected, or "
                             f"ms-swift's rejected_response); forms read: {'; '.join(PREFERENCE_FORMATS.values())}",
                             source=str(path), reason="bad-format")
    media_root = media_root if media_root is not None else (
        Path(path).parent if isinstance(path, (str, os.PathLike)) else ".")
    fmt, layout = _form(data, path)
    settings = settings or LayoutSettings()
    gate = Gate(media_root=media_root, settings=settings, processor=processor,
                max_total_tokens=max_total_tokens) if check_media else None
    use_audio = gate.resolved.use_audio if gate else settings.resolve().use_audio
    pairs, problems = [], []
    rows = enumerate(data)
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm.auto import tqdm

        rows = tqdm(rows, total=len(data), desc="pairs", unit="pair", file=sys.stderr)
    for index, raw in rows:
        rid = str(raw.get("id", f"{_stem(path)}:{index}")) if isinstance(raw, Mapping) else f"{_stem(path)}:{index}"
        try:
            pairs.append(_checked(_pair(raw, index, _stem(path), fmt, layout, media_root, use_audio), gate))
        except OmniBenchError as exc:
            problems.append(Problem.from_error(rid, exc))
        except Exception as exc:  # a bad record must never stop the read
            problems.append(Problem(rid, "error", f"{type(exc).__name__}: {exc}"))
    return pairs, problems


def _checked(parsed, gate: Gate | None) -> PreferencePair:
    """The pair through the gate (both sides, never truncated); folded audio and use_audio_in_video set."""
    pair, images, unresolved, use_audio = parsed
    record = Record(pair.id, (*pair.prompt, ("gpt", pair.chosen)), pair.videos, tuple(images),
                    unresolved=unresolved, source="preference", audios=pair.audios, system=pair.system)
    if gate is None:
        if unresolved:
            raise time_token_error(pair.id, unresolved)
        record = fold_audio(record, turns_of(record.conversations, source=pair.id))
        tags = media_tags(turns_of(record.conversations, source=pair.id))
        for tag, media in ((VIDEO_TAG, record.videos), (IMAGE_TAG, record.images)):
            if tags.count(tag) != len(media):
                raise tag_count_error(pair.id, tag, tags.count(tag), len(media))
    else:
        checked = gate.check(record)
        record = checked.record
        rejected = gate.fit(record.replace(conversations=(*record.conversations[:-1], ("gpt", pair.rejected))),
                            checked.sample.media_tokens)
        for side, sample in (("chosen", checked.sample), ("rejected", rejected)):
            if sample.dropped_turns:
                raise _problem(pair.id, "over-budget", f"over budget: prompt + the {side} reply need more than "
                               f"max_total_tokens {gate.max_total_tokens} tokens with every turn; a pair is never "
                               "truncated (use fewer / smaller frames or a larger budget)")
    prompt = record.conversations[:-1]
    return replace(pair, prompt=prompt, audios=record.audios, use_audio_in_video=bool(use_audio and record.videos))


def check_pairs(pairs: Sequence[PreferencePair], gate: Gate) -> list[Problem]:
    """Problems of pairs already in memory (e.g. built by ``omni-bench pairs``), through ``gate``."""
    problems = []
    for pair in pairs:
        try:
            _checked((pair, (), (), gate.resolved.use_audio), gate)
        except OmniBenchError as exc:
            problems.append(Problem.from_error(pair.id, exc))
    return problems


def validate_pairs(path, media_root=None, *, settings: LayoutSettings | None = None, processor=None,
                   max_total_tokens: int | None = None, progress: bool | None = None) -> ValidationReport:
    """``validate`` on a preference file: every pair valid or listed with its reason."""
    gate_budget = Gate(media_root=media_root or ".", settings=settings, processor=processor,
                       max_total_tokens=max_total_tokens)
    pairs, problems = read_pairs(path, media_root, settings=settings, processor=gate_budget.processor,
                                 max_total_tokens=max_total_tokens, progress=progress)
    fmt = _form(_read_json(path), path)[0]
    return ValidationReport(len(pairs) + len(problems), len(pairs), tuple(problems), gate_budget.max_total_tokens,
                            (), gate_budget.budget_source, (), f"preference pairs, {fmt}")


def write_pairs(path, pairs: Sequence[PreferencePair], *, media_root: str | os.PathLike | None = None) -> Path:
    """Write pairs in LLaMA-Factory's sharegpt preference form (JSON list), readable by :func:`read_pairs`.

    Video / audio paths are written relative to ``media_root`` when they lie under it (else
    absolute); ``extra`` fields follow the record's own. Returns the path written.
    """
    root = Path(media_root).resolve() if media_root is not None else None

    def where(name: str) -> str:
        full = Path(name).resolve()
        if root is not None and full.is_relative_to(root):
            return full.relative_to(root).as_posix()
        return str(full)

    rows = []
    for pair in pairs:
        row = {"id": pair.id,
               "conversations": [{"from": role, "value": text} for role, text in pair.prompt],
               "chosen": {"from": "gpt", "value": pair.chosen},
               "rejected": {"from": "gpt", "value": pair.rejected}}
        if pair.system is not None:
            row["system"] = pair.system
        if pair.videos:
            row["videos"] = [where(v) for v in pair.videos]
        if pair.audios:
            row["audios"] = [where(a) for a in pair.audios]
        row.update({k: v for k, v in pair.extra.items() if k not in row})
        rows.append(row)
    path = Path(path)
    try:
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise OmniBenchError(f"{path}: cannot write the pairs ({exc.strerror or exc})", source=str(path),
                             reason="bad-output") from None
    return path
