"""The grounding evaluation views (widgets/eval_views.py), headless, on a hand-made log.

The log: two videos, four events. IoUs by hand (shares of the video, LongVALE's rounding):
* v1 event 0, true 0-2 s of 10 s = (0.0, 0.2), answer "From 00 to 20." -> 1.00
* v1 event 1, true 2-10 s = (0.2, 1.0), answer "From 20 to 60." -> 0.4 / 0.8 = 0.50
* v2 event 0, true 0-3 s of 6 s = (0.0, 0.5), answer "From 50 to 75." -> 0 / 0.75 = 0.00
* v2 event 1, true 3-6 s = (0.5, 1.0), answer "no idea" -> unparseable, 0.00
mIoU = (1 + 0.5 + 0 + 0) / 4 = 37.5.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("ipywidgets")

from omni_bench import score
from omni_bench_widgets import eval_views as ev

ANNOTATIONS = {
    "v1": {"duration": 10.0, "timestamps": [[0.0, 2.0], [2.0, 10.0]], "sentences": ["A door opens.", "A dog runs."]},
    "v2": {"duration": 6.0, "timestamps": [[0.0, 3.0], [3.0, 6.0]], "sentences": ["Rain falls.", "The sun sets."]},
}
ANSWERS = [("v1", 0, "From 00 to 20."), ("v1", 1, "From 20 to 60."), ("v2", 0, "From 50 to 75."), ("v2", 1, "no idea")]


@pytest.fixture
def rows(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"video_id": v, "task": "grounding", "query_id": 0, "answer": a,
                                       "info": {"sentence_id": s}}) + "\n" for v, s, a in ANSWERS))
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(ANNOTATIONS))
    return ev.grounding_rows(log, ann)


def test_rows_from_a_log_equal_the_hand_computed_ious(rows):
    assert [(r.video_id, r.sentence_id, r.iou) for r in rows] == [("v1", 0, 1.0), ("v1", 1, 0.5), ("v2", 0, 0.0),
                                                                   ("v2", 1, 0.0)]
    assert rows[3].predicted is None


def test_scores_and_rows_give_the_same_rows(rows, tmp_path):
    scores = score(tmp_path / "log.jsonl", tmp_path / "ann.json", task="grounding")
    assert ev.grounding_rows(scores) == rows == ev.grounding_rows(list(rows))


def test_table_text_lists_every_query_with_its_spans(rows):
    lines = ev.render_grounding_table_text(rows).splitlines()
    assert lines[0].split() == ["video", "ev", "query", "true", "pred", "IoU"]
    assert lines[1].split() == ["v1", "0", "A", "door", "opens.", "00-20", "00-20", "1.00"]
    assert lines[2].split() == ["v1", "1", "A", "dog", "runs.", "20-100", "20-60", "0.50"]
    assert lines[4].split() == ["v2", "1", "The", "sun", "sets.", "50-100", "-", "0.00"]
    assert lines[-1] == "4 queries · mIoU 37.5 · unparseable 1"
    html = ev.grounding_table_html(rows)
    assert html.count("<tr") == 5 and "title='no idea'" in html


def test_histogram_counts_and_text_twin(rows):
    assert ev.iou_counts(rows).tolist() == [2, 0, 0, 0, 0, 1, 0, 0, 0, 1]  # 0, 0, 0.5, 1.0 (1.0 in the last bin)
    text = ev.render_iou_histogram_text(rows).splitlines()
    assert len(text) == 10 and text[0].endswith("  2") and text[5].endswith("  1") and text[9].endswith("  1")
    fig = ev.draw_iou_histogram(rows)
    bars = [p.get_height() for p in fig.axes[0].patches]
    assert bars == [2, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert [line.get_xdata()[0] for line in fig.axes[0].lines] == [0.3, 0.5, 0.7]


def test_timelines_draw_true_and_predicted_spans_where_they_are(rows):
    fig = ev.draw_span_timelines(rows)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["v1", "v2"]
    patches = {p.get_gid(): (round(p.get_x(), 6), round(p.get_x() + p.get_width(), 6))
               for ax in fig.axes for p in ax.patches}
    assert patches == {"true-v1-0": (0.0, 0.2), "pred-v1-0": (0.0, 0.2), "true-v1-1": (0.2, 1.0),
                       "pred-v1-1": (0.2, 0.6), "true-v2-0": (0.0, 0.5), "pred-v2-0": (0.5, 0.75),
                       "true-v2-1": (0.5, 1.0)}  # the unparseable answer has no bar, a "?" instead
    assert [t.get_text() for t in fig.axes[1].texts] == ["?"]


def test_timelines_text_twin_puts_bars_at_the_spans(rows):
    lines = ev.render_span_timelines_text(rows).splitlines()
    assert lines[0] == "v1"
    assert lines[1] == "   0 true |" + "=" * 10 + " " * 40 + "| 00-20"
    assert lines[4] == "     pred |" + " " * 10 + "=" * 20 + " " * 20 + "| 20-60  IoU 0.50"
    assert lines[-1] == "     pred |" + " " * 50 + "| -  IoU 0.00"


def test_show_eval_headless(rows):
    ui = ev.show_eval(rows, title="hand-made", display=False)
    assert ui["view"].summary() == "hand-made: 4 queries · mIoU 37.5 · unparseable 1"
    assert ui["widget"]._repr_mimebundle_()["text/plain"] == ui["view"].summary()
    assert len(ui["controls"]["tabs"].children) == 3
    assert ui["view"].text().startswith(ev.render_grounding_table_text(rows))


def test_empty_rows_say_so():
    assert ev.render_grounding_table_text([]) == "no grounding answers"
    assert ev.render_iou_histogram_text([]) == "no grounding answers"
    assert ev.EvalView([]).summary() == "grounding: no answers"


# --------------------------------------------------------------------------- training curves

METRICS = [{"step": s, "loss": 12.0 - s, "learning_rate": 1e-3, "grad_norm": 1.0} for s in (1, 2, 3, 4)]


def test_loss_panel_has_raw_smoothed_and_the_untrained_reference():
    import math

    from omni_bench_widgets.dashboard import draw_metrics

    fig = draw_metrics(METRICS, smoothing=0.6, vocab_size=152064)
    loss = fig.axes[0]
    labels = [t.get_text() for t in loss.get_legend().get_texts()]
    assert labels == ["raw", "smoothed (EMA 0.6)", "ln(V) = 11.93 (untrained)"]
    assert loss.lines[2].get_ydata()[0] == pytest.approx(math.log(152064))
    ticks = loss.xaxis.get_major_locator()()
    assert all(float(t).is_integer() for t in ticks)
    assert [t.get_text() for t in fig.axes[3].texts] == ["not logged yet"]  # no peak_mib in these rows


def test_one_row_is_drawn_as_a_point_not_an_empty_panel():
    from omni_bench_widgets.dashboard import draw_metrics

    fig = draw_metrics(METRICS[:1], smoothing=0.6)
    loss = fig.axes[0]
    assert loss.lines[0].get_marker() == "o" and list(loss.lines[0].get_ydata()) == [11.0]
    assert loss.get_xlim() == (0.0, 2.0)


def test_run_folder_pngs_name_raw_smoothed_and_ln_v(tmp_path):
    from omni_bench_widgets.plots import plot_metrics

    paths = plot_metrics(METRICS, tmp_path, vocab_size=152064)
    assert sorted(paths) == ["grad_norm", "learning_rate", "loss"] and paths["loss"].stat().st_size > 0
