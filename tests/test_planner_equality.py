"""plan() equals transformers' own processor, token for token, without decoding anything.

The reference side calls the real ``Qwen2_5OmniProcessor`` / ``Qwen2_5_VLProcessor``
through ``inspection.processor_call`` (exactly as ``inspect`` does) on synthetic media:
uint8 frames of the native size (or of the ``--resize`` size, made by inspect's own
resize), and float32 audio of ``round(audio_seconds * 16000)`` samples. Its output goes
through ``layout_from_output`` like a real clip's; the planner sees only the metadata.

Speed: Whisper's log-mel spectrogram of the 300 s padded window costs ~0.5 s per call and
no count depends on its values, so the MATRIX replaces ``_torch_extract_fbank_features``
with zeros of the same shape. Padding, truncation, the feature attention mask (mel frames),
the audio token count, the interleave and the tokenizer all run unmodified;
``test_zero_features_change_no_count`` proves it on a few cases and the LongVALE
notebook's cases (docs/background.md) run the untouched extractor. The clip tests (decoded
frames and audio via ``inspect``) use the same shortcut.
"""

from __future__ import annotations

import dataclasses
import functools
import random

import processor_reference
import pytest
from processor_reference import assert_same, assert_zero_features_change_no_count, zero_fbank

from omni_bench.core.light import light_of  # plan runs the light way: tokenizer.json + jinja, no torch
from omni_bench.core.media import probe, write_clip
from omni_bench.layout import arith
from omni_bench.layout.inspect import inspect
from omni_bench.layout.plan import media_info, plan
from omni_bench.layout.settings import LayoutSettings

PROFILES = {"omni": "qwen2.5-omni-7b", "vl": "qwen2.5-vl-7b"}

# (duration s, width, height, native fps): landscape, portrait, extreme ratios, odd rates, > 300 s
MEDIA = [
    (1.0, 640, 360, 25.0), (2.5, 64, 64, 30.0), (4.2, 1920, 1080, 30.0), (6.37, 320, 180, 25.0),
    (7.77, 180, 320, 29.97), (12.0, 1080, 1920, 24.0), (30.0, 2000, 100, 25.0), (59.94, 854, 480, 23.976),
    (95.5, 100, 2000, 10.0), (256.89, 640, 360, 25.0), (299.99, 1280, 720, 30.0), (310.0, 64, 36, 2.0),
    (455.5, 320, 240, 15.0), (600.0, 1920, 1080, 60.0),
]
SAMPLING = [dict(frames=4), dict(frames=9), dict(frames=16), dict(frames=31), dict(frames=50), dict(frames=64),
            dict(fps=2.0, max_frames=64), dict(fps=0.5, max_frames=48), dict(fps=1.0, min_frames=8, max_frames=32),
            dict(fps=0.1, max_frames=64), dict(fps=4.0, max_frames=24)]
RESIZES = [dict(resize=(224, 224)), dict(resize=(196, 364)), dict(resize=(100, 200)), dict(resize=(28, 560)),
           dict(resize=(56, 56)), dict(resize=(30, 50))]
DYNAMIC = [dict(), dict(min_pixels=64 * 784, max_pixels=128 * 784), dict(min_pixels=4 * 784, max_pixels=16 * 784),
           dict(min_pixels=16 * 784, max_pixels=48 * 784), dict(min_pixels=784, max_pixels=6 * 784),
           dict(min_pixels=2 * 784, max_pixels=3 * 784)]
CHUNKS = [None, 0.5, 1.0, 2.0, 3.7, 5.0, 12.0]
PROCESSOR_FPS = [None, None, 2.0, 0.5, 1.0, 50 / 256.89, 3.0]
IDS_PER_SECOND = [None] * 6 + [13, 50.0]
AUDIO = [None, None, 0.8, 1.05]  # audio_seconds = duration x this (None: the default, = duration)


def _cost_ok(meta: dict, settings: dict) -> bool:
    """Keep each real-processor call cheap: <= 64 frames, bounded pixels in and out."""
    info = media_info(meta)
    try:
        count = arith.smart_nframes(info.total_frames, info.native_fps, nframes=settings.get("frames"),
                                    fps=settings.get("fps"), min_frames=settings.get("min_frames", 4),
                                    max_frames=settings.get("max_frames", 768))
    except ValueError:
        return False
    if count > 64:
        return False
    if "resize" in settings:
        return count * settings["resize"][0] * settings["resize"][1] <= 500_000
    lo, hi = settings.get("min_pixels", 128 * 784), settings.get("max_pixels", 768 * 784)
    h, w = arith.video_resize(info.height, info.width, min_pixels=lo, max_pixels=hi)
    return count * info.height * info.width <= 9_000_000 and count * h * w <= 500_000


def _matrix(n: int = 216, seed: int = 2024) -> list[tuple[str, str, dict, dict]]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        duration, width, height, fps = MEDIA[i % len(MEDIA)]
        family = rng.choice(["omni"] * 3 + ["omni-silent", "vl", "vl"])
        for _ in range(200):
            settings = {**rng.choice(SAMPLING), **rng.choice(RESIZES if i % 2 else DYNAMIC)}
            if _cost_ok(dict(duration=duration, width=width, height=height, native_fps=fps), settings):
                break
        else:
            raise AssertionError(f"no cheap sampling for {duration} s {width}x{height}")
        settings["processor_fps"] = rng.choice(PROCESSOR_FPS)
        meta = dict(duration=duration, width=width, height=height, native_fps=fps, has_audio=True)
        if family == "omni":
            settings["seconds_per_chunk"] = rng.choice(CHUNKS)
            settings["position_id_per_seconds"] = rng.choice(IDS_PER_SECOND)
            factor = rng.choice(AUDIO)
            meta["audio_seconds"] = None if factor is None else round(duration * factor, 3)
        elif family == "omni-silent":
            meta["has_audio"] = False
            settings["use_audio"] = False
        else:
            settings["use_audio"] = False
        settings = {k: v for k, v in settings.items() if v is not None}
        label = (f"{i:03d}-{family}-{duration:g}s-{width}x{height}@{fps:g}-"
                 + "-".join(f"{k}={v if not isinstance(v, float) else round(v, 4)}" for k, v in settings.items()))
        cases.append((label.replace(" ", ""), PROFILES["vl" if family == "vl" else "omni"], meta, settings))
    return cases


CASES = _matrix()


@pytest.fixture
def zero_features(monkeypatch):
    from transformers import WhisperFeatureExtractor

    monkeypatch.setattr(WhisperFeatureExtractor, "_torch_extract_fbank_features", zero_fbank)


# the real processor's side, shared with test_qwen3_plan.py (tests/processor_reference.py);
# small native frames hold seeded random pixels here
reference = functools.partial(processor_reference.reference, noise_frames=True)


@pytest.fixture(scope="module")
def processors(omni_processor, vl_processor):
    return {PROFILES["omni"]: omni_processor, PROFILES["vl"]: vl_processor}


def test_matrix_is_broad():
    assert len(CASES) >= 200
    metas = {(m["duration"], m["width"], m["height"]) for _, _, m, _ in CASES}
    assert len(metas) == len(MEDIA)
    kinds = {(p, s.get("use_audio", True)) for _, p, _, s in CASES}
    assert kinds == {(PROFILES["omni"], True), (PROFILES["omni"], False), (PROFILES["vl"], False)}
    assert sum("resize" in s for *_, s in CASES) > 60 and sum("resize" not in s for *_, s in CASES) > 60
    assert {s.get("seconds_per_chunk") for *_, s in CASES} >= {0.5, 3.7, 12.0}
    assert any(m["duration"] > 300 and s.get("use_audio", True) for _, _, m, s in CASES)


# The fast loop (scripts/test.sh --fast) keeps every 12th case; CI runs all of them.
@pytest.mark.parametrize("label,profile,meta,changes",
                         [pytest.param(*c, marks=() if i % 12 == 0 else pytest.mark.slow) for i, c in enumerate(CASES)],
                         ids=[c[0] for c in CASES])
def test_plan_equals_processor(label, profile, meta, changes, processors, zero_features):
    processor = processors[profile]
    settings = LayoutSettings(profile=profile, **changes)
    out, ref = reference(processor, meta, settings)
    assert_same(plan(meta, settings, processor=light_of(processor)), out, ref)


@pytest.mark.parametrize("index", [0, 9, 57])
def test_zero_features_change_no_count(index, processors, monkeypatch):
    _, profile, meta, changes = next(c for c in CASES[index:] if c[3].get("use_audio", True))
    assert_zero_features_change_no_count(processors[profile], meta, LayoutSettings(profile=profile, **changes),
                                         monkeypatch)


# --- the LongVALE notebook's observed layouts (docs/background.md), through the untouched processor -------------------

LVN_META = dict(duration=256.89, width=640, height=360, native_fps=25.0, has_audio=True)


def _run_lengths(runs):
    return [n for _, n in runs]


def test_lvn_a_fixed_frames_stock_fps(omni_processor):
    """(a) 50 frames of 256.89 s at 224x224, fps=2: [25,16,16], 12 x (VIDEO 128, AUDIO 50), VIDEO 64, AUDIO 5822."""
    settings = LayoutSettings(frames=50, resize=(224, 224), processor_fps=2.0)
    out, ref = reference(omni_processor, LVN_META, settings)
    planned = plan(LVN_META, settings, processor=light_of(omni_processor))
    assert_same(planned, out, ref)
    assert planned.stats.video_grid_thw == ((25, 16, 16),)
    assert planned.vision_runs == (("VIDEO", 128), ("AUDIO", 50)) * 12 + (("VIDEO", 64), ("AUDIO", 5822))
    assert planned.stats.mel_frames == 25689 and planned.stats.audio_tokens == 6422


def test_lvn_b_dynamic_size(omni_processor):
    """(b) size {shortest_edge 64*28*28, longest_edge 128*28*28} on 640x360: [25,16,30], VIDEO 240 per chunk."""
    settings = LayoutSettings(frames=50, min_pixels=64 * 28 * 28, max_pixels=128 * 28 * 28, processor_fps=2.0)
    out, ref = reference(omni_processor, LVN_META, settings)
    planned = plan(LVN_META, settings, processor=light_of(omni_processor))
    assert_same(planned, out, ref)
    assert planned.stats.video_grid_thw == ((25, 16, 30),)
    assert planned.vision_runs[:24:2] == (("VIDEO", 240),) * 12


def test_lvn_c_fps_and_chunk_follow_the_duration(omni_processor):
    """(c) fps = 50 / duration, seconds_per_chunk = 2 * duration / 50: [25,14,26],
    24 x (VIDEO 91, AUDIO 256), then VIDEO 91, AUDIO 278.

    The LongVALE notebook does not give the frame size; 14 x 26 patches are 196 x 364 pixels, so this
    uses ``resize=(196, 364)`` on the 640x360 video (the dynamic resize reaches the same
    grid with e.g. max_pixels = 196 * 364).
    """
    duration = LVN_META["duration"]
    settings = LayoutSettings(frames=50, resize=(196, 364), processor_fps=50 / duration,
                              seconds_per_chunk=2 * duration / 50)
    out, ref = reference(omni_processor, LVN_META, settings)
    planned = plan(LVN_META, settings, processor=light_of(omni_processor))
    assert_same(planned, out, ref)
    assert planned.stats.video_grid_thw == ((25, 14, 26),)
    assert planned.vision_runs == (("VIDEO", 91), ("AUDIO", 256)) * 24 + (("VIDEO", 91), ("AUDIO", 278))


def test_lvn_a_from_the_cli(capsys):
    import json

    from omni_bench.cli import main

    assert main(["plan", "--duration", "256.89", "--width", "640", "--height", "360", "--native-fps", "25",
                 "--frames", "50", "--resize", "224x224", "--processor-fps", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["video_grid_thw"] == [[25, 16, 16]]
    assert data["vision_runs"] == [["VIDEO", 128], ["AUDIO", 50]] * 12 + [["VIDEO", 64], ["AUDIO", 5822]]
    assert data["source"] == "planner" and data["alignment"]["verdict"] == "misaligned"


# --- real clips: plan(probe(clip)) against inspect(clip), decoded --------------------------------------------

CLIP_SETTINGS = [dict(frames=8), dict(fps=0.5, resize=(100, 200), processor_fps=2.0, seconds_per_chunk=1.0)]


@pytest.fixture(scope="module")
def written_clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planner_clips")
    specs = {"ntsc.mkv": dict(seconds=9.1, fps=29.97, width=160, height=90),
             "film.mkv": dict(seconds=3.33, fps=23.976, width=90, height=160),
             "long.mkv": dict(seconds=310.0, fps=2.0, width=64, height=36),
             "mute.mkv": dict(seconds=4.5, fps=12.0, width=96, height=64, audio=False)}
    return [write_clip(folder / name, **spec).path for name, spec in specs.items()]


def _clip_cases(paths, settings_list):
    for path in paths:
        info = probe(path)
        for changes in settings_list:
            yield info, LayoutSettings(use_audio=info.has_audio, **changes)


def test_plan_equals_inspect_on_bundled_clips(clips, omni_processor, zero_features):
    paths = sorted(str(p) for p in clips.glob("*.mkv"))
    assert len(paths) == 4
    for info, settings in _clip_cases(paths, CLIP_SETTINGS):
        inspected = inspect(info.path, settings, processor=omni_processor)
        planned = plan(info, settings, processor=light_of(omni_processor))
        assert planned.vision_runs == inspected.vision_runs, (info.path, settings)
        assert dataclasses.replace(planned, source="processor") == inspected, (info.path, settings)


def test_plan_equals_inspect_on_written_clips(written_clips, omni_processor, zero_features):
    for info, settings in _clip_cases(written_clips, CLIP_SETTINGS[1:]):
        inspected = inspect(info.path, settings, processor=omni_processor)
        planned = plan(info, settings, processor=light_of(omni_processor))
        assert planned.vision_runs == inspected.vision_runs, (info.path, settings)
        assert dataclasses.replace(planned, source="processor") == inspected, (info.path, settings)
    long_clip = plan(probe(written_clips[2]), frames=10, processor=light_of(omni_processor))
    assert long_clip.stats.mel_frames == 30000 and long_clip.stats.audio_tokens == 7500  # audio past 300 s cut


def test_plan_accepts_keywords_and_reports_errors(omni_processor):
    from omni_bench import OmniBenchError

    by_keywords = plan(duration=8.0, width=320, height=180, native_fps=25, frames=8, processor=light_of(omni_processor))
    by_dict = plan(dict(duration=8.0, width=320, height=180, native_fps=25), LayoutSettings(frames=8),
                   processor=light_of(omni_processor))
    assert by_keywords == by_dict and by_keywords.source == "planner" and by_keywords.media is None
    with pytest.raises(OmniBenchError, match="no audio track"):
        plan(duration=8.0, width=320, height=180, native_fps=25, has_audio=False, processor=light_of(omni_processor))
    with pytest.raises(OmniBenchError, match="cannot sample"):
        plan(duration=1.0, width=320, height=180, native_fps=10, frames=50, processor=light_of(omni_processor))
    with pytest.raises(OmniBenchError, match="lacks width"):
        plan(duration=1.0, height=180, native_fps=10, processor=light_of(omni_processor))
