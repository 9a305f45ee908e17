"""The record layouts researchers have, named: which one a file is in, and the fields of one record.

Covered (:data:`FORMATS`; docs/data_formats.md has a minimal example of each):

* ``longvale``: LongVALE SFT (``id``, ``conversations`` with ``from`` / ``value``, ``meta``);
* ``longvale-annotations``: LongVALE's ``{id: {duration, timestamps, sentences}}``;
* ``qwen-vl``: ``video`` / ``image`` / ``images`` beside ``conversations`` (``from`` / ``value``);
* ``sharegpt``: LLaMA-Factory's sharegpt, ``conversations`` with ``from`` / ``value`` (``human``,
  ``gpt``, ``system``), media lists ``videos`` / ``audios`` / ``images``, an optional ``system``;
* ``sharegpt-openai``: LLaMA-Factory's OpenAI layout of sharegpt, ``messages`` with ``role`` /
  ``content`` (``user``, ``assistant``, a leading ``system``) and the same media lists;
* ``ms-swift``: ms-swift's ``messages`` + ``videos`` / ``audios`` / ``images`` form (read as the
  OpenAI layout; ``rejected_response`` is its preference field).

LLaMA-Factory's ``dataset_info.json`` (in the data file's folder, the entry whose ``file_name`` is
the file) renames columns (``columns``: ``messages``, ``system``, ``videos``, ``audios``,
``images``, ``chosen``, ``rejected``) and role words (``tags``: ``role_tag``, ``content_tag``,
``user_tag``, ``assistant_tag``, ``system_tag``): :func:`layout_of_dataset_info`.

Tags are LLaMA-Factory's and ms-swift's: ``<video>``, ``<audio>``, ``<image>``
(:mod:`omni_bench.data.tags`). This module knows names and fields only; it reads no file but
``dataset_info.json`` and builds no record (:mod:`omni_bench.data.records` does).

Left out: the alpaca layout (``instruction`` / ``input`` / ``output``), tool calls
(``observation`` / ``function_call`` turns are kept as roles and refused by the gate), KTO tags,
multimodal content lists (``[{"type": "video", ...}]`` inside ``content``), hub datasets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from omni_bench.core.errors import OmniBenchError

__all__ = ["FORMATS", "Layout", "SHAREGPT", "OPENAI", "detect_format", "layout_of", "layout_of_dataset_info",
           "in_unread_layout", "unread_layout_message", "Fields", "sharegpt_fields"]

# format name -> what it is (the --data-format choices, "auto" aside)
FORMATS = {
    "longvale": "LongVALE SFT: id, conversations (from/value), meta.duration, meta.token",
    "longvale-annotations": "LongVALE annotations: {id: {duration, timestamps, sentences}}",
    "qwen-vl": "Qwen-VL: video / image / images beside conversations (from/value)",
    "sharegpt": "LLaMA-Factory sharegpt: conversations (from/value) + videos / audios / images",
    "sharegpt-openai": "LLaMA-Factory sharegpt, OpenAI layout: messages (role/content) + videos / audios / images",
    "ms-swift": "ms-swift: messages (role/content) + videos / audios / images",
}
_SWIFT_ONLY = ("rejected_response", "rejected_messages", "objects", "label")  # keys LLaMA-Factory never writes


@dataclass(frozen=True)
class Layout:
    """Column names and role words of a sharegpt-style record (LLaMA-Factory's ``columns`` and ``tags``)."""

    messages: str = "conversations"  # the list of turns
    system: str = "system"  # a system prompt column (a leading system turn works too)
    videos: str = "videos"  # video paths, one per <video> tag
    audios: str = "audios"  # audio paths, one per <audio> tag
    images: str = "images"  # image paths, one per <image> tag
    chosen: str = "chosen"  # preference: the better reply ({from, value} or a string)
    rejected: str = "rejected"  # preference: the worse reply
    role_tag: str = "from"  # the key of a turn's role
    content_tag: str = "value"  # the key of a turn's text
    user_tag: str = "human"  # the role word of the user
    assistant_tag: str = "gpt"  # the role word of the assistant
    system_tag: str = "system"  # the role word of a system turn

    def role(self, word) -> str:
        """A turn's role word as omni_bench's: "human", "gpt", "system" (others verbatim).

        >>> OPENAI.role("user"), OPENAI.role("assistant"), SHAREGPT.role("observation")
        ('human', 'gpt', 'observation')
        """
        return {self.user_tag: "human", self.assistant_tag: "gpt", self.system_tag: "system"}.get(word, str(word))


SHAREGPT = Layout()
OPENAI = Layout(messages="messages", role_tag="role", content_tag="content", user_tag="user",
                assistant_tag="assistant")
_LAYOUTS = {"sharegpt": SHAREGPT, "sharegpt-openai": OPENAI, "ms-swift": replace(OPENAI, rejected="rejected_response")}


def layout_of(format: str) -> Layout:
    """The columns of a sharegpt-style format name (``sharegpt``, ``sharegpt-openai``, ``ms-swift``)."""
    return _LAYOUTS[format]


def unread_layout_message(keys: Sequence[str]) -> str:
    """The one line for a record in no layout that is read, naming those that are.

    >>> unread_layout_message(["instruction", "output"])[:62]
    'a record with fields instruction, output is in no layout read '
    """
    read = "; ".join(f"{name} ({what.split(': ', 1)[1]})" for name, what in FORMATS.items())
    return (f"a record with fields {', '.join(map(str, keys)) or '(none)'} is in no layout read here; "
            f"the layouts read: {read} (docs/data_formats.md)")


def in_unread_layout(raw: Mapping) -> bool:
    """A record with no turns column that is in another layout (alpaca's ``instruction`` / ``output``) or holds
    no field of the layouts read; one with media but no conversation is a read layout missing its turns.

    >>> in_unread_layout({"instruction": "Hi", "output": "Yo"}), in_unread_layout({"id": "a", "video": "a.mp4"})
    (True, False)
    """
    if "conversations" in raw or "messages" in raw:
        return False
    known = ("id", "video", "videos", "image", "images", "audios", "meta", "system")
    return any(key in raw for key in ("instruction", "input", "output", "prompt", "response")) or \
        not any(key in raw for key in known)


def detect_format(data) -> tuple[str, str]:
    """The format of a parsed file, and why (``auto``'s choice, said in one stage line).

    >>> detect_format([{"messages": [], "videos": ["a.mp4"]}])
    ('sharegpt-openai', 'records with messages (role/content)')
    >>> detect_format([{"conversations": [], "videos": ["a.mp4"]}])[0], detect_format({"v": {}})[0]
    ('sharegpt', 'longvale-annotations')
    """
    if isinstance(data, Mapping):
        return "longvale-annotations", "an object keyed by video id"
    records = [r for r in data if isinstance(r, Mapping)] if isinstance(data, list) else []
    if any("messages" in r for r in records):
        if any(key in r for r in records for key in _SWIFT_ONLY):
            return "ms-swift", f"records with messages and ms-swift's {'/'.join(_SWIFT_ONLY)}"
        return "sharegpt-openai", "records with messages (role/content)"
    if any("meta" in r for r in records):
        return "longvale", "records with meta"
    if any(key in r for r in records for key in ("videos", "audios")):
        return "sharegpt", "records with conversations and videos / audios lists"
    if any(not {"video", "image", "images"} & set(r) for r in records):
        return "longvale", "records with conversations, some without a media field"
    return "qwen-vl", "records with video / image / images"


def layout_of_dataset_info(path) -> tuple[str, Layout] | None:
    """LLaMA-Factory's ``dataset_info.json`` beside ``path``: (format, columns) of the entry whose
    ``file_name`` is the file, or None when there is no such file or entry.

    A ``formatting`` other than sharegpt (alpaca) is refused with the layouts that are read.
    """
    path = Path(path)
    info_path = path.parent / "dataset_info.json"
    if not info_path.is_file():
        return None
    try:
        info = json.loads(info_path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise OmniBenchError(f"{info_path}: not a readable dataset_info.json ({exc})", source=str(info_path),
                             reason="bad-json") from None
    entries = [e for e in info.values() if isinstance(e, Mapping) and e.get("file_name") == path.name] \
        if isinstance(info, Mapping) else []
    if not entries:
        return None
    entry = entries[0]
    if entry.get("formatting", "alpaca") != "sharegpt":
        raise OmniBenchError(f"{info_path}: {path.name} is in LLaMA-Factory's {entry.get('formatting', 'alpaca')} "
                             "formatting; " + unread_layout_message(["instruction", "input", "output"]),
                             source=str(path), reason="bad-format")
    columns = {k: v for k, v in (entry.get("columns") or {}).items() if k in Layout.__dataclass_fields__}
    tags = {k: v for k, v in (entry.get("tags") or {}).items() if k in Layout.__dataclass_fields__}
    layout = replace(SHAREGPT, **{k: str(v) for k, v in {**columns, **tags}.items()})
    return ("sharegpt-openai" if layout.role_tag == "role" else "sharegpt"), layout


@dataclass(frozen=True)
class Fields:
    """What one sharegpt-style record holds, read by its :class:`Layout` (never raises)."""

    turns: tuple[tuple[str, str], ...]  # (role, text), roles "human" / "gpt" (others verbatim), no system turn
    system: str | None  # the system prompt (column or a leading system turn); None: none given
    videos: tuple[str, ...]  # video paths as written
    audios: tuple[str, ...]  # audio paths as written
    images: tuple[str, ...]  # image paths as written
    defects: tuple[tuple[str, str], ...]  # (reason, message): a turn value not a string, an unread layout


def _paths(value) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else (str(value),)


def sharegpt_fields(raw: Mapping, layout: Layout) -> Fields:
    """The turns, system prompt and media of one record in a sharegpt-style layout.

    >>> f = sharegpt_fields({"messages": [{"role": "system", "content": "Be brief."},
    ...     {"role": "user", "content": "<video>Hi?"}, {"role": "assistant", "content": "Yo."}],
    ...     "videos": ["a.mp4"]}, OPENAI)
    >>> f.turns, f.system, f.videos
    ((('human', '<video>Hi?'), ('gpt', 'Yo.')), 'Be brief.', ('a.mp4',))
    """
    defects: list[tuple[str, str]] = []
    turns: list[tuple[str, str]] = []
    listed = raw.get(layout.messages)
    if listed is None and in_unread_layout(raw):
        defects.append(("bad-format", unread_layout_message(list(raw))))
    for number, turn in enumerate(listed if isinstance(listed, list) else [], 1):
        if not isinstance(turn, Mapping):
            turns.append(("?", str(turn)))
            continue
        value = turn.get(layout.content_tag, "")
        if value is not None and not isinstance(value, str):
            text = json.dumps(value, ensure_ascii=False, default=str)
            defects.append(("turn-value", f"turn {number}'s value is {type(value).__name__} "
                                          f"{text if len(text) <= 40 else text[:37] + '...'}, not a string"))
        turns.append((layout.role(turn.get(layout.role_tag, "?")), "" if value is None else str(value)))
    system = raw.get(layout.system) if isinstance(raw.get(layout.system), str) else None
    if turns and turns[0][0] == "system":
        system, turns = turns[0][1], turns[1:]
    return Fields(tuple(turns), system, _paths(raw.get(layout.videos)), _paths(raw.get(layout.audios)),
                  _paths(raw.get(layout.images)), tuple(defects))
