"""The alignment fix aligns: recommend searches frame count, sampling rule and whole-second chunk jointly
and checks its answer on the plan of the recommended settings."""

from __future__ import annotations

import json
import random

import pytest

from omni_bench import LayoutSettings, alignment, media_plan, plan, recommend
from omni_bench.layout import arith
from omni_bench.sampling.samplers import sample_fps

LONGVALE = dict(duration=256.89, width=640, height=360, native_fps=25)  # the LongVALE notebook's sample
ASKED = LayoutSettings(frames=50, resize=(224, 224), processor_fps=2.0)  # its run: 50 frames, stock fps 2


def _plan_flags(capsys, meta, flags):
    from omni_bench.cli import main

    meta_flags = ["--duration", str(meta["duration"]), "--width", str(meta["width"]), "--height",
                  str(meta["height"]), "--native-fps", str(meta["native_fps"])]
    assert main(["plan", *meta_flags, *flags, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_longvale_sample_recommended_flags_align_within_2_s(capsys):
    rec = recommend(LONGVALE, ASKED)
    assert rec.flags == ("--sampling", "fps", "--fps", "0.2", "--processor-fps", "0.2", "--seconds-per-chunk", "10")
    data = _plan_flags(capsys, LONGVALE, ["--resize", "224x224", *rec.flags])
    assert 45 <= data["sampled_frames"] <= 56 and data["sampled_frames"] == rec.frames == 52
    assert data["alignment"]["verdict"] == "aligned" and data["alignment"]["max_drift"] <= 2.0
    assert data["alignment"]["max_drift"] == rec.max_drift
    # the report being fixed carries the flags in --json, and the same settings through the library
    bad = _plan_flags(capsys, LONGVALE, ["--resize", "224x224", "--frames", "50", "--processor-fps", "2"])
    assert bad["alignment"]["recommendation"]["flags"] == list(rec.flags)
    fixed = alignment(media_plan(LONGVALE, rec.apply(ASKED)))
    assert fixed.aligned and fixed.max_drift == data["alignment"]["max_drift"]
    assert max(abs(c.drift) for c in fixed.chunks if c.drift is not None) <= 2.0


def test_the_old_fix_is_now_called_misaligned():
    # fps 0.195 (frames / duration) with 11 s chunks: the video runs 13.2 s after its audio in a chunk
    old = alignment(media_plan(LONGVALE, ASKED.replace(processor_fps=50 / 256.89, seconds_per_chunk=11.0)))
    assert old.max_drift == pytest.approx(13.2, abs=0.05) and old.verdict == "misaligned"
    assert old.tolerance == 2.0 and "within 2 s of that chunk's audio" in str(old)
    assert "tolerance_words" in old.to_dict()


def test_fps_sampling_rule_equals_the_fps_sampler():
    for total, native, rate in [(6422, 25.0, 0.2), (300, 30.0, 0.5), (359, 29.97, 1.3), (180, 15.0, 2.0)]:
        ours = arith.fps_indices(total, native, rate)
        theirs = list(sample_fps(total, native, fps=rate).indices)
        assert ours == theirs[: len(theirs) // 2 * 2]


def test_plan_and_inspect_agree_on_fps_sampling(clips, omni_processor):
    from omni_bench import inspect, probe

    settings = LayoutSettings(sampling="fps", fps=1.0, resize=(112, 196))
    layout = inspect(str(clips / "kitchen_talk.mkv"), settings, processor=omni_processor)
    planned = plan(probe(layout.media), settings, processor=omni_processor)
    assert layout.stats.frame_indices == planned.stats.frame_indices == tuple(range(0, 180, 15))
    assert layout.input_ids == planned.input_ids


@pytest.mark.parametrize("seed", range(3))
def test_every_recommendation_is_checked_on_its_plan(seed):
    rng, found = random.Random(seed), []
    for _ in range(6):
        meta = dict(duration=round(rng.uniform(20, 600), 2), width=640, height=360,
                    native_fps=rng.choice([24.0, 25.0, 29.97, 30.0]))
        asked = LayoutSettings(frames=2 * rng.randint(8, 60), resize=(56, 56), processor_fps=2.0)
        rec = recommend(meta, asked)
        if not rec.flags:
            continue
        if rec.max_drift is None:  # nothing within 10 % of the frames fits: the line says so
            assert "no setting with the frame count within 10 %" in rec.line
            continue
        fixed = media_plan(meta, rec.apply(asked))
        checked = alignment(fixed)
        assert checked.max_drift == rec.max_drift <= 2.0 and checked.aligned
        assert abs(fixed.frames - asked.frames) <= 0.1 * asked.frames
        found.append(rec.sampling)
    assert found  # the sample exercises the fix, not only "nothing fits"


def test_bad_sampling_settings_raise_one_line():
    from omni_bench import OmniBenchError

    with pytest.raises(OmniBenchError, match="--sampling must be one of"):
        LayoutSettings(sampling="uniform")
    with pytest.raises(OmniBenchError, match="takes --fps, not --frames"):
        LayoutSettings(sampling="fps", frames=10)


def test_budget_counts_fps_sampling_like_plan(omni_processor):
    from omni_bench import budget

    metas = [LONGVALE, dict(duration=79.0, width=640, height=360, native_fps=29.97),
             dict(duration=33.3, width=320, height=180, native_fps=23.976)]
    settings = LayoutSettings(sampling="fps", fps=0.5, resize=(56, 56))
    b = budget(metas, settings, processor=omni_processor)
    planned = [plan(m, settings, processor=omni_processor) for m in metas]
    assert list(b.video_tokens) == [p.stats.video_tokens for p in planned]
    assert list(b.total_tokens) == [len(p.input_ids) for p in planned]
