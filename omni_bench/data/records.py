"""Training data formats read into one :class:`Record` type, timestamps rendered, datasets mixed.

Covered
-------
* **LongVALE SFT** records: ``id``, ``conversations`` (``from`` human/gpt, ``value``),
  ``meta.duration`` and ``meta.token`` mapping ``<s0>``, ``<e0>``, ... to seconds. The video
  is the ``video`` field, or ``<id>`` with any of :data:`VIDEO_SUFFIXES` under the media
  root (:func:`resolve_media`); a record that names no media and has no ``<video>`` tag in
  its turns is text only (no video).
* **LongVALE annotations** (``{id: {duration, timestamps, sentences}}``) turned into one
  record per video for a task: ``grounding`` (caption -> interval, one turn per event),
  ``dense`` (all events with their intervals, one turn) or ``segment`` (interval ->
  caption, one turn per event).
* **Qwen-VL** records: ``video`` (a path or a list), ``image`` or ``images``, and
  ``conversations``; JSON lists or JSON Lines.
* **LLaMA-Factory sharegpt** (``conversations`` with ``from``/``value``, or its OpenAI layout
  ``messages`` with ``role``/``content``) and **ms-swift** (``messages``) records with
  ``videos`` / ``audios`` / ``images``; a ``dataset_info.json`` beside the file renames their
  columns and role words (:mod:`omni_bench.data.formats` knows the layouts; ``auto`` detects
  them, :func:`detect_format`).
* Time rendering (:func:`render_time`): LongVALE's own two-digit relative form,
  ``min(round(t / duration * 100), 99)`` zero-padded (``"40"``, as LongVALE's
  ``LazySupervisedDataset`` renders ``meta.token``), or the percentage form of the LongVALE
  notebook (``"40.0%"``: one decimal, "From 83.1% to 85.0%.").
* Mixing with Qwen-VL's ``name%50`` notation (:func:`mix`): 50% of that dataset, chosen
  deterministically from a seed, file order kept.

Loaders never raise for one bad record: whatever a record gets wrong (odd roles, an
unknown time token, no conversations) stays visible in the :class:`Record` for
:mod:`omni_bench.validate` to report. A file that cannot be read at all raises
:class:`~omni_bench.core.errors.OmniBenchError`.

Left out: the alpaca layout, up-sampling (``%`` above 100), streaming datasets.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.media import VIDEO_SUFFIXES
from omni_bench.core.numbers import POSITIVE, check_number
from omni_bench.data.formats import (
    FORMATS,
    detect_format,
    in_unread_layout,
    layout_of,
    layout_of_dataset_info,
    sharegpt_fields,
    unread_layout_message,
)
from omni_bench.data.tags import TIME_TOKEN, VIDEO_TAG

__all__ = [
    "Record", "TIME_FORMATS", "TASKS", "VIDEO_SUFFIXES", "render_time", "render_timestamps",
    "load_records", "load_longvale_sft", "load_longvale_annotations", "load_qwen_vl",
    "resolve_media", "parse_mix", "sample_percent", "mix", "BrokenLine", "FORMATS", "detect_format",
]

TIME_FORMATS = ("relative", "percent")  # LongVALE's "40" / the LongVALE notebook's "40.0%"
TASKS = ("grounding", "dense", "segment")  # what LongVALE annotations are turned into
_ROLES = {"human": "human", "user": "human", "gpt": "gpt", "assistant": "gpt", "system": "system"}

# Prompts of the records made from LongVALE annotations. The first human turn carries the video tag.
GROUNDING_PROMPT = "At which time interval in the video can we see {sentence}?"
GROUNDING_REPLY = "From {start} to {end}."
DENSE_PROMPT = "Could you describe every event in the video with its start and end time?"
DENSE_EVENT = "From {start} to {end}, {sentence}"
SEGMENT_PROMPT = "What happens from {start} to {end}?"


@dataclass(frozen=True)
class Record:
    """One training record, whatever file format it came from.

    >>> Record("v1", (("human", "<video>\\nHi?"), ("gpt", "Hello.")), videos=("v1.mp4",)).turn_count
    1
    """

    id: str  # the record's id (LongVALE id, or "<file stem>:<index>" when the file has none)
    conversations: tuple[tuple[str, str], ...]  # (role, text); roles "human"/"gpt" (others kept verbatim)
    videos: tuple[str, ...] = ()  # video paths as written, relative to the media root (or an id, no suffix)
    images: tuple[str, ...] = ()  # image paths as written, relative to the media root
    duration: float | None = None  # seconds, from meta.duration / the annotation (None: unknown)
    timestamps: tuple[float, ...] = ()  # every time (s) the record's text refers to
    unresolved: tuple[str, ...] = ()  # time tokens such as "<s3>" with no value in meta.token
    source: str = ""  # the format: "longvale", "longvale-grounding", "qwen-vl", ...
    defects: tuple[tuple[str, str], ...] = ()  # (reason, message) the loader found: a broken JSON Lines line,
        # a turn value not a string, a bad duration, an interval ending before it starts (omni_bench.data.content)
    audios: tuple[str, ...] = ()  # audio paths as written (LLaMA-Factory / ms-swift "audios"), one per <audio> tag
    system: str | None = None  # the record's own system prompt (sharegpt "system"); None: the settings' one

    @property
    def turn_count(self) -> int:
        """Human turns (each with the reply after it): what single-turn splitting makes samples of."""
        return sum(1 for role, _ in self.conversations if role == "human")

    def replace(self, **changes) -> Record:
        return replace(self, **changes)


def render_time(seconds: float, duration: float, time_format: str = "relative") -> str:
    """One timestamp as text, relative to the video's duration.

    ``relative`` is LongVALE's form: ``min(round(t / d * 100), 99)`` with two digits;
    ``percent`` is the LongVALE notebook's form with one decimal.

    >>> render_time(3.2, 8.0), render_time(0.0, 8.0), render_time(8.0, 8.0)
    ('40', '00', '99')
    >>> render_time(3.2, 8.0, "percent"), render_time(8.0, 8.0, "percent")
    ('40.0%', '100.0%')
    """
    if time_format not in TIME_FORMATS:
        raise OmniBenchError(f"unknown time format {time_format!r}; known: {', '.join(TIME_FORMATS)}",
                             reason="bad-settings")
    if not duration or duration <= 0:
        raise OmniBenchError(f"cannot render {seconds} s relative to duration {duration}", reason="duration")
    share = seconds / duration * 100
    if time_format == "percent":
        return f"{share:.1f}%"
    return f"{min(round(share), 99):02d}"


def render_timestamps(text: str, tokens: Mapping[str, float], duration: float | None,
                      time_format: str = "relative") -> tuple[str, tuple[str, ...]]:
    """Replace ``<s0>``/``<e0>``... in text by rendered times; return (text, tokens left unresolved).

    >>> render_timestamps("From <s0> to <e0>.", {"<s0>": 3.2, "<e0>": 4.8}, 8.0)
    ('From 40 to 60.', ())
    >>> render_timestamps("From <s0> to <e9>.", {"<s0>": 3.2}, 8.0, "percent")
    ('From 40.0% to <e9>.', ('<e9>',))
    """
    missing: list[str] = []

    def sub(match: re.Match) -> str:
        token = match.group(0)
        if token in tokens and duration:
            return render_time(float(tokens[token]), duration, time_format)
        missing.append(token)
        return token

    return TIME_TOKEN.sub(sub, text), tuple(missing)


def _as_list(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return (str(value),)


def _conversations(raw, defects: list) -> tuple[tuple[str, str], ...]:
    out = []
    for number, turn in enumerate(raw if isinstance(raw, list) else [], 1):
        if not isinstance(turn, Mapping):
            out.append(("?", str(turn)))
            continue
        role = str(turn.get("from", turn.get("role", "?")))
        value = turn.get("value", turn.get("content", ""))
        if value is not None and not isinstance(value, str):
            defects.append(("turn-value", f"turn {number}'s value is {type(value).__name__} {_short(value)}, "
                                          "not a string"))
        out.append((_ROLES.get(role.lower(), role), "" if value is None else str(value)))
    return tuple(out)


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _duration(value, what: str, defects: list) -> float | None:
    """A record's duration in seconds, or None with a defect for one that is not a finite number > 0."""
    if value is None:
        return None
    try:
        return float(check_number(value, what, POSITIVE))
    except OmniBenchError as exc:
        defects.append(("duration", str(exc)))
        return None


def _from_dict(raw: Mapping, index: int, stem: str, time_format: str, fmt: str) -> Record:
    """One LongVALE SFT or Qwen-VL dict as a Record (never raises for the record's content)."""
    if isinstance(raw, BrokenLine):
        return Record(f"{stem}:{index}", (), source=fmt, defects=(("bad-line", raw.message),))
    if not isinstance(raw, Mapping):
        return Record(f"{stem}:{index}", (), source=fmt)
    ident = str(raw.get("id", f"{stem}:{index}"))
    defects: list = []
    if in_unread_layout(raw):  # alpaca's instruction / output, or no field of a layout read: name those read
        defects.append(("bad-format", unread_layout_message(list(raw))))
    meta = raw.get("meta") if isinstance(raw.get("meta"), Mapping) else {}
    duration = _duration(meta.get("duration", raw.get("duration")), "meta.duration", defects)
    tokens = meta.get("token") if isinstance(meta.get("token"), Mapping) else {}
    tokens = _time_tokens(tokens, defects)
    videos = _as_list(raw.get("video", raw.get("videos")))
    images = _as_list(raw.get("image")) + _as_list(raw.get("images"))
    turns, unresolved = [], []
    for role, text in _conversations(raw.get("conversations"), defects):
        text, missing = render_timestamps(text, tokens, duration, time_format)
        turns.append((role, text))
        unresolved.extend(missing)
    if not videos and not images and fmt == "longvale" and any(VIDEO_TAG in text for _, text in turns):
        videos = (ident,)  # LongVALE: <id>.mp4 (or another suffix) under the media root; no tag: text only
    stamps = tuple(tokens.values())
    return Record(ident, tuple(turns), videos, images, duration, stamps, tuple(dict.fromkeys(unresolved)), fmt,
                  tuple(defects))


def _time_tokens(tokens: Mapping, defects: list) -> dict[str, float]:
    """``meta.token`` with its finite numbers only; a value that is not one, or an ``<sN>`` after its
    ``<eN>``, is a defect."""
    good = {}
    for name, value in tokens.items():
        try:
            good[str(name)] = float(check_number(value, f"meta.token {name}"))
        except OmniBenchError as exc:
            defects.append(("time-value", str(exc)))
    for name, start in good.items():
        end = good.get(name.replace("<s", "<e", 1)) if name.startswith("<s") else None
        if end is not None and end < start:
            defects.append(("interval", f"{name} = {start:g} s is after {name.replace('<s', '<e', 1)} = {end:g} s"))
    return good


@dataclass(frozen=True)
class BrokenLine:
    """A line of a JSON Lines file that is not JSON: the loaders make it a record with a "bad-line" defect."""

    message: str  # "line 3: not JSON (Expecting value, column 1)"


def _read_json(source) -> object:
    """The parsed file (or ``source`` itself when it is not a path). JSON Lines: a list with a
    :class:`BrokenLine` for each line that does not parse. Unreadable, not UTF-8, nested too deep,
    or neither JSON nor JSON Lines: OmniBenchError naming the file."""
    if not isinstance(source, (str, os.PathLike)):
        return source
    path = Path(source)
    text = _read_text(path)
    try:
        data = json.loads(text)
        # a JSON Lines file of one record parses as one JSON object: it is still a list of records
        return [data] if path.suffix.lower() == ".jsonl" and isinstance(data, dict) else data
    except RecursionError:
        raise OmniBenchError(f"{path}: JSON nested too deeply to read", source=str(path), reason="bad-json") from None
    except json.JSONDecodeError as first:
        lines = _json_lines(text)
        if not any(not isinstance(row, BrokenLine) for _, row in lines):
            raise OmniBenchError(f"{path}: not JSON or JSON Lines ({first.msg}, line {first.lineno})",
                                 source=str(path), reason="bad-json") from None
        return [row for _, row in lines]


def _read_text(path: Path) -> str:
    if not path.exists():
        raise OmniBenchError(f"{path}: annotation file not found", source=str(path), reason="missing")
    if path.is_dir():
        raise OmniBenchError(f"{path}: is a folder, not an annotation file", source=str(path), reason="not-a-file")
    try:
        data = path.read_bytes()  # a pipe (/dev/stdin) or a FIFO reads too
    except OSError as exc:
        raise OmniBenchError(f"{path}: cannot read ({exc.strerror or exc})", source=str(path),
                             reason="unreadable") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OmniBenchError(f"{path}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as "
                             "UTF-8, e.g. iconv -f latin1 -t utf-8", source=str(path), reason="encoding") from None


def _json_lines(text: str) -> list[tuple[int, object]]:
    """``(line number, value or BrokenLine)`` for every non-blank line."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except (json.JSONDecodeError, RecursionError) as exc:
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            rows.append((number, BrokenLine(f"line {number}: not JSON ({why})")))
    return rows


def _stem(source) -> str:
    return Path(source).stem if isinstance(source, (str, os.PathLike)) else "records"


def load_longvale_sft(source, *, time_format: str = "relative") -> list[Record]:
    """Records of a LongVALE SFT file (path, or the already loaded list), time tokens rendered."""
    data = _read_json(source)
    if not isinstance(data, list):
        raise OmniBenchError(f"{source}: a LongVALE SFT file is a JSON list of records", reason="bad-format")
    return [_from_dict(raw, i, _stem(source), time_format, "longvale") for i, raw in enumerate(data)]


def load_qwen_vl(source) -> list[Record]:
    """Records of a Qwen-VL file: ``video``/``image``/``images`` + ``conversations`` (JSON or JSONL)."""
    data = _read_json(source)
    if not isinstance(data, list):
        raise OmniBenchError(f"{source}: a Qwen-VL file is a JSON list (or JSON Lines) of records",
                             reason="bad-format")
    return [_from_dict(raw, i, _stem(source), "relative", "qwen-vl") for i, raw in enumerate(data)]


def load_longvale_annotations(source, *, task: str = "grounding", time_format: str = "relative") -> list[Record]:
    """One record per video of a LongVALE annotation file, for one task (see :data:`TASKS`).

    ``{"v": {"duration": 8, "timestamps": [[0, 4]], "sentences": ["A bar."]}}`` with
    ``task="grounding"`` gives ``human: "<video>\\nAt which time interval in the video can
    we see a bar?"``, ``gpt: "From 00 to 50."``. Video: ``<id>`` plus a suffix under the
    media root.
    """
    if task not in TASKS:
        raise OmniBenchError(f"unknown task {task!r}; known: {', '.join(TASKS)}", reason="bad-settings")
    data = _read_json(source)
    if not isinstance(data, Mapping):
        raise OmniBenchError(f"{source}: LongVALE annotations are a JSON object keyed by video id",
                             reason="bad-format")
    return [_annotation_record(str(key), value, task, time_format) for key, value in data.items()]


def _annotation_record(ident: str, raw, task: str, time_format: str) -> Record:
    fmt = f"longvale-{task}"
    if not isinstance(raw, Mapping):
        return Record(ident, (), (ident,), source=fmt)
    defects: list = []
    duration = _duration(raw.get("duration"), "duration", defects)
    events = _events(raw, defects)
    stamps = tuple(t for pair, _ in events for t in pair)

    def when(seconds: float) -> str:
        return render_time(seconds, duration, time_format) if duration else f"{seconds:g}s"

    def clause(sentence: str) -> str:  # "A bar moves." -> "a bar moves" (an all-caps first word is kept)
        sentence = sentence.strip().rstrip(".")
        first = sentence.split(" ", 1)[0]
        return sentence if len(first) > 1 and first.isupper() else sentence[:1].lower() + sentence[1:]

    turns: list[tuple[str, str]] = []
    if task == "dense":
        reply = " ".join(DENSE_EVENT.format(start=when(s), end=when(e), sentence=clause(text)) + "."
                         for (s, e), text in events)
        turns = [("human", DENSE_PROMPT), ("gpt", reply)]
    else:
        for (start, end), text in events:
            if task == "grounding":
                turns += [("human", GROUNDING_PROMPT.format(sentence=clause(text))),
                          ("gpt", GROUNDING_REPLY.format(start=when(start), end=when(end)))]
            else:
                turns += [("human", SEGMENT_PROMPT.format(start=when(start), end=when(end))),
                          ("gpt", text.strip())]
    if turns:
        turns[0] = ("human", f"{VIDEO_TAG}\n" + turns[0][1])
    return Record(ident, tuple(turns), (ident,), (), duration, stamps, (), fmt, tuple(defects))


def _events(raw: Mapping, defects: list) -> list[tuple[tuple[float, float], str]]:
    """The (interval, sentence) pairs of one video's annotations; what does not pair up or is not a
    [start, end] of finite numbers with start <= end, or a sentence that is not a string, is a defect."""
    stamps, sentences = raw.get("timestamps") or [], raw.get("sentences") or []
    if not isinstance(stamps, list) or not isinstance(sentences, list) or len(stamps) != len(sentences):
        count = len(stamps) if isinstance(stamps, list) else type(stamps).__name__
        said = len(sentences) if isinstance(sentences, list) else type(sentences).__name__
        defects.append(("events", f"{count} timestamps but {said} sentences: every event needs both"))
        if not (isinstance(stamps, list) and isinstance(sentences, list)):
            stamps, sentences = [], []
    events = []
    for number, (pair, text) in enumerate(zip(stamps, sentences), 1):
        try:
            if not isinstance(pair, list) or len(pair) != 2:
                raise OmniBenchError(f"event {number}: timestamps {_short(pair)} is not [start, end]")
            start, end = (float(check_number(t, f"event {number}'s timestamp")) for t in pair)
            if end < start:
                raise OmniBenchError(f"event {number}: ends at {end:g} s, before it starts ({start:g} s)")
            if not isinstance(text, str):
                raise OmniBenchError(f"event {number}: sentence {_short(text)} is not a string")
        except OmniBenchError as exc:
            defects.append(("interval" if "before it starts" in str(exc) else "events", str(exc)))
            continue
        events.append(((start, end), text))
    return events


def load_records(source, *, format: str = "auto", task: str = "grounding",
                 time_format: str = "relative") -> list[Record]:
    """Load any supported file. ``format``: "auto" or one of :data:`FORMATS`.

    Auto (:func:`detect_format`): an object keyed by id is LongVALE annotations; records with
    ``messages`` are LLaMA-Factory's OpenAI layout (ms-swift's when they carry its own keys);
    records with ``meta`` are LongVALE SFT; with ``videos`` / ``audios`` lists LLaMA-Factory
    sharegpt; with ``video`` / ``image`` / ``images`` Qwen-VL. A ``dataset_info.json`` beside the
    file naming it decides instead. Each record's ``source`` is the format read.
    """
    data = _read_json(source)
    layout = None
    if isinstance(source, (str, os.PathLike)) and format in ("auto", "sharegpt", "sharegpt-openai"):
        given = layout_of_dataset_info(source)
        if given is not None:
            format, layout = given if format == "auto" else (format, given[1])
    if format == "auto":
        format = detect_format(data)[0]
    stem = _stem(source)
    if format not in FORMATS:
        raise OmniBenchError(f"unknown format {format!r}; known: auto, {', '.join(FORMATS)}", reason="bad-settings")
    if format == "longvale-annotations":
        if not isinstance(data, Mapping):
            raise OmniBenchError(f"{source}: LongVALE annotations are a JSON object keyed by video id",
                                 reason="bad-format")
        return [_annotation_record(str(k), v, task, time_format) for k, v in data.items()]
    if not isinstance(data, list):
        raise OmniBenchError(f"{source}: expected a JSON list of records", reason="bad-format")
    if format in ("longvale", "qwen-vl"):
        return [_from_dict(raw, i, stem, time_format, format) for i, raw in enumerate(data)]
    layout = layout or layout_of(format)
    return [_from_sharegpt(raw, i, stem, format, layout) for i, raw in enumerate(data)]


def _from_sharegpt(raw, index: int, stem: str, fmt: str, layout) -> Record:
    """One LLaMA-Factory / ms-swift record as a Record (never raises for the record's content)."""
    if isinstance(raw, BrokenLine):
        return Record(f"{stem}:{index}", (), source=fmt, defects=(("bad-line", raw.message),))
    if not isinstance(raw, Mapping):
        return Record(f"{stem}:{index}", (), source=fmt)
    fields = sharegpt_fields(raw, layout)
    unresolved = [token for _, text in fields.turns for token in TIME_TOKEN.findall(text)]
    return Record(str(raw.get("id", f"{stem}:{index}")), fields.turns, fields.videos, fields.images,
                  unresolved=tuple(dict.fromkeys(unresolved)), source=fmt, defects=fields.defects,
                  audios=fields.audios, system=fields.system)


def resolve_media(name: str, media_root: str | os.PathLike | None) -> Path:
    """The file a record's media name refers to under the media root.

    A name that exists as given (absolute, or relative to the root) is used; a name with no
    suffix (a LongVALE id) gets the first of :data:`VIDEO_SUFFIXES` that exists; otherwise
    the ``.mp4`` candidate is returned so the caller reports it missing.
    """
    root = Path(media_root) if media_root is not None else Path(".")
    path = Path(name) if os.path.isabs(name) else root / name
    if path.exists() or path.suffix.lower() in (*VIDEO_SUFFIXES, ".jpg", ".jpeg", ".png", ".webp", ".bmp"):
        return path
    for suffix in VIDEO_SUFFIXES:
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            return candidate
    return path.with_name(path.name + VIDEO_SUFFIXES[0])


def parse_mix(spec: str | Sequence[str]) -> list[tuple[str, float]]:
    """``"longvale%50,qwen_vl"`` -> ``[("longvale", 50.0), ("qwen_vl", 100.0)]``.

    >>> parse_mix("a%50, b")
    [('a', 50.0), ('b', 100.0)]
    """
    parts = [p.strip() for p in (spec.split(",") if isinstance(spec, str) else spec) if p.strip()]
    out = []
    for part in parts:
        name, _, percent = part.rpartition("%") if "%" in part else (part, "", "100")
        try:
            value = float(percent)
        except ValueError:
            raise OmniBenchError(f"bad dataset spec {part!r}: expected NAME or NAME%PERCENT",
                                 reason="bad-settings") from None
        if not 0 < value <= 100:
            raise OmniBenchError(f"bad dataset spec {part!r}: the percentage must be in (0, 100]",
                                 reason="bad-settings")
        out.append((name.strip(), value))
    return out


def sample_percent(records: Sequence, percent: float, *, seed: int = 0) -> list:
    """``int(len * percent / 100)`` records chosen with ``random.Random(seed)``, in file order.

    Qwen-VL's rule (``random.sample(annotations, int(len * rate))``) made deterministic.

    >>> sample_percent(list(range(10)), 50, seed=0)
    [0, 2, 4, 6, 9]
    """
    count = int(len(records) * percent / 100)
    if percent >= 100:
        return list(records)
    chosen = sorted(random.Random(seed).sample(range(len(records)), count))
    return [records[i] for i in chosen]


def mix(datasets: Mapping[str, Sequence[Record]], spec: str | Sequence[str] | None = None, *,
        seed: int = 0) -> list[Record]:
    """Concatenate datasets, each sampled by its ``%`` share (every dataset at 100% without a spec).

    Each dataset is sampled with its own seed (``seed`` + its position in the spec), so
    changing one share never changes which records another contributes.
    """
    wanted = parse_mix(spec) if spec is not None else [(name, 100.0) for name in datasets]
    out: list[Record] = []
    for position, (name, percent) in enumerate(wanted):
        if name not in datasets:
            raise OmniBenchError(f"unknown dataset {name!r} in the mix; known: {', '.join(datasets)}",
                                 source=name, reason="bad-settings")
        out.extend(sample_percent(datasets[name], percent, seed=seed + position))
    return out

