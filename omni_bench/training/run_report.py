"""A training run folder as one self-contained report to keep and share: HTML (or Markdown).

:func:`read_run` reads what ``omni-bench train`` leaves in its run folder (``config.json``,
``metrics.jsonl``, ``adapter/``, ``checkpoint-N/``) and, when an answer log of
``omni-bench eval run`` sits beside it (``eval.jsonl`` in the folder, or ``--eval LOG``),
scores that log against the run's annotations (or ``annotations``). :func:`run_report_text`
is the text twin; :func:`run_report_html` / :func:`run_report_markdown` add the curves handed
in as PNG bytes (inlined as ``data:`` URIs, nothing outside the file). :func:`write_run_report`
draws the curves with ``omni_bench_widgets`` (loss raw and smoothed with ln(V), grad norm,
learning rate) and writes the files; ``omni-bench report RUN_DIR --html FILE`` ends there.

Numbers are printed as ``metrics.jsonl`` holds them (JSON's shortest round-trip form), so
the report carries the run's numbers exactly. Not covered: comparing several runs, live
runs (the report is what the folder holds when it is read).
"""

from __future__ import annotations

import html
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from omni_bench.core.errors import OmniBenchError
from omni_bench.training.config import ADAPTER_DIR

__all__ = ["RunRecord", "read_run", "run_report_text", "run_report_html", "run_report_markdown",
           "write_run_report", "EVAL_LOG"]

EVAL_LOG = "eval.jsonl"  # the answer log read when it sits in the run folder
_COLUMNS = ("step", "loss", "grad_norm", "learning_rate", "tokens", "label_tokens", "peak_mib", "epoch")
_MAX_ROWS = 60  # metric rows in the table at most: the first and last halves, the middle elided


@dataclass(frozen=True)
class RunRecord:
    """What a run folder holds, read once."""

    path: Path  # the run folder
    config: dict  # config.json: the resolved TrainConfig
    metrics: tuple[dict, ...]  # metrics.jsonl rows, in file order
    adapter: bool  # adapter/ was written (the run finished)
    checkpoints: tuple[str, ...]  # checkpoint-N folder names, oldest first
    vocab_size: int | None  # V of the ln(V) line: the profile's LM-head rows
    eval_log: Path | None = None  # the answer log beside the run
    scores: object = field(default=None, repr=False)  # its omni_bench.eval.score.Scores, when scored
    eval_note: str | None = None  # why the log was not scored
    skipped_lines: int = 0  # metrics.jsonl lines that were not JSON objects (left out)


def _bad(path, message: str, reason: str) -> OmniBenchError:
    return OmniBenchError(f"{path}: {message}", source=str(path), reason=reason)


def _metrics(folder: Path) -> tuple[tuple[dict, ...], int]:
    from omni_bench.training.metrics import METRICS_FILE, read_metrics_file

    try:
        rows, _, skipped = read_metrics_file(folder / METRICS_FILE)
    except OSError as exc:
        raise _bad(folder / METRICS_FILE, f"cannot read the metrics file ({exc.strerror})", "bad-log") from None
    rows = [r for r in rows if isinstance(r.get("step"), int) and not isinstance(r.get("step"), bool)]
    for row in rows:
        wrong = [k for k in _COLUMNS[1:] if row.get(k) is not None and not _is_number(row[k])]
        if wrong:
            raise _bad(folder / METRICS_FILE, f"step {row['step']}: {wrong[0]} is not a number ({row[wrong[0]]!r})",
                       "bad-log")
    if not rows:
        what = "has no metrics.jsonl" if not (folder / METRICS_FILE).is_file() else "has a metrics.jsonl without rows"
        raise _bad(folder, f"not a training run: it {what} (omni-bench train --output DIR writes one)", "not-a-run")
    return tuple(rows), skipped


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _vocab_size(config: dict) -> int | None:
    from omni_bench.core.profiles import DEFAULT_PROFILE, get_profile

    try:
        return int(get_profile(config.get("profile") or DEFAULT_PROFILE).vocab_size)
    except (OmniBenchError, AttributeError, TypeError, ValueError):
        return None


def read_run(run_dir, *, eval_log=None, annotations=None) -> RunRecord:
    """Read a run folder (and score its answer log); one-line :class:`OmniBenchError` when it is not a run."""
    folder = Path(os.fspath(run_dir))
    if not folder.exists():
        raise _bad(folder, "run folder not found", "missing")
    if not folder.is_dir():
        raise _bad(folder, "not a folder: pass the run folder of omni-bench train (--output DIR)", "not-a-run")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise _bad(folder, "not a training run: it has no config.json (omni-bench train --output DIR writes one)",
                   "not-a-run")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad(config_file, f"not valid JSON ({exc.__class__.__name__})", "bad-json") from None
    except OSError as exc:
        raise _bad(config_file, f"cannot read the run's config ({exc.strerror})", "unreadable") from None
    if not isinstance(config, dict):
        raise _bad(config_file, "not a JSON object (a run's resolved config)", "bad-json")
    metrics, skipped = _metrics(folder)
    checkpoints = sorted((p.name for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                         key=lambda name: int(name.split("-")[-1]))
    record = RunRecord(folder, config, metrics, (folder / ADAPTER_DIR).is_dir(), tuple(checkpoints),
                       _vocab_size(config), skipped_lines=skipped)
    return _with_eval(record, eval_log, annotations)


def _with_eval(record: RunRecord, eval_log, annotations) -> RunRecord:
    """The record with its answer log scored (an explicit log or annotations must be readable)."""
    from dataclasses import replace

    from omni_bench.eval.score import score

    log = Path(os.fspath(eval_log)) if eval_log is not None else record.path / EVAL_LOG
    if eval_log is None and not log.is_file():
        return record
    if not log.is_file():
        raise _bad(log, "answer log not found", "missing")
    truth = annotations if annotations is not None else record.config.get("data")
    if truth is None:
        return replace(record, eval_log=log, eval_note="not scored: pass --annotations ANN")
    try:
        return replace(record, eval_log=log, scores=score(str(log), str(truth)))
    except OmniBenchError as exc:
        if annotations is not None:
            raise
        return replace(record, eval_log=log, eval_note=f"not scored against the run's data ({exc}); "
                                                       "pass --annotations ANN")


# ---------------------------------------------------------------------------- text


def _value(value) -> str:
    """A metric as metrics.jsonl writes it: JSON's form (``10.827412605285645``, ``null`` as ``-``)."""
    return "-" if value is None else json.dumps(value)


def _config_items(config: dict) -> list[tuple[str, str]]:
    return [(key, json.dumps(value)) for key, value in config.items()]


def _data_lines(record: RunRecord) -> list[str]:
    c, rows = record.config, record.metrics
    tokens = sum(int(r.get("tokens") or 0) for r in rows)
    labels = sum(int(r.get("label_tokens") or 0) for r in rows)
    sampling = (f"frames {c['frames']}" if c.get("frames") else f"fps {c.get('fps')}") + \
        (f", resize {c['resize'][0]}x{c['resize'][1]}" if c.get("resize") else "")
    return [f"data: {c.get('data')} (task {c.get('task')}, format {c.get('data_format', 'auto')}"
            f"{', split turns' if c.get('split_turns') else ''}), media root {c.get('media_root')}",
            f"sampling: {sampling}, audio {'on' if c.get('use_audio', True) else 'off'}",
            f"seen in the logged steps: {tokens:,} tokens, {labels:,} labelled tokens, "
            f"epoch {_value(rows[-1].get('epoch'))} at step {rows[-1]['step']}"]


def _final_lines(record: RunRecord) -> list[str]:
    rows = record.metrics
    last = rows[-1]
    losses = [r for r in rows if r.get("loss") is not None]
    best = min(losses, key=lambda r: r["loss"]) if losses else None
    lines = [f"final (step {last['step']}): " + ", ".join(f"{k} {_value(last.get(k))}" for k in _COLUMNS[1:]
                                                         if k in last)]
    if best is not None:
        lines.append(f"lowest loss {_value(best['loss'])} at step {best['step']}; first {_value(losses[0]['loss'])}"
                     f" at step {losses[0]['step']}")
    if record.vocab_size:
        lines.append(f"ln(V) = {math.log(record.vocab_size):.4f} (V = {record.vocab_size:,}): "
                     "an untrained model's loss")
    if record.skipped_lines:
        lines.append(f"{record.skipped_lines} line(s) of metrics.jsonl were not JSON objects and are left out")
    lines.append(f"adapter: {'written' if record.adapter else 'not written (the run did not finish)'}; "
                 f"checkpoints: {', '.join(record.checkpoints) or 'none'}")
    return lines


def _eval_lines(record: RunRecord) -> list[str]:
    if record.eval_log is None:
        return [f"no answer log beside the run ({EVAL_LOG} in the folder, or --eval LOG)"]
    head = f"answer log: {record.eval_log}"
    if record.scores is None:
        return [head, record.eval_note or "not scored"]
    return [head, *str(record.scores).splitlines()]


def _table_rows(rows) -> list[list[str] | None]:
    """The metric rows as cells; None marks the elided middle of a long run."""
    cells = [[_value(r.get(k)) for k in _COLUMNS] for r in rows]
    if len(cells) <= _MAX_ROWS:
        return cells
    half = _MAX_ROWS // 2
    return [*cells[:half], None, *cells[-half:]]


def _title(record: RunRecord) -> str:
    c = record.config
    model = "tiny " + str(c.get("profile")) if c.get("tiny") else str(c.get("model") or c.get("profile"))
    return f"training run {record.path.name} ({model}, {record.metrics[-1]['step']} steps)"


def run_report_text(record: RunRecord) -> str:
    """The text twin: title, data, final metrics, eval scores, config and the metric rows."""
    lines = [_title(record), "", "## Data", *_data_lines(record), "", "## Final metrics", *_final_lines(record),
             "", "## Evaluation", *_eval_lines(record), "", "## Config"]
    lines += [f"{k}: {v}" for k, v in _config_items(record.config)]
    lines += ["", "## Metrics (metrics.jsonl)", "  ".join(_COLUMNS)]
    lines += ["..." if row is None else "  ".join(row) for row in _table_rows(record.metrics)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- HTML and Markdown


def _html_table(head, rows) -> str:
    esc = html.escape
    out = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        out.append(f"<tr><td colspan='{len(head)}'>...</td></tr>" if row is None else
                   "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
    return "".join(out) + "</table>"


def run_report_html(record: RunRecord, *, images=()) -> str:
    """One HTML page with nothing outside it: the sections of :func:`run_report_text`, the curves
    (``images``: ``(caption, png bytes)`` pairs, inlined) after the final metrics."""
    from omni_bench.layout.report_html import REPORT_STYLE, data_uri

    esc = html.escape
    para = lambda lines: "".join(f"<p>{esc(line)}</p>" for line in lines)  # noqa: E731
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{esc(_title(record))}</title>",
             f"<style>{REPORT_STYLE}td,th{{padding:0 8px;text-align:right;font-size:12px}}</style></head><body>",
             f"<h1>{esc(_title(record))}</h1>", "<h2>Data</h2>", para(_data_lines(record)),
             "<h2>Final metrics</h2>", para(_final_lines(record))]
    parts += [f"<figure><img alt='{esc(caption)}' src='{data_uri(png)}'><figcaption>{esc(caption)}</figcaption>"
              "</figure>" for caption, png in images]
    scores = _eval_lines(record)
    parts += ["<h2>Evaluation</h2>", para(scores[:1]), f"<pre>{esc(chr(10).join(scores[1:]))}</pre>" if scores[1:]
              else "", "<h2>Config</h2>", _html_table(("field", "value"), _config_items(record.config)),
              "<h2>Metrics (metrics.jsonl)</h2>", _html_table(_COLUMNS, _table_rows(record.metrics)),
              "</body></html>"]
    return "\n".join(p for p in parts if p) + "\n"


def _md_table(head, rows) -> list[str]:
    cell = lambda text: str(text).replace("|", "\\|")  # noqa: E731
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(["..."] * len(head)) + " |" if row is None else
            "| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out


def run_report_markdown(record: RunRecord, *, images=()) -> str:
    """The same report in Markdown (images inlined as ``data:`` URIs, which GitHub and JupyterLab render)."""
    from omni_bench.layout.report_html import data_uri

    parts = [f"# {_title(record)}", "", "## Data", "", *(f"- {line}" for line in _data_lines(record)), "",
             "## Final metrics", "", *(f"- {line}" for line in _final_lines(record)), ""]
    for caption, png in images:
        parts += [f"![{caption}]({data_uri(png)})", "", f"*{caption}*", ""]
    scores = _eval_lines(record)
    parts += ["## Evaluation", "", scores[0], ""]
    if scores[1:]:
        parts += ["```text", *scores[1:], "```", ""]
    parts += ["## Config", "", *_md_table(("field", "value"), _config_items(record.config)), "",
              "## Metrics (metrics.jsonl)", "", *_md_table(_COLUMNS, _table_rows(record.metrics))]
    return "\n".join(parts) + "\n"


def _figures(record: RunRecord) -> list[tuple[str, bytes]]:
    """The curves as PNG bytes (``omni_bench_widgets``; none when it is not installed)."""
    try:
        from omni_bench_widgets.report import run_images
    except ImportError:
        return []
    return run_images(record.metrics, vocab_size=record.vocab_size)


def _write(path, text: str) -> str:
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise _bad(path, f"cannot write the report ({exc.strerror})", "bad-output") from None
    return str(path)


def write_run_report(run_dir, *, html_path=None, md_path=None, eval_log=None, annotations=None) -> RunRecord:
    """Write the HTML (``html_path``) and / or Markdown (``md_path``) report of a run folder; returns the record.

    >>> write_run_report("runs/tiny", html_path="runs/tiny.html")   # doctest: +SKIP
    """
    from omni_bench.layout.report_html import report_path

    targets = [report_path(p, fmt)[0] for p, fmt in ((html_path, "html"), (md_path, "markdown")) if p is not None]
    record = read_run(run_dir, eval_log=eval_log, annotations=annotations)  # checked before drawing
    images = _figures(record) if targets else []
    if html_path is not None:
        _write(targets[0], run_report_html(record, images=images))
    if md_path is not None:
        _write(targets[-1], run_report_markdown(record, images=images))
    return record
