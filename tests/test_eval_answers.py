"""Answers read as LongVALE reads them, and the lenient mode kept apart."""

from __future__ import annotations

import pytest

from omni_bench import OmniBenchError
from omni_bench.eval.answers import Span, parse_events, parse_span, to_seconds


@pytest.mark.parametrize("answer, expected", [
    ("From 05 to 40.", (5.0, 40.0)),
    ("The event happens between 10 and 25 of the video.", (10.0, 25.0)),  # "xx and xx"
    ("From 40 to 10.", (40.0, 10.0)),  # reversed: kept as written
    ("From 100 to 200.", (0.0, 20.0)),  # unanchored search: "1[00 to 20]0", as LongVALE's regex reads it
    ("from 05 to 40 and from 50 to 60", (5.0, 40.0)),  # the first span wins
    ("From 05 to 40 seconds", (5.0, 40.0)),  # LongVALE ignores units
])
def test_longvale_span_rules(answer, expected):
    span = parse_span(answer)
    assert (span.start, span.end, span.unit) == (*expected, "relative")


@pytest.mark.parametrize("answer", [
    "From 5 to 40.",  # one digit
    "From 05  to 40.",  # two spaces
    "From 05-40.",  # a dash
    "from 12.5 to 20 seconds",  # "5 to 20": the digit before " to" is one
    "00:12 - 00:20",
    "I cannot tell.",
    "",
])
def test_longvale_mode_finds_no_span(answer):
    assert parse_span(answer) is None


@pytest.mark.parametrize("answer, expected", [
    ("from 12.5 to 20 seconds", Span(12.5, 20.0, "seconds")),
    ("It starts at 3s and ends at 9s", None),  # words between the times: not a span
    ("3s - 9s", Span(3.0, 9.0, "seconds")),
    ("between 4 and 7.5 sec", Span(4.0, 7.5, "seconds")),
    ("00:12 - 00:20", Span(12.0, 20.0, "clock")),
    ("From 1:02:03 to 1:02:09.5.", Span(3723.0, 3729.5, "clock")),
    ("From 10.5% to 20%.", Span(10.5, 20.0, "percent")),
    ("from 83.1% to 85.0%", Span(83.1, 85.0, "percent")),  # the LongVALE notebook's form
    ("From 05 to 40.", Span(5.0, 40.0, "relative")),  # bare numbers stay LongVALE's bins
    ("FROM 5 TO 40", Span(5.0, 40.0, "relative")),
    ("no time here", None),
])
def test_lenient_spans(answer, expected):
    assert parse_span(answer, "lenient") == expected


def test_span_fractions():
    assert Span(5.0, 40.0, "relative").fraction(None) == (0.05, 0.40)
    assert Span(10.5, 20.0, "percent").fraction(None) == (0.105, 0.2)
    assert Span(12.5, 20.0, "seconds").fraction(50.0) == (0.25, 0.4)
    with pytest.raises(OmniBenchError, match="duration"):
        Span(1.0, 2.0, "seconds").fraction(None)


def test_unknown_parse_mode_is_one_line():
    with pytest.raises(OmniBenchError, match="unknown parse mode 'loose'; known: longvale, lenient"):
        parse_span("From 05 to 40.", "loose")


def test_longvale_events_one_per_line():
    answer = ("From 00 to 39, a man walks in.\n From 40 to 99, he sits down.  \n"
              "from 10 to 20, lower case is not LongVALE's.\nFrom 5 to 120, any digits.")
    events = parse_events(answer)
    assert [(e.span.start, e.span.end, e.sentence) for e in events] == [
        (0.0, 39.0, "a man walks in."), (40.0, 99.0, "he sits down."), (5.0, 120.0, "any digits.")]
    # two events on one line: LongVALE's sentence runs to the end of the line
    one_line = parse_events("From 00 to 39, a man walks in. From 40 to 99, he sits down.")
    assert [e.sentence for e in one_line] == ["a man walks in. From 40 to 99, he sits down."]
    assert parse_events("A man walks in, then sits down.") == []


def test_lenient_events_share_a_line():
    events = parse_events("From 0 to 4.5 seconds, a man walks in. From 4.5 to 9 seconds: he sits down. "
                          "00:09 - 00:12 he stands.", "lenient")
    assert [(e.span, e.sentence) for e in events] == [
        (Span(0.0, 4.5, "seconds"), "a man walks in."), (Span(4.5, 9.0, "seconds"), "he sits down."),
        (Span(9.0, 12.0, "clock"), "he stands.")]


def test_plus_one_on_relative_ends_only():
    # "From 00 to 49" is bins 0..49: [0, 50) % of a 200 s video
    assert to_seconds(Span(0, 49, "relative"), 200.0) == (0.0, 100.0)
    assert to_seconds(Span(10, 20, "percent"), 200.0) == (20.0, 40.0)
    assert to_seconds(Span(3.5, 7.0, "seconds"), 200.0) == (3.5, 7.0)
