"""A DPO run's records carry trl's names: the dashboard's text twin and figure, ``omni-bench report``.

A run folder is written by hand (config.json, metrics.jsonl with trl's rewards/* and logps/*), so
these checks need no training."""

from __future__ import annotations

import json

from omni_bench import read_run
from omni_bench.training.config import TrainConfig
from omni_bench.training.run_report import run_report_text
from omni_bench_widgets.dashboard import PREFERENCE_PANELS, draw_metrics, render_dashboard_text

ROWS = [{"step": 1, "loss": 0.6931, "learning_rate": 1e-4, "grad_norm": 0.3, "tokens": 584, "label_tokens": 20,
         "peak_mib": 1044.0, "epoch": 0.5, "rewards/chosen": 0.0, "rewards/rejected": 0.0, "rewards/margins": 0.0,
         "rewards/accuracies": 0.0, "logps/chosen": -119.4, "logps/rejected": -119.9},
        {"step": 2, "loss": 0.61, "learning_rate": 5e-5, "grad_norm": 0.4, "tokens": 748, "label_tokens": 14,
         "peak_mib": 1044.0, "epoch": 1.0, "rewards/chosen": 0.12, "rewards/rejected": -0.05,
         "rewards/margins": 0.17, "rewards/accuracies": 1.0, "logps/chosen": -47.3, "logps/rejected": -119.3}]


def test_dashboard_text_and_figure_show_the_rewards():
    text = render_dashboard_text(ROWS)
    assert text.endswith("reward margin 0.1700 · reward accuracy 1.00")
    assert "reward" not in render_dashboard_text([{k: v for k, v in r.items() if "/" not in k} for r in ROWS])
    assert [ax.get_title(loc="left") for ax in draw_metrics(ROWS).axes] == list(PREFERENCE_PANELS)


def test_report_lists_trls_metrics(tmp_path):
    config = TrainConfig(method="dpo", tiny=True, data=str(tmp_path / "pairs.json"), output=str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    text = run_report_text(read_run(tmp_path))
    line = next(line for line in text.splitlines() if "preference" in line)
    assert "rewards/margins 0.17" in line and "rewards/accuracies 1" in line and "logps/rejected -119.3" in line
