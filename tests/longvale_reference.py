"""Run LongVALE's own metric code on a log (used by tests/test_eval_reference.py; not a test itself).

LongVALE's ``longvalellm/eval`` folder is read out of a git directory holding the public
ttgeng233/LongVALE repository (``$LONGVALE_GIT_DIR``) into a temporary folder; nothing of it
is committed here. :func:`reference_scores` then runs, in a fresh interpreter, LongVALE's
``eval.py`` ``iou`` function (lifted out of the file with ``ast``, since the file itself
imports the LongVALE model) to fill in each grounding line's ``info.iou`` as LongVALE's
generation step does, and its ``metric.py`` functions for the three tasks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_GIT_DIRS = ("/work/.mirror/ttgeng233+LongVALE/repo",)
_FILES = ("metric.py", "eval.py", "dvc_eval/__init__.py", "dvc_eval/eval_dvc.py", "dvc_eval/eval_soda.py",
          "dvc_eval/SODA/__init__.py", "dvc_eval/SODA/soda.py", "dvc_eval/SODA/dataset.py", "dvc_eval/SODA/utils.py")

_DRIVER = r'''
import ast, json, re, sys
folder, log_path, data_path = sys.argv[1:4]
sys.path.insert(0, folder)
tree = ast.parse(open(folder + "/eval.py").read())
scope = {"re": re}
exec(compile(ast.Module([n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "iou"], []),
             "eval.py", "exec"), scope)
data = json.load(open(data_path))
logs = [json.loads(line) for line in open(log_path) if line.strip()]
for log in logs:
    if log["task"] == "grounding":
        sid = log["info"]["sentence_id"]
        start, end = data[log["video_id"]]["timestamps"][sid]
        log["info"]["iou"] = scope["iou"](log["answer"], (start / data[log["video_id"]]["duration"],
                                                          end / data[log["video_id"]]["duration"]))
import metric
out = {"iou": [l["info"]["iou"] for l in logs if l["task"] == "grounding"]}
tasks = {l["task"] for l in logs}
if "grounding" in tasks:
    out["grounding"] = metric.grounding_metrics(logs)
if "captioning" in tasks:
    out["captioning"] = metric.captioning_metrics(logs, data_path)
if "seg_captioning" in tasks:
    out["seg_captioning"] = {k: v * 100 for k, v in metric.seg_captioning_metrics(logs, data_path).items()}
print("@@RESULT@@" + json.dumps(out))
'''


def git_dir() -> str | None:
    """The LongVALE git directory to read from, or None when there is none on this machine."""
    for candidate in (os.environ.get("LONGVALE_GIT_DIR"), *DEFAULT_GIT_DIRS):
        if candidate and Path(candidate).is_dir():
            return candidate
    return None


def extract(folder: Path, source: str) -> Path:
    """LongVALE's eval folder written under ``folder``; returns its path."""
    target = folder / "longvale_eval"
    for name in _FILES:
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == "dvc_eval/SODA/__init__.py":  # a namespace package upstream; a plain one works the same
            path.write_text("")
            continue
        shown = subprocess.run(["git", f"--git-dir={source}", "show", f"HEAD:longvalellm/eval/{name}"],
                               capture_output=True, check=True)
        path.write_bytes(shown.stdout)
    return target


def reference_scores(log_path, data_path, source: str) -> dict:
    """LongVALE's metrics of a log (percent, full precision) and its per-line grounding IoUs."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = extract(Path(tmp), source)
        done = subprocess.run([sys.executable, "-c", _DRIVER, str(folder), str(log_path), str(data_path)],
                              capture_output=True, text=True, timeout=900, cwd=tmp)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    line = next(part for part in done.stdout.splitlines() if part.startswith("@@RESULT@@"))
    return json.loads(line[len("@@RESULT@@"):])
