"""A clip that stops decoding mid-run costs one sample, not the run (training/bad_samples.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.problems import Problem
from omni_bench.training.bad_samples import PROBLEMS_FILE, SkippingDataset, read_problems, truncate_problems

ROOT = Path(__file__).resolve().parent.parent


class _Planned:
    def __init__(self, record_id):
        self.record = type("Record", (), {"id": record_id})()


class _Items:
    """Items 0..n-1; the ``bad`` ones raise as a clip that fails to decode does."""

    def __init__(self, n, bad):
        self.planned = [_Planned(f"r{i}") for i in range(n)]
        self.bad = set(bad)
        self.dropped = ["at-plan"]

    def __len__(self):
        return len(self.planned)

    def __getitem__(self, index):
        if index in self.bad:
            raise OmniBenchError(f"clip{index}.mp4: could not decode frame 3 (truncated?)", reason="truncated")
        return index


class _State:
    global_step = 6


class _Args:
    per_device_train_batch_size, gradient_accumulation_steps, world_size = 1, 1, 1


class _Trainer:
    state, args = _State(), _Args()


def test_a_failing_item_is_replaced_by_the_next_and_listed(tmp_path):
    data = SkippingDataset(_Items(5, bad={1, 2, 4}), output_dir=tmp_path, max_bad=10)
    data.trainer = _Trainer()
    assert [data[i] for i in range(5)] == [0, 3, 3, 3, 0]  # 1 -> 2 -> 3; 4 wraps to 0
    # resumed after step 6: the items served are those of steps 7, 8, ... (one item per step)
    assert [(r["record"], r["reason"], r["step"]) for r in data.skipped] == [
        ("r1", "truncated", 8), ("r2", "truncated", 8), ("r2", "truncated", 9), ("r4", "truncated", 11)]
    assert read_problems(tmp_path) == data.skipped
    assert data.skipped[0]["message"] == "clip1.mp4: could not decode frame 3 (truncated?)"  # names the file
    assert data.dropped == ["at-plan"] and len(data) == 5  # the wrapped dataset's attributes
    assert str(data.problems()[0]) == "r1: skipped at step 8: clip1.mp4: could not decode frame 3 (truncated?)"


def test_the_bound_stops_a_run_whose_data_is_broken(tmp_path):
    data = SkippingDataset(_Items(4, bad={0, 1, 2}), output_dir=tmp_path, max_bad=1)
    with pytest.raises(OmniBenchError, match=r"2 samples failed to decode .*--max-bad-samples 1") as caught:
        data[0]
    assert caught.value.reason == "too-many-bad"
    everything = SkippingDataset(_Items(2, bad={0, 1}), output_dir=None, max_bad=5)
    with pytest.raises(OmniBenchError, match="every sample failed"):
        everything[0]


def test_resume_keeps_the_skips_up_to_the_checkpoint_and_counts_them(tmp_path):
    rows = [{"step": s, "record": f"r{s}", "reason": "truncated", "message": "m"} for s in (2, 5, 9)]
    (tmp_path / PROBLEMS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 1')
    truncate_problems(tmp_path, 5)  # a torn last line and the rows past checkpoint-5 go
    assert [r["step"] for r in read_problems(tmp_path)] == [2, 5]
    data = SkippingDataset(_Items(3, bad={1}), output_dir=tmp_path, max_bad=2)
    with pytest.raises(OmniBenchError, match="3 samples failed"):  # the two recorded ones count
        data[1]


def _damage_after_the_gate(path: Path):
    """A callback that truncates ``path`` when training starts: the gate probed it whole, the decode meets it
    cut (a file replaced or damaged while the run goes on)."""
    from transformers import TrainerCallback

    class Damage(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            data = path.read_bytes()
            path.write_bytes(data[:3000])

    return Damage()


@pytest.mark.slow  # trains 4 tiny steps
def test_train_completes_and_lists_the_damaged_clip(tmp_path):
    from omni_bench._torchvision import ensure_torchvision

    ensure_torchvision()
    from omni_bench.training.config import TrainConfig
    from omni_bench.training.run import train

    shutil.copytree(ROOT / "data" / "clips", tmp_path / "clips")
    records = json.loads((ROOT / "data" / "longvale_sft.json").read_text())
    damaged = records[1]
    (tmp_path / "data.json").write_text(json.dumps(records))
    config = TrainConfig(tiny=True, data=str(tmp_path / "data.json"), media_root=str(tmp_path), frames=4,
                         resize=(56, 56), max_steps=4, save_steps=100, logging_steps=1, output=str(tmp_path / "run"),
                         progress=False)
    result = train(config, callbacks=[_damage_after_the_gate(tmp_path / damaged["video"])])
    assert result.steps == 4 and all(row["loss"] == row["loss"] for row in result.metrics)
    dropped = result.to_dict()["dropped"]  # what --json prints
    assert dropped and {d["source"] for d in dropped} == {damaged["id"]}
    assert all(d["reason"] == "truncated" and "skipped at step" in d["message"] for d in dropped), dropped
    rows = read_problems(tmp_path / "run")
    assert [r["record"] for r in rows] == [damaged["id"]] * len(dropped)
    assert all(1 <= r["step"] <= 4 for r in rows)
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").is_file()


def test_report_lists_the_skips_and_the_stop(tmp_path):
    from omni_bench.training.run_report import read_run, run_report_text

    (tmp_path / "config.json").write_text(json.dumps({"data": "d.json", "frames": 4, "tiny": True}))
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 2.5, "learning_rate": 1e-4}) + "\n")
    row = {"step": 1, "record": "kitchen_talk", "reason": "truncated", "message": "clip.mkv: could not decode"}
    (tmp_path / PROBLEMS_FILE).write_text(json.dumps(row) + "\n")
    (tmp_path / "stopped.json").write_text(json.dumps({"signal": "SIGTERM", "step": 1, "resume": "omni-bench train"
                                                       " --config x/config.json --resume"}))
    text = run_report_text(read_run(tmp_path))
    assert "skipped at step 1: kitchen_talk [truncated] clip.mkv: could not decode" in text
    assert "stopped by SIGTERM after step 1; resume with: omni-bench train --config x/config.json --resume" in text


def test_a_record_dropped_by_the_gate_on_resume_fails_in_place(tmp_path):
    first = SkippingDataset(_Items(4, bad={2}), output_dir=tmp_path, max_bad=10)
    assert [first[i] for i in range(4)] == [0, 1, 3, 3]
    assert first.plan == ["r0", "r1", "r2", "r3"]  # what each checkpoint records (training/checkpoint.py)
    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-2" / "planned.json").write_text(json.dumps(first.plan))
    # on resume the gate drops r2 at planning: the wrapped dataset is one item shorter
    shorter = _Items(3, bad=set())
    shorter.planned = [_Planned(name) for name in ("r0", "r1", "r3")]
    shorter.dropped = [Problem("r2", "truncated", "clip2.mp4: could not decode frame 0")]
    resumed = SkippingDataset(shorter, output_dir=tmp_path, max_bad=10, resumed_from=tmp_path / "checkpoint-2")
    assert len(resumed) == 4 and [resumed[i] for i in range(4)] == [0, 1, 2, 2]  # r0, r1, r3 in place of r2, r3
    assert [(r["record"], r["reason"]) for r in resumed.skipped[1:]] == [("r2", "truncated")]


@pytest.mark.slow  # trains 4 + 2 + 2 tiny steps
def test_resume_after_a_damaged_clip_equals_the_uninterrupted_run(tmp_path):
    from omni_bench._torchvision import ensure_torchvision

    ensure_torchvision()
    from omni_bench.training.config import TrainConfig
    from omni_bench.training.run import train

    records = json.loads((ROOT / "data" / "longvale_sft.json").read_text())
    damaged = records[1]

    def config(name: str, steps: int) -> TrainConfig:
        root = tmp_path / name
        if not (root / "clips").exists():
            shutil.copytree(ROOT / "data" / "clips", root / "clips")
            (root / "data.json").write_text(json.dumps(records))
        # constant learning rate: the stopped run's --max-steps 2 does not change the schedule
        return TrainConfig(tiny=True, data=str(root / "data.json"), media_root=str(root), frames=4, resize=(56, 56),
                           max_steps=steps, save_steps=2, logging_steps=1, lr_scheduler="constant",
                           learning_rate=1e-3, output=str(root / "run"), progress=False)

    whole = train(config("whole", 4), callbacks=[_damage_after_the_gate(tmp_path / "whole" / damaged["video"])])
    first = train(config("parts", 2), callbacks=[_damage_after_the_gate(tmp_path / "parts" / damaged["video"])])
    assert first.steps == 2
    # the clip is damaged now: the gate drops its record at planning; planned.json keeps the items in place
    resumed = train(config("parts", 4).replace(resume=True))
    assert resumed.resumed_from.name == "checkpoint-2"
    assert json.loads((resumed.resumed_from / "planned.json").read_text()) == [r["id"] for r in records]
    assert damaged["id"] in {d.source for d in resumed.dropped}
    assert [r["step"] for r in resumed.metrics] == [1, 2, 3, 4]
    for ours, theirs in zip(resumed.metrics, whole.metrics):
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-6), ours["step"]
        assert (ours["tokens"], ours["label_tokens"]) == (theirs["tokens"], theirs["label_tokens"])
    assert [(r["step"], r["record"]) for r in read_problems(tmp_path / "parts" / "run")] == \
        [(r["step"], r["record"]) for r in read_problems(tmp_path / "whole" / "run")]
