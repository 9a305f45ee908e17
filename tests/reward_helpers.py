"""User rewards for tests/test_rewards.py, named ``reward_helpers:<function>`` as a user would name theirs."""

from __future__ import annotations

from omni_bench import OmniBenchError


def says_from(completions, targets, durations, *, task="grounding", parse="longvale"):
    """1 when the completion starts with "From", else 0; records the last call's arguments."""
    says_from.seen = {"targets": list(targets), "durations": list(durations), "task": task, "parse": parse}
    return [float(c.startswith("From")) for c in completions]


def raising(completions, targets, durations, **kwargs):
    raise ValueError("no video here")


def not_finite(completions, targets, durations, **kwargs):
    return [float("nan")] + [0.0] * (len(completions) - 1)


def one_short(completions, targets, durations, **kwargs):
    return [0.0] * (len(completions) - 1)


NOT_A_FUNCTION = 3


def refuses(completions, targets, durations, **kwargs):
    raise OmniBenchError("this reward reads no dense captions")
