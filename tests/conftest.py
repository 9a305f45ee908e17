"""Shared fixtures: the real processors (built once per session), the bundled clips, tmp clips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLIPS = ROOT / "data" / "clips"

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# stage lines go to any stderr (omni_bench.core.stages); the tests that read a command's one error line want
# none, and the tests of stage lines ask for them
os.environ.setdefault("OMNI_BENCH_PROGRESS", "0")


@pytest.fixture(scope="session")
def omni_processor():
    from omni_bench import load_processor

    return load_processor("qwen2.5-omni-7b")


@pytest.fixture(scope="session")
def vl_processor():
    from omni_bench import load_processor

    return load_processor("qwen2.5-vl-7b")


@pytest.fixture
def dpo_pairs(tmp_path) -> Path:
    """Two preference pairs on the bundled clips (media root: ``data/``), one with sound, as
    ``tmp_path / "pairs.json"``."""
    import json

    pairs = [{"id": "street", "video": "clips/street_market.mkv",
              "conversations": [{"from": "human", "value": "<video>\nWhen does the bar cross the middle?"}],
              "chosen": "From 40 to 60.", "rejected": "From 00 to 99."},
             {"id": "portrait", "video": "clips/portrait_music.mkv",
              "conversations": [{"from": "human", "value": "<video>\nWhat is heard?"}],
              "chosen": "A melody.", "rejected": "Silence."}]
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(pairs))
    return path


@pytest.fixture(scope="session")
def clips() -> Path:
    return CLIPS


@pytest.fixture(scope="session")
def clip_with_sound(tmp_path_factory) -> Path:
    """A 6.37 s clip at 25 fps with a 16 kHz tone (odd length on purpose)."""
    from omni_bench import write_clip

    path = tmp_path_factory.mktemp("clips") / "tone.mkv"
    write_clip(path, seconds=6.37, fps=25.0, width=320, height=180, audio=True, seed=3)
    return path
