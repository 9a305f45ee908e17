"""``omni-bench budget --method grpo`` (issue 23 item 8): the prompt tokens of a GRPO step equal the real
processor's (the bundled clip inspected; the training file's prompts as the GRPO trainer builds them), and the
step's memory grows with G as training/grpo_budget.py's formula says (towers and prefill once per group)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omni_bench.cli import main
from omni_bench.core.profiles import get_profile
from omni_bench.eval.memory import ItemCost, estimate_rollout
from omni_bench.training.grpo_budget import profile_shape

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--frames", "4", "--resize", "56x56", "--json", "--per-sample"]


def _budget(capsys, *argv) -> dict:
    assert main(["budget", *argv]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow  # decodes the bundled clips through the real processor
def test_prompt_tokens_equal_the_real_processors(capsys, monkeypatch):
    import omni_bench
    from omni_bench.core.processor import load_processor
    from omni_bench.data.dataset import OmniSFTDataset
    from omni_bench.data.records import load_records
    from omni_bench.training.grpo import PromptDataset

    monkeypatch.chdir(ROOT)
    clip, question = "data/clips/street_market.mkv", "When does the bar cross the middle?"
    got = _budget(capsys, clip, "--method", "grpo", "--prompt", question, "--answer", "From 30 to 70.", *FLAGS)
    settings = omni_bench.LayoutSettings(frames=4, resize=(56, 56), prompt=question)  # no answer: the generation prompt
    layout = omni_bench.inspect(clip, settings)  # the real processor on the decoded frames and audio
    generation_prompt = load_processor("qwen2.5-omni-7b").tokenizer("<|im_start|>assistant\n")["input_ids"]
    assert list(layout.input_ids[-3:]) == generation_prompt
    assert got["grpo"]["prompt_tokens_per_sample"] == [len(layout.input_ids)]

    # a training file: each record's prompt is its sample up to the final reply (earlier turns kept), as the
    # trainer's PromptDataset cuts it from the real processor's output
    got = _budget(capsys, "data/longvale_grounding.json", "--media-root", "data/clips", "--task", "grounding",
                  "--method", "grpo", *FLAGS)
    sft = OmniSFTDataset(load_records("data/longvale_grounding.json", task="grounding"), media_root="data/clips",
                         settings=omni_bench.LayoutSettings(frames=4, resize=(56, 56)),
                         processor=load_processor("qwen2.5-omni-7b"))
    prompts = PromptDataset(sft)
    real = {str(p.record.id): len(prompts[i]["input_ids"]) for i, p in enumerate(sft.planned)}
    assert dict(zip(got["sources"], got["grpo"]["prompt_tokens_per_sample"], strict=True)) == real
    assert got["grpo"]["num_generations"] == 8 and got["grpo"]["max_completion_length"] == 512  # trl's defaults


@pytest.mark.slow  # three budget runs of the bundled clip (about 7 s)
def test_memory_grows_with_g_as_the_formula_says(capsys):
    """The figure is train --method grpo's own pre-flight estimate (eval/memory.py estimate_rollout) of the
    prompt's counts, and grows linearly with G: the media, the towers and the prefill once per group, every
    replay term (kept layer inputs, recomputed layer, padded mask, repeated audio, log-prob rows) per row."""
    got = {G: _budget(capsys, "data/clips/street_market.mkv", "--method", "grpo", "--num-generations", str(G),
                      "--max-completion-length", "16", *FLAGS) for G in (2, 4, 8)}
    P = got[2]["grpo"]["prompt_tokens_per_sample"][0]
    video, audio = got[2]["video_tokens_per_sample"][0], got[2]["audio_tokens_per_sample"][0]
    assert P == got[2]["total_tokens_per_sample"][0] and got[8]["grpo"]["completion_tokens"] == 8 * 16
    profile = get_profile("qwen2.5-omni-7b")
    item = ItemCost("clip", P, patches=video * 4, mel_frames=4 * audio, feature_frames=profile.nb_max_frames)
    memory = {G: got[G]["grpo"]["memory_per_sample"][0] for G in got}
    for G in got:
        assert memory[G] == estimate_rollout(item, profile_shape(profile), G, 16).total
    assert 0 < memory[4] - memory[2] and memory[8] - memory[4] == 2 * (memory[4] - memory[2])  # linear in G
    assert "activations" in got[8]["grpo"]["largest"]["parts_gib"]  # the replay is the step's peak here


def test_grpo_flags_without_the_method_are_refused(capsys):
    assert main(["budget", "data/clips/street_market.mkv", "--num-generations", "4"]) == 2
    assert "--method grpo" in capsys.readouterr().err
