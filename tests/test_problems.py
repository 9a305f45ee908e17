"""One problem record and one vocabulary of reason codes (omni_bench.core.problems)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.problems import NO_AUDIO, REASONS, Problem, no_audio_error

PACKAGE = Path(__file__).resolve().parent.parent / "omni_bench"


def test_every_reason_code_raised_in_the_package_is_in_the_vocabulary():
    raised = set()
    for path in PACKAGE.rglob("*.py"):
        raised |= set(re.findall(r'reason="([a-z-]+)"', path.read_text(encoding="utf-8")))
    assert raised, "found no reason codes at all"
    assert sorted(raised - set(REASONS)) == []


def test_problem_strips_the_source_from_the_message_and_rejects_unknown_codes():
    p = Problem.from_error("a.mkv", OmniBenchError("a.mkv: file not found", source="a.mkv", reason="missing"))
    assert (p.source, p.reason, p.message, str(p)) == ("a.mkv", "missing", "file not found", "a.mkv: file not found")
    assert p.to_dict() == {"source": "a.mkv", "reason": "missing", "message": "file not found"}
    assert Problem.of("r1", None, "r1: odd").reason == "invalid"
    with pytest.raises(ValueError, match="unknown reason code 'nope'"):
        Problem("x", "nope", "m")


def test_one_no_audio_message():
    exc = no_audio_error("silent.mkv")
    assert (str(exc), exc.reason, exc.source) == (f"silent.mkv: {NO_AUDIO}", "no-audio", "silent.mkv")
    hits = [p for p in PACKAGE.rglob("*.py") if "to use the video alone" in p.read_text(encoding="utf-8")]
    assert [p.relative_to(PACKAGE).as_posix() for p in hits] == ["core/problems.py"]
