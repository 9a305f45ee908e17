"""Paths that work from any folder: a run's ``config.json`` records absolute paths, so
``omni-bench train --config RUN/config.json`` resumes the same data from elsewhere (issue 25 item 5), and
``--media-root`` defaults to the data file's folder, so ``omni-bench validate data/longvale_sft.json`` run
from another folder finds the three bundled clips (issue 21). Older flat ``config.json`` files still read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omni_bench.cli import main
from omni_bench.training.config import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
SFT = ROOT / "data" / "longvale_sft.json"


def test_validate_from_another_folder_finds_the_clips(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # nothing of the repository here: the clips are found beside the file
    assert main(["validate", str(SFT), "--frames", "4", "--resize", "56x56", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["total"], report["valid"], report["problems"]) == (3, 3, [])


def test_validate_media_root_given_is_used(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(SFT), "--frames", "4", "--resize", "56x56", "--media-root", str(tmp_path),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] == 0 and {p["reason"] for p in report["problems"]} == {"missing"}


@pytest.mark.parametrize("name", ["train_tiny.json", "train_tiny_grounding.json", "train_omni_7b.json"])
def test_the_flat_recipes_and_older_run_configs_still_read(name):
    data = json.loads((ROOT / "configs" / name).read_text())
    config = TrainConfig.from_file(ROOT / "configs" / name)
    for key, value in data.items():  # every key of the flat file lands where it belongs
        held = getattr(config, key)
        assert (list(held) if isinstance(held, tuple) else held) == value, key
    assert config.to_dict() == TrainConfig.from_dict(config.to_dict()).to_dict()
    assert TrainConfig.from_dict({"tiny": True, "layout": {"frames": 4}, "dataset": {"data": "d.json"}}) == \
        TrainConfig(tiny=True, data="d.json", frames=4)  # the parts as objects read too


@pytest.mark.slow
def test_a_runs_config_resumes_the_same_data_from_another_folder(tmp_path, monkeypatch, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
    (first / "data").mkdir()
    data = first / "data" / "sft.json"  # a copy beside which the clips are not: --media-root names them
    data.write_text(SFT.read_text())
    monkeypatch.chdir(first)  # relative paths as a user types them
    assert main(["train", "--tiny", "--data", "data/sft.json", "--media-root", str(ROOT / "data"), "--frames", "4",
                 "--resize", "56x56", "--max-steps", "1", "--save-steps", "1", "--logging-steps", "1",
                 "--output", "runs/one", "--no-progress", "--json"]) == 0
    capsys.readouterr()
    run = first / "runs" / "one"
    record = json.loads((run / "config.json").read_text())
    assert (record["data"], record["media_root"], record["output"]) == (str(data), str(ROOT / "data"), str(run))
    monkeypatch.chdir(second)  # elsewhere: the run's own config, resumed for one more step
    assert main(["train", "--config", str(run / "config.json"), "--resume", "--max-steps", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["output_dir"] == str(run) and [row["step"] for row in result["metrics"]] == [1, 2]
    assert result["samples"] == 3 and result["dropped"] == []  # the same three records, their clips found
    assert list(second.iterdir()) == []  # nothing written where it ran from
    # a run written by an earlier version: relative paths, none of the settings added since; it still resumes
    older = {key: value for key, value in record.items() if key not in
             ("sampling", "audio_max_seconds", "time_format", "method", "init_adapter", "beta", "loss_type",
              "label_smoothing")}
    older.update(data="data/sft.json", output="runs/one")
    (run / "config.json").write_text(json.dumps(older))
    monkeypatch.chdir(first)
    assert main(["train", "--tiny", "--data", "data/sft.json", "--media-root", str(ROOT / "data"), "--frames", "4",
                 "--resize", "56x56", "--max-steps", "3", "--save-steps", "1", "--logging-steps", "1",
                 "--output", "runs/one", "--resume", "--no-progress", "--json"]) == 0
    assert [row["step"] for row in json.loads(capsys.readouterr().out)["metrics"]] == [1, 2, 3]
