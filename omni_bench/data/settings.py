"""Which records a command reads: :class:`DataSettings`, the data part that ``validate``, ``train`` and
``eval run`` hold (as ``HfArgumentParser``'s ``DataArguments``); one flag per field, its help the comment.

The media root defaults to the data file's folder in every command (:meth:`DataSettings.media_folder`),
so ``omni-bench validate data/longvale_sft.json`` finds ``data/clips/...`` from any folder. Not here: the
layout of one sample (:class:`~omni_bench.layout.settings.LayoutSettings`), what a record must hold to train
(:mod:`omni_bench.data.validation`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.numbers import check_fields
from omni_bench.data.records import TASKS, TIME_FORMATS, load_records
from omni_bench.data.turns import split_turns

__all__ = ["DataSettings"]


@dataclass(frozen=True)
class DataSettings:
    """The annotation file, how it is read, where its media are and the token budget of a sample."""

    data: str | None = None  # --data FILE: the annotation file (LongVALE SFT or annotations, Qwen-VL, LLaMA-Factory
        # sharegpt or ms-swift; JSON or JSON Lines)
    data_format: str = "auto"  # --data-format NAME: the file's layout: auto | longvale | longvale-annotations |
        # qwen-vl | sharegpt | sharegpt-openai | ms-swift (docs/data_formats.md; auto: detected from the records,
        # named in a stage line)
    task: str = "grounding"  # --task NAME: what LongVALE annotations become: grounding | dense | segment
    time_format: str = "relative"  # --time-format NAME: timestamps as LongVALE's two digits (relative, "40") or
        # percentages (percent, "40.0%")
    split_turns: bool = False  # --split-turns: each human/gpt pair of a record is its own sample, the media in
        # each (as an evaluation asks each event alone; omni_bench.data.turns)
    media_root: str | None = None  # --media-root DIR: the folder the records' media paths are relative to
        # (None: the data file's folder)
    max_total_tokens: int | None = None  # --max-total-tokens N: token budget of a sample, input + label; a longer
        # one drops its earliest turns, or is refused (None: the model's context, data.validation.context_limit)

    def __post_init__(self):
        for name, known in (("task", TASKS), ("time_format", TIME_FORMATS)):
            if getattr(self, name) not in known:
                raise OmniBenchError(f"--{name.replace('_', '-')} must be one of {', '.join(known)}, got "
                                     f"{getattr(self, name)!r}", reason="bad-settings")
        check_fields(self)  # max_total_tokens a whole number >= 1 (omni_bench.core.numbers)

    def replace(self, **changes) -> DataSettings:
        return dataclasses.replace(self, **changes)

    def media_folder(self) -> str:
        """``media_root``, or the data file's folder when it is None.

        >>> DataSettings(data="data/longvale_sft.json").media_folder()
        'data'
        >>> DataSettings(data="a.json", media_root="/videos").media_folder()
        '/videos'
        """
        if self.media_root is not None:
            return self.media_root
        if not self.data:
            return "."
        return str(Path(self.data).parent)

    def absolute(self) -> DataSettings:
        """These settings with the data file and the media folder as absolute paths (what a run records, so its
        ``config.json`` works as ``--config`` from any folder)."""
        if not self.data:
            return self.replace(media_root=str(Path(self.media_folder()).absolute()))
        return self.replace(data=str(Path(self.data).absolute()), media_root=str(Path(self.media_folder()).absolute()))

    def read(self) -> list:
        """The records of the data file as these settings read them (format, task, time format, split turns)."""
        if not self.data:
            raise OmniBenchError("pass --data ANNOTATIONS (the annotation file)", reason="bad-settings")
        records = load_records(self.data, format=self.data_format, task=self.task, time_format=self.time_format)
        if self.split_turns:
            records = split_turns(records)
        return records
