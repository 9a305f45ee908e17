"""budget() equals plan() sample by sample (and plan equals the processor: test_planner_equality)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from omni_bench import LayoutSettings, OmniBenchError, VideoInfo, budget, logits_bytes, plan
from omni_bench.core.light import light_of  # budget and plan run the light way (no torch)

LVN_META = dict(duration=256.89, width=640, height=360, native_fps=25.0)
# a 15-token reply: with it the sample is the 8,093 tokens docs/background.md counts; without a reply, 8,078
REPLY = "A moving white bar crosses a colour gradient while a tone plays."


def _metas(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        duration = round(rng.choice([rng.uniform(2.5, 30), rng.uniform(30, 900)]), 3)
        width, height = rng.choice([(640, 360), (1920, 1080), (1080, 1920), (2000, 100), (64, 64), (320, 180)])
        meta = dict(duration=duration, width=width, height=height, native_fps=rng.choice([10, 23.976, 25, 29.97, 60]))
        if rng.random() < 0.3:
            meta["audio_seconds"] = round(duration * rng.uniform(0.5, 1.2), 2)
        if rng.random() < 0.2:
            meta["total_frames"] = int(duration * meta["native_fps"]) - 1
        out.append(meta)
    return out


SETTINGS = {
    "fps-capped": LayoutSettings(fps=1.0, max_frames=64),
    "frames-resize": LayoutSettings(frames=16, resize=(224, 224)),
    "dynamic-small": LayoutSettings(fps=0.5, min_pixels=64 * 784, max_pixels=128 * 784, seconds_per_chunk=3.7),
    "no-audio": LayoutSettings(fps=2.0, use_audio=False),
    "generation-prompt": LayoutSettings(frames=8, answer=None, system="Be brief."),
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_budget_equals_plan_per_sample(name, omni_processor):
    settings = SETTINGS[name]
    metas = _metas(60)
    b = budget(metas, settings, processor=light_of(omni_processor), max_total_tokens=8192)
    assert len(b) == 60 and b.total_tokens.dtype == np.int64
    for i, meta in enumerate(metas):
        layout = plan(meta, settings, processor=light_of(omni_processor))
        assert b.total_tokens[i] == len(layout.input_ids), (i, meta)
        assert b.video_tokens[i] == layout.stats.video_tokens
        assert b.audio_tokens[i] == layout.stats.audio_tokens
        assert b.label_tokens[i] == layout.stats.label_tokens
    assert np.array_equal(b.total_tokens, b.text_tokens + b.video_tokens + b.audio_tokens)
    assert b.fraction_over == pytest.approx(float(np.mean(b.total_tokens > 8192)))


def test_vl_profile(vl_processor):
    settings = LayoutSettings(profile="qwen2.5-vl-7b", fps=1.0, max_frames=32, use_audio=False)
    metas = _metas(20, seed=3)
    b = budget(metas, settings, processor=light_of(vl_processor))
    light = light_of(vl_processor)
    assert [len(plan(m, settings, processor=light).input_ids) for m in metas] == b.total_tokens.tolist()
    assert not b.audio_tokens.any() and b.vocab_size == 152064


def test_lvn_sample_and_logits_memory(omni_processor):
    settings = LayoutSettings(frames=50, resize=(224, 224), processor_fps=2.0, answer=REPLY)
    assert len(plan(LVN_META, settings.replace(answer=None), processor=light_of(omni_processor)).input_ids) == 8093 - 15
    b = budget([LVN_META, VideoInfo("clip.mkv", 25.0, 6422, 256.88, 640, 360, True, 256.89)], settings,
               processor=omni_processor, max_total_tokens=8192)
    assert b.video_tokens.tolist() == [1600, 1600] and b.audio_tokens.tolist() == [6422, 6422]
    assert b.total_tokens[0] == len(plan(LVN_META, settings, processor=light_of(omni_processor)).input_ids) == 8093
    assert b.over.tolist() == [False, False] and b.fraction_over == 0.0
    assert b.logits_bytes[0] == 8093 * 152064 * 4 == logits_bytes(8093, 152064)
    assert b.to_dict()["logits_gib"]["max"] == pytest.approx(8093 * 152064 * 4 / 2**30)
    assert "over 8192 tokens: 0 of 2" in str(b)


def test_per_sample_answers_are_tokenized_once_each(omni_processor):
    metas = [dict(LVN_META, answer="Yes."), dict(LVN_META, answer="A much longer answer about the kitchen."),
             dict(LVN_META)]
    settings = LayoutSettings(frames=8)
    b = budget(metas, settings, processor=light_of(omni_processor))
    for meta, total, labels in zip(metas, b.total_tokens, b.label_tokens):
        answer = meta.get("answer", settings.answer)
        layout = plan({k: v for k, v in meta.items() if k != "answer"}, settings.replace(answer=answer),
                      processor=light_of(omni_processor))
        assert (total, labels) == (len(layout.input_ids), layout.stats.label_tokens)
    assert b.label_tokens[0] < b.label_tokens[1]


def test_errors_name_the_sample(omni_processor):
    with pytest.raises(OmniBenchError, match=r"sample 1 \(<metadata>\): cannot sample 16 frames"):
        budget([LVN_META, dict(LVN_META, duration=0.4)], LayoutSettings(frames=16), processor=light_of(omni_processor))
    with pytest.raises(OmniBenchError, match=r"sample 0 .*no audio track"):
        budget([dict(LVN_META, has_audio=False)], processor=light_of(omni_processor))
    assert len(budget([], processor=light_of(omni_processor))) == 0
