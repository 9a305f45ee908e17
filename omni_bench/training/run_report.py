"""A training run folder as one self-contained report to keep and share: HTML (or Markdown).

:func:`read_run` reads what ``omni-bench train`` leaves in its run folder (``config.json``,
``metrics.jsonl``, ``adapter/``, ``checkpoint-N/``) and, when an answer log of
``omni-bench eval run`` sits beside it (``eval.jsonl`` in the folder, or ``--eval LOG``),
scores that log against the run's annotations (or ``annotations``). :func:`run_report_text`
is the text twin; :func:`run_report_html` / :func:`run_report_markdown` add the curves handed
in as PNG bytes (inlined as ``data:`` URIs, nothing outside the file), written by the one page
writer (:mod:`omni_bench.core.pages`, the layout report's too). :func:`write_run_report` writes
the files with the curves its ``figures`` draws: this package never imports the views; the
command line hands it ``omni_bench_widgets.run_figures`` (loss raw and smoothed with ln(V), grad
norm, learning rate): ``omni-bench report RUN_DIR --html FILE`` ends there.

Numbers are printed as ``metrics.jsonl`` holds them (JSON's shortest round-trip form), so
the report carries the run's numbers exactly. Not covered: comparing several runs, live
runs (the report is what the folder holds when it is read).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.pages import html_page, markdown_page, report_path, write_page
from omni_bench.core.profiles import DEFAULT_PROFILE, get_profile
from omni_bench.eval.score import score
from omni_bench.training.bad_samples import read_problems
from omni_bench.training.config import ADAPTER_DIR
from omni_bench.training.groups import GROUPS_FILE, read_groups, render_group_text
from omni_bench.training.metrics import METRICS_FILE, read_metrics_file
from omni_bench.training.preempt import read_stopped

__all__ = ["RunRecord", "read_run", "run_report_text", "run_report_html", "run_report_markdown", "run_blocks",
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
    problems: tuple[dict, ...] = ()  # problems.jsonl: samples skipped mid-run (training/bad_samples.py)
    stopped: dict | None = None  # stopped.json: the signal the last invocation stopped on (training/preempt.py)


def _bad(path, message: str, reason: str) -> OmniBenchError:
    return OmniBenchError(f"{path}: {message}", source=str(path), reason=reason)


def _metrics(folder: Path) -> tuple[tuple[dict, ...], int]:
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
                       _vocab_size(config), skipped_lines=skipped, problems=tuple(read_problems(folder)),
                       stopped=read_stopped(folder))
    return _with_eval(record, eval_log, annotations)


def _with_eval(record: RunRecord, eval_log, annotations) -> RunRecord:
    """The record with its answer log scored (an explicit log or annotations must be readable)."""
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
    preference = [k for k in last if k.startswith(("rewards/", "logps/"))]  # train --method dpo: trl's names
    if preference and "reward_std" not in last:
        lines.append("preference (trl's metrics): " + ", ".join(f"{k} {_value(last[k])}" for k in preference))
    if "reward_std" in last:  # train --method grpo: trl's names, the rewards' rates, the rollout = replay audit
        grpo = [k for k in last if k.startswith(("reward", "frac_", "completions/", "parity/", "degenerate"))
                or k in ("kl", "clip_ratio", "entropy", "format_failure_rate")]
        lines.append("GRPO (trl's metrics): " + ", ".join(f"{k} {_value(last[k])}" for k in grpo))
    if record.vocab_size:
        lines.append(f"ln(V) = {math.log(record.vocab_size):.4f} (V = {record.vocab_size:,}): "
                     "an untrained model's loss")
    if record.skipped_lines:
        lines.append(f"{record.skipped_lines} line(s) of metrics.jsonl were not JSON objects and are left out")
    for row in record.problems:
        lines.append(f"skipped at step {row.get('step')}: {row.get('record')} [{row.get('reason')}] "
                     f"{row.get('message')}")
    if record.stopped:
        lines.append(f"stopped by {record.stopped.get('signal')} after step {record.stopped.get('step')}; "
                     f"resume with: {record.stopped.get('resume')}")
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
    groups = read_groups(record.path, step=-1)  # train --method grpo: the last logged step's groups (groups.py)
    if groups:
        lines += ["", f"## GRPO groups of step {groups[0].step} ({GROUPS_FILE})"]
        lines += "\n\n".join(render_group_text(g) for g in groups).splitlines()
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- HTML and Markdown


def run_blocks(record: RunRecord, *, images=()) -> list:
    """The report's blocks (:mod:`omni_bench.core.pages`): the sections of :func:`run_report_text`, the
    curves (``images``: ``(caption, png bytes)`` pairs, inlined) after the final metrics."""
    scores = _eval_lines(record)
    return [("heading", "Data"), ("bullets", _data_lines(record)), ("heading", "Final metrics"),
            ("bullets", _final_lines(record)), ("figures", list(images)), ("heading", "Evaluation"),
            ("lines", scores[:1]), ("pre", "\n".join(scores[1:])), ("heading", "Config"),
            ("table", (("field", "value"), _config_items(record.config))), ("heading", "Metrics (metrics.jsonl)"),
            ("table", (_COLUMNS, _table_rows(record.metrics)))]


def run_report_html(record: RunRecord, *, images=()) -> str:
    """One HTML page with nothing outside it (:func:`run_blocks` through :func:`omni_bench.core.pages.html_page`)."""
    return html_page(_title(record), run_blocks(record, images=images))


def run_report_markdown(record: RunRecord, *, images=()) -> str:
    """The same report in Markdown (images inlined as ``data:`` URIs, which GitHub and JupyterLab render)."""
    return markdown_page(_title(record), run_blocks(record, images=images))


def write_run_report(run_dir, *, html_path=None, md_path=None, eval_log=None, annotations=None,
                     figures=None) -> RunRecord:
    """Write the HTML (``html_path``) and / or Markdown (``md_path``) report of a run folder; returns the record.

    ``figures(record) -> [(caption, png bytes), ...]`` draws the curves; this package draws none
    itself: ``omni_bench_widgets.run_figures`` is the views' (the loss raw and smoothed with ln(V),
    grad norm, learning rate), what ``omni-bench report`` passes.

    >>> write_run_report("runs/tiny", html_path="runs/tiny.html", figures=run_figures)   # doctest: +SKIP
    """
    targets = [report_path(p, fmt) for p, fmt in ((html_path, "html"), (md_path, "markdown")) if p is not None]
    record = read_run(run_dir, eval_log=eval_log, annotations=annotations)  # checked before drawing
    images = list(figures(record)) if targets and figures is not None else []
    for path, fmt in targets:
        write_page(path, _title(record), run_blocks(record, images=images), fmt=fmt)
    return record
