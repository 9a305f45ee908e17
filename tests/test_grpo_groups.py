"""The GRPO group view (issue 23 item 7): a run writes the groups it sampled (groups.jsonl), the view draws
one, and its text twin lists the G completions with the rewards that rewards.py gives those answers and the
group-normalised advantages the loss used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from omni_bench import read_groups, render_group_text
from omni_bench.training.groups import GROUPS_FILE, group_record
from omni_bench.training.rewards import completion_spans, resolve_rewards

ROOT = Path(__file__).resolve().parent.parent
REWARD = '''
def spread(completions, targets, durations, **kwargs):
    """A reward that differs between completions: the share of distinct characters."""
    return [len(set(c)) / (len(c) + 1) for c in completions]
'''


def test_group_record_twin_and_reader(tmp_path):
    """Spans read by the rewards' parser, the truth in seconds, the twin's rows, the reader's last-line rule."""
    completions = ["From 20 to 50.", "From 60 to 90.", "From 90 to 10.", "no idea"]
    group = group_record(step=3, index=0, record="v1", video="clips/v1.mkv", question="When?", duration=10.0,
                         task="grounding", target="From 20 to 50.", completions=completions,
                         rewards={"grounding_iou": [1.0, 0.0, 0.0, 0.0], "format": [1.0, 1.0, 1.0, 0.0]},
                         advantages=[1.3, 0.1, 0.1, -1.5], lengths=[8, 8, 8, 4], truncated=[False] * 4)
    assert group.true_spans == ((2.0, 5.0),)
    assert group.spans == (((0.2, 0.5),), ((0.6, 0.9),), ((0.9, 0.1),), None)  # reversed kept, as the scorer does
    assert group.reward == (2.0, 1.0, 1.0, 0.0)
    text = render_group_text(group)
    rows = [line.split() for line in text.splitlines()[4:-1]]
    assert [r[0] for r in rows] == ["0", "1", "2", "3"]
    assert rows[0][-4:] == ["1.0000", "1.0000", "2.0000", "+1.3000"]
    assert "2.0-5.0 s" in text.splitlines()[2] and "9.0-1.0 s" in text and rows[3][3] == "-"
    (tmp_path / GROUPS_FILE).write_text("".join(json.dumps(g.to_dict()) + "\n" for g in (
        group, group_record(**{**_fields(group), "advantages": [0.0] * 4}))) + "{half")
    assert read_groups(tmp_path) == [group_record(**{**_fields(group), "advantages": [0.0] * 4})]  # last line wins


def _fields(group) -> dict:
    return dict(step=group.step, index=group.index, record=group.record, video=group.video,
                question=group.question, duration=group.duration, task=group.task, target=group.target,
                completions=list(group.completions), rewards=group.rewards, advantages=list(group.advantages),
                lengths=list(group.lengths), truncated=list(group.truncated))


def test_the_view_draws_the_group():
    pytest.importorskip("matplotlib")
    from omni_bench_widgets import draw_grpo_group

    group = group_record(step=1, index=0, record="v1", video="v1.mkv", question="When?", duration=10.0,
                         task="grounding", target="From 20 to 50.", completions=["From 20 to 50.", "soon"],
                         rewards={"grounding_iou": [1.0, 0.0]}, advantages=[0.7, -0.7], lengths=[8, 2],
                         truncated=[False, True])
    fig = draw_grpo_group(group)
    patches = {p.get_gid(): p for p in fig.axes[0].patches}
    assert set(patches) == {"true-0", "rollout-0-0"}  # the unparseable completion has no bar
    assert patches["true-0"].get_x() == 2.0 and patches["rollout-0-0"].get_width() == pytest.approx(3.0)
    assert fig._repr_png_().startswith(b"\x89PNG")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["0: r 1.00  A +0.70", "1: r 0.00  A -0.70"]


@pytest.mark.slow
def test_a_grpo_run_records_its_groups(tmp_path, monkeypatch):
    """A tiny 2-step GRPO run (logging every step): one group per step whose rewards are rewards.py's on the
    recorded answers and whose advantages are trl's group-normalised values; metrics.jsonl's step means agree;
    the report prints the twin; the view draws it."""
    from omni_bench.training.config import GRPOSettings
    from omni_bench.training.grpo import group_advantages
    from omni_bench.training.run import TrainConfig, train
    from omni_bench.training.run_report import read_run, run_report_text

    (tmp_path / "group_reward.py").write_text(REWARD)
    monkeypatch.syspath_prepend(str(tmp_path))
    names = ("grounding_iou", "format", "group_reward:spread")
    G = 4
    out = tmp_path / "run"
    result = train(TrainConfig(method="grpo", tiny=True, data=str(ROOT / "data" / "longvale_grounding.json"),
                               media_root=str(ROOT / "data" / "clips"), task="grounding", frames=4, resize=(56, 56),
                               max_steps=2, logging_steps=1, save_steps=100, progress=False, output=str(out),
                               grpo=GRPOSettings(num_generations=G, max_completion_length=6,
                                                 reward_funcs=",".join(names))))
    groups = read_groups(out)
    assert [(g.step, g.index) for g in groups] == [(1, 0), (2, 0)]
    functions = resolve_rewards(list(names))
    for group, row in zip(groups, result.metrics, strict=True):
        assert group.num_generations == G and len(group.reward) == G and group.video.endswith(".mkv")
        targets, durations = [group.target] * G, [group.duration] * G
        for f in functions:  # the rewards of the recorded answers, recomputed: equal to what the step used
            assert list(group.rewards[f.reward_name]) == pytest.approx(
                f(list(group.completions), targets, durations, task="grounding"), abs=1e-6)
        expected, _ = group_advantages(torch.tensor(group.reward), G, "group")
        assert list(group.advantages) == pytest.approx(expected.tolist(), abs=1e-5)
        assert group.spans == tuple(None if (s := completion_spans(c, group.duration)) is None else tuple(s)
                                    for c in group.completions)
        assert row["step"] == group.step and row["reward"] == pytest.approx(sum(group.reward) / G, abs=1e-5)
        assert len(set(group.reward)) > 1  # the spread reward tells the completions apart
        assert len(group.true_spans) == 1 and 0 <= group.true_spans[0][0] < group.true_spans[0][1] <= group.duration
    report = run_report_text(read_run(out))
    assert f"## GRPO groups of step 2 ({GROUPS_FILE})" in report and render_group_text(groups[-1]) in report
    pytest.importorskip("matplotlib")
    from omni_bench_widgets import draw_grpo_group

    fig = draw_grpo_group(out)  # a run folder: its last group
    assert "step 2" in fig.axes[0].get_title(loc="left") and fig._repr_png_().startswith(b"\x89PNG")
    from omni_bench_widgets import show_dashboard

    ui = show_dashboard(out, display=False)  # the live dashboard shows the last group under the curves
    assert ui["view"].last_group() == groups[-1]
    assert len(ui["widget"].children) == 4 and bytes(ui["widget"].children[-1].value).startswith(b"\x89PNG")
