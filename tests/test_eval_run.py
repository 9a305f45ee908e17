"""Generation for evaluation: the prompt is the processor's generation prompt, batching changes no answer,
runs resume, the CLI writes LongVALE's log, and --adapter loads a run's model and settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from omni_bench import OmniBenchError, tiny_model
from omni_bench.cli import main
from omni_bench.eval.log import read_log
from omni_bench.eval.prompts import make_queries
from omni_bench.eval.run import EvalConfig, _prompt_item, _records, evaluate

ROOT = Path(__file__).resolve().parent.parent
ANN = ROOT / "data" / "longvale_annotations.json"
CLIPS = ROOT / "data" / "clips"
SMALL = dict(frames=4, resize=(56, 56), max_new_tokens=6, progress=False)  # a 2-core CPU answers in seconds


def _annotations(*videos):
    data = json.loads(ANN.read_text())
    return {v: data[v] for v in videos}


def test_prompt_is_the_processors_generation_prompt(omni_processor):
    from omni_bench.core.media import probe, read_audio, read_frames
    from omni_bench.data.dataset import OmniSFTDataset
    from omni_bench.data.samples import messages, turns_of
    from omni_bench.layout.frames import resize_frames, sample_indices
    from omni_bench.layout.processor_call import processor_call
    from omni_bench.layout.settings import LayoutSettings

    ann = _annotations("kitchen_talk")
    query = make_queries(ann, "grounding")[1]
    settings = LayoutSettings(frames=4, resize=(56, 56))
    dataset = OmniSFTDataset(_records([query], ann), media_root=CLIPS, settings=settings, processor=omni_processor)
    prompt = _prompt_item(dataset[0])
    # the reference: the chat template with add_generation_prompt on the question alone, same frames and audio
    resolved = settings.resolve(dataset.profile)
    info = probe(str(CLIPS / "kitchen_talk.mkv"))
    indices = sample_indices(info, resolved, dataset.profile.temporal_patch_size)
    frames = resize_frames(read_frames(info.path, indices), (56, 56), dataset.profile.factor)
    audio = read_audio(info.path, sampling_rate=dataset.profile.sampling_rate)
    (turn,) = turns_of((("human", query.text), ("gpt", "x")))
    chat = messages([turn])[:-1]
    text = omni_processor.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    expected = processor_call(omni_processor, resolved, text, frames, audio, len(indices) / info.duration)
    assert torch.equal(prompt["input_ids"], expected["input_ids"][0])
    assert torch.equal(prompt["pixel_values_videos"], expected["pixel_values_videos"])
    assert torch.equal(prompt["input_features"], expected["input_features"])
    assert omni_processor.tokenizer.decode(prompt["input_ids"][-3:]) == "<|im_start|>assistant\n"
    assert "Give the timestamps in the fromat: From xx to xx." in omni_processor.tokenizer.decode(prompt["input_ids"])


def test_batching_changes_no_answer_and_runs_resume(tmp_path, omni_processor):
    ann_path = tmp_path / "ann.json"
    ann_path.write_text(json.dumps(_annotations("street_market", "kitchen_talk", "portrait_music")))
    model = tiny_model("qwen2.5-omni-7b", seed=0)
    common = dict(annotations=str(ann_path), media_root=str(CLIPS), tiny=True, task="grounding", **SMALL)
    one = evaluate(model=model, processor=omni_processor, output=str(tmp_path / "one.jsonl"), batch_size=1, **common)
    # three queries first, then the rest: the log holds each query once, in LongVALE's order
    first = evaluate(model=model, processor=omni_processor, output=str(tmp_path / "two.jsonl"), batch_size=3,
                     limit=3, **common)
    rest = evaluate(model=model, processor=omni_processor, output=str(tmp_path / "two.jsonl"), batch_size=3,
                    **common)
    assert (one.queries, one.answered, one.already) == (6, 6, 0)
    assert (first.answered, rest.answered, rest.already) == (3, 3, 3)
    batched, single = read_log(tmp_path / "two.jsonl")[0], read_log(tmp_path / "one.jsonl")[0]
    assert batched == single  # left padding in a batch of 3 gives the same greedy answers as one at a time
    assert [(e["video_id"], e["info"]["sentence_id"]) for e in single] == [
        ("street_market", 0), ("street_market", 1), ("kitchen_talk", 0), ("kitchen_talk", 1),
        ("portrait_music", 0), ("portrait_music", 1)]
    again = evaluate(model=model, processor=omni_processor, output=str(tmp_path / "two.jsonl"), **common)
    assert (again.answered, again.already) == (0, 6)
    assert again.scores["grounding"] == one.scores["grounding"]


def test_cli_eval_run_writes_longvale_lines(tmp_path, capsys):
    log = tmp_path / "log.jsonl"
    code = main(["eval", "run", "--annotations", str(ANN), "--media-root", str(CLIPS), "--tiny", "--task",
                 "seg_captioning", "--limit", "2", "--frames", "4", "--resize", "56x56", "--max-new-tokens", "4",
                 "--no-progress", "--output", str(log), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["queries"], report["answered"]) == (8, 2)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["task"], e["query_id"], e["info"]) for e in lines] == [
        ("seg_captioning", 0, {"sentence_id": 0}), ("seg_captioning", 0, {"sentence_id": 1})]
    assert report["scores"]["tasks"]["seg_captioning"]["answers"] == 2
    # a video without sound is skipped with its reason when audio is asked for, and the others still run
    silent = {"silent_walk": _annotations("silent_walk")["silent_walk"]}
    (tmp_path / "silent.json").write_text(json.dumps(silent))
    assert main(["eval", "run", "--annotations", str(tmp_path / "silent.json"), "--media-root", str(CLIPS),
                 "--tiny", "--task", "grounding", "--no-progress", "--output", str(tmp_path / "s.jsonl")]) == 0
    assert "2 skipped" in capsys.readouterr().out


def test_config_errors_are_one_line():
    with pytest.raises(OmniBenchError, match="exactly one of --tiny"):
        EvalConfig(annotations="a.json")
    with pytest.raises(OmniBenchError, match="exactly one of --tiny"):
        EvalConfig(annotations="a.json", tiny=True, adapter="runs/x")
    with pytest.raises(OmniBenchError, match="--task must be one of"):
        EvalConfig(annotations="a.json", tiny=True, task="dense")
    with pytest.raises(OmniBenchError, match=r"no config\.json; --adapter takes a training run folder"):
        evaluate(annotations=str(ANN), adapter=str(ROOT / "data"), output="unused.jsonl")


@pytest.mark.slow
def test_adapter_loads_the_runs_model_and_sampling(tmp_path, omni_processor):
    from omni_bench import TrainConfig, load_trained_model, train

    run = tmp_path / "run"
    train(TrainConfig(tiny=True, data=str(ANN), media_root=str(CLIPS), frames=4, resize=(56, 56), max_steps=2,
                      learning_rate=1e-2, logging_steps=1, save_steps=2, output=str(run), progress=False,
                      use_audio=False))
    common = dict(annotations=str(ANN), media_root=str(CLIPS), task="grounding", max_new_tokens=6, progress=False,
                  limit=2)
    via_adapter = evaluate(adapter=str(run), output=str(tmp_path / "a.jsonl"), **common)
    # the same answers from the model load_trained_model gives, with the run's settings given by hand
    evaluate(model=load_trained_model(run), processor=omni_processor, tiny=True, frames=4,
             resize=(56, 56), use_audio=False, output=str(tmp_path / "b.jsonl"), **common)
    assert read_log(tmp_path / "a.jsonl")[0] == read_log(tmp_path / "b.jsonl")[0]
    assert via_adapter.answered == 2


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["qwen3-vl-2b", "qwen3-omni-30b-a3b"])
def test_qwen3_families_answer_and_batching_changes_no_answer(tmp_path, profile):
    """The Qwen3 families through the same generation path: Qwen3-VL's per-token mm_token_type_ids are cut
    with the prompt (it used to keep the reply's length and fail in get_rope_index)."""
    common = dict(annotations=str(ANN), media_root=str(CLIPS), profile=profile, tiny=True, task="grounding",
                  limit=2, **SMALL)
    one = evaluate(output=str(tmp_path / "one.jsonl"), batch_size=1, **common)
    two = evaluate(output=str(tmp_path / "two.jsonl"), batch_size=2, **common)
    assert (one.answered, two.answered) == (2, 2)
    assert read_log(tmp_path / "one.jsonl")[0] == read_log(tmp_path / "two.jsonl")[0]
