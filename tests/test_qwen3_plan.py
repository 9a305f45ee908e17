"""plan() equals transformers' own Qwen3VLProcessor / Qwen3OmniMoeProcessor, id for id.

The reference calls the real processor through ``processor_call`` the way ``inspect`` does,
with the sampled frame indices and the native fps (Qwen3-VL writes its timestamps from
them), on synthetic media: uint8 frames of the native (or ``--resize``) size and float32
audio of ``round(audio_seconds * 16000)`` samples. Whisper's log-mel values are replaced by
zeros of the same shape (``test_planner_equality.py`` proves no count depends on them; here
``test_zero_features_change_no_count`` repeats it for Qwen3-Omni's unpadded audio). The clip
tests run ``inspect`` on files written by ffmpeg's real encoders.
"""

from __future__ import annotations

import dataclasses
import random

import pytest
from ffmpeg_media import ClipSpec, make_clip
from processor_reference import assert_same, assert_zero_features_change_no_count, reference
from test_planner_equality import zero_features  # noqa: F401  (a fixture, used by name)

from omni_bench.core.light import light_of  # plan runs the light way: tokenizer.json + jinja, no torch
from omni_bench.core.media import probe
from omni_bench.core.processor import load_processor
from omni_bench.families.qwen3_vl import grid_timestamps, timestamp_text
from omni_bench.layout import arith
from omni_bench.layout.inspect import inspect
from omni_bench.layout.plan import media_info, plan
from omni_bench.layout.settings import LayoutSettings

VL, OMNI = "qwen3-vl-8b", "qwen3-omni-30b-a3b"
MEDIA = [(1.0, 640, 360, 25.0), (2.5, 64, 64, 30.0), (4.2, 1920, 1080, 30.0), (7.77, 180, 320, 29.97),
         (30.0, 2000, 100, 25.0), (59.94, 854, 480, 23.976), (256.89, 640, 360, 25.0), (310.0, 64, 36, 2.0)]
SAMPLING = [dict(frames=4), dict(frames=9), dict(frames=16), dict(frames=31), dict(fps=2.0, max_frames=32),
            dict(fps=0.5, max_frames=24), dict(fps=0.1, max_frames=32)]
RESIZES = [dict(resize=(224, 224)), dict(resize=(100, 200)), dict(resize=(32, 544))]
DYNAMIC = [dict(), dict(min_pixels=4096, max_pixels=64 * 1024 * 16), dict(min_pixels=64 * 1024, max_pixels=256 * 1024),
           dict(min_pixels=1024, max_pixels=8 * 1024)]
PROCESSOR_FPS = [None, None, 2.0, 0.5, 1.0, 50 / 256.89, 3.0]
IDS_PER_SECOND = [None, None, None, 25, 6.5]


def _cheap(meta: dict, settings: dict, frames: int) -> bool:
    if frames > 32:
        return False
    if "resize" in settings:
        return frames * settings["resize"][0] * settings["resize"][1] <= 400_000
    return frames * meta["height"] * meta["width"] <= 9_000_000


def _matrix(n: int = 60, seed: int = 16) -> list[tuple[str, str, dict, dict]]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        duration, width, height, fps = MEDIA[i % len(MEDIA)]
        family = ["vl", "omni", "omni-silent"][i % 3]
        meta = dict(duration=duration, width=width, height=height, native_fps=fps, has_audio=family == "omni")
        for _ in range(200):
            settings = {**rng.choice(SAMPLING), **rng.choice(RESIZES if i % 2 else DYNAMIC)}
            info = media_info(meta)
            try:
                count = arith.smart_nframes(info.total_frames, fps, nframes=settings.get("frames"),
                                            fps=settings.get("fps"), max_frames=settings.get("max_frames", 768))
            except ValueError:
                continue
            if _cheap(meta, settings, count):
                break
        settings["processor_fps"] = rng.choice(PROCESSOR_FPS)
        if family == "omni":
            settings["position_id_per_seconds"] = rng.choice(IDS_PER_SECOND)
            meta["audio_seconds"] = rng.choice([None, round(duration * 0.8, 3)])
        else:
            settings["use_audio"] = False
        settings = {k: v for k, v in settings.items() if v is not None}
        label = f"{i:02d}-{family}-{duration:g}s-{width}x{height}@{fps:g}-" + "-".join(
            f"{k}={round(v, 4) if isinstance(v, float) else v}" for k, v in settings.items())
        cases.append((label.replace(" ", ""), VL if family == "vl" else OMNI, meta, settings))
    return cases


CASES = _matrix()


@pytest.fixture(scope="module")
def processors():
    return {VL: load_processor(VL), OMNI: load_processor(OMNI)}


def test_matrix_is_broad():
    assert len(CASES) == 60
    assert {p for _, p, _, _ in CASES} == {VL, OMNI}
    assert any(m["duration"] > 300 and m["has_audio"] for _, _, m, _ in CASES)  # no 300 s cap to hide behind
    assert sum("resize" in s for *_, s in CASES) >= 20 and sum("resize" not in s for *_, s in CASES) >= 20


@pytest.mark.usefixtures("zero_features")
@pytest.mark.parametrize("label,profile,meta,changes", CASES, ids=[c[0] for c in CASES])
def test_plan_equals_processor(label, profile, meta, changes, processors):
    processor = processors[profile]
    settings = LayoutSettings(profile=profile, **changes)
    out, ref = reference(processor, meta, settings)
    assert_same(plan(meta, settings, processor=light_of(processor)), out, ref)


def test_zero_features_change_no_count(processors, monkeypatch):
    meta = dict(duration=7.77, width=64, height=64, native_fps=29.97, has_audio=True)
    assert_zero_features_change_no_count(processors[OMNI], meta, LayoutSettings(profile=OMNI, frames=8), monkeypatch)


def test_qwen3_vl_timestamps_are_text_before_each_grid_step(processors):
    """The LongVALE notebook's 256.89 s sample, 50 frames: 25 steps, each after its timestamp text."""
    processor = processors[VL]
    meta = dict(duration=256.89, width=640, height=360, native_fps=25.0, has_audio=False)
    layout = plan(meta, LayoutSettings(profile=VL, frames=50, resize=(224, 224), use_audio=False),
                  processor=light_of(processor))
    text = processor.tokenizer.decode(layout.input_ids)
    indices = layout.stats.frame_indices
    expected = [timestamp_text(t) for t in grid_timestamps(indices, 25.0)]
    assert len(expected) == 25 == layout.stats.video_grid_thw[0][0]
    assert text.count("<|vision_start|>") == 26  # the template's one + one per grid step
    for stamp in expected:
        assert f"{stamp}<|vision_start|>" in text
    assert expected[0] == f"<{(indices[0] + indices[1]) / 50:.1f} seconds>"


@pytest.mark.usefixtures("zero_features")
def test_qwen3_omni_has_no_300_second_cap(processors):
    """A 310 s clip keeps all 31000 mel frames (Qwen2.5-Omni cuts at 30000)."""
    meta = dict(duration=310.0, width=64, height=36, native_fps=2.0, has_audio=True)
    settings = LayoutSettings(profile=OMNI, frames=8)
    out, ref = reference(processors[OMNI], meta, settings)
    assert int(out["feature_attention_mask"].sum()) == 31000
    assert ref.stats.audio_tokens == 310 * 13  # 13 tokens per 100 mel frames, 3100 full windows
    assert_same(plan(meta, settings, processor=light_of(processors[OMNI])), out, ref)


# Clips written by ffmpeg's real encoders: sizes, rates (NTSC included) and durations; inspect
# decodes them and runs the real processor, plan sees only the probe.
CLIPS = [ClipSpec("mkv", "h264", "aac", 3.3, "30", width=160, height=96),
         ClipSpec("mp4", "h264", "aac", 6.35, "30000/1001", width=96, height=160),
         ClipSpec("mov", "h264", "aac", 4.7, "25", width=320, height=180, sample_rate=48000),
         ClipSpec("webm", "vp9", "opus", 2.2, "24000/1001", width=64, height=64)]
CLIP_SETTINGS = [dict(frames=4), dict(fps=2.0, max_frames=16), dict(frames=6, resize=(64, 96))]


@pytest.mark.usefixtures("zero_features")
@pytest.mark.parametrize("spec", CLIPS, ids=[c.name for c in CLIPS])
@pytest.mark.parametrize("profile", [VL, OMNI])
def test_plan_equals_inspect_on_ffmpeg_clips(spec, profile, processors, tmp_path_factory):
    folder = tmp_path_factory.getbasetemp() / "qwen3_ffmpeg_clips"
    folder.mkdir(exist_ok=True)
    path = make_clip(spec, folder)
    info = probe(str(path))
    for changes in CLIP_SETTINGS:
        settings = LayoutSettings(profile=profile, use_audio=profile == OMNI, **changes)
        real = inspect(str(path), settings, processor=processors[profile])
        planned = plan(info, settings, processor=light_of(processors[profile]))
        assert planned.input_ids == real.input_ids, (spec.name, changes)
        assert dataclasses.replace(planned, source="processor") == real, (spec.name, changes)


def test_cli_plan_json_has_the_timestamps(capsys):
    """``omni-bench plan --json`` for Qwen3-VL: ``timestamps`` holds each grid step's written seconds."""
    import json

    from omni_bench.cli import main

    code = main(["plan", "--duration", "10", "--width", "640", "--height", "360", "--native-fps", "25",
                 "--profile", VL, "--frames", "6", "--resize", "64x96", "--no-audio", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["timestamps"] == [1.0, 5.0, 9.0]  # frames 0, 50, 100, 149, 199, 249 at 25 fps, paired
    assert out["video_grid_thw"] == [[3, 4, 6]] and out["vision_runs"] == [["VIDEO", 6]] * 3


def test_report_shows_each_steps_timestamp_and_the_token_interleave(processors):
    meta = dict(duration=10, width=640, height=360, native_fps=25, has_audio=True)
    vl = str(plan(meta, LayoutSettings(profile=VL, frames=6, resize=(64, 96), use_audio=False),
                  processor=light_of(processors[VL])))
    assert "├─ <1.0 seconds> VIDEO × 6\n├─ <5.0 seconds> VIDEO × 6\n├─ <9.0 seconds> VIDEO × 6" in vl
    omni = str(plan(meta, LayoutSettings(profile=OMNI, frames=6, resize=(64, 96), processor_fps=1.0),
                    processor=light_of(processors[OMNI])))
    assert "interleave: token by token, position_id_per_seconds 13" in omni
    # 2 s per grid step x 13 ids per second: 26 audio tokens between consecutive steps
    assert "├─ VIDEO × 6\n├─ AUDIO × 26\n├─ VIDEO × 6\n├─ AUDIO × 26\n├─ VIDEO × 6\n├─ AUDIO × 78" in omni


@pytest.mark.parametrize("profile", [VL, OMNI])
def test_budget_equals_plan(profile, processors):
    """``budget`` runs the family's exact arithmetic per sample: its totals equal plan's ids."""
    from omni_bench.layout.budget import budget

    metas = [dict(duration=d, width=w, height=h, native_fps=f, has_audio=profile == OMNI)
             for d, w, h, f in MEDIA]
    settings = LayoutSettings(profile=profile, fps=0.5, max_frames=24, use_audio=profile == OMNI)
    result = budget(metas, settings, processor=light_of(processors[profile]))
    for i, meta in enumerate(metas):
        planned = plan(meta, settings, processor=light_of(processors[profile]))
        assert int(result.total_tokens[i]) == len(planned.input_ids), meta
        assert int(result.video_tokens[i]) == planned.stats.video_tokens
        assert int(result.audio_tokens[i]) == planned.stats.audio_tokens
        assert int(result.label_tokens[i]) == planned.stats.label_tokens


@pytest.mark.parametrize("changes", [dict(frames=4), dict(fps=2.0, max_frames=16, answer=None),
                                     dict(frames=9, resize=(100, 200), processor_fps=0.5)])
def test_thinking_profile_plan_equals_processor(changes):
    thinking = load_processor("qwen3-vl-8b-thinking")
    meta = dict(duration=7.77, width=180, height=320, native_fps=29.97, has_audio=False)
    settings = LayoutSettings(profile="qwen3-vl-8b-thinking", use_audio=False, **changes)
    out, ref = reference(thinking, meta, settings)
    assert_same(plan(meta, settings, processor=light_of(thinking)), out, ref)


def test_no_cap_note_for_the_last_partial_mel_frame(processors):
    """Qwen3-Omni keeps samples // 160 mel frames: the < 10 ms left over is not audio 'past the cap'."""
    meta = dict(duration=59.94, width=64, height=64, native_fps=23.976, has_audio=True, audio_seconds=47.952)
    layout = plan(meta, LayoutSettings(profile=OMNI, frames=4, resize=(64, 64)), processor=light_of(processors[OMNI]))
    assert layout.stats.mel_frames == 4795 and layout.stats.audio_dropped_seconds == 0.0
    assert not [n for n in layout.notes if "dropped" in n]
