"""Small things a user reads: a warm-up longer than the run is refused in one line; fix lines write the
fps with the digits the processor needs; the banner says "aligned" once."""

from __future__ import annotations

import pytest

from omni_bench import OmniBenchError, TrainConfig


def test_a_warmup_longer_than_the_run_is_refused():
    with pytest.raises(OmniBenchError, match=r"--warmup-steps 10 is not shorter than the run \(--max-steps 5\)"):
        TrainConfig(tiny=True, data="data/longvale_sft.json", max_steps=5, warmup_steps=10)
    with pytest.raises(OmniBenchError, match="--warmup-steps 5 is not shorter"):
        TrainConfig(tiny=True, data="data/longvale_sft.json", max_steps=5, warmup_steps=5)
    assert TrainConfig(tiny=True, data="data/longvale_sft.json", max_steps=5, warmup_steps=4).warmup_steps == 4
    # the constant schedule has no warm-up: nothing to flag
    assert TrainConfig(tiny=True, data="data/longvale_sft.json", max_steps=5, warmup_steps=10,
                       lr_scheduler="constant").max_steps == 5


def test_fix_lines_round_the_fps_to_what_the_processor_needs(clips):
    """kitchen_talk (12 s at 15 fps), 8 frames: the fix samples at exactly 2/3 fps. The processor fps is written
    with the fewest digits that give the same frames, runs and temporal ids; the sampling rate keeps every digit
    its frame indices need (k x 22.5 frames lands on .5: 0.6666667 would round frame 67.5 the other way)."""
    from omni_bench import LayoutSettings, plan, probe, recommend, temporal_positions

    info = probe(clips / "kitchen_talk.mkv")
    settings = LayoutSettings(frames=8, resize=(224, 224))
    rec = recommend(info, settings)
    flags = dict(zip(rec.flags[::2], rec.flags[1::2]))
    assert flags["--processor-fps"] == "0.666" and flags["--seconds-per-chunk"] == "3"
    assert flags["--fps"] == repr(2 / 3)
    assert "--processor-fps 0.666 --seconds-per-chunk 3: 8 frames" in rec.line
    exact = settings.replace(sampling="fps", frames=None, fps=2 / 3, processor_fps=2 / 3, seconds_per_chunk=3.0)
    short, full = plan(info, rec.apply(settings)), plan(info, exact)
    assert short.input_ids == full.input_ids and short.vision_runs == full.vision_runs
    assert short.stats.frame_indices == full.stats.frame_indices
    assert (temporal_positions(short) == temporal_positions(full)).all()


def test_the_banner_says_aligned_once(clips):
    from omni_bench import LayoutSettings, plan, probe
    from omni_bench.layout.verdict import banner_lines, layout_alignment

    layout = plan(probe(clips / "kitchen_talk.mkv"), LayoutSettings(sampling="fps", fps=1.0, processor_fps=1.0,
                                                                      resize=(56, 56)))
    timing = layout_alignment(layout)
    assert timing.aligned
    lines, _ = banner_lines(layout, timing)
    assert lines[0] == timing.summary and lines[0].startswith("aligned: max drift")
