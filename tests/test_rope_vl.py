"""Qwen2.5-VL rope positions: equal to transformers 5.23's get_rope_index; the training code's rule;
the overlap between them.

The reference is the tiny VL model's own ``model.model.get_rope_index`` (its config takes
``tokens_per_second`` 2 from the profile). The training code's rule (qwen-vl-finetune's
``get_rope_index_25``) is tested from its description: text after a video resumes one past the
video's largest position.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

import omni_bench  # noqa: F401  (prepares torchvision before transformers' model code)
from omni_bench import LayoutSettings, plan, rope_positions
from omni_bench.core.profiles import get_profile
from omni_bench.layout.rope import rope_report, vl_rope_index

VL = get_profile("qwen2.5-vl-7b")
IMAGE, VIDEO = VL.special_tokens["<|image_pad|>"], VL.special_tokens["<|video_pad|>"]
START, END = VL.special_tokens["<|vision_start|>"], VL.special_tokens["<|vision_end|>"]
CLIP_79S = dict(duration=79.0, width=640, height=360, native_fps=25)


@pytest.fixture(scope="module")
def tiny_vl():
    from omni_bench import tiny_model

    return tiny_model("qwen2.5-vl-7b")


def _reference(model, input_ids, image_grids, video_grids, spg):
    import torch

    ids = torch.tensor([input_ids])
    types = torch.zeros_like(ids, dtype=torch.int32)
    types[ids == IMAGE], types[ids == VIDEO] = 1, 2
    positions, _ = model.model.get_rope_index(
        ids, types, image_grid_thw=torch.tensor(image_grids) if image_grids else None,
        video_grid_thw=torch.tensor(video_grids) if video_grids else None,
        second_per_grid_ts=torch.tensor(spg, dtype=torch.float32) if spg else None)
    return positions[:, 0].numpy()


def _sequence(rng, media):
    # text, then per medium: <|vision_start|> pads <|vision_end|> text
    ids = [rng.randrange(100, 1000) for _ in range(rng.randint(1, 6))]
    for kind, (t, h, w) in media:
        ids += [START] + [IMAGE if kind == "image" else VIDEO] * (t * h * w // 4) + [END]
        ids += [rng.randrange(100, 1000) for _ in range(rng.randint(1, 6))]
    return ids


def test_equal_to_transformers_on_random_videos_images_and_text(tiny_vl):
    rng = random.Random(0)
    for case in range(40):
        media = []
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.4:
                media.append(("image", (1, 2 * rng.randint(1, 12), 2 * rng.randint(1, 12))))
            else:
                media.append(("video", (rng.randint(1, 12), 2 * rng.randint(1, 10), 2 * rng.randint(1, 10))))
        ids = _sequence(rng, media)
        images = [g for k, g in media if k == "image"]
        videos = [g for k, g in media if k == "video"]
        spg = [rng.choice([0.5, 1.0, 2 / 0.195, 9.875, 2 / 3, rng.uniform(0.1, 20)]) for _ in videos]
        expected = _reference(tiny_vl, ids, images, videos, spg)
        got = vl_rope_index(ids, image_token=IMAGE, video_token=VIDEO, image_grid_thw=images,
                            video_grid_thw=videos, second_per_grid_ts=spg, tokens_per_second=2)
        np.testing.assert_array_equal(got, expected, err_msg=f"case {case}: {media} {spg}")


def test_layout_positions_equal_transformers_on_a_planned_clip(tiny_vl):
    layout = plan(CLIP_79S, LayoutSettings(profile="qwen2.5-vl-7b", frames=16, prompt="What happens?",
                                           answer="A street."))
    s = layout.stats
    expected = _reference(tiny_vl, list(layout.input_ids), [], list(s.video_grid_thw), [s.second_per_grid])
    np.testing.assert_array_equal(rope_positions(layout), expected)


def test_equal_to_transformers_on_the_real_processors_output(tiny_vl, vl_processor):
    from omni_bench import inspect

    layout = inspect("data/clips/kitchen_talk.mkv", LayoutSettings(profile="qwen2.5-vl-7b", frames=8,
                                                                    resize=(112, 196)), processor=vl_processor)
    s = layout.stats
    expected = _reference(tiny_vl, list(layout.input_ids), [], list(s.video_grid_thw), [s.second_per_grid])
    np.testing.assert_array_equal(rope_positions(layout), expected)


def test_training_rule_resumes_one_past_the_largest_position():
    # 3 text tokens, a video of 4 steps x (2 x 3 merged) at 5 s per step (10 ids per step), 2 text tokens
    ids = [11, 12, 13] + [VIDEO] * 24 + [14, 15]
    kwargs = dict(image_token=IMAGE, video_token=VIDEO, video_grid_thw=[(4, 4, 6)], second_per_grid_ts=[5.0])
    ours, theirs = vl_rope_index(ids, rule="training", **kwargs), vl_rope_index(ids, rule="transformers", **kwargs)
    np.testing.assert_array_equal(ours[:, :27], theirs[:, :27])  # same up to the end of the video
    assert ours[0, 3:27].tolist() == [3 + 10 * k for k in range(4) for _ in range(6)]
    assert ours[:, 27].tolist() == [34] * 3 and theirs[:, 27].tolist() == [6] * 3  # 3 + 30 + 1 vs 3 + 3
    # an image: both rules resume one past its last row / column
    image_ids = [11] + [IMAGE] * 6 + [12]
    for rule in ("training", "transformers"):
        out = vl_rope_index(image_ids, image_token=IMAGE, video_token=VIDEO, image_grid_thw=[(1, 4, 6)], rule=rule)
        assert out[:, -1].tolist() == [4, 4, 4]


def test_overlap_on_a_16_frame_79_s_clip():
    layout = plan(CLIP_79S, LayoutSettings(profile="qwen2.5-vl-7b", frames=16))
    report = rope_report(layout)
    (video,) = report.videos
    # 8 grid steps of 2 / (16 / 79) = 9.875 s, 2 ids per second: the last step at start + int(7 * 19.75) = 138
    assert layout.stats.video_grid_thw == ((8, 26, 46),)
    assert video.temporal_max - video.start == 138
    assert video.next_transformers - video.start == 23 and video.next_training - video.start == 139
    assert report.overlap == video.reused == 116
    # frames 420 x 728 (15 x 26 merged): 5.23 resumes at start + 26, so 113 positions are reused
    wide = rope_report(plan(CLIP_79S, LayoutSettings(profile="qwen2.5-vl-7b", frames=16, resize=(420, 728))))
    assert wide.overlap == 113
    # the following text really sits on the video's positions under 5.23, and past them under the training rule
    positions = rope_positions(layout)
    after = positions[0, layout.segments[2].end - 1:]  # <|vision_end|> and the text after the video
    assert after[0] == video.next_transformers and after[0] <= video.temporal_max
    assert "116 position(s) reused" in str(report) and report.to_dict()["overlap"] == 116


def test_cli_json_carries_rope_overlap(capsys):
    import json

    from omni_bench.cli import main

    status = main(["plan", "--duration", "79", "--width", "640", "--height", "360", "--native-fps", "25",
                   "--profile", "qwen2.5-vl-7b", "--frames", "16", "--json"])
    assert status == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rope"]["overlap"] == 116 and set(data["rope"]["rules"]) == {"transformers", "training"}
    assert main(["plan", "--duration", "79", "--width", "640", "--height", "360", "--native-fps", "25",
                 "--profile", "qwen2.5-vl-7b", "--frames", "16"]) == 0
    assert "[Rope]" in capsys.readouterr().out
