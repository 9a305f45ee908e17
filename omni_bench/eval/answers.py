"""Reading time spans and events out of a model's answer, in two parse modes.

``longvale``
    LongVALE's own rules, so that numbers stay comparable with its papers:

    * grounding: the first ``NN to NN`` or ``NN and NN`` with exactly two digits on each side
      of a single space (``"From 05 to 40."``), read as a share of the video (``0.05, 0.40``).
      The search is not anchored, so ``"From 100 to 200"`` is read as ``00 to 20``, as
      LongVALE reads it; ``"From 5 to 40"`` has no span.
    * dense captioning: one event per line, ``From A to B, sentence`` (capital ``F``, any
      number of digits, the sentence runs to the end of its line). ``A`` and ``B`` are the
      integer *bins* of LongVALE's relative time: the event covers ``[A, B + 1)`` percent of
      the video (:func:`to_seconds`).

``lenient``
    What models also write, reported separately so that LongVALE-comparable numbers never mix
    with these: seconds (``"from 12.5 to 20 seconds"``, ``"12.5s - 20s"``), clock times
    (``"00:12 - 00:20"``, ``"1:02:03 to 1:02:09"``), percentages (``"10.5% to 20%"``) and
    LongVALE's bare relative numbers, joined by ``to``, ``and``, ``-`` or ``~``, with any
    capitalisation; dense events may share one line (``"From 0 to 5 seconds, a man talks.
    From 5 to 9 seconds, he waves."``). Where a time has a unit, the unit decides; bare
    numbers are LongVALE's relative bins.

Every parser returns ``None`` (grounding) or an empty list (dense) for an answer it cannot
read; the scorers count those as unparseable. Segment captions are free text and not parsed.

Left out: word numbers ("twelve seconds"), minutes written as words ("1 min 5 s"), spans
given as a start and a length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from omni_bench.core.errors import OmniBenchError

__all__ = ["PARSE_MODES", "Span", "Event", "parse_span", "parse_events", "to_seconds"]

PARSE_MODES = ("longvale", "lenient")  # LongVALE's rules / LongVALE's plus seconds, clock times, percentages

# LongVALE's grounding span: two digits, one space, "to" or "and", one space, two digits (searched).
_LONGVALE_SPAN = re.compile(r"(\d\d) (?:to|and) (\d\d)")
# LongVALE's dense event: "From A to B, sentence" up to the end of the line.
_LONGVALE_EVENT = re.compile(r"From (\d+) to (\d+), (.+?)(?=\n|$)")

_NUM = r"\d+(?:\.\d+)?"
_CLOCK = r"(?:\d+:)?\d{1,2}:\d{2}(?:\.\d+)?"
_SEP = r"\s*(?:to|and|-|–|—|~)\s*"
_UNIT = r"\s*(?:seconds?|secs?|s)\b"
# One alternative per unit, tried in this order at each position: the unit decides, bare numbers last.
_LENIENT_SPAN = re.compile(
    rf"(?P<p1>{_NUM})\s*%?{_SEP}(?P<p2>{_NUM})\s*%"
    rf"|(?P<c1>{_CLOCK}){_SEP}(?P<c2>{_CLOCK})"
    rf"|(?P<s1>{_NUM})(?:{_UNIT})?{_SEP}(?P<s2>{_NUM}){_UNIT}"
    rf"|(?P<r1>{_NUM}){_SEP}(?P<r2>{_NUM})",
    re.IGNORECASE,
)
_EVENT_LEAD = re.compile(r"(?:\bfrom\s+|\bbetween\s+)$", re.IGNORECASE)
_EVENT_TAIL = re.compile(r"^\s*(?:seconds?\b|secs?\b)?\s*[,:;.\-–—)\]]*\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Span:
    """A time span read from an answer, in the unit it was written in.

    ``unit`` is ``"relative"`` (LongVALE's 0-99 bins), ``"percent"``, ``"seconds"`` or ``"clock"``
    (then ``start``/``end`` are already seconds).
    """

    start: float  # as written: a relative bin, a percentage or seconds
    end: float
    unit: str  # "relative" | "percent" | "seconds" | "clock"

    def fraction(self, duration: float | None) -> tuple[float, float]:
        """The span as shares of the video, as LongVALE's grounding compares them.

        >>> Span(5.0, 40.0, "relative").fraction(None)
        (0.05, 0.4)
        >>> Span(3.0, 6.0, "seconds").fraction(12.0)
        (0.25, 0.5)
        """
        if self.unit in ("relative", "percent"):
            return self.start / 100, self.end / 100
        if not duration or duration <= 0:
            raise OmniBenchError(f"a span in seconds needs the video's duration (got {duration})",
                                 reason="duration")
        return self.start / duration, self.end / duration


@dataclass(frozen=True)
class Event:
    """One dense-captioning event read from an answer."""

    span: Span
    sentence: str


def _check_mode(mode: str) -> None:
    if mode not in PARSE_MODES:
        raise OmniBenchError(f"unknown parse mode {mode!r}; known: {', '.join(PARSE_MODES)}", reason="bad-settings")


def _clock_seconds(text: str) -> float:
    """``"1:02:03.5"`` -> 3723.5; ``"00:12"`` -> 12.0."""
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def _span_of(match: re.Match) -> Span:
    groups = match.groupdict()
    for key, unit in (("p", "percent"), ("c", "clock"), ("s", "seconds"), ("r", "relative")):
        if groups[key + "1"] is not None:
            first, second = groups[key + "1"], groups[key + "2"]
            if unit == "clock":
                return Span(_clock_seconds(first), _clock_seconds(second), unit)
            return Span(float(first), float(second), unit)
    raise AssertionError("one alternative of the span pattern always matches")


def parse_span(answer: str, mode: str = "longvale") -> Span | None:
    """The grounding span of an answer, or None.

    >>> parse_span("From 05 to 40.")
    Span(start=5.0, end=40.0, unit='relative')
    >>> parse_span("From 5 to 40.") is None, parse_span("from 12.5 to 20 seconds") is None
    (True, True)
    >>> parse_span("from 12.5 to 20 seconds", "lenient")
    Span(start=12.5, end=20.0, unit='seconds')
    >>> parse_span("It happens 01:02 - 01:10.", "lenient")
    Span(start=62.0, end=70.0, unit='clock')
    """
    _check_mode(mode)
    if mode == "longvale":
        match = _LONGVALE_SPAN.search(answer)
        return Span(float(match.group(1)), float(match.group(2)), "relative") if match else None
    match = _LENIENT_SPAN.search(answer)
    return _span_of(match) if match else None


def parse_events(answer: str, mode: str = "longvale") -> list[Event]:
    """The dense-captioning events of an answer, in the order written.

    >>> parse_events("From 00 to 49, a bar moves.\\nFrom 50 to 99, it stops.")[1]
    Event(span=Span(start=50.0, end=99.0, unit='relative'), sentence='it stops.')
    >>> [e.span.unit for e in parse_events("From 0 to 4s: a bar. From 4 to 8s: it stops.", "lenient")]
    ['seconds', 'seconds']
    """
    _check_mode(mode)
    if mode == "longvale":
        return [Event(Span(float(a), float(b), "relative"), text.strip())
                for a, b, text in _LONGVALE_EVENT.findall(answer)]
    matches = list(_LENIENT_SPAN.finditer(answer))
    events = []
    for index, match in enumerate(matches):
        stop = matches[index + 1].start() if index + 1 < len(matches) else len(answer)
        text = answer[match.end():stop]
        text = _EVENT_LEAD.sub("", _EVENT_TAIL.sub("", text, count=1)).strip()
        if text:
            events.append(Event(_span_of(match), text))
    return events


def to_seconds(span: Span, duration: float) -> tuple[float, float]:
    """An event's span in seconds, as LongVALE's dense-captioning metric converts it.

    A relative span ``A to B`` names bins of 1 % of the video, so it covers
    ``[A, B + 1)`` percent: LongVALE adds 1 to the end. Percentages, seconds and clock
    times are taken as written.

    >>> to_seconds(Span(0, 49, "relative"), 200.0), to_seconds(Span(0, 49, "percent"), 200.0)
    ((0.0, 100.0), (0.0, 98.0))
    """
    if span.unit == "relative":
        return span.start * duration / 100, (span.end + 1) * duration / 100
    if span.unit == "percent":
        return span.start * duration / 100, span.end * duration / 100
    return span.start, span.end
