"""Multi-turn training samples: every turn of one video in one sample, cut to a token budget.

Why
---
Splitting a multi-turn record into single-turn samples repeats the video and audio feature
extraction once per turn (the LongVALE notebook: 75,075 single-turn samples from 7,240 videos,
~10x the work, 370 h). Here all turns of one video go into **one** sample, so each video's
features are extracted once; :func:`split_report` gives the arithmetic for a dataset.

What a sample is
----------------
A record's conversation is read as :class:`Turn` s (a human message and the reply after
it; roles must alternate starting with human, every reply non-empty). The chat messages put
each ``<video>`` / ``<image>`` tag's media where the tag stands in the text. The budget is
``input tokens + label tokens <= max_total_tokens`` (the LongVALE notebook's rule), counted **exactly**:
the chat template is rendered and tokenized with the real tokenizer, each media placeholder
is replaced by the number of tokens the processor expands it into (``media_tokens``), and
labels are computed on those ids with :func:`omni_bench.layout.labels.assistant_labels`.

Truncation (:func:`fit_turns`) drops whole turns, the **earliest first**. Media tags of a
dropped turn move to the front of the new first human turn (``"<video>\\n" + text``), so
the media is never lost and never cut: a placeholder expands whole or not at all. If the
one remaining turn alone is over budget, the sample is dropped with the reason
("over-budget"); a sample with zero label tokens is never produced ("zero-labels").
(LongVALE's own code drops the *latest* rounds instead; the LongVALE notebook asks for the
earliest, which keeps the newest context and answers.)

Left out: packing several samples into one sequence, truncating inside a turn, system
turns inside a record's conversation (a leading one is rejected as bad roles).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.processor import resolve_profile
from omni_bench.core.tokens import token_ids
from omni_bench.data.records import Record
from omni_bench.data.tags import AUDIO_TAG, IMAGE_TAG, TAG, VIDEO_TAG, tag_count_error
from omni_bench.layout.labels import IGNORE_INDEX, assistant_labels
from omni_bench.layout.plan import media_plan

__all__ = [
    "VIDEO_TAG", "IMAGE_TAG", "Turn", "TokenCount", "Sample", "SplitReport",
    "turns_of", "media_tags", "drop_turns", "messages", "count_tokens", "fit_turns", "build_sample",
    "media_token_count", "split_report", "synthetic_records",
]



@dataclass(frozen=True)
class Turn:
    """One human message and the assistant reply after it."""

    human: str  # the human text, media tags included ("<video>\\nWhat happens?")
    gpt: str  # the reply (labelled)


@dataclass(frozen=True)
class TokenCount:
    """Exact token counts of one sample (what the processor's expanded ``input_ids`` will hold)."""

    input_tokens: int  # len(input_ids) after media expansion
    label_tokens: int  # labels != -100: reply tokens + each reply's <|im_end|>

    @property
    def total_tokens(self) -> int:
        """The budgeted quantity: input tokens + label tokens (the LongVALE notebook's rule)."""
        return self.input_tokens + self.label_tokens


@dataclass(frozen=True)
class Sample:
    """A record cut to the budget: the turns kept and their exact counts."""

    id: str  # the record's id
    turns: tuple[Turn, ...]  # kept turns (a suffix of the record's); the first carries every media tag
    dropped_turns: int  # earliest turns dropped to fit the budget
    count: TokenCount  # exact counts of the kept turns
    media_tokens: tuple[int, ...]  # tokens each media placeholder expands into, in tag order
    max_total_tokens: int | None = None  # the budget it was fitted to (None: no budget)
    system: str | None = None  # the system prompt it was counted with (None: the chat template's default)

    @property
    def input_tokens(self) -> int:
        return self.count.input_tokens

    @property
    def label_tokens(self) -> int:
        return self.count.label_tokens

    @property
    def total_tokens(self) -> int:
        return self.count.total_tokens

    def messages(self, system: str | None = None) -> list[dict]:
        """The chat messages of the kept turns (see :func:`messages`); ``system`` None: the one counted."""
        return messages(self.turns, system=self.system if system is None else system)


def turns_of(conversations: Sequence[tuple[str, str]], *, source: str = "record") -> tuple[Turn, ...]:
    """Pair a conversation into turns; roles must alternate human, gpt, human, gpt...

    >>> turns_of([("human", "<video>\\nHi?"), ("gpt", "Hello.")])
    (Turn(human='<video>\\nHi?', gpt='Hello.'),)

    Raises OmniBenchError ("no-turns", "roles", "empty-reply") naming ``source``.
    """
    if not conversations:
        raise OmniBenchError(f"{source}: no conversation turns", source=source, reason="no-turns")
    for position, (role, _) in enumerate(conversations):
        expected = "human" if position % 2 == 0 else "gpt"
        if role != expected:
            raise OmniBenchError(f"{source}: turn {position + 1} is from {role!r}, expected {expected!r} "
                                 "(roles must alternate human, gpt, ... starting with human)",
                                 source=source, reason="roles")
    if len(conversations) % 2:
        raise OmniBenchError(f"{source}: the last human turn (turn {len(conversations)}) has no reply",
                             source=source, reason="roles")
    turns = tuple(Turn(conversations[i][1], conversations[i + 1][1]) for i in range(0, len(conversations), 2))
    for number, turn in enumerate(turns, 1):
        if not turn.gpt.strip():
            raise OmniBenchError(f"{source}: reply {number} is empty", source=source, reason="empty-reply")
        if TAG.search(turn.gpt):
            raise OmniBenchError(f"{source}: reply {number} contains a media tag; tags belong in human turns",
                                 source=source, reason="tag-count")
    return turns


def media_tags(turns: Sequence[Turn]) -> list[str]:
    """Media tags of the human turns, in order. ``media_tags([Turn("<video>\\nHi", "Yo")]) -> ["<video>"]``."""
    return [tag for turn in turns for tag in TAG.findall(turn.human)]


def drop_turns(turns: Sequence[Turn], count: int) -> tuple[Turn, ...]:
    """Drop the first ``count`` turns; their media tags move to the front of the new first turn.

    >>> drop_turns([Turn("<video>\\nA?", "a"), Turn("B?", "b")], 1)
    (Turn(human='<video>\\nB?', gpt='b'),)
    """
    turns = tuple(turns)
    if count <= 0:
        return turns
    if count >= len(turns):
        raise ValueError(f"cannot drop {count} of {len(turns)} turns")
    moved = media_tags(turns[:count])
    first = turns[count]
    prefix = "".join(f"{tag}\n" for tag in moved)
    return (Turn(prefix + first.human, first.gpt), *turns[count + 1:])


def messages(turns: Sequence[Turn], *, system: str | None = None) -> list[dict]:
    """Chat messages for the processor's template; each tag becomes a media item where it stands.

    >>> messages([Turn("<video>\\nA?", "a")])[0]["content"]
    [{'type': 'video'}, {'type': 'text', 'text': '\\nA?'}]
    """
    out: list[dict] = []
    if system is not None:
        out.append({"role": "system", "content": [{"type": "text", "text": system}]})
    for turn in turns:
        content = []
        for piece in TAG.split(turn.human):
            if piece == VIDEO_TAG:
                content.append({"type": "video"})
            elif piece == IMAGE_TAG:
                content.append({"type": "image"})
            elif piece == AUDIO_TAG:
                content.append({"type": "audio"})
            elif piece:
                content.append({"type": "text", "text": piece})
        out.append({"role": "user", "content": content})
        out.append({"role": "assistant", "content": [{"type": "text", "text": turn.gpt}]})
    return out


def count_tokens(turns: Sequence[Turn], processor, media_tokens: Sequence[int] = (), *,
                 system: str | None = None) -> TokenCount:
    """Exact input and label token counts of the processor's output for these turns.

    The template is rendered with the processor's ``apply_chat_template`` and tokenized;
    each media placeholder (one token, e.g. ``<|VIDEO|>``) counts as ``media_tokens[k]``
    tokens, the size of its expansion (:func:`media_token_count` for a video). Labels are found on
    those ids exactly as on the processor's (placeholders sit in user turns only).
    """
    tags = media_tags(turns)
    if len(tags) != len(media_tokens):
        raise ValueError(f"{len(tags)} media tags but {len(media_tokens)} media token counts")
    text = processor.apply_chat_template(messages(turns, system=system), tokenize=False)
    tokenizer = getattr(processor, "tokenizer", processor)
    # verbose=False: no "Token indices sequence length is longer than ..." warning; the budget check says it
    ids = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
    labels = assistant_labels(ids, token_ids(tokenizer))
    expansion = sum(int(n) - 1 for n in media_tokens)
    return TokenCount(len(ids) + expansion, int((labels != IGNORE_INDEX).sum()))


def fit_turns(turns: Sequence[Turn], count: Callable[[tuple[Turn, ...]], TokenCount],
              max_total_tokens: int | None, *, source: str = "record") -> tuple[tuple[Turn, ...], int, TokenCount]:
    """Drop the earliest turns until ``count(turns).total_tokens <= max_total_tokens``.

    Returns (kept turns, turns dropped, their count). Raises OmniBenchError "over-budget"
    when even the last turn alone does not fit, and "zero-labels" when the kept turns have
    no label token. ``count`` is any exact counter, e.g. a :func:`count_tokens` partial.
    """
    turns = tuple(turns)
    if not turns:
        raise OmniBenchError(f"{source}: no conversation turns", source=source, reason="no-turns")
    result = None
    for dropped in range(len(turns)):
        kept = drop_turns(turns, dropped)
        result = count(kept)
        if max_total_tokens is None or result.total_tokens <= max_total_tokens:
            if result.label_tokens <= 0:
                raise OmniBenchError(f"{source}: the sample has no label tokens", source=source,
                                     reason="zero-labels")
            return kept, dropped, result
    raise OmniBenchError(
        f"{source}: over budget: the last turn alone needs {result.total_tokens} tokens "
        f"({result.input_tokens} input + {result.label_tokens} label) > max_total_tokens {max_total_tokens}; "
        "use fewer frames / smaller frames or a larger budget", source=source, reason="over-budget")


def build_sample(record, processor, media_tokens: Sequence[int] = (), *, max_total_tokens: int | None = None,
                 system: str | None = None) -> Sample:
    """The :class:`Sample` of one record (a :class:`~omni_bench.data.records.Record`) under a budget.

    ``media_tokens``: tokens each media tag expands into, in tag order (one per video /
    image of the record). Raises OmniBenchError for bad roles, an empty reply, a tag count
    that does not match the media, or a sample that cannot fit (see :func:`fit_turns`).
    """
    source = record.id
    turns = turns_of(record.conversations, source=source)
    tags = media_tags(turns)
    for tag, media in ((VIDEO_TAG, record.videos), (IMAGE_TAG, record.images)):
        if tags.count(tag) != len(media):
            raise tag_count_error(source, tag, tags.count(tag), len(media))
    if len(media_tokens) != len(tags):
        raise ValueError(f"{source}: {len(tags)} media tags but {len(media_tokens)} media token counts")
    media_tokens = tuple(int(n) for n in media_tokens)

    def count(kept: tuple[Turn, ...]) -> TokenCount:
        return count_tokens(kept, processor, media_tokens, system=system)

    kept, dropped, result = fit_turns(turns, count, max_total_tokens, source=source)
    return Sample(source, kept, dropped, result, media_tokens, max_total_tokens, system)


def media_token_count(info, settings, processor, *, audio_samples: int | None = None) -> int:
    """Tokens the video placeholder of a sample expands into, from metadata (no decoding).

    The planner's arithmetic (:func:`omni_bench.layout.plan.media_plan`: frame count, resize,
    grid, mel frames, audio tokens, ``span_tokens``). The audio length is the container's
    audio duration x 16 kHz unless ``audio_samples`` (the decoded length) is given. Raises
    OmniBenchError for a video without audio when audio is asked for.
    """
    from dataclasses import replace as _replace

    resolved = settings.resolve(resolve_profile(processor))
    if audio_samples is not None:
        info = _replace(info, has_audio=True, audio_seconds=audio_samples / resolved.profile.sampling_rate)
    return media_plan(info, resolved, indices=True).span_tokens  # Qwen3-VL's timestamps need the indices


@dataclass(frozen=True)
class SplitReport:
    """Samples and feature extractions: single-turn splitting vs one multi-turn sample per video."""

    records: int  # records (videos) in the dataset
    turns: int  # human turns with a reply
    single_turn_samples: int  # one sample per turn
    single_turn_extractions: int  # video + audio feature extractions then (one per sample)
    multi_turn_samples: int  # one sample per record (minus records dropped for the budget)
    multi_turn_extractions: int  # one per multi-turn sample
    dropped_records: int = 0  # records with no sample under the budget
    dropped_turns: int = 0  # earliest turns dropped from kept samples to fit the budget

    @property
    def extraction_ratio(self) -> float:
        """How many times more feature extractions single-turn splitting costs."""
        return self.single_turn_extractions / max(self.multi_turn_extractions, 1)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {**asdict(self), "extraction_ratio": self.extraction_ratio}

    def __str__(self) -> str:
        lines = [
            f"records (videos)      {self.records:>10,}",
            f"turns                 {self.turns:>10,}",
            f"single-turn split     {self.single_turn_samples:>10,} samples  "
            f"{self.single_turn_extractions:>10,} feature extractions",
            f"multi-turn            {self.multi_turn_samples:>10,} samples  "
            f"{self.multi_turn_extractions:>10,} feature extractions",
            f"extraction ratio      {self.extraction_ratio:>10.2f}x",
        ]
        if self.dropped_records or self.dropped_turns:
            lines.append(f"budget: {self.dropped_records:,} records dropped, {self.dropped_turns:,} "
                         "earliest turns dropped from kept samples")
        return "\n".join(lines)


def split_report(records: Sequence, samples: Sequence[Sample] | None = None) -> SplitReport:
    """Count samples and feature extractions both ways.

    Without ``samples`` every record is one multi-turn sample; with the built samples the
    budget's effect (dropped records and turns) is included.

    >>> r = Record("v", (("human", "<video>\\nA?"), ("gpt", "a"), ("human", "B?"), ("gpt", "b")), ("v",))
    >>> split_report([r, r]).single_turn_samples, split_report([r, r]).multi_turn_samples
    (4, 2)
    """
    turns = sum(r.turn_count for r in records)
    if samples is None:
        kept, dropped_turns = len(records), 0
    else:
        kept, dropped_turns = len(samples), sum(s.dropped_turns for s in samples)
    return SplitReport(len(records), turns, turns, turns, kept, kept, len(records) - kept, dropped_turns)


def synthetic_records(videos: int = 7_240, turns: int = 75_075, *, seed: int = 0, duration: float = 120.0) -> list:
    """A LongVALE-shaped dataset: ``videos`` records holding ``turns`` turns in all.

    Every record gets ``turns // videos`` turns and a seeded random ``turns % videos`` of
    them one more; the defaults are the LongVALE notebook's 7,240 videos and 75,075 turns.
    """
    if videos <= 0 or turns < videos:
        raise ValueError("need videos > 0 and at least one turn per video")
    base, extra = divmod(turns, videos)
    more = set(random.Random(seed).sample(range(videos), extra))
    records = []
    for i in range(videos):
        count = base + (i in more)
        conv = []
        for k in range(count):
            conv.append(("human", (f"{VIDEO_TAG}\n" if k == 0 else "") + f"What happens in event {k}?"))
            conv.append(("gpt", f"From {k:02d} to {k + 1:02d}, event {k} happens."))
        records.append(Record(f"synthetic_{i:05d}", tuple(conv), (f"synthetic_{i:05d}",), (), duration,
                              source="synthetic"))
    return records
