"""Chunk alignment in real time, the fix it recommends, and TMRoPE ids equal to the model's own.

``rope_positions`` is compared with the tiny Qwen2.5-Omni thinker's ``get_rope_index`` on
the real processor's output (synthetic frames and audio, the untouched feature extractor),
including the LongVALE notebook's misaligned settings and a model configured with a different
``seconds_per_chunk`` than the processor.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from omni_bench import LayoutSettings, alignment, plan, recommend, rope_positions, temporal_positions
from omni_bench.core.processor import resolve_profile
from omni_bench.layout.frames import sample_indices
from omni_bench.layout.plan import media_info, media_plan
from omni_bench.layout.processor_call import conversation, layout_from_output, processor_call

SEED = dict(duration=256.89, width=640, height=360, native_fps=25.0)


def _processor_output(processor, meta, settings):
    """The real processor on zero frames / zero audio of the right sizes, and its layout."""
    info = media_info(meta)
    resolved = settings.resolve(resolve_profile(processor))
    indices = sample_indices(info, settings)
    h, w = settings.resize
    frames = np.zeros((len(indices), h, w, 3), np.uint8)
    audio = np.zeros(int(round(info.audio_seconds * 16000)), np.float32) if settings.use_audio else None
    text = processor.apply_chat_template(conversation(settings), tokenize=False,
                                         add_generation_prompt=settings.answer is None)  # as inspect renders it
    fps = settings.processor_fps or len(indices) / info.duration
    out = processor_call(processor, resolved, text, frames, audio, fps)
    return out, layout_from_output(out, processor, resolved, info=info, indices=indices,
                                   processor_fps=fps, use_audio=settings.use_audio)


@pytest.fixture(scope="module")
def thinker():
    from omni_bench import tiny_model

    return tiny_model("qwen2.5-omni-7b")


# (metadata, processor settings, the model's config.seconds_per_chunk)
ROPE_CASES = {
    "aligned-8s": (dict(duration=8.0, width=320, height=180, native_fps=25.0),
                   LayoutSettings(frames=16, resize=(56, 84)), 2),
    "lvn-a-stock-fps": (SEED, LayoutSettings(frames=50, resize=(56, 56), processor_fps=2.0), 2),
    "lvn-fixed-whole-chunk": (SEED, LayoutSettings(frames=50, resize=(56, 84), seconds_per_chunk=11.0), 11),
    "lvn-c-model-keeps-2s": (SEED, LayoutSettings(frames=50, resize=(56, 84),
                                                   seconds_per_chunk=2 * 256.89 / 50), 2),
    "one-token-chunks": (SEED, LayoutSettings(frames=50, resize=(28, 56)), 2),
    "odd-rate-short-chunks": (dict(duration=7.77, width=180, height=320, native_fps=29.97),
                              LayoutSettings(fps=4.0, resize=(84, 56), seconds_per_chunk=1.0), 1),
    "no-audio": (SEED, LayoutSettings(frames=32, resize=(56, 112), use_audio=False), 2),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ROPE_CASES))
def test_rope_positions_equal_the_models(name, omni_processor, thinker):
    import torch

    meta, settings, model_chunk = ROPE_CASES[name]
    out, layout = _processor_output(omni_processor, meta, settings)
    thinker.config.seconds_per_chunk = model_chunk
    expected, _ = thinker.get_rope_index(
        out["input_ids"], video_grid_thw=out["video_grid_thw"], attention_mask=out["attention_mask"],
        use_audio_in_video=settings.use_audio,
        audio_seqlens=out["feature_attention_mask"].sum(-1) if settings.use_audio else None,
        second_per_grids=out["video_second_per_grid"])
    thinker.config.seconds_per_chunk = 2
    mine = rope_positions(layout, seconds_per_chunk=model_chunk)
    assert mine.dtype == np.int64 and mine.shape == (3, len(layout.input_ids))
    assert torch.equal(torch.from_numpy(mine), expected[:, 0, :])
    assert np.array_equal(temporal_positions(layout, seconds_per_chunk=model_chunk), mine[0])
    planned = plan(meta, settings, processor=omni_processor)
    assert np.array_equal(rope_positions(planned, seconds_per_chunk=model_chunk), mine)


def test_model_with_other_chunk_length_gives_positions_to_the_wrong_tokens(omni_processor):
    """The LongVALE notebook's fix (c) sets seconds_per_chunk on the processor only; the model re-chunks with 2."""
    meta, settings, _ = ROPE_CASES["lvn-c-model-keeps-2s"]
    layout = plan(meta, settings, processor=omni_processor)
    as_processed = temporal_positions(layout)  # a model configured like the processor (impossible: int config)
    as_model = temporal_positions(layout, seconds_per_chunk=2)
    assert not np.array_equal(as_processed, as_model)
    assert sorted(as_processed.tolist()) == sorted(as_model.tolist())  # same ids, other tokens
    assert any("not whole" in note for note in alignment(layout).notes)


def test_temporal_ids_follow_real_time_only_when_aligned(omni_processor):
    """Video temporal ids / 25 are the seconds each grid step claims; frames say when it really is."""
    for fps, aligned in ((2.0, False), (None, True)):
        layout = plan(SEED, LayoutSettings(frames=50, resize=(56, 56), processor_fps=fps, seconds_per_chunk=11.0),
                      processor=omni_processor)
        temporal = temporal_positions(layout, seconds_per_chunk=11)
        video = np.flatnonzero(np.asarray(layout.input_ids) == layout.extra["token_ids"].video)
        firsts = video[::4]  # first token of each of the 25 grid steps (2 x 2 tokens per step)
        claimed = (temporal[firsts] - temporal[firsts[0]]) / 25.0
        real = np.asarray(layout.stats.frame_times[::2])
        assert bool(np.abs(claimed - real).max() < 10.28) == aligned


def test_lvn_a_is_misaligned_and_the_fix_aligns_it():
    settings = LayoutSettings(frames=50, resize=(224, 224), processor_fps=2.0)
    bad = alignment(media_plan(SEED, settings))
    assert bad.verdict == "misaligned" and not bad.aligned
    assert [c.video_tokens for c in bad.chunks[:13]] == [128] * 12 + [64]
    assert [c.audio_tokens for c in bad.chunks[:13]] == [50] * 13 and len(bad.chunks) == 129
    assert bad.worst_chunk == 12 and bad.max_drift == pytest.approx(251.60 - 24.0, abs=0.01)
    assert bad.chunks[0].video_span == (0.0, pytest.approx(20.96)) and bad.chunks[0].audio_span == (0.0, 2.0)
    assert bad.grid_seconds == pytest.approx(2 * 256.89 / 50) and bad.assumed_grid_seconds == 1.0
    # first and last of 6,422 frames kept: the sampled frames are 6421 / 49 frames apart, not 6422 / 50
    assert bad.frame_spacing == pytest.approx(6421 / 49 / 25)
    assert "video grid: 10.28 s at the sampled fps (frames / duration; frames 5.242 s apart), 1 s assumed" in str(bad)
    rec = bad.recommendation  # searched and checked (tests/test_recommend.py): exact 0.2 fps, 10 s chunks
    assert rec.line.startswith("pass --sampling fps --fps 0.2 --processor-fps 0.2 --seconds-per-chunk 10: 52 frames")
    assert rec.processor_fps == 0.2 and rec.seconds_per_chunk == 10.0 and rec.max_drift == 0.0
    assert recommend(SEED, settings) == rec
    fixed = alignment(media_plan(SEED, rec.apply(settings)))
    assert fixed.verdict == "aligned" and fixed.recommendation.changes == {}
    assert "nothing to change" in fixed.recommendation.line
    assert all(c.video_tokens in (0, 64, 128) for c in fixed.chunks)  # whole grid steps, no 1-token chunks


def test_one_token_chunks_are_flagged_with_a_chunk_fix():
    a = alignment(media_plan(SEED, LayoutSettings(frames=50, resize=(56, 56))))  # right fps, 2 s chunks
    assert a.verdict == "misaligned" and 1 in {c.video_tokens for c in a.chunks}
    assert a.recommendation.changes == {"sampling": "fps", "frames": None, "fps": 0.2, "processor_fps": 0.2,
                                        "seconds_per_chunk": 10.0}
    fixed = alignment(media_plan(SEED, a.recommendation.apply(LayoutSettings(frames=50, resize=(56, 56)))))
    assert fixed.aligned and 1 not in {c.video_tokens for c in fixed.chunks}


def test_default_sampling_is_aligned_on_a_clip(clips, omni_processor):
    from omni_bench import inspect, probe

    layout = inspect(str(clips / "street_market.mkv"), frames=16, processor=omni_processor)
    a = alignment(layout)
    assert a.verdict == "aligned" and a.recommendation.changes == {}
    assert a == alignment(plan(probe(layout.media), frames=16, processor=omni_processor))
    text = str(a)
    assert text.startswith("[Alignment]\naligned: max drift") and "nothing to change" in text
    assert json.loads(json.dumps(a.to_dict()))["verdict"] == "aligned"


def test_video_only_alignment_compares_with_claimed_time():
    a = alignment(media_plan(dict(SEED, has_audio=False), LayoutSettings(frames=50, processor_fps=2.0,
                                                                         use_audio=False)))
    assert not a.interleaved and len(a.chunks) == 25 and all(c.audio_span is None for c in a.chunks)
    assert a.verdict == "misaligned" and a.recommendation.seconds_per_chunk is None
    assert a.chunks[-1].drift == pytest.approx(251.60 - 24.0, abs=0.01)


def test_cli_prints_alignment_under_the_report(clips, capsys):
    from omni_bench.cli import main

    assert main(["inspect", str(clips / "kitchen_talk.mkv"), "--frames", "6", "--resize", "224x224",
                 "--processor-fps", "2"]) == 0
    out = capsys.readouterr().out
    assert out.index("Omni Batch Debug") < out.index("[Alignment]")
    assert "misaligned" in out and "fix: pass --sampling" in out and "within 2 s of that chunk's audio" in out
    assert main(["plan", "--duration", "12", "--width", "640", "--height", "360", "--native-fps", "15",
                 "--frames", "24", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["alignment"]["verdict"] == "aligned" and data["alignment"]["recommendation"]["changes"] == {}
