"""Labels on the processor's final, expanded ``input_ids``: assistant replies only.

The processor expands every ``<|VIDEO|>`` / ``<|AUDIO|>`` placeholder into many tokens
*after* the chat template is applied, so labels must be found in the final ids, never
from character offsets of the template text. :func:`assistant_labels` walks the ids: for
each ``<|im_start|>assistant\\n ... <|im_end|>`` turn it labels every reply token and the
closing ``<|im_end|>``; everything else is -100.

The newline after ``<|im_end|>`` is NOT labelled: generation stops at ``<|im_end|>``
(the chat models' eos), so the model never has to produce it. The ``assistant\\n`` header
is not labelled either. If a reply starts with newlines, the tokenizer merges the header's
"\\n" with them into one token; that token is then labelled (it carries reply text).

:func:`audit_labels` reports what a researcher needs to trust a sample: the labelled
count, the labelled text decoded, labels that fall on media or template tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omni_bench.core.tokens import TokenIds

__all__ = ["IGNORE_INDEX", "assistant_spans", "assistant_labels", "LabelAudit", "audit_labels"]

IGNORE_INDEX = -100


def _starts_with(ids: np.ndarray, at: int, pattern: tuple[int, ...]) -> bool:
    return at + len(pattern) <= len(ids) and tuple(int(x) for x in ids[at:at + len(pattern)]) == pattern


def assistant_spans(input_ids, ids: TokenIds) -> list[tuple[int, int]]:
    """[start, end) of each assistant reply in input_ids, end including its <|im_end|>.

    An assistant turn cut off before its <|im_end|> (truncated) gets no span.
    """
    arr = np.asarray(input_ids).reshape(-1)
    header = ids.roles[2]
    spans = []
    for pos in np.flatnonzero(arr == ids.im_start):
        pos = int(pos)
        if not _starts_with(arr, pos + 1, header):
            continue
        start = pos + 1 + len(header)
        if start < len(arr) and int(arr[start]) == ids.newline:
            start += 1
        ends = np.flatnonzero(arr[start:] == ids.im_end)
        if len(ends):
            spans.append((start, start + int(ends[0]) + 1))
    return spans


def assistant_labels(input_ids, ids: TokenIds) -> np.ndarray:
    """Labels for one sequence: input_ids on assistant replies (+ <|im_end|>), -100 elsewhere.

    >>> # ids: <|im_start|> assistant \\n Hi <|im_end|> \\n
    >>> # labels:   -100      -100   -100 Hi <|im_end|> -100
    """
    arr = np.asarray(input_ids).reshape(-1)
    labels = np.full(arr.shape, IGNORE_INDEX, dtype=np.int64)
    for start, end in assistant_spans(arr, ids):
        labels[start:end] = arr[start:end]
    return labels


@dataclass(frozen=True)
class LabelAudit:
    """What the labels of one sequence cover."""

    label_tokens: int  # positions whose label is not -100
    labelled_text: str  # the labelled tokens decoded, special tokens kept
    replies: tuple[str, ...]  # each labelled span decoded
    on_media: int  # labels on VIDEO / AUDIO / IMAGE tokens (must be 0)
    on_template: int  # labels on template specials other than the closing <|im_end|> (must be 0)
    ends_with_eot: bool  # every labelled span ends with <|im_end|>

    @property
    def ok(self) -> bool:
        return self.label_tokens > 0 and self.on_media == 0 and self.on_template == 0 and self.ends_with_eot

    @property
    def problems(self) -> list[str]:
        out = []
        if self.label_tokens == 0:
            out.append("zero labels")
        if self.on_media:
            out.append(f"{self.on_media} labels on media tokens")
        if self.on_template:
            out.append(f"{self.on_template} labels on template tokens")
        if not self.ends_with_eot:
            out.append("a labelled span does not end with the end-of-turn token")
        return out


def audit_labels(input_ids, labels, tokenizer, ids: TokenIds) -> LabelAudit:
    """Audit labels against input_ids: counts, decoded text, labels on media or template tokens."""
    arr = np.asarray(input_ids).reshape(-1)
    lab = np.asarray(labels).reshape(-1)
    mask = lab != IGNORE_INDEX
    spans, start = [], None
    for i, flag in enumerate(mask):
        if flag and start is None:
            start = i
        if not flag and start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(mask)))
    replies = tuple(tokenizer.decode(arr[a:b].tolist(), skip_special_tokens=False) for a, b in spans)
    chosen = arr[mask]
    template = ids.special - {ids.im_end}
    return LabelAudit(
        label_tokens=int(mask.sum()),
        labelled_text="".join(replies),
        replies=replies,
        on_media=int(np.isin(chosen, list(ids.media)).sum()),
        on_template=int(np.isin(chosen, list(template)).sum()),
        ends_with_eot=all(int(arr[b - 1]) == ids.im_end for a, b in spans),
    )
