"""The closed loop from the CLI (issue 12): train the tiny model on the bundled grounding data
(``--task grounding``, the recipe in configs/train_tiny_grounding.json: one event per sample, three
samples per step, the vision merger trained beside LoRA), then ``eval run`` the untrained model and
the run's adapter: mIoU from near 0 to >= 90 on the samples it trained on.

A memorisation check that proves the pipeline end to end (annotations -> training records ->
adapter with its trained modules -> reload -> generation -> LongVALE's scoring), not a benchmark.
Also: ``--train-modules`` reaches peft's ``modules_to_save`` and the saved adapter reloads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "longvale_grounding.json"
CLIPS = ROOT / "data" / "clips"
RECIPE = ROOT / "configs" / "train_tiny_grounding.json"


def _cli(*args: str) -> dict:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-m", "omni_bench.cli", *args, "--json"], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _eval(output: Path, *model: str) -> dict:
    result = _cli("eval", "run", "--annotations", str(DATA), "--media-root", str(CLIPS), *model,
                  "--task", "grounding", "--prompts", "training", "--max-new-tokens", "16", "--no-progress",
                  "--output", str(output))
    return result["scores"]["tasks"]["grounding"]["metrics"]


@pytest.mark.slow
def test_train_then_eval_moves_miou_from_near_zero_to_90(tmp_path):
    run = tmp_path / "run"
    trained = _cli("train", "--config", str(RECIPE), "--data", str(DATA), "--media-root", str(CLIPS),
                   "--task", "grounding", "--output", str(run), "--no-progress")
    losses = [row["loss"] for row in trained["metrics"]]
    assert losses[-1] < 0.5 < 10 < losses[0]  # from about ln(V) ~ 11.9 at step 10 to memorised
    saved = json.loads((run / "adapter" / "adapter_config.json").read_text())["modules_to_save"]
    assert saved == ["model.language_model.norm", "lm_head", "model.visual.merger"]
    untrained = _eval(tmp_path / "untrained.jsonl", "--tiny", "--frames", "4", "--resize", "56x56", "--no-audio")
    adapted = _eval(tmp_path / "adapted.jsonl", "--adapter", str(run))
    assert untrained["mIoU"] < 20
    assert adapted["mIoU"] >= 90


def test_train_modules_are_saved_with_the_adapter_and_reload(tmp_path):
    """Two steps with --train-modules norm,lm_head: both train, are saved beside the adapter and
    come back through load_trained_model with the trained values (not the base model's)."""
    import torch

    from omni_bench import TrainConfig, load_trained_model, train
    from omni_bench.core.models import tiny_model

    result = train(TrainConfig(tiny=True, data=str(DATA), media_root=str(CLIPS), task="grounding", frames=4,
                               resize=(56, 56), max_steps=2, learning_rate=1e-2, save_steps=2, logging_steps=1,
                               train_modules=("norm", "lm_head"), output=str(tmp_path / "run"), progress=False))
    config = json.loads((tmp_path / "run" / "adapter" / "adapter_config.json").read_text())
    assert config["modules_to_save"] == ["model.language_model.norm", "lm_head"]  # full names: no layer norms
    reloaded = load_trained_model(tmp_path / "run")
    base = tiny_model(result.config.profile, seed=result.config.seed)
    trained_head = reloaded.get_base_model().get_output_embeddings()
    head = trained_head.modules_to_save["default"].weight
    assert torch.equal(trained_head.original_module.weight, base.get_output_embeddings().weight)
    assert not torch.equal(head, base.get_output_embeddings().weight)  # trained, saved, reloaded
    live = result.model.get_base_model().get_output_embeddings().modules_to_save["default"].weight
    assert torch.equal(head, live.detach().cpu())


def test_the_vision_merger_trains_beside_lora_and_reloads(tmp_path):
    """The recipe's third module, a full module name: the vision merger trains (its video tokens
    carry the gradient back from the text model), is saved and reloads with the trained values."""
    import torch

    from omni_bench import TrainConfig, load_trained_model, train
    from omni_bench.core.models import tiny_model

    result = train(TrainConfig(tiny=True, data=str(DATA), media_root=str(CLIPS), task="grounding", frames=4,
                               resize=(56, 56), use_audio=False, split_turns=True, max_steps=2, learning_rate=1e-2,
                               save_steps=2, logging_steps=1, train_modules=("lm_head", "model.visual.merger"),
                               output=str(tmp_path / "run"), progress=False))
    config = json.loads((tmp_path / "run" / "adapter" / "adapter_config.json").read_text())
    assert config["modules_to_save"] == ["lm_head", "model.visual.merger"]
    base = dict(tiny_model(result.config.profile, seed=result.config.seed).model.visual.merger.named_parameters())
    merger = load_trained_model(tmp_path / "run").get_base_model().model.visual.merger
    live = dict(result.model.get_base_model().model.visual.merger.modules_to_save["default"].named_parameters())
    reloaded = dict(merger.modules_to_save["default"].named_parameters())
    assert reloaded.keys() == base.keys() == live.keys() and len(base) > 0
    assert all(torch.equal(merger.original_module.get_parameter(k), base[k]) for k in base)
    assert any(not torch.equal(reloaded[k], base[k]) for k in base)  # trained, saved, reloaded
    assert all(torch.equal(reloaded[k], live[k].detach().cpu()) for k in base)


def test_split_turns_are_the_questions_eval_asks():
    """--split-turns makes each event its own sample: the human turn and reply of each equal the
    query and reference `eval run --prompts training` builds for that event."""
    from omni_bench.data.records import load_records
    from omni_bench.data.turns import split_turns
    from omni_bench.eval.log import load_eval_annotations
    from omni_bench.eval.prompts import make_queries

    records = load_records(str(DATA), task="grounding")
    assert [r.turn_count for r in records] == [3, 3, 3]
    split = split_turns(records)
    queries = make_queries(load_eval_annotations(str(DATA)), "grounding", "training")
    assert [r.id for r in split] == [f"{q.video_id}#{q.sentence_id}" for q in queries]
    assert [r.conversations for r in split] == [(("human", q.text), ("gpt", q.reference)) for q in queries]
    assert all(r.videos == (r.id.split("#")[0],) for r in split)


def test_train_flags_task_and_split_turns_reach_the_config():
    from omni_bench.cli import build_parser
    from omni_bench.cli.train import config_from_args

    args = build_parser().parse_args(["train", "--tiny", "--data", str(DATA), "--task", "segment", "--split-turns",
                                      "--train-modules", "norm,lm_head"])
    config = config_from_args(args)
    assert (config.task, config.split_turns, config.train_modules) == ("segment", True, ("norm", "lm_head"))
