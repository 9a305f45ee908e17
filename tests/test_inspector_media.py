"""The inspector beside its clip: frames under their grid steps, audio under the AUDIO tokens, the
verdict banner (the CLI report's lines), the minimap on a 50,000-token layout, and the export.

Layouts come from ``omni_bench.plan`` (equal to ``inspect``'s, tested in test_planner_equality),
so these tests decode only what the view decodes.
"""

from __future__ import annotations

import base64
import itertools
import re

import numpy as np
import pytest

from omni_bench import LayoutSettings, plan, probe, read_audio, read_frames
from omni_bench.layout.alignment import alignment
from omni_bench.layout.verdict import findings, report_text
from omni_bench_widgets import show_layout
from omni_bench_widgets.layout_figure import MIN_RUN_PX, draw_layout
from omni_bench_widgets.layout_text import clock_of, frames_per_step

PNG = b"\x89PNG\r\n\x1a\n"
ANSWER = "A cook talks in a kitchen while the pan sizzles."


@pytest.fixture(scope="module")
def kitchen(clips, omni_processor):
    """kitchen_talk.mkv: 16 frames over 12 s (1.33 fps) handed over as fps 2 - misaligned."""
    info = probe(clips / "kitchen_talk.mkv")
    settings = LayoutSettings(frames=16, processor_fps=2.0, answer=ANSWER)
    return info, settings, plan(info, settings, processor=omni_processor)


@pytest.fixture(scope="module")
def ui(kitchen):
    info, settings, layout = kitchen
    return show_layout(layout, meta=info, settings=settings, display=False)


# ----------------------------------------------------------------------------- item 1: media beside the tokens


def test_frames_and_audio_are_decoded_once_and_are_the_clips(ui, kitchen):
    info, _, layout = kitchen
    view = ui["view"]
    media = view.media
    assert media.frame_indices == layout.stats.frame_indices and len(media.thumbs) == 16
    frames = read_frames(info.path, list(layout.stats.frame_indices))
    stride = frames.shape[1] // 72
    assert (media.thumbs == frames[:, ::stride, ::stride]).all()
    assert np.array_equal(media.audio, read_audio(info.path))
    for selection in ((0, 100), (43, 900), (700, 2000)):
        ui["controls"]["selection"].value = selection
        view.png()
    assert view.media_cache.decodes == {"frames": 1, "audio": 1}


def test_selection_shows_its_seconds_frames_and_audio(ui, kitchen):
    _, _, layout = kitchen
    view = ui["view"]
    clock = view.clock
    timing = alignment(layout)
    chunk = timing.chunks[1]  # the second chunk: its VIDEO then its AUDIO tokens
    where = np.flatnonzero(clock.chunk == 1)
    ui["controls"]["selection"].value = (int(where[0]), int(where[-1]) + 1)
    picked = view.selected_media()
    assert picked["seconds"] == pytest.approx((min(chunk.video_span[0], chunk.audio_span[0]),
                                               max(chunk.video_span[1], chunk.audio_span[1])))
    assert picked["audio_span"] == pytest.approx(chunk.audio_span)
    assert picked["steps"] == list(range(chunk.grid_steps[0], chunk.grid_steps[1] + 1))
    p = frames_per_step(layout.stats)
    assert picked["frames"] == list(range(chunk.grid_steps[0] * p, (chunk.grid_steps[1] + 1) * p))
    assert picked["frame_times"] == [layout.stats.frame_times[f] for f in picked["frames"]]
    lo, hi = chunk.audio_span
    assert np.array_equal(picked["audio"], read_audio(layout.media)[round(lo * 16000):round(hi * 16000)])
    text = view.media_text()
    assert text.startswith(f"real time {picked['seconds'][0]:.2f}-{picked['seconds'][1]:.2f} s")
    assert f"audio {lo:.2f}-{hi:.2f} s ({len(picked['audio']):,} samples at 16 kHz)" in text
    assert view.selection_text().startswith(f"[Selection {where[0]}:{where[-1] + 1} of")
    audio = [w for w in _walk(ui["widget"]) if type(w).__name__ == "Audio"]
    assert len(audio) == 1 and bytes(audio[0].value) == b""  # sent on demand only
    ui["controls"]["listen"].value = True
    assert bytes(audio[0].value).startswith(b"RIFF")
    assert len(bytes(audio[0].value)) == 44 + 2 * len(picked["audio"])  # 16-bit mono WAV of those samples
    ui["controls"]["listen"].value = False
    assert bytes(audio[0].value) == b""


def test_figure_rows_share_the_token_axis(ui, kitchen):
    _, _, layout = kitchen
    view = ui["view"]
    start, stop = view.selection = (43, 1300)
    fig = view.figure()
    assert list(fig.panels) == ["overview", "selection", "frames", "audio", "temporal"]
    for name in ("selection", "frames", "audio", "temporal"):
        assert fig.panels[name].get_xlim() == (start, stop)
    clock = view.clock
    steps = sorted({int(t) for t in clock.step[start:stop] if t >= 0})
    images = fig.panels["frames"].images
    assert len(images) == len(steps)
    p = frames_per_step(layout.stats)
    for t, image in zip(steps, images):
        positions = np.flatnonzero(clock.step == t)
        assert image.get_extent()[:2] == [positions[0], min(positions[-1] + 1, stop)]
        assert image.get_label() == f"frame {t * p}"
    # chunk boundaries: where the clock's chunk changes, dashed on every shared row
    bounds = [c for c in fig.panels["frames"].collections if c.get_label() == "chunk boundary"]
    media = np.flatnonzero(clock.chunk[start:stop] >= 0) + start
    expected = [int(i) for a, i in itertools.pairwise(media) if clock.chunk[a] != clock.chunk[i]]
    assert len(bounds) == 1 and [int(s[0][0]) for s in bounds[0].get_segments()] == expected
    # the temporal-id panel has a seconds axis: (id - first video id) / 25
    temporal = fig.panels["temporal"]
    second = [a for a in temporal.child_axes if a.get_ylabel() == "seconds (claimed)"]
    assert len(second) == 1 and temporal.get_ylabel() == "temporal id"
    assert bytes(view.png()).startswith(PNG)


def test_no_media_file_no_media_rows(omni_processor):
    layout = plan(dict(duration=8.0, width=320, height=180, native_fps=25.0, has_audio=True),
                  LayoutSettings(frames=8, answer=ANSWER), processor=omni_processor)
    view = show_layout(layout, display=False)["view"]
    assert view.media is None
    assert list(view.figure().panels) == ["overview", "selection", "temporal"]
    assert view.media_text().startswith("real time ")


# ----------------------------------------------------------------------------- item 2: verdicts in the view


def test_banner_is_the_cli_reports_verdict_and_warnings(ui, kitchen):
    _, _, layout = kitchen
    view = ui["view"]
    timing = alignment(layout)
    assert timing.verdict == "misaligned"
    lines = view.verdict_text().splitlines()
    report = report_text(layout).splitlines()
    assert lines[0] == f"! alignment: {timing.summary} - fix: {timing.recommendation.line}"
    assert lines[1] == "drift per chunk (s): " + " ".join(f"{c.drift:+.2f}" for c in timing.chunks
                                                             if c.drift is not None)
    for line in lines[:1] + lines[2:]:  # every line but the drift list is a line of the CLI report
        assert line in report
    assert [f.kind for f in findings(layout, timing)] == ["alignment"]
    html = ui["widget"].children[1].value
    assert "#b71c1c" in html and "misaligned" in html  # red: not aligned


def test_size_warnings_on_a_long_layout(omni_processor):
    layout = plan(dict(duration=79.5, width=1280, height=720, native_fps=25.0, has_audio=True),
                  LayoutSettings(answer=ANSWER), processor=omni_processor)
    kinds = {f.kind: f for f in findings(layout)}
    assert set(kinds) >= {"size", "context", "logits"}
    tokens = len(layout.input_ids)
    assert f"{tokens:,} input ids, over the model's 32,768-token context" == kinds["context"].line
    gib = tokens * 152064 * 4 / 2**30
    assert kinds["logits"].line.startswith(f"the float32 logits of {tokens:,} tokens take {gib:.1f} GiB")
    assert f"pixel_values_videos is {layout.stats.pixel_values_videos_mb:,.1f} MB" in kinds["size"].line
    report = report_text(layout)
    assert all(f"! {f}" in report for f in kinds.values())


def test_no_answer_labels_nothing_and_says_so(clips, omni_processor):
    layout = plan(probe(clips / "street_market.mkv"), LayoutSettings(frames=4), processor=omni_processor)
    assert LayoutSettings().answer is None and layout.stats.label_tokens == 0
    assert "! labels: no token is labelled (no answer given" in report_text(layout)


# ----------------------------------------------------------------------------- item 3: long sequences


@pytest.fixture(scope="module")
def long_layout(omni_processor):
    layout = plan(dict(duration=68.0, width=1280, height=720, native_fps=25.0, has_audio=True),
                  LayoutSettings(answer=ANSWER), processor=omni_processor)
    assert len(layout.input_ids) >= 50_000
    return layout


def _pixel_widths(ax, collection):
    widths = []
    for path in collection.get_paths():
        xs = ax.transData.transform(path.vertices)[:, 0]
        widths.append(xs.max() - xs.min())
    return widths


def test_minimap_keeps_labels_and_roles_visible(long_layout):
    layout = long_layout
    labelled = np.flatnonzero(np.asarray(layout.labels) != -100)
    assert 0 < labelled.size < 20  # 14 labelled tokens among 50,000: 0.02 px each at full scale
    fig = draw_layout(layout, clock=clock_of(layout))
    overview = fig.panels["overview"]
    fig.canvas.draw()
    band = next(c for c in overview.collections if c.get_label() == "labelled band")
    assert all(w >= MIN_RUN_PX - 0.01 for w in _pixel_widths(overview, band))
    marker = next(line for line in overview.lines if line.get_label() == "labelled marker")
    assert marker.get_xdata() == pytest.approx([labelled[0] + labelled.size / 2])
    roles = next(c for c in overview.collections if c.get_label() == "role band")
    assert min(_pixel_widths(overview, roles)) >= MIN_RUN_PX - 0.01  # the assistant turn's few tokens too
    assert "assistant" in [t.get_text() for t in overview.texts]
    assert overview.get_xlim() == (0, len(layout.input_ids))


def test_zoomed_strip_of_a_selection_in_a_long_layout(long_layout):
    ui = show_layout(long_layout, display=False)
    view, n = ui["view"], len(long_layout.input_ids)
    segment = next(s for s in long_layout.segments if s.labelled)
    ui["controls"]["segment"].value = (segment.start, segment.end)
    fig = view.figure()
    assert fig.panels["selection"].get_xlim() == (segment.start, segment.end)
    assert fig.panels["overview"].get_xlim() == (0, n)
    frame = next(p for p in fig.panels["overview"].patches if p.get_label() == "selection frame")
    assert frame.get_x() == segment.start
    assert bytes(view.png()).startswith(PNG)


# ----------------------------------------------------------------------------- item 6: export


def _images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)]


def test_view_saves_a_self_contained_html_report(ui, kitchen, tmp_path):
    _, _, layout = kitchen
    view = ui["view"]
    path = view.save(tmp_path / "kitchen.html")
    text = open(path, encoding="utf-8").read()
    assert not re.search(r"""(src|href)=['"](?!data:)""", text)  # nothing outside the file
    images = _images(text)
    assert len(images) == 2 and all(png.startswith(PNG) for png in images)  # strip, alignment timeline
    import html

    for line in view.verdict_text().splitlines():
        assert html.escape(line) in text
    assert html.escape(report_text(layout)) in text
    assert html.escape(view.media_text()) in text


def test_view_saves_markdown(ui, tmp_path):
    text = open(ui["view"].save(tmp_path / "kitchen.md"), encoding="utf-8").read()
    assert text.startswith("# token layout of kitchen_talk.mkv")
    assert "```text\n========== Omni Batch Debug ==========" in text
    assert len(_images(text)) == 2


def test_cli_inspect_writes_html_and_markdown(clips, tmp_path, capsys):
    from omni_bench.cli import main

    html_path, md_path = tmp_path / "r.html", tmp_path / "r.md"
    clip = str(clips / "portrait_music.mkv")
    assert main(["inspect", clip, "--frames", "4", "--html", str(html_path), "--markdown", str(md_path)]) == 0
    out, err = capsys.readouterr()
    assert f"report written to {html_path}" in err and f"report written to {md_path}" in err
    html_text = html_path.read_text(encoding="utf-8")
    assert "[Size and warnings]" in out and "! labels: no token is labelled" in out
    assert "! labels: no token is labelled" in html_text and len(_images(html_text)) == 2
    assert "```text" in md_path.read_text(encoding="utf-8")
    assert main(["inspect", clip, "--html", str(tmp_path / "missing" / "r.html")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)
