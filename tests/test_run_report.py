"""A training run as one self-contained report: ``omni-bench report RUN_DIR --html FILE [--md FILE]``.

One 3-step tiny run (the closed-loop recipe's data: data/longvale_grounding.json, 4 frames at
56x56, no audio) is trained into a temporary folder; its report must inline every figure
(nothing fetched), carry every number of its ``metrics.jsonl`` as the file writes it, score an
answer log beside it with the real scorer, and refuse a folder that is not a run in one line.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
from pathlib import Path

import pytest

from omni_bench import OmniBenchError, read_run, write_run_report
from omni_bench.cli import main
from omni_bench.eval.score import score
from omni_bench.training.config import TrainConfig
from omni_bench.training.metrics import read_metrics
from omni_bench.training.run import train
from omni_bench.training.run_report import run_report_text
from omni_bench_widgets import run_figures

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "longvale_grounding.json"
CLIPS = ROOT / "data" / "clips"
PNG = b"\x89PNG\r\n\x1a\n"
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
# street_market (8.0 s): events 0-2.4, 2.4-5.6, 5.6-8.0 s; LongVALE's two digits are percent of the video
ANSWERS = [{"video_id": "street_market", "task": "grounding", "query_id": 0, "answer": "From 00 to 30.",
            "info": {"sentence_id": 0}},
           {"video_id": "street_market", "task": "grounding", "query_id": 0, "answer": "From 70 to 85.",
            "info": {"sentence_id": 2}}]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run") / "tiny"
    train(TrainConfig(tiny=True, data=str(DATA), media_root=str(CLIPS), task="grounding", frames=4,
                      resize=(56, 56), use_audio=False, max_steps=3, logging_steps=1, save_steps=3,
                      output=str(folder), progress=False))
    return folder


def _raw_rows(run_dir: Path) -> list[dict]:
    """metrics.jsonl with every number kept as the text the file holds."""
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line, parse_float=str, parse_int=str) for line in lines if line.strip()]


def _html_rows(page: str) -> list[list[str]]:
    table = page.split("<h2>Metrics (metrics.jsonl)</h2>")[1]
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(<td>.*?)</tr>", table)]


def test_html_is_self_contained_and_draws_the_curves(run_dir, tmp_path):
    out = tmp_path / "run.html"
    assert main(["report", str(run_dir), "--html", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and not EXTERNAL.search(page)
    assert "<script" not in page and "<link" not in page and "url(" not in page
    sources = re.findall(r"<img[^>]*src='([^']*)'", page)
    assert len(sources) == 3  # loss, grad norm, learning rate
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert captions[0].startswith("training loss per step: raw and smoothed (EMA 0.6), ln(V) dashed")
    assert captions[1].startswith("grad norm per step")


def test_report_carries_the_metrics_file_exactly(run_dir, tmp_path):
    html_file, md_file = tmp_path / "run.html", tmp_path / "run.md"
    write_run_report(run_dir, html_path=html_file, md_path=md_file, figures=run_figures)
    page, markdown = html_file.read_text(encoding="utf-8"), md_file.read_text(encoding="utf-8")
    raw = _raw_rows(run_dir)
    assert len(raw) == 3 and [r["step"] for r in raw] == ["1", "2", "3"]
    columns = ("step", "loss", "grad_norm", "learning_rate", "tokens", "label_tokens", "peak_mib", "epoch")
    expected = [[r[k] for k in columns] for r in raw]
    assert _html_rows(page) == expected
    for row in expected:
        assert "| " + " | ".join(row) + " |" in markdown
    assert not EXTERNAL.search(markdown) and "](http" not in markdown
    assert len(re.findall(r"!\[[^\]]*\]\(data:image/png;base64,", markdown)) == 3
    last = raw[-1]
    final = (f"final (step 3): loss {last['loss']}, grad_norm {last['grad_norm']}, learning_rate "
             f"{last['learning_rate']}, tokens {last['tokens']}, label_tokens {last['label_tokens']}, "
             f"peak_mib {last['peak_mib']}, epoch {last['epoch']}")
    assert f"<p>{final}</p>" in page and f"- {final}" in markdown
    # ln(V) of the profile's LM head (152,064 rows for Qwen2.5-Omni), and the config as config.json holds it
    assert f"ln(V) = {math.log(152064):.4f} (V = 152,064)" in page
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    assert f"<tr><td>max_steps</td><td>{config['max_steps']}</td></tr>" in page
    assert f"<tr><td>data</td><td>&quot;{DATA}&quot;</td></tr>" in page
    tokens = sum(int(r["tokens"]) for r in raw)
    assert f"seen in the logged steps: {tokens:,} tokens" in page
    assert "adapter: written; checkpoints: checkpoint-3" in page


def test_an_answer_log_beside_the_run_is_scored(run_dir, tmp_path):
    folder = tmp_path / "with-eval"
    shutil.copytree(run_dir, folder)
    assert "no answer log beside the run" in run_report_text(read_run(folder))
    (folder / "eval.jsonl").write_text("".join(json.dumps(e) + "\n" for e in ANSWERS), encoding="utf-8")
    record = read_run(folder)  # scored against the run's own data file (LongVALE annotations)
    expected = score(str(folder / "eval.jsonl"), str(DATA))
    assert record.scores == expected
    # event 0 exactly (IoU 1), event 2 half (5.6-6.8 s of 5.6-8.0 s): mIoU 75, R1@0.5 100, R1@0.7 50
    assert expected["grounding"] == pytest.approx({"mIoU": 75.0, "R1@0.3": 100.0, "R1@0.5": 100.0, "R1@0.7": 50.0})
    out = tmp_path / "eval.html"
    write_run_report(folder, html_path=out)
    page = out.read_text(encoding="utf-8")
    assert "grounding           2 answers  mIoU 75.00  R1@0.3 100.00  R1@0.5 100.00  R1@0.7 50.00" in page
    # an explicit log elsewhere, with annotations that are not LongVALE's: one line
    with pytest.raises(OmniBenchError, match=r"^.*longvale_sft\.json"):
        read_run(folder, annotations=ROOT / "data" / "longvale_sft.json")


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "nowhere", r"nowhere: run folder not found$"),
    (lambda p: (p / "file.txt").write_text("x") and p / "file.txt", r"file\.txt: not a folder"),
    (lambda p: p, r"not a training run: it has no config\.json"),
    (lambda p: (p / "config.json").write_text("{}") and p, r"not a training run: it has no metrics\.jsonl"),
    (lambda p: (p / "config.json").write_text("{no json") and p, r"config\.json: not valid JSON"),
    (lambda p: ((p / "config.json").write_text("{}") and (p / "metrics.jsonl").mkdir()) or p,
     r"metrics\.jsonl: cannot read the metrics file"),
    (lambda p: (p / "config.json").write_text("{}") and (p / "metrics.jsonl").write_text(
        '{"step": 1, "loss": 2.5}\n{"step": 2, "loss": "nan?"}\n') and p, r"step 2: loss is not a number \('nan\?'\)"),
])
def test_bad_run_dir_is_one_line_and_exit_2(tmp_path, capsys, make, message):
    path = make(tmp_path)
    with pytest.raises(OmniBenchError, match=message):
        read_run(path)
    assert main(["report", str(path), "--html", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"omni-bench: error: {path}")
    assert not (tmp_path / "r.html").exists()


def test_bad_report_file_is_refused_before_reading(run_dir, tmp_path, capsys):
    assert main(["report", str(run_dir), "--html", str(tmp_path / "missing" / "r.html")]) == 2
    assert "folder" in capsys.readouterr().err and not (tmp_path / "missing").exists()
    assert main(["report", str(run_dir)]) == 0  # no file: the text form
    assert capsys.readouterr().out.startswith("training run tiny (tiny qwen2.5-omni-7b, 3 steps)")
    assert main(["report", str(run_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["metrics"] == read_metrics(run_dir) and data["scores"] is None and data["eval_log"] is None


def test_the_loss_curve_has_raw_smoothed_ln_v_and_whole_steps(run_dir):
    from omni_bench_widgets.plots import metric_figure

    rows = read_metrics(run_dir)
    fig = metric_figure(rows, "loss", vocab_size=152064)
    ax = fig.axes[0]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["raw", "smoothed (EMA 0.6)", f"ln(V) = {math.log(152064):.2f} (untrained)"]
    raw, _, reference = ax.lines
    assert list(raw.get_xdata()) == [1, 2, 3] and list(raw.get_ydata()) == [r["loss"] for r in rows]
    assert list(reference.get_ydata()) == [math.log(152064)] * 2
    ticks = ax.xaxis.get_major_locator().tick_values(*ax.get_xlim())
    assert all(float(t).is_integer() for t in ticks)
    grad = metric_figure(rows, "grad_norm").axes[0]
    assert list(grad.lines[0].get_ydata()) == [r["grad_norm"] for r in rows] and grad.get_xlabel() == "step"
