"""Each smart_resize equals its reference: qwen-vl-utils 0.0.14's and transformers 5.23's.

100,000 seeded random cases per reference (sides 1..6000 drawn log-uniformly so that sides
under 28 are common, aspect ratios past the 200:1 limit, factors 28 and 32, pixel bounds from
the image / video defaults and random ones, max < min included): same size, or both raise.
"""

from __future__ import annotations

import importlib
import random

import pytest

from omni_bench.layout import arith  # omni_bench first: it prepares torchvision, which both references import

qwen_reference = importlib.import_module("qwen_vl_utils.vision_process").smart_resize

image_processing_qwen2_vl = importlib.import_module("transformers.models.qwen2_vl.image_processing_qwen2_vl")
video_processing_qwen2_vl = importlib.import_module("transformers.models.qwen2_vl.video_processing_qwen2_vl")

CASES = 100_000
PIXELS = [(3136, 12845056), (4 * 784, 16384 * 784), (128 * 784, 768 * 784), (56 * 56, 28 * 28 * 1280),
          (64 * 784, 128 * 784), (784, 16 * 784)]


def _cases(seed: int):
    rng = random.Random(seed)
    for _ in range(CASES):
        height = max(1, int(round(6000 ** rng.random())))
        if rng.random() < 0.3:  # near or past the 200:1 limit
            width = max(1, int(round(height * rng.uniform(150, 260))))
            if rng.random() < 0.5:
                height, width = width, height
        else:
            width = max(1, int(round(6000 ** rng.random())))
        factor = rng.choice([28, 28, 28, 32])
        if rng.random() < 0.5:
            low, high = rng.choice(PIXELS)
        else:
            low, high = rng.randint(1, 200) * factor * factor, rng.randint(1, 20000) * factor * factor
        yield height, width, factor, low, high


def _outcome(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (ValueError, AssertionError):
        return "raises"


def _compare(ours, reference, seed: int) -> tuple[int, dict]:
    equal, outcomes = 0, {"sized": 0, "raises": 0, "zero side": 0}
    for height, width, factor, low, high in _cases(seed):
        expected = _outcome(reference, height, width, factor, min_pixels=low, max_pixels=high)
        got = _outcome(ours, height, width, factor, min_pixels=low, max_pixels=high)
        assert got == expected, (height, width, factor, low, high, got, expected)
        equal += 1
        kind = "raises" if expected == "raises" else "zero side" if 0 in expected else "sized"
        outcomes[kind] += 1
    return equal, outcomes


def test_qwen_vl_utils_rule_equals_qwen_vl_utils_on_100k_cases():
    equal, outcomes = _compare(arith.qwen_vl_utils_smart_resize, qwen_reference, seed=0)
    assert equal == CASES
    # the sample really exercises errors, zero sides and ordinary sizes
    assert outcomes["raises"] > 1000 and outcomes["zero side"] > 100 and outcomes["sized"] > 50_000, outcomes


def test_transformers_rule_equals_the_image_and_video_processors_copies_on_100k_cases():
    equal, outcomes = _compare(arith.transformers_smart_resize, image_processing_qwen2_vl.smart_resize, seed=1)
    assert equal == CASES and outcomes["raises"] > 1000, outcomes
    video_equal, _ = _compare(arith.transformers_smart_resize, video_processing_qwen2_vl.smart_resize, seed=2)
    assert video_equal == CASES


def test_corner_cases_from_the_issue():
    image = dict(min_pixels=56 * 56, max_pixels=28 * 28 * 16384)
    # a 10x500 image: qwen-vl-utils floors each side at 28 first (18 tokens), transformers rounds 10 to 0
    # and takes the min-pixels branch (15 tokens)
    assert arith.qwen_vl_utils_smart_resize(10, 500, 28, **image) == qwen_reference(10, 500, 28, **image) == (28, 504)
    assert arith.transformers_smart_resize(10, 500, 28, **image) == \
        image_processing_qwen2_vl.smart_resize(10, 500, 28, **image) == (28, 420)
    # 205x3314 at 16*784 pixels: qwen-vl-utils floors the short side to 0, transformers keeps 28
    assert arith.qwen_vl_utils_smart_resize(205, 3314, 28, max_pixels=16 * 784) == \
        qwen_reference(205, 3314, 28, max_pixels=16 * 784) == (0, 448)
    assert arith.transformers_smart_resize(205, 3314, 28, min_pixels=3136, max_pixels=16 * 784) == (28, 448)
    # the 200:1 limit: 1x200 passes, 1x201 raises, in both
    for fn in (arith.qwen_vl_utils_smart_resize, arith.transformers_smart_resize, qwen_reference,
               image_processing_qwen2_vl.smart_resize):
        assert _outcome(fn, 1, 200, 28, min_pixels=3136, max_pixels=12845056) != "raises"
        assert _outcome(fn, 1, 201, 28, min_pixels=3136, max_pixels=12845056) == "raises"


def test_video_resize_is_the_video_processors_rule():
    assert arith.video_resize(10, 500, min_pixels=3136, max_pixels=12845056) == \
        video_processing_qwen2_vl.smart_resize(10, 500, 28, 3136, 12845056)


def test_validation_counts_image_tokens_with_the_processors_rule(tmp_path):
    from PIL import Image

    from omni_bench.core.errors import OmniBenchError
    from omni_bench.core.profiles import get_profile
    from omni_bench.data.validation import _image_tokens

    path = tmp_path / "thin.png"
    Image.new("RGB", (500, 10)).save(path)  # PIL size is (width, height)
    assert _image_tokens(str(path), get_profile("qwen2.5-omni-7b")) == 15
    Image.new("RGB", (500, 2)).save(path)
    with pytest.raises(OmniBenchError, match="aspect ratio"):
        _image_tokens(str(path), get_profile("qwen2.5-omni-7b"))
