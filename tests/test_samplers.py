"""The samplers against their references, index for index, quirks included.

qwen-vl-utils and transformers are installed: their own functions are the reference
(``smart_nframes`` + ``calculate_video_frame_range`` + the ``torch.linspace(...).round()`` of
``_read_video_decord``; ``Qwen2VLVideoProcessor.sample_frames`` with a ``VideoMetadata``).
LLaMA-Factory and the Qwen2.5-VL fine-tuning recipe are not installable here: their rules are
checked on worked examples computed by hand from their source.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from omni_bench._torchvision import ensure_torchvision
from omni_bench.cli import main
from omni_bench.core.errors import OmniBenchError
from omni_bench.layout import arith
from omni_bench.sampling.comparison import budget_table, compare_samplers, format_budget_table
from omni_bench.sampling.samplers import (
    SAMPLERS,
    SamplingError,
    deviation,
    float_arange_indices,
    largest_gap,
    sample_fps,
    sample_llama_factory,
    sample_qwen25vl_finetune,
    sample_qwen_vl_utils,
    sample_transformers,
    sample_uniform,
    video_frame_range,
)

ensure_torchvision()
from qwen_vl_utils import vision_process as qvu  # noqa: E402
from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor  # noqa: E402
from transformers.video_utils import VideoMetadata  # noqa: E402

TOTALS = sorted({1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 30, 34, 41, 49, 60, 75, 99, 100, 101, 150, 230, 239, 240,
                 300, 449, 500, 720, 1001, 1499, 2000, *range(6, 2001, 111)})
NATIVE_FPS = [10.0, 24.0, 25.0, 29.97, 30.0, 60.0]
FRAME_REQUESTS = range(2, 201)
FPS_REQUESTS = [0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0]

PROCESSOR = Qwen2VLVideoProcessor()


# ------------------------------------------------------------------------------------ references
def ref_qwen_vl_utils(ele: dict, total: int, fps: float) -> list[int]:
    """What qwen-vl-utils' decord reader picks, from its own functions."""
    start, end, count = qvu.calculate_video_frame_range(ele, total, fps)
    n = qvu.smart_nframes(ele, total_frames=count, video_fps=fps)
    return torch.linspace(start, end, n).round().long().tolist()


def ref_transformers(total: int, native_fps: float, /, **kwargs) -> list[int]:
    metadata = VideoMetadata(total_num_frames=total, fps=native_fps)
    return PROCESSOR.sample_frames(metadata, **kwargs).tolist()


def outcome(fn, /, *args, **kwargs):
    """("ok", indices) or ("raises", exception type name)."""
    try:
        result = fn(*args, **kwargs)
    except (ValueError, ZeroDivisionError, AssertionError) as exc:
        return "raises", type(exc).__name__
    return "ok", list(result.indices) if hasattr(result, "indices") else list(result)


def ours_or_reference_error(fn, /, *args, **kwargs):
    try:
        return "ok", list(fn(*args, **kwargs).indices)
    except SamplingError as exc:
        return "raises", exc.reference_error


# ----------------------------------------------------------------------------- equality matrices
def test_qwen_vl_utils_matrix_equals_reference():
    cases = mismatches = refused = 0
    for total in TOTALS:
        for fps in NATIVE_FPS:
            requests = [({"nframes": n}, dict(nframes=n)) for n in FRAME_REQUESTS]
            requests += [({"fps": f}, dict(fps=f)) for f in FPS_REQUESTS]
            for ele, kwargs in requests:
                ref = outcome(ref_qwen_vl_utils, ele, total, fps)
                ours = ours_or_reference_error(sample_qwen_vl_utils, total, fps, **kwargs)
                cases += 1
                refused += ref[0] == "raises"
                if ref != ours:
                    mismatches += 1
                    assert ref == ours, (total, fps, ele)
    assert mismatches == 0
    assert cases == len(TOTALS) * len(NATIVE_FPS) * (len(FRAME_REQUESTS) + len(FPS_REQUESTS))
    assert refused > 1000  # requests above the frame count are in the matrix and refused by both


@pytest.mark.parametrize("ele", [
    {"video_start": 2.2}, {"video_end": 4.1}, {"video_start": 1.0, "video_end": 4.1},
    {"video_start": 0.5, "video_end": 9.5, "fps": 1.0}, {"video_start": 3.3, "video_end": 7.7, "nframes": 12},
    {"video_start": -1.0, "video_end": 99.0}, {"video_start": 8.3, "video_end": 9.0},
])
def test_qwen_vl_utils_time_ranges_equal_reference(ele):
    for total in (75, 240, 300, 1001):
        for fps in NATIVE_FPS:
            ref = outcome(ref_qwen_vl_utils, ele, total, fps)
            ours = ours_or_reference_error(sample_qwen_vl_utils, total, fps, **ele)
            assert ref == ours, (total, fps, ele)
            span = (ele.get("video_start"), ele.get("video_end"))
            try:
                expected = qvu.calculate_video_frame_range(ele, total, fps)
            except ValueError:
                with pytest.raises(SamplingError):
                    video_frame_range(total, fps, *span)
            else:
                assert video_frame_range(total, fps, *span) == expected


def test_transformers_matrix_equals_reference():
    refused = extra = 0
    for total in TOTALS:
        for fps in NATIVE_FPS:
            requests = [dict(num_frames=n) for n in FRAME_REQUESTS]
            requests += [dict(fps=f, min_frames=4, max_frames=768) for f in FPS_REQUESTS]
            for kwargs in requests:
                ref = outcome(ref_transformers, total, fps, **kwargs)
                ours = ours_or_reference_error(sample_transformers, total, fps, **kwargs)
                assert ref == ours, (total, fps, kwargs)
                refused += ref[0] == "raises"
                if ref[0] == "ok" and ref[1][-1] == total:
                    extra += 1
    assert refused > 1000
    assert extra > 50  # the one-too-many arange is common, and reproduced


def test_float_arange_equals_torch_on_dense_grid():
    # every (total, even n) with n <= min(total, 200), total up to 400: the float-step arange itself
    for total in range(1, 401):
        for n in range(2, min(total, 200) + 1, 2):
            expected = torch.arange(0, total, total / n).int().tolist()
            assert float_arange_indices(total, n) == expected, (total, n)


@settings(max_examples=300, deadline=None)
@given(total=st.integers(1, 5000), fps=st.sampled_from([*NATIVE_FPS, 12.5, 50.0, 59.94]),
       frames=st.integers(1, 400), rate=st.floats(0.05, 8.0))
def test_property_both_references(total, fps, frames, rate):
    assert outcome(ref_qwen_vl_utils, {"nframes": frames}, total, fps) == \
        ours_or_reference_error(sample_qwen_vl_utils, total, fps, nframes=frames)
    assert outcome(ref_qwen_vl_utils, {"fps": rate}, total, fps) == \
        ours_or_reference_error(sample_qwen_vl_utils, total, fps, fps=rate)
    assert outcome(ref_transformers, total, fps, num_frames=frames) == \
        ours_or_reference_error(sample_transformers, total, fps, num_frames=frames)
    assert outcome(ref_transformers, total, fps, fps=rate, min_frames=4, max_frames=768) == \
        ours_or_reference_error(sample_transformers, total, fps, fps=rate)


# ------------------------------------------------------------------------------ quirks, shown
def test_quirk_transformers_misses_the_last_frame():
    ref = ref_transformers(300, 30.0, num_frames=50)
    assert ref[-1] == 294 and 299 not in ref
    assert ref_qwen_vl_utils({"nframes": 50}, 300, 30.0)[-1] == 299
    ours = sample_transformers(300, 30.0, num_frames=50)
    assert list(ours.indices) == ref and not ours.last_kept
    assert any("last frame missed: ends at 294 of 299" in n for n in ours.notes)


def test_quirk_float_arange_gives_one_index_too_many():
    # 17 frames, num_frames=14: total / 14 rounds down, the arange has 15 elements, the last is 17
    ref = ref_transformers(17, 30.0, num_frames=14)
    assert ref == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 15, 17]
    ours = sample_transformers(17, 30.0, num_frames=14)
    assert list(ours.indices) == ref and ours.count == 14 and len(ours.indices) == 15
    assert ours.out_of_range == 1 and ours.frames_fed == 14
    # and the real processor, handed a 17-frame array, fails on that index
    with pytest.raises(IndexError, match="index 17 is out of bounds"):
        PROCESSOR(videos=[np.zeros((17, 28, 28, 3), np.uint8)], do_sample_frames=True, num_frames=14,
                  video_metadata=[VideoMetadata(total_num_frames=17, fps=30.0)], return_tensors="pt")


def test_quirk_odd_request_rounds_then_arange_overshoots():
    # 34 frames, asked 27: round(13.5) = 14 -> 28 frames, and the arange gives 29, ending at 34
    for asked in (27, 29):
        ref = ref_transformers(34, 30.0, num_frames=asked)
        assert len(ref) == 29 and ref[-1] == 34
        ours = sample_transformers(34, 30.0, num_frames=asked)
        assert list(ours.indices) == ref and ours.count == 28
        assert any("asked" in n and "28" in n for n in ours.notes)


def test_quirk_default_two_fps_overshoots_on_a_real_length():
    # 230 frames at 30 fps (7.67 s) at 2 fps: 15.33 -> 14 frames, 15 indices, the last = 230
    ref = ref_transformers(230, 30.0, fps=2.0, min_frames=4, max_frames=768)
    assert len(ref) == 15 and ref[-1] == 230
    assert list(sample_transformers(230, 30.0, fps=2.0).indices) == ref


def test_quirk_request_of_one_frame_divides_by_zero():
    with pytest.raises(ZeroDivisionError):
        ref_transformers(300, 30.0, num_frames=1)  # round(0.5) = 0
    with pytest.raises(SamplingError) as info:
        sample_transformers(300, 30.0, num_frames=1)
    assert info.value.reference_error == "ZeroDivisionError"


def test_quirk_odd_requests_round_half_to_even():
    for asked, got in [(15, 16), (13, 12), (5, 4), (7, 8), (9, 8), (3, 4)]:
        assert qvu.smart_nframes({"nframes": asked}, total_frames=300, video_fps=30.0) == got
        assert sample_qwen_vl_utils(300, 30.0, nframes=asked).count == got
        assert len(ref_transformers(300, 30.0, num_frames=asked)) == got
        assert sample_transformers(300, 30.0, num_frames=asked).count == got
    assert sample_qwen_vl_utils(300, 30.0, nframes=13).notes[0].startswith("asked 13 frames, rounded")


def test_quirk_request_above_frame_count_is_refused_like_the_references():
    with pytest.raises(ValueError, match="nframes should in interval"):
        ref_qwen_vl_utils({"nframes": 30}, 20, 30.0)
    with pytest.raises(ValueError, match="exceeds `total_num_frames=20`"):
        ref_transformers(20, 30.0, num_frames=30)
    with pytest.raises(SamplingError, match="nframes should in interval"):
        sample_qwen_vl_utils(20, 30.0, nframes=30)
    with pytest.raises(SamplingError, match="exceeds `total_num_frames=20`"):
        sample_transformers(20, 30.0, num_frames=30)
    comparison = compare_samplers(20, 30.0, frames=30)
    assert comparison["qwen-vl-utils"].sampling is None and "interval [2, 20]" in comparison["qwen-vl-utils"].error
    assert comparison["transformers"].sampling is None and comparison["transformers"].reference_error == "ValueError"
    assert comparison["llama-factory"].sampling.indices == tuple(range(20))  # caps at the frame count
    assert len(comparison["qwen2.5-vl-finetune"].sampling.indices) == 20  # np.unique drops repeats
    assert comparison["fps"].sampling.duplicates == 10
    data = comparison.to_dict()["samplers"]
    assert data["transformers"]["error"].startswith("transformers: Video can't be sampled")
    assert "refused: transformers" in str(comparison)


def test_quirk_time_range_float_rounding():
    # 2.2 * 25 = 55.00000000000001: ceil gives frame 56; 4.1 * 30 = 122.99999999999999: floor gives 122
    assert qvu.calculate_video_frame_range({"video_start": 2.2}, 300, 25.0)[0] == 56
    assert video_frame_range(300, 25.0, 2.2)[0] == 56
    assert qvu.calculate_video_frame_range({"video_end": 4.1}, 300, 30.0)[1] == 122
    assert video_frame_range(300, 30.0, None, 4.1)[1] == 122
    s = sample_qwen_vl_utils(300, 25.0, nframes=4, video_start=2.2)
    assert s.indices == (56, 137, 218, 299) and s.timestamps[0] == pytest.approx(2.24)


# ---------------------------------------------------------------- rules without an installed ref
def test_llama_factory_worked_examples():
    # floor(10 s * 0.5) = 5; linspace(0, 299, 5) = 0, 74.75, 149.5, 224.25, 299 truncated
    assert sample_llama_factory(300, 30.0, video_fps=0.5).indices == (0, 74, 149, 224, 299)
    # 10 s * 2 = 20, under the cap of 128
    s = sample_llama_factory(300, 30.0)
    assert s.count == 20 and s.indices[-1] == 299
    # capped by video_maxlen, and by the frame count; at least one frame
    assert sample_llama_factory(3000, 30.0, video_fps=2.0).count == 128
    assert sample_llama_factory(10, 30.0, video_fps=60.0, video_maxlen=999).indices == tuple(range(10))
    assert sample_llama_factory(10, 30.0, video_fps=0.1).indices == (0,)
    # the stream's own duration counts, not frames / fps
    assert sample_llama_factory(300, 30.0, video_fps=1.0, duration=9.99).count == 9
    # odd count: the Qwen2-VL plugin repeats the last frame
    odd = sample_llama_factory(300, 30.0, video_fps=0.5)
    assert odd.frames_fed == 6 and "repeats the last one" in odd.notes[0]


def test_qwen25vl_finetune_worked_examples():
    assert sample_qwen25vl_finetune(300, 30.0).indices == (0, 99, 199, 299)  # 10 s -> round(2.5) = 2 -> 4
    assert sample_qwen25vl_finetune(750, 25.0).count == 8  # 30 s -> round(7.5) = 8
    assert sample_qwen25vl_finetune(1350, 30.0).count == 8  # 45 s -> 11 -> capped at 8
    assert sample_qwen25vl_finetune(540, 30.0).count == 4  # 18 s -> round(4.5) = 4 (half to even)
    s = sample_qwen25vl_finetune(3, 30.0)  # 4 frames asked of 3: linspace 0, 0.67, 1.33, 2 -> 0, 0, 1, 2
    assert s.indices == (0, 1, 2) and s.count == 4 and "np.unique dropped 1" in s.notes[-1]
    ten = sample_qwen25vl_finetune(3000, 30.0, base_interval=1.0, max_frames=768)
    assert ten.indices == tuple(np.linspace(0, 2999, 100).astype(int).tolist())


def test_plain_rules():
    assert sample_uniform(300, 30.0, frames=4).indices == (0, 100, 199, 299)
    assert sample_uniform(5, 30.0, frames=9).indices == (0, 1, 2, 3, 4)
    assert sample_fps(300, 30.0, fps=0.5).indices == (0, 60, 120, 180, 240)
    assert sample_fps(100, 25.0, fps=2.0).indices == (0, 12, 25, 38, 50, 62, 75, 88)  # 12.5 -> 12, 37.5 -> 38
    assert sample_fps(4, 30.0, fps=60.0).indices == (0, 0, 1, 2, 2, 2, 3)  # 0.5 -> 0, 1.5 -> 2, 2.5 -> 2
    with pytest.raises(SamplingError):
        sample_fps(10, 30.0, fps=0)


# ------------------------------------------------------------------------------------ statistics
def test_gap_and_deviation_definitions():
    s = sample_uniform(11, 1.0, frames=3)
    assert largest_gap(s) == 5.0 and deviation(s) == (0.0, 0.0)
    t = sample_transformers(300, 30.0, num_frames=50)  # ends at 294: tail gap 5 frames, drift to the end
    assert largest_gap(t) == pytest.approx(6 / 30)
    dmax, _ = deviation(t)
    assert dmax == pytest.approx((299 - 294) / 30)
    q = sample_qwen_vl_utils(300, 30.0, nframes=50)
    assert deviation(q)[0] <= 0.5 / 30 + 1e-12  # rounding to the nearest frame only
    over = sample_transformers(17, 30.0, num_frames=14)
    assert largest_gap(over) == pytest.approx(2 / 30)  # the out-of-range index is not a frame


def test_comparison_grids_match_arith_and_the_processor():
    c = compare_samplers(300, 30.0, frames=10, height=360, width=640)
    q = c["qwen-vl-utils"]
    hw = arith.video_resize(360, 640, min_pixels=128 * 28 * 28, max_pixels=768 * 28 * 28)
    assert q.resized_hw == hw == (364, 644)
    assert q.grid_thw == arith.grid_thw(10, *hw) and q.video_tokens == arith.video_tokens(q.grid_thw)
    out = PROCESSOR(videos=[np.zeros((10, 360, 640, 3), np.uint8)], do_sample_frames=False,
                    cap_pixels_per_frame=False, return_tensors="pt")
    assert tuple(out["video_grid_thw"][0].tolist()) == q.grid_thw
    odd = compare_samplers(300, 30.0, fps=0.5, height=360, width=640)["llama-factory"]
    assert odd.sampling.frames_fed == 6 and odd.grid_thw[0] == 3


def test_cli_json_shows_qwen_vl_utils_299_and_transformers_294():
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["samplers", "--total-frames", "300", "--native-fps", "30", "--frames", "50", "--json"]) == 0
    data = json.loads(buffer.getvalue())["samplers"]
    assert {"qwen-vl-utils", "transformers", "llama-factory", "uniform", "fps"} <= set(data)
    assert data["qwen-vl-utils"]["indices"][-1] == 299 and data["qwen-vl-utils"]["last_kept"] is True
    assert data["transformers"]["indices"][-1] == 294 and data["transformers"]["last_kept"] is False
    assert data["transformers"]["indices"] == ref_transformers(300, 30.0, num_frames=50)
    assert data["qwen-vl-utils"]["indices"] == ref_qwen_vl_utils({"nframes": 50}, 300, 30.0)
    assert len(data["qwen-vl-utils"]["timestamps"]) == 50


def test_cli_takes_the_video_from_a_file():
    clip = Path(__file__).resolve().parents[1] / "data" / "clips" / "street_market.mkv"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["samplers", "--video", str(clip), "--frames", "16", "--json"]) == 0
    data = json.loads(buffer.getvalue())
    assert (data["total_frames"], data["native_fps"], data["size"]) == (200, 25.0, [180, 320])
    assert data["samplers"]["qwen-vl-utils"]["grid_thw"] == [8, 18, 32]
    assert data["samplers"]["transformers"]["indices"][-1] == 187


def test_cli_text_and_errors():
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["samplers", "--total-frames", "300", "--native-fps", "30", "--fps", "2",
                     "--height", "360", "--width", "640"]) == 0
    text = buffer.getvalue()
    assert text.splitlines()[0].startswith("300 frames at 30 fps (10.00 s); request: 2 fps")
    assert "transformers: last frame missed: ends at 285 of 299" in text
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["samplers", "--total-frames", "300"]) == 2
    assert err.getvalue().startswith("omni-bench: error: samplers needs --total-frames and --native-fps")


def test_bad_requests_raise_our_error():
    with pytest.raises(OmniBenchError):
        compare_samplers(0, 30.0, frames=4)
    with pytest.raises(OmniBenchError):
        compare_samplers(300, 30.0, frames=4, fps=2.0)
    assert set(SAMPLERS) == {row.name for row in compare_samplers(300, 30.0).rows}


# ---------------------------------------------------------------------------------------- budget
def test_budget_table_arithmetic():
    rows = budget_table(600.0, 30.0, 640, 360, 16384)
    assert len(rows) == 4 * 6
    for r in rows:
        frames = arith.smart_nframes(18000, 30.0, fps=r.fps)
        assert r.frames == frames
        assert (r.height, r.width) == arith.video_resize(360, 640, min_pixels=min(128 * 784, r.max_pixels),
                                                         max_pixels=r.max_pixels)
        assert r.grid_thw == arith.grid_thw(frames, r.height, r.width)
        assert r.tokens_per_step == arith.tokens_per_grid(r.grid_thw[1], r.grid_thw[2])
        assert r.video_tokens == arith.video_tokens(r.grid_thw) == r.grid_thw[0] * r.tokens_per_step
        assert r.tokens_per_frame == r.tokens_per_step / 2
        assert r.tokens_per_second == pytest.approx(r.video_tokens / 600.0)
        assert r.fits == (r.video_tokens <= 16384)
        assert r.in_apollo_range == (8 <= r.tokens_per_frame <= 32)
        assert r.tokens_per_step <= r.max_pixels // 784
    one = budget_table(60, 30, 640, 360, 16384, fps_options=[1], pixel_limits=[64 * 28 * 28])[0]
    assert (one.frames, one.height, one.width, one.grid_thw, one.video_tokens) == (60, 168, 280, (30, 12, 20), 1800)
    text = format_budget_table(rows, 16384)
    assert text.splitlines()[0] == "VIDEO token budget 16384" and len(text.splitlines()) == 2 + 24 + 1
    assert "30*" in text  # 64 x 784 -> 30 tokens per frame, inside Apollo's range


def test_budget_resize_equals_the_processor():
    limit = 32 * 28 * 28
    r = budget_table(10, 30, 640, 360, 10**6, fps_options=[0.4], pixel_limits=[limit])[0]
    out = PROCESSOR(videos=[np.zeros((r.frames, 360, 640, 3), np.uint8)], do_sample_frames=False,
                    size={"shortest_edge": limit, "longest_edge": limit}, cap_pixels_per_frame=False,
                    return_tensors="pt")
    assert tuple(out["video_grid_thw"][0].tolist()) == r.grid_thw
    assert math.prod(r.grid_thw) // 4 == r.video_tokens


# ------------------------------------------------------------------------------------ decode cost
def test_decode_variants_return_the_same_frames(tmp_path):
    from omni_bench.bench.decode import VARIANTS, decode_variant, measure_decode
    from omni_bench.core.media import write_clip

    info = write_clip(tmp_path / "clip.mkv", seconds=3.0, fps=10.0, width=64, height=48, audio=False)
    indices = list(sample_qwen_vl_utils(info.total_frames, info.native_fps, nframes=6).indices)
    frames = [decode_variant(variant, info.path, indices) for variant in VARIANTS]
    for other in frames[1:]:
        np.testing.assert_array_equal(frames[0], other)
    cost = measure_decode(info.path, indices, "pyav-seek", repeats=1, workdir=str(tmp_path))
    assert cost.shape == (6, 48, 64, 3) and cost.sampled == 6 and len(cost.seconds_runs) == 1
    assert cost.peak_rss_mb >= cost.baseline_rss_mb > 0
