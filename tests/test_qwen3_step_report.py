"""Qwen3-Omni's per-step alignment in the CLI report, --json and the verdict banner.

Every figure is recomputed here from the real processor's output, independently of
:mod:`omni_bench.families.qwen3_alignment`: the order of ``<|video_pad|>`` / ``<|audio_pad|>``
in ``input_ids`` (audio tokens counted before each grid step's block of VIDEO tokens), the
sampled frame indices over the clip's native fps, and 13 audio tokens per second.
"""

from __future__ import annotations

import json

import pytest
from ffmpeg_media import ClipSpec, make_clip, requires_ffmpeg

from omni_bench.core.media import probe
from omni_bench.core.processor import load_processor
from omni_bench.layout.inspect import inspect
from omni_bench.layout.settings import LayoutSettings
from omni_bench.layout.verdict import banner_lines, findings, layout_alignment, report_text

OMNI = "qwen3-omni-30b-a3b"
KITCHEN = "data/clips/kitchen_talk.mkv"  # 12 s, 15 fps, audio
CLIPS = [ClipSpec("mp4", "h264", "aac", seconds=10.0, fps="30000/1001", width=192, height=108),
         ClipSpec("mkv", "h264", "opus", seconds=7.3, fps="24", width=160, height=96, sample_rate=48000)]


@pytest.fixture(scope="module")
def processor():
    return load_processor(OMNI)


def _independent(layout, processor, clip) -> list[tuple[int, float, int, float, float]]:
    """[(step, frames start s, audio tokens before, audio end s, drift s)] from input_ids alone."""
    tok = processor.tokenizer
    video, audio = tok.convert_tokens_to_ids("<|video_pad|>"), tok.convert_tokens_to_ids("<|audio_pad|>")
    t, h, w = layout.stats.video_grid_thw[0]
    per_step = (h // 2) * (w // 2)
    native = probe(clip).native_fps
    rows, seen_audio, seen_video = [], 0, 0
    for token in layout.input_ids:
        if token == audio:
            seen_audio += 1
        elif token == video:
            if seen_video % per_step == 0:
                k = seen_video // per_step
                start = layout.stats.frame_indices[2 * k] / native
                rows.append((k, start, seen_audio, seen_audio / 13, start - seen_audio / 13))
            seen_video += 1
    assert len(rows) == t and seen_audio == layout.stats.audio_tokens > 0
    return rows


def _figures(a) -> list[tuple[int, float, int, float, float]]:
    return [(s.step, s.frames_start, s.audio_before, s.audio_end, s.drift) for s in a.steps]


def _flat(rows) -> list[float]:
    return [x for row in rows for x in row]


def _check(layout, processor, clip, *, aligned: bool):
    a = layout_alignment(layout)
    expected = _independent(layout, processor, clip)
    assert _flat(_figures(a)) == pytest.approx(_flat(expected), abs=1e-9)
    worst = max(abs(r[4]) for r in expected)
    assert a.max_drift == pytest.approx(worst, abs=1e-9) and a.aligned is aligned is (worst <= 2.0)
    return a


def _clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qwen3_step_clips")
    return [KITCHEN, *(str(make_clip(spec, folder)) for spec in CLIPS)]


@requires_ffmpeg
def test_sampled_fps_aligned_stock_fps_misaligned_and_the_fix_checked(processor, tmp_path_factory):
    """On the bundled clip and ffmpeg-written ones: the sampled fps lines the steps up, fps=2 does not,
    and the recommended --processor-fps, run through the real processor, drifts what the fix promised."""
    for clip in _clips(tmp_path_factory):
        sampled = inspect(clip, LayoutSettings(profile=OMNI, frames=8), processor=processor)
        a = _check(sampled, processor, clip, aligned=True)
        assert a.recommendation.flags == () and "nothing to change" in a.recommendation.line
        stock = inspect(clip, LayoutSettings(profile=OMNI, frames=8, processor_fps=2.0), processor=processor)
        b = _check(stock, processor, clip, aligned=False)
        assert [s.audio_before for s in b.steps] == [13 * k for k in range(4)]  # 1 s per step claimed
        fix = b.recommendation
        assert fix.flags == ("--processor-fps", repr(fix.processor_fps)) and " ".join(fix.flags) in fix.line
        fixed = inspect(clip, LayoutSettings(profile=OMNI, frames=8, processor_fps=float(fix.flags[1])),
                        processor=processor)
        c = _check(fixed, processor, clip, aligned=True)
        assert c.max_drift == pytest.approx(fix.max_drift, abs=1e-9) and c.max_drift <= a.max_drift


@pytest.fixture(scope="module")
def stock(processor):
    return inspect(KITCHEN, LayoutSettings(profile=OMNI, frames=8, processor_fps=2.0, answer="Ok."),
                   processor=processor)


def test_report_text_and_findings_carry_the_steps_and_the_fix(stock, processor):
    a = layout_alignment(stock)
    text = report_text(stock)
    block = text[text.index("[Alignment]"):].splitlines()
    assert block[1] == "misaligned: max drift +7.20 s at grid step 3 (tolerance 2.00 s)"
    assert block[3] == f"fix: {a.recommendation.line}" and "--processor-fps" in block[3]
    rows = [line.split() for line in block[6:]]
    assert [(int(r[0]), int(r[3]), float(r[5])) for r in rows] == [
        (k, audio, round(drift, 2)) for k, _, audio, _, drift in _independent(stock, processor, KITCHEN)]
    (finding,) = [f for f in findings(stock, a) if f.kind == "alignment"]
    assert finding.line == a.summary and finding.fix == a.recommendation.line
    assert f"! {finding}" in text


def test_banner_leads_with_the_misalignment_and_drift_per_step(stock):
    from omni_bench_widgets.layout_text import verdict_text

    lines, ok = banner_lines(stock, layout_alignment(stock))
    assert not ok
    assert lines[0].startswith("! alignment: misaligned: max drift +7.20 s at grid step 3")
    assert "--processor-fps" in lines[0]
    assert lines[1] == "drift per step (s): +0.00 +2.40 +4.80 +7.20"
    assert verdict_text(stock, layout_alignment(stock)).splitlines() == lines  # the inspector's banner


def test_cli_json_and_text(processor, capsys):
    from omni_bench.cli import main

    args = ["inspect", KITCHEN, "--profile", OMNI, "--frames", "8", "--processor-fps", "2", "--answer", "Ok."]
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    a = data["alignment"]
    assert a["kind"] == "steps" and a["verdict"] == "misaligned" and a["tolerance"] == 2.0
    layout = inspect(KITCHEN, LayoutSettings(profile=OMNI, frames=8, processor_fps=2.0, answer="Ok."),
                     processor=processor)
    expected = _independent(layout, processor, KITCHEN)
    got = [(s["step"], s["frames_start"], s["audio_before"], s["audio_end"], s["drift"]) for s in a["steps"]]
    assert _flat(got) == pytest.approx(_flat(expected), abs=1e-9)
    assert a["recommendation"]["flags"][0] == "--processor-fps" and a["recommendation"]["max_drift"] <= 2.0
    assert [w["kind"] for w in data["warnings"]] == ["alignment"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "[Alignment]" in out and "drift s" in out and "! alignment: misaligned" in out


def test_inspector_banner_and_html_report(stock, tmp_path):
    """The inspector (headless) and the --html report lead with the same misalignment line and its fix."""
    from omni_bench.layout.report_html import write_report
    from omni_bench_widgets import show_layout
    from omni_bench_widgets.inspector import banner_html

    lines, _ = banner_lines(stock, layout_alignment(stock))
    view = show_layout(stock, display=False)["view"]
    assert view.verdict_text().splitlines() == lines
    html = banner_html(view)
    assert "drift per step (s): +0.00 +2.40 +4.80 +7.20" in html and "--processor-fps" in html
    page = tmp_path / "q3.html"
    write_report(str(page), stock, fmt="html")
    assert "drift per step (s): +0.00 +2.40 +4.80 +7.20" in page.read_text()


def test_longvale_fix_checked_by_the_planner(processor):
    """The LongVALE notebook's 50 frames over 256.89 s: 4.98 s of drift with the sampled fps; the
    recommended fps (one over the 5.24 s frame spacing) planned again drifts what the fix said."""
    from omni_bench.layout.plan import plan

    lvn = dict(duration=256.89, width=640, height=360, native_fps=25.0, has_audio=True)
    base = LayoutSettings(profile=OMNI, frames=50, resize=(224, 224))
    layout = plan(lvn, base, processor=processor)
    a = layout_alignment(layout)
    assert not a.aligned and a.max_drift == pytest.approx(4.985, abs=0.01)
    fix, indices = a.recommendation, layout.stats.frame_indices
    assert a.frame_spacing == pytest.approx((indices[-1] - indices[0]) / 25 / 49) == pytest.approx(5.2416, abs=1e-4)
    # one over the frame spacing (the sampled fps drifts more, 4.98 s), with the digits the processor needs:
    # 0.19078, not 0.19078025229715 (the same merge and temporal ids: tests/test_qwen3_fix_line.py)
    assert fix.processor_fps == float(f"{1 / a.frame_spacing:.5g}") == 0.19078
    b = layout_alignment(plan(lvn, base.replace(processor_fps=float(fix.flags[1])), processor=processor))
    assert b.aligned and b.max_drift == pytest.approx(fix.max_drift, abs=1e-9) and b.max_drift < 0.1
