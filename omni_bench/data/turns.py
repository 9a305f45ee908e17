"""Multi-turn records split into one-turn samples: each human turn with the reply after it.

A LongVALE grounding record holds one human/gpt pair per event of its video, so event 2 is
learned after events 0 and 1 in the context; an evaluation asks each event alone, right
after the video (:mod:`omni_bench.eval.prompts`). :func:`split_turns` makes the training
samples look like those questions: record ``v`` with three pairs becomes ``v#0``, ``v#1``,
``v#2``, each with the record's media, the ``<video>`` (``<image>``) tag in front of its
human turn, and the system turn (if any) kept. Records whose turns are not human/gpt pairs
(or that have defects) pass through unchanged, so the dataset reports them as before.

>>> from omni_bench.data.records import Record
>>> r = Record("v", (("human", "<video>\\nA?"), ("gpt", "a"), ("human", "B?"), ("gpt", "b")), videos=("v",))
>>> [(x.id, x.conversations) for x in split_turns([r])]
[('v#0', (('human', '<video>\\nA?'), ('gpt', 'a'))), ('v#1', (('human', '<video>\\nB?'), ('gpt', 'b')))]
"""

from __future__ import annotations

from omni_bench.data.tags import TAGS as _TAGS

__all__ = ["split_turns"]


def _lead(text: str) -> str:
    """The media tags a first human turn starts with (``"<video>\\n"``), or ""."""
    lead = ""
    rest = text
    while rest.startswith(_TAGS):
        tag = next(t for t in _TAGS if rest.startswith(t))
        rest = rest[len(tag):]
        lead += tag
        if rest.startswith("\n"):
            rest, lead = rest[1:], lead + "\n"
    return lead


def split_turns(records) -> list:
    """One record per human/gpt pair (see the module docstring); the others unchanged."""
    out = []
    for record in records:
        turns = list(record.conversations)
        system = [t for t in turns[:1] if t[0] == "system"]
        body = turns[len(system):]
        paired = len(body) >= 4 and len(body) % 2 == 0 and all(
            body[i][0] == "human" and body[i + 1][0] == "gpt" for i in range(0, len(body), 2))
        if not paired or record.defects:
            out.append(record)
            continue
        lead = _lead(body[0][1])
        for n in range(0, len(body), 2):
            human = body[n][1] if n == 0 or body[n][1].startswith(_TAGS) else lead + body[n][1]
            out.append(record.replace(id=f"{record.id}#{n // 2}",
                                      conversations=(*system, ("human", human), body[n + 1])))
    return out
