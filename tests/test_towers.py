"""The idle-tower hooks (training/towers.py) keep every tower method's signature.

generate() reads ``inspect.signature(model.get_video_features)`` to find the pixel keywords it
encodes before prefill; a wrapper that hid them left ``pixel_values_videos`` in beside
``mm_encoder_outputs`` and the thinker's forward refused the pair (notebook 06's generate cell).
"""

from __future__ import annotations

import inspect

import pytest

from omni_bench import tiny_model
from omni_bench.training.towers import IDLE_KINDS, install_idle_towers


@pytest.mark.parametrize("profile", ["qwen2.5-omni-7b", "qwen2.5-vl-7b"])
def test_idle_tower_wrappers_keep_the_tower_signatures(profile):
    model = tiny_model(profile)
    methods = [method for _, method in IDLE_KINDS.values() if hasattr(model.model, method)]
    before = {method: inspect.signature(getattr(model.model, method)) for method in methods}
    install_idle_towers(model)
    assert all(method in vars(model.model) for method in methods)  # the hooks are installed on the instance
    assert {method: inspect.signature(getattr(model.model, method)) for method in methods} == before
    assert "pixel_values_videos" in before["get_video_features"].parameters
