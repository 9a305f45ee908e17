"""Processes whose batches hold different media train together: text-only records, the idle towers' dummy.

Under FSDP (and DeepSpeed ZeRO-3) every tower forward gathers the tower's sharded weights, a
collective all processes must join in the same order; a process with a text-only batch skips the
towers. omni_bench.training.towers runs each idle tower on a zero input, at the place in the forward
where the real call would be, weighted 0. Checked here: the dummy changes no bit of the loss and
calls audio, image and video tower in the forward's order whatever the batch holds; text-only
records load and train; and 2 FSDP processes, one with a text-only sample and one with a video,
complete (timeout-bounded) with the losses of the data-parallel run without the dummy, while
without it the same FSDP run fails.
"""

from __future__ import annotations

import json

import pytest
import torch
from launch import ROOT, launch, records, result, scaled_checkpoint

from omni_bench.training.run import TrainConfig, train

TEXT_ONLY = {"id": "arithmetic", "conversations": [
    {"from": "human", "value": "What is two plus two? Answer in words."},
    {"from": "gpt", "value": "Two plus two is four."}]}


def _dataset(entries):
    from omni_bench import load_processor
    from omni_bench.data.dataset import OmniSFTDataset
    from omni_bench.data.records import load_records
    from omni_bench.layout.settings import LayoutSettings

    processor = load_processor("qwen2.5-omni-7b")
    return OmniSFTDataset(load_records(entries), media_root=str(ROOT / "data"), processor=processor,
                          settings=LayoutSettings(frames=4, resize=(56, 56)))


def test_text_only_records_load_and_train(tmp_path):
    from omni_bench.data.records import load_records

    bundled = json.loads((ROOT / "data" / "longvale_sft.json").read_text())
    loaded = load_records([TEXT_ONLY, bundled[0]])  # auto: LongVALE SFT; no media and no <video> tag: text only
    assert [r.videos for r in loaded] == [(), ("clips/street_market.mkv",)]
    dataset = _dataset([TEXT_ONLY])
    assert len(dataset) == 1 and not dataset.dropped
    item = dataset[0]
    assert set(item) == {"input_ids", "attention_mask", "labels"}
    assert int(item["labels"].ne(-100).sum()) == dataset.sample(0).label_tokens > 0

    data = tmp_path / "text.json"
    data.write_text(json.dumps([TEXT_ONLY]))
    run = train(TrainConfig(tiny=True, data=str(data), max_steps=2, logging_steps=1, save_steps=100,
                            learning_rate=1e-3, output=str(tmp_path / "run"), progress=False))
    assert [r["step"] for r in run.metrics] == [1, 2] and run.samples == 1
    assert run.metrics[0]["label_tokens"] == dataset.sample(0).label_tokens


def _tower_calls(model, batch) -> tuple[list[str], torch.Tensor]:
    """The towers a training forward of ``batch`` runs, in order, and its loss."""
    inner = model.get_base_model().model
    calls: list[str] = []
    handles = [inner.audio_tower.register_forward_pre_hook(lambda *_: calls.append("audio")),
               inner.visual.register_forward_pre_hook(lambda *_: calls.append("vision"))]
    try:
        loss = model(**batch).loss
    finally:
        for handle in handles:
            handle.remove()
    return calls, loss


def test_idle_towers_run_every_tower_in_order_and_change_no_bit(monkeypatch):
    from omni_bench.data.dataset import OmniCollator
    from omni_bench.training import towers
    from omni_bench.training.prepare import prepare_model

    bundled = json.loads((ROOT / "data" / "longvale_sft.json").read_text())
    dataset = _dataset([TEXT_ONLY, bundled[2]])
    collator = OmniCollator(dataset.processor)
    text, video = collator([dataset[0]]), collator([dataset[1]])
    model = prepare_model(TrainConfig(tiny=True, data="unused.json", lora_dropout=0.0), torch.float32)
    model.train()
    assert towers.idle_towers_installed(model)
    without = {name: _tower_calls(model, batch) for name, batch in (("text", text), ("video", video))}
    assert without["text"][0] == [] and without["video"][0] == ["audio", "vision"]  # one process: no dummy

    monkeypatch.setattr(towers, "_active", lambda module: module.training)  # as on a distributed run
    inner = model.get_base_model().model
    assert towers.idle_kinds(inner, dict(text)) == ("audio", "image", "video")
    assert towers.idle_kinds(inner, dict(video)) == ("image",)
    for name, batch in (("text", text), ("video", video)):
        calls, loss = _tower_calls(model, batch)
        assert calls == ["audio", "vision", "vision"], name  # audio, image, video: the forward's order
        assert torch.equal(loss, without[name][1]), name  # 0 * sum: not one bit of the loss moves
        loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


@pytest.mark.slow
def test_a_text_rank_and_a_video_rank_train_together_under_fsdp(tmp_path):
    checkpoint = scaled_checkpoint(tmp_path / "tiny-checkpoint")
    # a text-only record and a video record: with one sample per process and step, every step
    # has one process without video or audio
    data = records(tmp_path, ["portrait_music"], extra=[TEXT_ONLY])
    common = ["--model", str(checkpoint), "--data", str(data), "--media-root", str(ROOT / "data"), "--frames", "4",
              "--resize", "56x56", "--max-steps", "3", "--save-steps", "100", "--logging-steps", "1",
              "--learning-rate", "1e-3", "--lora-dropout", "0", "--dtype", "float32", "--batch-size", "1",
              "--no-progress", "--json"]
    fsdp = result(launch("accelerate_fsdp.yaml", [*common, "--output", str(tmp_path / "fsdp")], timeout=420))
    assert (fsdp["world_size"], fsdp["parallelism"], fsdp["samples"]) == (2, "fsdp", 2)
    # data parallel (unsharded: nothing to gather) without the dummy: the reference
    ddp = result(launch(None, [*common, "--output", str(tmp_path / "ddp")], timeout=420, idle_towers=False))
    assert ddp["parallelism"] == "ddp"
    assert [r["step"] for r in fsdp["metrics"]] == [r["step"] for r in ddp["metrics"]] == [1, 2, 3]
    for ours, theirs in zip(fsdp["metrics"], ddp["metrics"]):
        for key in ("loss", "grad_norm"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-5), (ours["step"], key)
        assert (ours["tokens"], ours["label_tokens"]) == (theirs["tokens"], theirs["label_tokens"])
    assert fsdp["metrics"][2]["loss"] < fsdp["metrics"][0]["loss"]

    # the same FSDP run without the dummy: the processes' gathers no longer pair up. gloo sees the
    # sizes differ and aborts ("collective mismatch"); NCCL on GPUs hangs. Either way: no run.
    broken = launch("accelerate_fsdp.yaml", [*common, "--output", str(tmp_path / "broken")], timeout=240,
                    idle_towers=False)
    assert broken.returncode != 0
    assert broken.returncode is None or "mismatch" in broken.stderr or "Connection" in broken.stderr
