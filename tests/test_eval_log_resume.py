"""Logs that resume: a torn last line of an ``eval run`` log is cut, reported, redone and never counted;
two runs on one log are refused as two trains on one --output are (omni_bench/eval/log.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from omni_bench import OmniBenchError, tiny_model
from omni_bench.eval.log import log_lock, read_log, repair_log
from omni_bench.eval.run import evaluate

ROOT = Path(__file__).resolve().parent.parent
ANN = ROOT / "data" / "longvale_annotations.json"
CLIPS = ROOT / "data" / "clips"
SMALL = dict(frames=4, resize=(56, 56), max_new_tokens=6, progress=False)
LINE = {"video_id": "a", "task": "captioning", "query_id": 0, "answer": "x", "info": {}}


@pytest.mark.parametrize("tail", [b'{"video_id": "b", "ta', b'{"video_id": "b", "task": "captioning", "answer": "y"}',
                                  b'{"video_id": "b", "ta\n', b"\xff\xfe\n"])
def test_a_torn_last_line_is_cut_to_the_last_complete_line(tmp_path, tail):
    log = tmp_path / "log.jsonl"
    whole = (json.dumps(LINE) + "\n").encode()
    log.write_bytes(whole + tail)
    note = repair_log(log)
    assert note.startswith(f"{log}: dropped a torn last line (") and note.endswith("its query is answered again")
    assert log.read_bytes() == whole
    assert repair_log(log) is None and log.read_bytes() == whole  # a sound log is left alone


def test_a_sound_log_and_no_log_are_left_alone(tmp_path):
    log = tmp_path / "log.jsonl"
    assert repair_log(log) is None and not log.exists()
    log.write_text(json.dumps(LINE) + "\n\n")
    assert repair_log(log) is None and log.read_text() == json.dumps(LINE) + "\n\n"


def test_a_second_run_on_one_log_is_refused_in_one_line(tmp_path):
    log = tmp_path / "runs" / "log.jsonl"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom omni_bench.eval.log import log_lock\n"
                               "with log_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n",
                               str(log)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OmniBenchError, match=r"another eval run is writing this log \(pid \d+\)") as caught:
            with log_lock(log):
                pass
        assert caught.value.reason == "run-locked" and "\n" not in str(caught.value)
    finally:
        holder.kill()
        holder.wait()
    with log_lock(log):  # the kernel dropped the lock with its process
        pass
    with pytest.raises(OmniBenchError, match="is a folder"):
        with log_lock(tmp_path):
            pass


@pytest.mark.slow  # generates with the tiny model (seconds)
def test_a_torn_log_resumes_to_one_valid_line_per_question(tmp_path, omni_processor):
    ann_path = tmp_path / "ann.json"
    data = json.loads(ANN.read_text())
    ann_path.write_text(json.dumps({v: data[v] for v in ("street_market", "kitchen_talk")}))
    model = tiny_model("qwen2.5-omni-7b", seed=0)
    common = dict(annotations=str(ann_path), media_root=str(CLIPS), tiny=True, task="grounding", **SMALL)
    whole = evaluate(model=model, processor=omni_processor, output=str(tmp_path / "whole.jsonl"), **common)
    assert whole.answered == 4
    log = tmp_path / "torn.jsonl"
    lines = (tmp_path / "whole.jsonl").read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:2]) + lines[2][: len(lines[2]) // 2])  # killed while writing the third answer
    assert read_log(log) == (read_log(tmp_path / "whole.jsonl")[0][:2], 1)  # the torn line is not an answer

    resumed = evaluate(model=model, processor=omni_processor, output=str(log), **common)
    assert (resumed.already, resumed.answered) == (2, 2)  # the torn one was answered again, never counted
    entries, not_json = read_log(log)
    assert not_json == 0 and len(log.read_text().splitlines()) == 4
    assert all(json.loads(line) for line in log.read_text().splitlines())
    assert entries == read_log(tmp_path / "whole.jsonl")[0]  # one valid line per question, as the whole run
    assert resumed.scores["grounding"] == whole.scores["grounding"]
