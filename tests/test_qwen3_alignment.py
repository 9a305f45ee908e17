"""Qwen3-Omni's token-by-token interleave against real time (families/qwen3_alignment.py)."""

from __future__ import annotations

import math

import pytest

from omni_bench.core.processor import load_processor
from omni_bench.families.qwen3_alignment import step_alignment
from omni_bench.families.qwen3_omni import token_interleave_runs
from omni_bench.layout.plan import plan
from omni_bench.layout.settings import LayoutSettings

OMNI = "qwen3-omni-30b-a3b"
LVN = dict(duration=256.89, width=640, height=360, native_fps=25.0, has_audio=True)  # the LongVALE notebook's


@pytest.fixture(scope="module")
def processor():
    return load_processor(OMNI)


def test_exact_frame_spacing_keeps_every_step_on_its_audio(processor):
    """--sampling fps --fps 0.2 --processor-fps 0.2: frames exactly 5 s apart, 10 s per step,
    130 audio tokens (10 s) between steps: every drift 0."""
    layout = plan(LVN, LayoutSettings(profile=OMNI, sampling="fps", fps=0.2, processor_fps=0.2, resize=(64, 64)),
                  processor=processor)
    a = step_alignment(layout)
    assert len(a.steps) == 26 and a.aligned and a.max_drift == pytest.approx(0.0, abs=1e-9)
    assert [t.audio_before for t in a.steps] == [min(3340, 130 * k) for k in range(26)]


def test_linspace_frames_drift_from_the_sampled_fps(processor):
    """50 frames spread first-to-last (qwen-vl-utils) are 5.24 s apart, not 256.89 / 50 = 5.14 s:
    with the sampled fps handed over, the last step's frames start 4.98 s after its audio."""
    layout = plan(LVN, LayoutSettings(profile=OMNI, frames=50, resize=(224, 224)), processor=processor)
    a = step_alignment(layout)
    spg = 2 / layout.stats.processor_fps  # 2 / (50 / 256.89) = 10.28 s (the stat is float32-rounded)
    assert [t.audio_before for t in a.steps] == [min(3340, math.ceil(k * spg * 13)) for k in range(25)]
    assert not a.aligned and a.max_drift == pytest.approx(a.steps[-1].drift) == pytest.approx(4.985, abs=0.01)


def test_stock_fps_runs_the_audio_away_from_the_frames(processor):
    """The LongVALE notebook's case (a) with Qwen3-Omni: 50 frames over 256.89 s, the processor told 2 fps."""
    layout = plan(LVN, LayoutSettings(profile=OMNI, frames=50, resize=(224, 224), processor_fps=2.0),
                  processor=processor)
    a = step_alignment(layout)
    assert not a.aligned
    last = a.steps[-1]
    assert last.audio_before == 24 * 13  # 1 s per step claimed: 13 audio tokens between steps
    assert last.frames_start == pytest.approx(6290 / 25) and last.audio_end == pytest.approx(24.0)  # frame 6290
    assert a.max_drift == pytest.approx(last.drift)
    assert layout.vision_runs[-1] == ("AUDIO", 3340 - 24 * 13)  # the rest of the audio after the last frame


def test_runs_read_from_the_layout_equal_the_merge(processor):
    layout = plan(LVN, LayoutSettings(profile=OMNI, frames=16, resize=(64, 64), processor_fps=0.7),
                  processor=processor)
    s = layout.stats
    spg = 2 / 0.7  # the processor's float64 value (stats.second_per_grid is float32-rounded)
    assert list(layout.vision_runs) == token_interleave_runs(s.video_grid_thw[0], spg, s.audio_tokens,
                                                             position_id_per_seconds=13)
    assert [t.audio_before for t in step_alignment(layout).steps] == [
        min(s.audio_tokens, math.ceil(k * spg * 13)) for k in range(8)]
    # recomputing the merge from the rounded stat puts one step's time on the other side of an integer
    assert token_interleave_runs(s.video_grid_thw[0], s.second_per_grid, s.audio_tokens,
                                 position_id_per_seconds=13) != list(layout.vision_runs)


def test_cli_inspect_gives_the_steps_not_the_chunks(processor, capsys):
    """The 2 s-chunk alignment report does not describe Qwen3-Omni's merge: inspect gives the per-step one
    (tests/test_qwen3_step_report.py checks its figures)."""
    import json
    from pathlib import Path

    from omni_bench.cli import main

    clip = Path(__file__).resolve().parent.parent / "data" / "clips" / "kitchen_talk.mkv"
    assert main(["inspect", str(clip), "--profile", OMNI, "--frames", "4", "--answer", "Ok.", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["alignment"]["kind"] == "steps" and "chunks" not in data["alignment"]
    assert len(data["alignment"]["steps"]) == 2 and data["position_id_per_seconds"] == 13.0
    assert data["seconds_per_chunk"] is None and data["audio_tokens"] == data["audio_tokens_formula"] > 0
