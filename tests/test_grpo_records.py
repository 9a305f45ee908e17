"""A GRPO run's records carry trl's names: the dashboard's text twin and figure, ``omni-bench report``.

A run folder is written by hand (config.json, metrics.jsonl with trl's GRPO metrics and the parity
audit), so these checks need no training."""

from __future__ import annotations

import json

from omni_bench import read_run
from omni_bench.training.config import TrainConfig
from omni_bench.training.run_report import run_report_text
from omni_bench_widgets.dashboard import GRPO_PANELS, draw_metrics, render_dashboard_text

ROWS = [{"step": 1, "loss": 0.0, "learning_rate": 1e-4, "grad_norm": 0.02, "tokens": 354, "label_tokens": 0,
         "peak_mib": 1109.5, "epoch": 0.33, "reward": 0.12, "reward_std": 0.2, "rewards/grounding_iou/mean": 0.12,
         "frac_reward_zero_std": 0.0, "completions/mean_length": 7.5, "completions/clipped_ratio": 0.25,
         "clip_ratio": 0.0, "entropy": 11.9, "format_failure_rate": 0.5, "degenerate_rate": 0.25,
         "parity/checked": 30.0, "parity/position_ids_equal": 1.0, "parity/max_logprob_diff": 9.5e-07},
        {"step": 2, "loss": -0.01, "learning_rate": 5e-5, "grad_norm": 0.03, "tokens": 354, "label_tokens": 0,
         "peak_mib": 1109.5, "epoch": 0.67, "reward": 0.31, "reward_std": 0.25, "rewards/grounding_iou/mean": 0.31,
         "frac_reward_zero_std": 0.0, "completions/mean_length": 6.0, "completions/clipped_ratio": 0.0,
         "clip_ratio": 0.0, "entropy": 10.2, "format_failure_rate": 0.25, "degenerate_rate": 0.0,
         "parity/checked": 24.0, "parity/position_ids_equal": 1.0, "parity/max_logprob_diff": 4.8e-07}]


def test_dashboard_text_and_figure_show_the_group_rewards():
    text = render_dashboard_text(ROWS)
    assert text.endswith("reward 0.3100 · reward std 0.2500 · format failures 0.25")
    assert "reward" not in render_dashboard_text([{k: v for k, v in r.items() if "reward" not in k} for r in ROWS])
    assert [ax.get_title(loc="left") for ax in draw_metrics(ROWS).axes] == list(GRPO_PANELS)


def test_report_lists_trls_metrics(tmp_path):
    config = TrainConfig(method="grpo", tiny=True, data=str(tmp_path / "records.json"), output=str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    text = run_report_text(read_run(tmp_path))
    line = next(line for line in text.splitlines() if line.startswith("GRPO"))
    for part in ("reward 0.31", "rewards/grounding_iou/mean 0.31", "entropy 10.2", "format_failure_rate 0.25",
                 "parity/position_ids_equal 1", "completions/mean_length 6"):
        assert part in line, part
    assert not any(line.startswith("preference") for line in text.splitlines())
