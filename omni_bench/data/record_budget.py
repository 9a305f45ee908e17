"""``omni-bench budget`` on a training file: each record's prompts, replies and media counted as ``validate``
counts them, from the containers' headers (nothing decoded).

:func:`budget_records` takes the records of any format ``validate`` reads (docs/data_formats.md) and
returns the :class:`~omni_bench.layout.budget.DatasetBudget` that ``budget`` prints for videos: per
record the VIDEO and AUDIO tokens of its video (the media road's plan), the text tokens (template,
every turn's prompt and reply), ``total_tokens`` = the sample's ``input_ids`` with every turn and
``label_tokens`` = its reply tokens, exactly the counts of the record's
:class:`~omni_bench.data.samples.Sample` in :class:`~omni_bench.data.validation.Gate`. A record the gate
refuses from its text and headers (roles, tags, time tokens, missing media, no audio track, ...) is
listed with the gate's reason and message.

What ``budget`` does not do, and ``omni-bench validate FILE`` does: decode the first and last sampled
frames and the audio track (corrupt, truncated, silent media), drop the earliest turns to fit
``--max-total-tokens`` (input + label), and read preference pairs (:data:`VALIDATE_LINE`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.problems import Problem
from omni_bench.data.preference import is_preference_file
from omni_bench.data.records import _read_json
from omni_bench.data.settings import DataSettings
from omni_bench.data.validation import Gate
from omni_bench.layout.budget import Budget, DatasetBudget
from omni_bench.layout.cost import logits_bytes
from omni_bench.layout.settings import LayoutSettings

__all__ = ["budget_records", "is_training_file", "budget_training_file", "VALIDATE_LINE"]

VALIDATE_LINE = ("budget counts every turn from the headers; omni-bench validate FILE also decodes the first and "
                 "last frames and the audio, drops the earliest turns to fit --max-total-tokens (input + label) "
                 "and reads preference pairs")


def budget_records(records: Sequence, *, media_root: str | os.PathLike = ".", settings: LayoutSettings | None = None,
                   processor=None, max_total_tokens: int | None = None) -> DatasetBudget:
    """Per-record token counts of training records, as ``validate`` counts them (headers only).

    >>> from omni_bench.data.records import load_records
    >>> result = budget_records(load_records("data/longvale_sft.json"), media_root="data",
    ...                         settings=LayoutSettings(frames=4, resize=(56, 56)))       # doctest: +SKIP
    >>> result.sources, result.budget.total_tokens.tolist()                              # doctest: +SKIP
    """
    gate = Gate(media_root=media_root, settings=settings, processor=processor, max_total_tokens=max_total_tokens)
    profile = gate.resolved.profile
    rows, sources, problems = [], [], []
    for record in records:
        try:
            checked = gate.check(record, headers_only=True)
        except OmniBenchError as exc:
            problems.append(Problem.from_error(record.id, exc))
            continue
        plans, sample = checked.plans, checked.sample
        video = sum(p.video_tokens for p in plans)
        audio = sum(p.audio_tokens for p in plans)
        cap = profile.nb_max_frames * profile.hop_length
        dropped = sum(max(p.audio_samples - cap, 0) / profile.sampling_rate for p in plans if p.use_audio)
        rows.append((video, audio, sample.input_tokens - video - audio, sample.input_tokens, sample.label_tokens,
                     sum(p.audio_tokens_uncertainty for p in plans), dropped))
        sources.append(record.id)
    columns = np.array(rows, dtype=np.float64).reshape(len(rows), 7).T
    video, audio, text, total, labels, spread = (c.astype(np.int64) for c in columns[:6])
    vocab = int(profile.vocab_size)
    result = Budget(video_tokens=video, audio_tokens=audio, text_tokens=text, total_tokens=total,
                    label_tokens=labels, logits_bytes=logits_bytes(total, vocab), vocab_size=vocab,
                    max_total_tokens=max_total_tokens, settings=gate.settings, audio_tokens_uncertainty=spread,
                    audio_dropped_seconds=columns[6])
    return DatasetBudget(result, sources, problems)


def is_training_file(path) -> bool:
    """Whether a JSON / JSONL file holds training records (conversations / messages, or LongVALE annotations)
    rather than ``budget``'s metadata records (a list of media metadata, or ``{"samples": [...]}``)."""
    if os.path.splitext(str(path))[1].lower() not in (".json", ".jsonl") or not os.path.isfile(path):
        return False
    data = _read_json(path)
    if isinstance(data, dict):
        return "samples" not in data
    return isinstance(data, list) and any(isinstance(r, dict) and ("conversations" in r or "messages" in r)
                                          for r in data)


def budget_training_file(path, settings: LayoutSettings | None = None, *, media_root=None, data_format: str = "auto",
                         task: str = "grounding", max_total_tokens: int | None = None) -> DatasetBudget:
    """:func:`budget_records` of a training file (media root None: the file's folder). A preference file is
    refused with one line pointing to ``validate``, which budgets both sides of every pair. ``path`` may be
    the :class:`~omni_bench.data.settings.DataSettings` that reads it (the CLI's data flags, as train's)."""
    data = path if isinstance(path, DataSettings) else DataSettings(data=str(path), data_format=data_format,
                                                                     task=task, media_root=media_root)
    path = data.data
    if is_preference_file(path):
        raise OmniBenchError(f"{path}: preference pairs are budgeted by omni-bench validate {path} (both sides of "
                             "every pair against --max-total-tokens); budget takes SFT training files",
                             source=str(path), reason="bad-format")
    return budget_records(data.read(), media_root=data.media_folder(), settings=settings,
                          max_total_tokens=max_total_tokens)
