"""The group view of a GRPO run: the G rollouts of one prompt on the video's timeline against the truth.

The input is a :class:`omni_bench.training.groups.GroupRecord` (a line of the run's ``groups.jsonl``,
:func:`omni_bench.read_groups`), or a run folder (its last recorded group). :func:`draw_grpo_group`
draws one lane per completion over the video's seconds: the true span(s) as grey bands across every
lane, each completion's span(s) as the rewards' parser read them, coloured by the sign of its advantage
(green above the group's mean, red below, grey at it), labelled with its reward and advantage; an
unparseable completion is a ``?`` at the lane's end. gids ``"true-<n>"`` and ``"rollout-<i>-<n>"`` let
tests find the bars. The text twin is :func:`omni_bench.render_group_text` (``str(group)``).

The figure is a :class:`~.picture.Picture` (a pyplot-free Figure that a notebook shows as a picture).
Not covered: the completions' tokens and log-probs, several groups in one figure (draw each).
"""

from __future__ import annotations

import os

from omni_bench.core.errors import OmniBenchError
from omni_bench.training.groups import GroupRecord, read_groups

from .picture import figure

__all__ = ["grpo_group", "draw_grpo_group"]

_TRUE = "#bab0ac"
_SIGN_COLOURS = {1: "#59a14f", -1: "#e15759", 0: "#9d9d9d"}  # advantage above / below / at the group's mean


def grpo_group(source) -> GroupRecord:
    """A GroupRecord, or the last recorded group of a run folder / ``groups.jsonl``."""
    if isinstance(source, GroupRecord):
        return source
    if isinstance(source, (str, os.PathLike)):
        groups = read_groups(source)
        if not groups:
            raise OmniBenchError(f"{source}: no GRPO groups recorded (train --method grpo writes groups.jsonl at "
                                 "its logging steps)", source=str(source), reason="missing")
        return groups[-1]
    raise OmniBenchError(f"draw_grpo_group takes a GroupRecord or a GRPO run folder, got {type(source).__name__}",
                         reason="bad-settings")


def _sign(value: float) -> int:
    return 0 if abs(value) < 1e-6 else (1 if value > 0 else -1)


def draw_grpo_group(source, *, title: str = "", width: float = 10.0):
    """One lane per completion on the video's timeline (seconds), the true span(s) in grey behind them;
    each lane labelled ``i: r <reward> A <advantage>``. ``source``: as :func:`grpo_group` takes it.
    Returns the Figure."""
    from matplotlib.patches import Rectangle

    group = grpo_group(source)
    G, T = group.num_generations, group.duration
    fig = figure(width, 1.0 + 0.32 * G)
    ax = fig.add_subplot()
    for n, (start, end) in enumerate(group.true_spans):
        ax.add_patch(Rectangle((start, -0.5), max(end - start, T * 0.003), G, facecolor=_TRUE, alpha=0.45,
                               edgecolor="none", gid=f"true-{n}"))
    for i in range(G):
        colour = _SIGN_COLOURS[_sign(group.advantages[i])]
        spans = group.spans[i]
        if spans is None:
            ax.text(T * 1.01, i, "?", va="center", fontsize=8, color="#d62728")
            continue
        for n, (start, end) in enumerate(spans):
            low, high = sorted((start * T, end * T))
            ax.add_patch(Rectangle((low, i - 0.28), max(high - low, T * 0.003), 0.56, facecolor=colour,
                                   gid=f"rollout-{i}-{n}"))
    ax.set_xlim(0, T * 1.04)
    ax.set_ylim(G - 0.5, -0.5)
    ax.set_yticks(range(G), [f"{i}: r {group.reward[i]:.2f}  A {group.advantages[i]:+.2f}" for i in range(G)],
                  fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("seconds of the video (grey: true span; green / red: advantage above / below the group's mean; "
                  "?: nothing parsed)", fontsize=7)
    name = os.path.basename(group.video) if group.video else "no video"
    ax.set_title(title or f"step {group.step} · prompt {group.index} · {name} ({T:.1f} s) · G = {G}", fontsize=8,
                 loc="left")
    fig.tight_layout()
    return fig
