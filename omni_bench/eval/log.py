"""LongVALE's evaluation files: the annotation file and the answer log.

* **Annotations** (``longvale-annotations-eval.json``): ``{video_id: {"duration": s,
  "timestamps": [[start s, end s], ...], "sentences": [...]}}``.
* **Log**: JSON Lines, one answer per line, as LongVALE's ``eval.py`` writes it:
  ``{"video_id", "task", "query_id", "answer", "info"}`` with ``task`` one of
  :data:`LOG_TASKS`; ``info.sentence_id`` names the event of a grounding or segment
  captioning query (and LongVALE's grounding lines also carry ``info.iou``).
  ``omni-bench eval run`` writes the same lines, appending, so an interrupted run resumes.

A line that is not JSON is skipped and counted (LongVALE skips it too: a run killed while
writing leaves one). Anything else wrong in a line raises
:class:`~omni_bench.core.errors.OmniBenchError` naming the file and line.

Resuming (``eval run`` on an existing log): :func:`repair_log` first cuts a torn last line (one
without its newline, or not JSON: the run was killed while writing it) off the file, so the query
it held is answered again and never counted, and says so in one line; :func:`log_lock` holds
``<log>.lock`` while a run appends, so a second ``eval run`` on the same log is refused as a second
``train`` on one ``--output`` is (:mod:`omni_bench.training.lock`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from omni_bench.core.errors import OmniBenchError
from omni_bench.data.records import _read_json
from omni_bench.training.lock import file_lock

__all__ = ["LOG_TASKS", "read_log", "append_log", "repair_log", "log_lock", "load_eval_annotations", "entry_key"]

LOG_TASKS = ("grounding", "captioning", "seg_captioning")  # LongVALE's task names


def _check_entry(entry: object, where: str) -> dict:
    if not isinstance(entry, Mapping):
        raise OmniBenchError(f"{where}: a log line is a JSON object", source=where, reason="bad-log")
    for field in ("video_id", "task", "answer"):
        if field not in entry:
            raise OmniBenchError(f"{where}: log line without {field!r}", source=where, reason="bad-log")
    if entry["task"] not in LOG_TASKS:
        raise OmniBenchError(f"{where}: unknown task {entry['task']!r}; known: {', '.join(LOG_TASKS)}",
                             source=where, reason="bad-log")
    info = entry.get("info") or {}
    if entry["task"] != "captioning" and not isinstance(info.get("sentence_id"), int):
        raise OmniBenchError(f"{where}: a {entry['task']} line needs info.sentence_id (the event's index)",
                             source=where, reason="bad-log")
    return {"video_id": str(entry["video_id"]), "task": entry["task"], "query_id": int(entry.get("query_id", 0)),
            "answer": "" if entry["answer"] is None else str(entry["answer"]), "info": dict(info)}


def read_log(source) -> tuple[list[dict], int]:
    """The log's entries (checked, in file order) and the number of lines that were not JSON.

    ``source``: a path, or an iterable of already loaded dicts.
    """
    if not isinstance(source, (str, os.PathLike)):
        return [_check_entry(e, f"log entry {i}") for i, e in enumerate(source)], 0
    path = Path(source)
    if not path.is_file():
        raise OmniBenchError(f"{path}: log file not found", source=str(path), reason="missing")
    entries, skipped = [], 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            skipped += 1
            continue
        entries.append(_check_entry(raw, f"{path}:{number}"))
    return entries, skipped


def append_log(path, entries: Iterable[Mapping]) -> None:
    """Append entries as JSON lines, each line in one write (flushed, so a killed run keeps every finished
    answer and tears at most the last line)."""
    with open(path, "a", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(json.dumps(dict(entry), ensure_ascii=False) + "\n")
            handle.flush()


def _is_entry(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), Mapping)
    except ValueError:
        return False


def repair_log(path) -> str | None:
    """Cut a torn last line off the log at ``path`` (in place); the one line saying what was cut, or None.

    Torn: the last line has no newline, or it is not a JSON object (a write cut short). The file is
    truncated to the end of the last complete line, so the next append starts a fresh line.

    >>> Path("log.jsonl").write_text('{"video_id": "a", "task": "captioning", "answer": "x"}\\n{"vid')  # doctest: +SKIP
    >>> repair_log("log.jsonl")                                                                      # doctest: +SKIP
    'log.jsonl: dropped a torn last line (5 bytes: {"vid); its query is answered again'
    """
    path = Path(path)
    if not path.is_file():
        return None
    with open(path, "rb+") as handle:
        data = handle.read()
        body = data.rstrip(b"\n")
        if not body:
            return None
        start = body.rfind(b"\n") + 1
        last = body[start:]
        if data.endswith(b"\n") and _is_entry(last):
            return None
        handle.truncate(start)
    shown = last[:40].decode("utf-8", errors="replace")
    return (f"{path}: dropped a torn last line ({len(last)} bytes: {shown}{'...' if len(last) > 40 else ''}); "
            "its query is answered again")


def log_lock(path):
    """Hold ``<log>.lock`` while a run appends to the log at ``path``: a second run on it is refused in one line."""
    path = Path(path)
    if path.is_dir():
        raise OmniBenchError(f"{path}: --output is a folder; name the log file (e.g. {path / 'eval.jsonl'})",
                             source=str(path), reason="bad-output")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OmniBenchError(f"{path}: cannot create the log's folder ({exc.strerror}); choose another --output",
                             source=str(path), reason="bad-output") from None
    return file_lock(path.with_name(path.name + ".lock"), path,
                     f"{path}: another eval run is writing this log ({{holder}}); wait for it to finish or choose "
                     "another --output")


def entry_key(entry: Mapping) -> tuple:
    """What identifies one query: ``(video_id, task, sentence_id or None, query_id)``."""
    info = entry.get("info") or {}
    return str(entry["video_id"]), entry["task"], info.get("sentence_id"), int(entry.get("query_id", 0))


def _check_video(vid: str, raw: object, where: str) -> dict:
    if not isinstance(raw, Mapping):
        raise OmniBenchError(f"{where}: video {vid!r} is not an object", source=where, reason="bad-annotations")
    duration = raw.get("duration")
    stamps, sentences = raw.get("timestamps"), raw.get("sentences")
    if not isinstance(duration, (int, float)) or duration <= 0:
        raise OmniBenchError(f"{where}: video {vid!r} has no positive duration", source=where,
                             reason="bad-annotations")
    if not isinstance(stamps, list) or not isinstance(sentences, list) or len(stamps) != len(sentences):
        raise OmniBenchError(f"{where}: video {vid!r} needs as many timestamps as sentences", source=where,
                             reason="bad-annotations")
    if not all(isinstance(t, (list, tuple)) and len(t) == 2 for t in stamps):
        raise OmniBenchError(f"{where}: video {vid!r} has a timestamp that is not [start, end]", source=where,
                             reason="bad-annotations")
    return {"duration": duration, "timestamps": [list(t) for t in stamps], "sentences": list(sentences)}


def load_eval_annotations(source) -> dict[str, dict]:
    """A LongVALE annotation file (path or loaded dict), every video checked."""
    where = str(source) if isinstance(source, (str, os.PathLike)) else "annotations"
    if isinstance(source, (str, os.PathLike)):
        source = _read_json(source)
    if not isinstance(source, Mapping):
        raise OmniBenchError(f"{where}: LongVALE annotations are a JSON object keyed by video id",
                             source=where, reason="bad-annotations")
    return {str(vid): _check_video(str(vid), raw, where) for vid, raw in source.items()}
