"""Run LongVALE's own metric code on a log (used by tests/test_eval_reference.py and
scripts/compare_longvale_dense.py; not a test itself).

LongVALE's ``longvalellm/eval`` folder is read out of a copy of the public ttgeng233/LongVALE
repository (``$LONGVALE_GIT_DIR``: a git directory, or a checkout with its files) into a
temporary folder; nothing of it is committed here. :func:`reference_scores` then runs, in a
fresh interpreter, LongVALE's ``eval.py`` ``iou`` function (lifted out of the file with
``ast``, since the file itself imports the LongVALE model) to fill in each grounding line's
``info.iou`` as LongVALE's generation step does, and its ``metric.py`` functions for the three
tasks. :func:`reference_dense` runs its dense-captioning metric alone under a chosen
``PYTHONHASHSEED`` and ``random.seed`` and records what it averages: METEOR and CIDEr per
threshold and video, SODA_c's F per video. :func:`dense_case` writes the hard logs of issue 26.
"""

from __future__ import annotations

import itertools
import json
import os
import random
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

# LongVALE's captioning_metrics, unchanged, with recorders around what it averages: each
# scorer call of the ActivityNet evaluator (one per video with pairs, in its visiting order)
# and each SODA_c matching (one per video with predictions, in SODA's order).
_DENSE_DRIVER = r'''
import json, random, sys
folder, log_path, data_path, random_seed = sys.argv[1:5]
sys.path.insert(0, folder)
import metric
import dvc_eval
anet = sys.modules["dvc_eval.eval_dvc"]
soda = sys.modules["dvc_eval.SODA.soda"]
calls, orders, tables, soda_f = [], [], {"METEOR": {}, "CIDEr": {}}, {}

def recorded(scorer, name):
    compute = scorer.compute_score
    def wrapper(gts, res):
        out = compute(gts, res)
        calls.append((name, float(out[0])))
        return out
    return wrapper

init = anet.ANETcaptions.__init__
def patched_init(self, *args, **kwargs):
    init(self, *args, **kwargs)
    for scorer, name in self.scorers:
        if isinstance(name, str) and name in tables:
            scorer.compute_score = recorded(scorer, name)
anet.ANETcaptions.__init__ = patched_init

vid_ids = anet.ANETcaptions.get_gt_vid_ids
def patched_vid_ids(self):
    ids = vid_ids(self)
    orders.append(list(ids))
    return ids
anet.ANETcaptions.get_gt_vid_ids = patched_vid_ids

evaluate_tiou = anet.ANETcaptions.evaluate_tiou
def patched_evaluate_tiou(self, tiou):
    first = len(calls)
    out = evaluate_tiou(self, tiou)
    visited = [v for v in orders[-1] if v in self.prediction]
    for name in tables:
        row = tables[name].setdefault(str(tiou), {})
        values = iter(score for kind, score in calls[first:] if kind == name)
        for vid in visited:
            row[vid] = 0.0
        for vid in [v for v in visited if self.prediction[v]]:
            row[vid] = next(values)
        assert next(values, None) is None
    return out
anet.ANETcaptions.evaluate_tiou = patched_evaluate_tiou

soda_evaluate = soda.SODA.evaluate
def patched_soda_evaluate(self):
    scored = iter([v for v in self.gt_vids if self.preds[v]["sentences"]])
    matching = self.soda_func
    def recorded_matching(iou, scores):
        total, pairs = matching(iou, scores)
        p, r = total / iou.shape[1], total / iou.shape[0]
        soda_f[next(scored)] = float(2 * p * r / (p + r) if p + r > 0 else 0.0)
        return total, pairs
    self.soda_func = recorded_matching
    for vid in self.gt_vids:
        if not self.preds[vid]["sentences"]:
            soda_f[vid] = 0.0
    return soda_evaluate(self)
soda.SODA.evaluate = patched_soda_evaluate

logs = [json.loads(line) for line in open(log_path) if line.strip()]
random.seed(int(random_seed))
totals = metric.captioning_metrics(logs, data_path)
print("@@RESULT@@" + json.dumps({"totals": totals, "METEOR": tables["METEOR"], "CIDEr": tables["CIDEr"],
                                 "soda": soda_f, "order": orders[0]}))
'''


def git_dir() -> str | None:
    """The LongVALE copy to read from (git directory or checkout), or None when there is none here."""
    for candidate in (os.environ.get("LONGVALE_GIT_DIR"), *DEFAULT_GIT_DIRS):
        if candidate and Path(candidate).is_dir():
            return candidate
    return None


def extract(folder: Path, source: str) -> Path:
    """LongVALE's eval folder written under ``folder`` from a git directory or a checkout; returns its path."""
    target = folder / "longvale_eval"
    checkout = Path(source) / "longvalellm" / "eval"
    for name in _FILES:
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == "dvc_eval/SODA/__init__.py":  # a namespace package upstream; a plain one works the same
            path.write_text("")
        elif (checkout / name).is_file():
            path.write_bytes((checkout / name).read_bytes())
        else:
            shown = subprocess.run(["git", f"--git-dir={source}", "show", f"HEAD:longvalellm/eval/{name}"],
                                   capture_output=True, check=True)
            path.write_bytes(shown.stdout)
    return target


def _run(driver: str, args: list[str], source: str, env: dict | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = extract(Path(tmp), source)
        done = subprocess.run([sys.executable, "-c", driver, str(folder), *args],
                              capture_output=True, text=True, timeout=900, cwd=tmp, env=env)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    line = next(part for part in done.stdout.splitlines() if part.startswith("@@RESULT@@"))
    return json.loads(line[len("@@RESULT@@"):])


def reference_scores(log_path, data_path, source: str) -> dict:
    """LongVALE's metrics (percent, full precision) and per-line grounding IoUs of a log, under ``PYTHONHASHSEED=0``."""
    return _run(_DRIVER, [str(log_path), str(data_path)], source, {**os.environ, "PYTHONHASHSEED": "0"})


def reference_dense(log_path, data_path, source: str, hash_seed: int = 0, random_seed: int = 0) -> dict:
    """LongVALE's dense-captioning metric under ``PYTHONHASHSEED=hash_seed`` and ``random.seed(random_seed)``.

    Returns ``totals`` (percent, as ``captioning_metrics`` gives them), ``METEOR`` and ``CIDEr``
    (``{threshold: {video: fraction}}``), ``soda`` (``{video: F}``) and ``order`` (the videos in
    the order its ActivityNet evaluator visited them).
    """
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    return _run(_DENSE_DRIVER, [str(log_path), str(data_path), str(random_seed)], source, env)


# ---- the hard logs of issue 26 ----------------------------------------------------------------

_WORDS = ("a man a woman the dog a child walks runs sits talks plays the guitar in the kitchen on a street "
          "near the door slowly loudly music starts stops red car").split()
# endings the PTB tokenizer reads differently by what the next line starts with ("a." kept or split)
_ENDINGS = ("a.", "b.", "i.", "U.S.", "etc.", "St.", ".", "!", "", "...")


def _sentence(rng: random.Random, capital: bool) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(2, 8))]
    text = " ".join(words) + " " + rng.choice(_ENDINGS)
    if rng.random() < 0.1:
        text = text.replace("music", "müsic café")  # non-ASCII: LongVALE spaces it out
    text = text.strip()
    return text[0].upper() + text[1:] if capital else text


def _truth(rng: random.Random, duration: float) -> list[list[float]]:
    """2-5 events that leave gaps, overlap and are not in time order."""
    stamps = []
    for _ in range(rng.randint(2, 5)):
        start = rng.uniform(0, duration * 0.9)
        stamps.append([round(start, 2), round(min(duration, start + rng.uniform(0.03, 0.5) * duration), 2)])
    if rng.random() < 0.5:
        stamps.sort()
    return stamps


def _answer(rng: random.Random, video: dict) -> str:
    """Shifted, invented, reversed and out-of-video events; merges, repeats and shuffled lines."""
    if rng.random() < 0.08:
        return "I cannot tell what happens."  # no event
    lines, duration = [], video["duration"]
    for (start, end), text in zip(video["timestamps"], video["sentences"]):
        a = round(start / duration * 100) + rng.randint(-8, 8)
        b = round(end / duration * 100) - 1 + rng.randint(-8, 8)
        kind = rng.random()
        if kind < 0.12:  # invented: matches nothing at some thresholds
            a, b = rng.randint(0, 99), rng.randint(0, 99)
        elif kind < 0.18:  # outside the video
            a, b = rng.randint(90, 140), rng.randint(100, 180)
        elif kind < 0.22:  # reversed
            a, b = b, a
        sentence = text if rng.random() < 0.5 else _sentence(rng, rng.random() < 0.5)
        if rng.random() < 0.7:
            sentence = sentence[0].lower() + sentence[1:]
        lines.append(f"From {max(a, 0):02d} to {max(b, 0):02d}, {sentence}")
        if rng.random() < 0.2:  # the same sentence one bin later: merged
            lines.append(f"From {max(b, 0) + 1:02d} to {max(b, 0) + rng.randint(2, 9):02d}, {sentence}")
    if rng.random() < 0.4:
        rng.shuffle(lines)
    if rng.random() < 0.2 and len(lines) > 1:  # one line said twice, elsewhere
        lines.insert(rng.randrange(len(lines)), rng.choice(lines))
    if rng.random() < 0.4:  # the answer repeats its last line
        lines.append(lines[-1])
    return "\n".join(lines)


def dense_case(seed: int, videos: int = 12) -> tuple[dict, list[dict]]:
    """(annotations, log) of ``videos`` videos with hard dense-captioning answers, from ``seed``.

    Annotations: 2-5 events per video that leave gaps, overlap and come out of time order,
    captions of mixed case ending in ``a.``, ``U.S.``, ``...`` and the like. Answers: shifted,
    invented, reversed and out-of-video events, merges, repeated and shuffled lines, some
    without any event; some videos answered twice (the last answer counts), the log in
    another order than the annotations, which also hold a video the log does not name.
    """
    rng = random.Random(seed)
    annotations = {}
    for v in range(videos + 1):
        duration = round(rng.uniform(20, 300), 2)
        stamps = _truth(rng, duration)
        annotations[f"vid{rng.randint(0, 99999):05d}_{v}"] = {
            "duration": duration, "timestamps": stamps, "sentences": [_sentence(rng, True) for _ in stamps]}
    named = list(annotations)[:videos]
    rng.shuffle(named)
    log = [{"video_id": vid, "task": "captioning", "query_id": 0, "answer": _answer(rng, annotations[vid])}
           for vid in named]
    for vid in rng.sample(named, 2):
        log.append({"video_id": vid, "task": "captioning", "query_id": 0, "answer": _answer(rng, annotations[vid])})
    return annotations, log


def write_case(folder: Path, seed: int, videos: int = 12) -> tuple[Path, Path]:
    """:func:`dense_case` written as ``ann_SEED.json`` and ``log_SEED.jsonl`` under ``folder``."""
    annotations, log = dense_case(seed, videos)
    ann_path, log_path = Path(folder) / f"ann_{seed}.json", Path(folder) / f"log_{seed}.jsonl"
    ann_path.write_text(json.dumps(annotations))
    log_path.write_text("".join(json.dumps(e) + "\n" for e in log))
    return ann_path, log_path


_OURS = r'''
import json, sys
from omni_bench.eval.answers import parse_events
from omni_bench.eval.dense import dense_details, merge_events
from omni_bench.eval.log import load_eval_annotations, read_log
log_path, ann_path = sys.argv[1:3]
annotations, (entries, _) = load_eval_annotations(ann_path), read_log(log_path)
answers = {e["video_id"]: e["answer"] for e in entries if e["task"] == "captioning"}
predictions = {v: merge_events(parse_events(a), annotations[v]["duration"]) for v, a in answers.items()}
details = dense_details(predictions, {v: annotations[v] for v in annotations if v in predictions})
print("@@RESULT@@" + json.dumps({"totals": {k: v * 100 for k, v in details.totals().items()},
                                 "METEOR": {str(t): row for t, row in details.meteor.items()},
                                 "CIDEr": {str(t): row for t, row in details.cider.items()}, "soda": details.soda}))
'''


def ours_dense(log_path, data_path, hash_seed: int) -> dict:
    """omni_bench's dense-captioning details of a log, in a fresh interpreter under ``PYTHONHASHSEED=hash_seed``.

    Same keys as :func:`reference_dense` (without ``order``); the log is read as ``omni_bench.score``
    reads it (the last captioning answer of each video, LongVALE's parse mode).
    """
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed), "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", _OURS, str(log_path), str(data_path)], capture_output=True,
                          text=True, timeout=900, env=env)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    line = next(part for part in done.stdout.splitlines() if part.startswith("@@RESULT@@"))
    return json.loads(line[len("@@RESULT@@"):])


def differences(ours: dict, theirs: dict, tolerance: float = 1e-6) -> list[str]:
    """Each per-threshold, per-video METEOR / CIDEr, per-video SODA_c and total differing by over ``tolerance``."""
    found = []
    for metric in ("METEOR", "CIDEr"):
        for threshold, row in theirs[metric].items():
            if set(row) != set(ours[metric][threshold]):
                found.append(f"{metric}@{threshold}: videos {sorted(set(row) ^ set(ours[metric][threshold]))}")
            for vid, value in row.items():
                mine = ours[metric][threshold].get(vid)
                if mine is None or abs(mine - value) > tolerance:
                    found.append(f"{metric}@{threshold} {vid}: ours {mine}, LongVALE {value}")
    for vid, value in theirs["soda"].items():
        if abs(ours["soda"].get(vid, float("nan")) - value) > tolerance or vid not in ours["soda"]:
            found.append(f"soda_c {vid}: ours {ours['soda'].get(vid)}, LongVALE {value}")
    for key, value in theirs["totals"].items():
        if abs(ours["totals"][key] - value) > tolerance:
            found.append(f"{key}: ours {ours['totals'][key]}, LongVALE {value}")
    return found


def hardness(annotations: dict, log: list[dict]) -> dict[str, int]:
    """How many answered videos of a log show each kind of trouble (the last answer of each video).

    ``no_event``, ``repeats_last_line``, ``out_of_order``, ``reversed``, ``outside_video``, ``merged``,
    ``unmatched_at_0.9`` (a merged event overlapping no true event by 0.9), ``truth_gaps`` and
    ``truth_overlaps`` (of the annotated events).
    """
    from omni_bench.eval.answers import parse_events
    from omni_bench.eval.dense import merge_events, tiou

    counts = dict.fromkeys(("no_event", "repeats_last_line", "out_of_order", "reversed", "outside_video", "merged",
                            "unmatched_at_0.9", "truth_gaps", "truth_overlaps"), 0)
    for vid, answer in {e["video_id"]: e["answer"] for e in log if e["task"] == "captioning"}.items():
        video, events, lines = annotations[vid], parse_events(answer), answer.split("\n")
        stamps = sorted(video["timestamps"])
        counts["truth_gaps"] += stamps[0][0] > 0 or any(b[0] > a[1] for a, b in itertools.pairwise(stamps))
        counts["truth_overlaps"] += any(b[0] < a[1] for a, b in itertools.pairwise(stamps))
        if not events:
            counts["no_event"] += 1
            continue
        merged = merge_events(events, video["duration"])
        starts = [e.span.start for e in events]
        counts["repeats_last_line"] += len(lines) > 1 and lines[-1] == lines[-2]
        counts["out_of_order"] += starts != sorted(starts)
        counts["reversed"] += any(e.span.start > e.span.end for e in events)
        counts["outside_video"] += any(e.span.end >= 100 for e in events)
        counts["merged"] += len(merged) < len(events)
        counts["unmatched_at_0.9"] += any(all(tiou(m[:2], t) < 0.9 for t in video["timestamps"]) for m in merged)
    return counts
