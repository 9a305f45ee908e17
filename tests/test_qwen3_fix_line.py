"""Qwen3-Omni's fix line writes the processor fps with the digits the processor needs (issue 25 item 9): the
shortened value makes the same token layout as the unrounded one, in the planner and in the real processor."""

from __future__ import annotations

import pytest

from omni_bench import LayoutSettings, plan, probe
from omni_bench.core.arith import shortest_decimal
from omni_bench.families.qwen3_omni import step_alignment

OMNI = "qwen3-omni-30b-a3b"
LVN_META = dict(duration=256.89, width=640, height=360, native_fps=25.0, has_audio=True)  # docs/background.md


def _unrounded(a) -> float:
    """The candidate the fix was shortened from: the sampled fps or one over the frame spacing, the nearer one."""
    return min((a.sampled_fps, 1 / a.frame_spacing), key=lambda f: abs(f - a.recommendation.processor_fps))


def _temporal_ids(layout) -> list[int]:
    """Each grid step's temporal position id, the whole part (the model adds them as floats)."""
    s = layout.stats
    return [int(k * s.second_per_grid * s.position_id_per_seconds) for k in range(s.video_grid_thw[0][0])]


def test_the_longvale_fix_is_short_and_plans_the_same_layout():
    settings = LayoutSettings(profile=OMNI, frames=50, resize=(224, 224))
    a = step_alignment(plan(LVN_META, settings))
    full = _unrounded(a)
    assert repr(full) == "0.19078025229715"  # what the line printed before
    assert a.recommendation.flags == ("--processor-fps", "0.19078")
    assert "pass --processor-fps 0.19078 (max drift 0.09 s with it, checked on the merge)" in a.recommendation.line
    short, exact = (plan(LVN_META, settings.replace(processor_fps=fps)) for fps in (0.19078, full))
    assert short.input_ids == exact.input_ids and short.vision_runs == exact.vision_runs
    assert _temporal_ids(short) == _temporal_ids(exact)
    assert step_alignment(short).max_drift == pytest.approx(step_alignment(exact).max_drift, abs=0.005)


@pytest.mark.slow
def test_the_real_processor_reads_the_short_fps_as_the_long_one():
    from omni_bench.layout.inspect import inspect

    clip = "data/clips/kitchen_talk.mkv"  # 12 s, 15 fps, audio
    settings = LayoutSettings(profile=OMNI, frames=12, resize=(56, 56), processor_fps=2.0)  # the stock fps
    a = step_alignment(plan(probe(clip), settings))
    full = _unrounded(a)
    fps = a.recommendation.processor_fps
    assert not a.aligned and a.recommendation.flags == ("--processor-fps", repr(fps)) and len(repr(fps)) <= 6
    assert fps != full and shortest_decimal(full, lambda v: v == fps) == fps
    short, exact = (inspect(clip, settings.replace(processor_fps=value)) for value in (fps, full))
    assert short.input_ids == exact.input_ids and short.vision_runs == exact.vision_runs  # the processor's ids
    assert _temporal_ids(short) == _temporal_ids(exact)
    assert step_alignment(short).aligned and step_alignment(short).max_drift == pytest.approx(
        a.recommendation.max_drift, abs=1e-9)
