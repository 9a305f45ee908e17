"""Memory planned before it runs out (omni_bench.eval.memory): a generation batch's estimate from the plan, the
budget, batches shrunk to fit or one refusal line; eval run on a 79.5 s clip stays under 8 GB."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from ffmpeg_media import ClipSpec, make_clip, requires_ffmpeg

from omni_bench import OmniBenchError
from omni_bench.eval.memory import (
    ItemCost,
    ModelShape,
    available_memory,
    estimate_batch,
    memory_budget,
    parse_size,
    plan_batches,
)

ROOT = Path(__file__).resolve().parent.parent
# the tiny Qwen2.5-Omni thinker's shape (float32, no logits_to_keep: every prefill position gets logits)
TINY = ModelShape(layers=2, kv_heads=2, head_dim=16, hidden=64, intermediate=128, vocab=152064, dtype_bytes=4,
                  full_logits=True, vision_hidden=32, vision_intermediate=64, audio_hidden=32, audio_intermediate=64)
LAST_ONLY = ModelShape(**{**TINY.__dict__, "full_logits": False})


def test_sizes_are_read_or_refused():
    assert parse_size("8GiB") == 8 * 2**30 and parse_size("6 GB") == 6 * 10**9 and parse_size("512mib") == 2**29
    for bad in ("eight", "8 parsecs", "-1GiB", "0"):
        with pytest.raises(OmniBenchError, match="--max-memory"):
            parse_size(bad)
    assert memory_budget("2GiB") == (2 * 2**30, "--max-memory 2.0 GiB")
    size, how = memory_budget()
    assert 0 < size < available_memory() and "available" in how


def test_the_estimate_counts_kv_cache_and_logits_as_the_formula():
    item = ItemCost("q", tokens=1000)
    parts = dict(estimate_batch([item, item], TINY, max_new_tokens=24).parts)
    assert parts["kv_cache"] == 2 * 2 * 2 * 16 * 2 * (1000 + 24) * 4  # layers x (k, v) x heads x dim x B x L x 4
    assert parts["logits"] == 2 * 1000 * 152064 * 4 + 2 * 2 * 152064 * 4  # every prefill position + float32 last
    assert dict(estimate_batch([item], LAST_ONLY, 24).parts)["logits"] == 152064 * 4 * 3


def test_batches_shrink_to_the_budget_and_an_item_alone_over_it_is_refused():
    items = [ItemCost(f"q{i}", tokens=1000) for i in range(5)]
    one = estimate_batch(items[:1], TINY, 8).total
    two = estimate_batch(items[:2], TINY, 8).total
    def planned(budget, shape=TINY):
        return [(b.indices, b.last_logits_only) for b in plan_batches(items, shape, 8, batch_size=4, budget=budget)]

    assert planned(10 * two) == [([0, 1, 2, 3], False), ([4], False)]
    assert planned(two) == [([0, 1], False), ([2, 3], False), ([4], False)]
    # one item alone over the budget only through its prefill logits: the last position's alone, batched anew
    last = estimate_batch(items[:2], LAST_ONLY, 8).total
    assert last < one
    assert planned(last) == [([0, 1], True), ([2, 3], True), ([4], True)]
    with pytest.raises(OmniBenchError) as refused:
        plan_batches(items, LAST_ONLY, 8, batch_size=4, budget=estimate_batch(items[:1], LAST_ONLY, 8).total - 1,
                     budget_text="test")
    assert refused.value.reason == "too-costly" and refused.value.source == "q0"
    assert "q0: one generation needs about" in str(refused.value) and "--max-memory" in str(refused.value)


def test_last_position_logits_are_the_full_computations_last_row():
    import torch

    from omni_bench.core.models import tiny_model
    from omni_bench.eval.memory import last_logits_only

    model = tiny_model("qwen2.5-vl-7b")
    ids = torch.tensor([[151644, 872, 198, 9707, 11, 1879, 0, 151645, 198]])
    with torch.no_grad():
        full = model(input_ids=ids).logits
        with last_logits_only(model):
            last = model(input_ids=ids).logits
        after = model(input_ids=ids).logits
    assert last.shape == (1, 1, full.shape[-1]) and after.shape == full.shape  # the hook is gone after the block
    torch.testing.assert_close(last[:, -1], full[:, -1], rtol=0, atol=1e-5)


def test_the_estimate_reads_the_plan(omni_processor):
    from omni_bench.data.dataset import OmniSFTDataset
    from omni_bench.data.records import Record
    from omni_bench.layout.settings import LayoutSettings

    record = Record("k", (("human", "<video>Describe the video."), ("gpt", "A kitchen.")),
                    videos=("kitchen_talk.mkv",))
    dataset = OmniSFTDataset([record], media_root=ROOT / "data" / "clips",
                             settings=LayoutSettings(frames=4, resize=(56, 56)), processor=omni_processor)
    cost = ItemCost.of_planned(dataset.planned[0])
    item = dataset[0]
    assert cost.tokens == len(item["input_ids"]) and cost.patches == item["pixel_values_videos"].shape[0]
    assert cost.feature_frames == item["input_features"].shape[-1]
    assert cost.mel_frames == int(item["feature_attention_mask"].sum())


def _peak_child_rss(argv, env) -> tuple[subprocess.CompletedProcess, int]:
    """Run a command; (its result, the peak resident set of this process's waited-for children, bytes)."""
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    return done, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


@pytest.mark.slow
@requires_ffmpeg
@pytest.mark.skipif(available_memory() > 32 * 2**30, reason="the default budget is a quarter of the available "
                    "memory; the figure is for a 24 GB machine")
def test_eval_run_on_a_long_clip_at_its_defaults_stays_under_8_gb(tmp_path):
    # a 79.5 s clip at 640x360, 25 fps, with a 16 kHz speech-like audio track (tests/speech_audio.py: voiced
    # syllables and pauses; the audio tokens depend on the track's length only, the features on its content)
    clip = make_clip(ClipSpec("mp4", "h264", "aac", seconds=79.5, fps="25", width=640, height=360,
                              sample_rate=16000, speech=True), tmp_path)
    annotations = tmp_path / "ann.json"
    annotations.write_text(json.dumps({clip.stem: {"duration": 79.5, "timestamps": [[0.0, 40.0], [40.0, 79.5]],
                                                   "sentences": ["Someone starts talking.", "The talk goes on."]}}))
    env = dict(os.environ, OMNI_BENCH_PROGRESS="1")  # stage lines, as on a terminal or in a log
    # the defaults (fps 2: 158 frames at 644x364, 25,735 input ids a query; batches of 4), two queries
    done, peak = _peak_child_rss([sys.executable, "-m", "omni_bench.cli", "eval", "run", "--tiny", "--annotations",
                                  str(annotations), "--output", str(tmp_path / "eval.jsonl"), "--limit", "2"], env)
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert lines[0].startswith("omni-bench eval: 5 queries in"), lines  # before torch is imported
    assert lines[1].startswith("omni-bench eval: importing torch"), lines
    if done.returncode == 2:  # refused in one line naming the query and the fix
        (error,) = [line for line in lines if not line.startswith("omni-bench eval: ")]
        assert clip.stem in error and "--max-memory" in error and "--frames" in error, error
    else:
        assert done.returncode == 0, done.stderr[-3000:]
        assert "2 answered now" in done.stdout, done.stdout
    assert peak < 8 * 10**9, peak
