"""budget_dataset / ``omni-bench budget``: many real files, header reads only, every input
budgeted or listed with its reason, and the counts equal the real processor's."""

from __future__ import annotations

import json
import shutil

import pytest

from omni_bench import LayoutSettings, budget_dataset, inspect, write_clip
from omni_bench.cli import main
from omni_bench.core.light import light_of  # budget runs the light way (no torch)

SEED = dict(duration=256.89, width=640, height=360, native_fps=25.0)


@pytest.mark.slow
def test_counts_equal_the_processor_on_the_bundled_clips(clips, omni_processor):
    settings = LayoutSettings(frames=16)
    result = budget_dataset([clips], settings, processor=light_of(omni_processor), max_total_tokens=1500)
    names = sorted(p.name for p in clips.glob("*.mkv"))
    assert result.total == len(names) == 4
    # the silent clip cannot give the audio asked for: listed, not lost
    assert [(p.source.rsplit("/", 1)[-1], p.reason) for p in result.problems] == [("silent_walk.mkv", "no-audio")]
    assert len(result.sources) == 3
    for i, source in enumerate(result.sources):
        stats = inspect(source, settings, processor=omni_processor).stats
        assert int(result.budget.total_tokens[i]) == stats.input_ids_shape[-1], source
        assert int(result.budget.video_tokens[i]) == stats.video_tokens, source
        assert int(result.budget.audio_tokens[i]) == stats.audio_tokens, source
        assert int(result.budget.label_tokens[i]) == stats.label_tokens, source
        assert bool(result.budget.over[i]) == (stats.input_ids_shape[-1] > 1500)


def test_without_audio_the_silent_clip_counts(clips, omni_processor):
    settings = LayoutSettings(frames=8, resize=(112, 112), use_audio=False)
    result = budget_dataset(sorted(clips.glob("*.mkv")), settings, processor=light_of(omni_processor))
    assert result.problems == [] and len(result.sources) == 4
    silent = result.sources.index(str(clips / "silent_walk.mkv"))
    stats = inspect(result.sources[silent], settings, processor=omni_processor).stats
    assert int(result.budget.total_tokens[silent]) == stats.input_ids_shape[-1]
    assert int(result.budget.audio_tokens.sum()) == 0


def test_every_bad_input_is_listed_with_its_reason(tmp_path, clips, omni_processor):
    short = tmp_path / "short.mkv"
    write_clip(short, seconds=0.4, fps=10.0, width=64, height=64)  # 4 frames: 16 cannot be sampled
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    good = tmp_path / "good.mkv"
    shutil.copy(clips / "street_market.mkv", good)
    inputs = [str(good), str(tmp_path / "missing.mp4"), str(corrupt), str(short),
              dict(SEED, path="seed"),
              dict(duration=10.0, width=4000, height=10, native_fps=25.0, path="sliver"),
              dict(duration=10.0, width=640, native_fps=25.0, path="no-height"),
              dict(duration=10.0, width=640, height=360, native_fps=25.0, has_audio=False)]
    result = budget_dataset(inputs, LayoutSettings(frames=16), processor=light_of(omni_processor))
    assert result.total == len(inputs)  # nothing lost
    assert result.sources == [str(good), "seed"]
    reasons = {p.source.rsplit("/", 1)[-1]: p.reason for p in result.problems}
    assert reasons == {"missing.mp4": "missing", "corrupt.mp4": "unreadable", "short.mkv": "sampling",
                       "sliver": "bad-size", "no-height": "bad-metadata", "record 7": "no-audio"}
    for p in result.problems:
        assert p.message and "\n" not in p.message and not p.message.startswith(p.source)
    text = str(result)
    assert "2 of 8 inputs budgeted, 6 not:" in text and "short.mkv: sampling: cannot sample 16 frames" in text


def test_cli_json_with_a_metadata_file(tmp_path, capsys, clips):
    meta = tmp_path / "meta.jsonl"
    meta.write_text("\n".join(json.dumps(r) for r in [SEED, dict(SEED, duration=30.0, path="short-one")]) + "\n")
    argv = ["budget", str(meta), str(clips / "street_market.mkv"), "--frames", "50", "--resize", "224x224",
            "--processor-fps", "2", "--max-total-tokens", "8000", "--json", "--per-sample",
            "--answer", "A moving white bar crosses a colour gradient while a tone plays."]  # a 15-token reply
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["inputs"], out["budgeted"], out["problems"]) == (3, 3, [])
    assert out["sources"] == [f"{meta}#0", "short-one", str(clips / "street_market.mkv")]
    # the LongVALE notebook's 256.89 s sample (docs/background.md): 1,600 VIDEO + 6,422 AUDIO tokens, 8,093 in all
    assert out["video_tokens_per_sample"][0] == 1600 and out["audio_tokens_per_sample"][0] == 6422
    assert out["total_tokens_per_sample"][0] == 8093
    assert out["over"] == sum(t > 8000 for t in out["total_tokens_per_sample"]) >= 1


def test_cli_bad_metadata_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"samples": 3}')
    assert main(["budget", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("omni-bench: error:") and "expected a list of metadata objects" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("flag", ["--no-audio"])
def test_cli_text_report(capsys, clips, flag):
    assert main(["budget", str(clips), "--frames", "8", flag]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[Budget] 4 samples") and "4 of 4 inputs budgeted, 0 not" in out
