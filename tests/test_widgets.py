"""The widgets, driven headlessly through their one contract, and their text twins.

``show_x(obj, display=False)`` returns ``{"widget", "controls", "view"}``: tests set control
values and assert on the view's state and text. Also: ``import omni_bench`` never loads
ipywidgets or pyplot, and the widgets never load pyplot either.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import ipywidgets as W
import numpy as np
import pytest

from omni_bench import LayoutSettings, inspect, probe, rope_positions
from omni_bench.core.tokens import token_ids
from omni_bench.layout import arith
from omni_bench.layout.token_layout import LayoutStats, build_layout
from omni_bench.training.metrics import read_metrics_file
from omni_bench_widgets import (
    draw_layout,
    render_dashboard_text,
    render_labels_text,
    render_layout_text,
    show_dashboard,
    show_labels,
    show_layout,
    token_rows,
)
from omni_bench_widgets.inspector import clock_of, default_selection

PNG = b"\x89PNG\r\n\x1a\n"
CAPTION = "A moving white bar crosses a colour gradient while a tone plays."  # the bundled clips' content


def _image(root) -> W.Image:
    found = [w for w in _walk(root) if isinstance(w, W.Image)]
    assert len(found) == 1
    return found[0]


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


@pytest.fixture(scope="module")
def market(clips):
    return clips / "street_market.mkv"


@pytest.fixture(scope="module")
def layout(market, omni_processor):
    return inspect(str(market), LayoutSettings(frames=16, answer=CAPTION), processor=omni_processor)


# ----------------------------------------------------------------------------- import hygiene


@pytest.mark.parametrize("module", ["ipywidgets", "matplotlib.pyplot"])
def test_import_omni_bench_loads_no_gui(module):
    code = f"import omni_bench, sys; omni_bench.LayoutSettings; assert {module!r} not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_widgets_never_load_pyplot():
    code = ("import sys, omni_bench_widgets as w; [getattr(w, name) for name in w.__all__]; "
            "w.show_dashboard([{'step': 1, 'loss': 2.0}], display=False); "
            "assert 'matplotlib.pyplot' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names_resolve():
    import omni_bench_widgets

    assert set(omni_bench_widgets.__all__) - {"__version__"} == set(omni_bench_widgets._EXPORTS)
    for name in omni_bench_widgets.__all__:
        assert getattr(omni_bench_widgets, name) is not None


# ----------------------------------------------------------------------------- inspector


def test_contract_and_text_twin(layout):
    ui = show_layout(layout, display=False)
    assert set(ui) == {"widget", "controls", "view"}
    # no meta: nothing to re-plan; the clip has audio: the audio row's waveform / log-mel switch
    assert set(ui["controls"]) == {"selection", "segment", "listen", "audio_view"}
    view = ui["view"]
    assert ui["widget"]._repr_mimebundle_()["text/plain"] == view.summary()
    assert view.summary().startswith("street_market.mkv: 1423 tokens · video_grid_thw [[8, 18, 32]]")
    assert bytes(_image(ui["widget"]).value).startswith(PNG)
    # the default selection: <|vision_bos|> <|audio_bos|> VIDEO x 288, AUDIO x 50, first VIDEO of the next run
    assert view.selection == default_selection(layout) == (43, 384)
    text = view.text()
    assert text.startswith(str(layout))
    assert "[Selection 43:384 of 1423 tokens, 6 rows]" in text
    # VIDEO rows per grid step (one temporal id), AUDIO rows per chunk; real seconds from the sampled frames
    assert "45-188      VIDEO    user       -      0      44         0.00-1.08 s      VIDEO × 144" in text
    assert "333-382     AUDIO    user       -      0      44-93      0.00-2.00 s      AUDIO × 50" in text
    assert "'<|vision_bos|>'" in text
    assert text == render_layout_text(layout, (43, 384))


def test_selection_controls(layout, omni_processor):
    ui = show_layout(layout, display=False)
    controls, view = ui["controls"], ui["view"]
    controls["selection"].value = (1395, 1410)
    assert view.selection == (1395, 1410)
    rows = token_rows(layout, 1395, 1410, tokenizer=omni_processor.tokenizer)
    labelled = "".join(r["token"] for r in rows if r["label"])
    assert labelled and layout.labelled_text.startswith(labelled)
    assert [r["role"] for r in rows][-1] == "assistant"
    assert "selection 1395:1410" in ui["widget"]._repr_mimebundle_()["text/plain"]
    segment = next(s for s in layout.segments if s.labelled)
    controls["segment"].value = (segment.start, segment.end)
    assert view.selection == (segment.start, segment.end)
    assert all(r["label"] for r in token_rows(layout, segment.start, segment.end))


def test_clock_agrees_with_alignment(market, omni_processor):
    from omni_bench.layout.alignment import alignment, temporal_positions

    layout = inspect(str(market), LayoutSettings(frames=16, processor_fps=4.0), processor=omni_processor)
    clock = clock_of(layout)
    assert (clock.temporal == temporal_positions(layout)).all()
    kinds = layout.kinds
    for chunk in alignment(layout).chunks:
        video = (clock.chunk == chunk.index) & (kinds == 2)
        audio = (clock.chunk == chunk.index) & (kinds == 3)
        assert (video.sum(), audio.sum()) == (chunk.video_tokens, chunk.audio_tokens)
        if chunk.video_tokens:
            assert (clock.times[video, 0].min(), clock.times[video, 1].max()) == pytest.approx(chunk.video_span)
        if chunk.audio_tokens:
            assert (clock.times[audio, 0].min(), clock.times[audio, 1].max()) == pytest.approx(chunk.audio_span)
    rows = token_rows(layout, 0, len(layout.input_ids), clock=clock)
    assert all(r["time"] is None and r["chunk"] is None for r in rows if r["kind"] in ("text", "special"))
    assert sum(r["stop"] - r["pos"] for r in rows) == len(layout.input_ids)


@pytest.fixture
def planned(layout, market):
    return show_layout(layout, meta=probe(market), settings=LayoutSettings(frames=16, answer=CAPTION),
                       display=False)


def test_frames_control_replans(planned, market):
    controls, view = planned["controls"], planned["view"]
    assert controls["frames"].continuous_update is False and controls["fps"].continuous_update is False
    controls["frames"].value = 8
    assert view.error is None and view.replans == 1
    assert view.layout.stats.video_grid_thw == ((4, 18, 32),)
    assert "video_grid_thw [[4, 18, 32]]" in view.summary()
    assert "[[4, 18, 32]]" in planned["widget"]._repr_mimebundle_()["text/plain"]
    assert view.settings.frames == 8 and view.settings.fps is None
    assert view.layout.input_ids == inspect(str(market), LayoutSettings(frames=8, answer=CAPTION)).input_ids


def test_fps_and_pixel_controls_replan(planned):
    controls, view = planned["controls"], planned["view"]
    controls["fps"].value = 1.0  # 8 s at 1 fps: 8 frames, 4 grid steps
    assert controls["sampling"].value == "fps"
    assert view.settings.fps == 1.0 and view.settings.frames is None
    assert view.layout.stats.sampled_frames == 8
    controls["min_pixels"].value = 32 * 28 * 28  # lowered first: max below min is refused (test_inspector_controls)
    controls["max_pixels"].value = 64 * 28 * 28
    assert view.error is None
    h, w = arith.video_resize(180, 320, min_pixels=32 * 28 * 28, max_pixels=64 * 28 * 28)
    assert view.layout.stats.video_grid_thw == ((4, h // 14, w // 14),)
    assert view.layout.stats.resized_hw == (h, w)


def test_chunk_and_processor_fps_controls_replan(planned):
    controls, view = planned["controls"], planned["view"]
    controls["seconds_per_chunk"].value = 4.0
    s = view.layout.stats
    expected = arith.interleave_runs(s.video_grid_thw[0], s.second_per_grid, s.audio_tokens, seconds_per_chunk=4.0)
    assert list(view.layout.vision_runs) == expected
    assert view.layout.vision_runs[:2] == (("VIDEO", 576), ("AUDIO", 100))
    controls["processor_fps"].value = 4.0  # the processor now thinks a grid step is 0.5 s
    assert view.layout.stats.processor_fps == 4.0 and view.layout.stats.second_per_grid == 0.5
    controls["processor_fps"].value = 0.0  # 0: the fps actually sampled, as its tooltip says
    assert "0 = the fps actually sampled" in controls["processor_fps"].tooltip
    assert view.settings.processor_fps is None and view.layout.stats.processor_fps == 2.0
    assert view.replans == 3


def test_replan_errors_keep_the_last_layout(planned):
    view = planned["view"]
    before = view.layout
    view.replan(view.settings.replace(frames=1000))
    assert view.layout is before
    assert "frames 1000 is above the clip's 200 frames" in view.error and "error:" in view.summary()


def test_selection_survives_a_shorter_replan(planned):
    controls, view = planned["controls"], planned["view"]
    controls["selection"].value = (1000, 1400)
    controls["frames"].value = 4
    n = len(view.layout.input_ids)
    assert controls["selection"].max == n
    assert view.selection == controls["selection"].value
    assert view.selection[1] <= n and view.selection[0] < view.selection[1]


def _synthetic_layout(processor, n_chunks=150):
    """~30k tokens: a system/user/assistant sample whose vision span has 300 runs."""
    ids = token_ids(processor)
    tok = processor.tokenizer

    def enc(text):
        return tok.encode(text, add_special_tokens=False)

    seq = [ids.im_start, *enc("user\n"), ids.vision_bos, ids.audio_bos]
    for _ in range(n_chunks):
        seq += [ids.video] * 150 + [ids.audio] * 50
    seq += [ids.audio_eos, ids.vision_eos, *enc("Describe."), ids.im_end, *enc("\n"), ids.im_start,
            *enc("assistant\nA bar."), ids.im_end, *enc("\n")]
    labels = [-100] * len(seq)
    start = len(seq) - 1 - 1 - len(enc("A bar."))
    labels[start:-1] = seq[start:-1]
    stats = LayoutStats(input_ids_shape=(1, len(seq)), attention_mask_shape=(1, len(seq)),
                        labels_shape=(1, len(seq)), label_tokens=sum(x != -100 for x in labels))
    return build_layout(seq, labels, tok, ids, stats, source="test", profile="qwen2.5-omni-7b")


def test_strip_draws_runs_not_tokens(omni_processor):
    layout = _synthetic_layout(omni_processor)
    assert len(layout.input_ids) > 30000
    fig = draw_layout(layout, (0, len(layout.input_ids)))
    for ax in fig.axes[:2]:
        assert len(ax.collections) <= 4  # one collection per band (+ the selection outline)
        assert len(ax.patches) <= 2
    ui = show_layout(layout, display=False)
    assert bytes(_image(ui["widget"]).value).startswith(PNG)
    assert ui["view"].selection == (layout.segments[1].start, layout.segments[1].start + 2 + 200 + 1)


def test_display_true_displays_and_returns_the_root(layout, capsys):
    root = show_layout(layout)
    assert isinstance(root, W.VBox)
    assert root.view.summary() in capsys.readouterr().out


# ----------------------------------------------------------------------------- labels


def test_labels_text_twin(layout):
    text = render_labels_text(layout)
    assert text.splitlines()[0] == "labels: 14 of 1423 tokens labelled, the rest -100"
    assert "<|im_start|>assistant\n⟦A moving white bar crosses a colour gradient while a tone plays.<|im_end|>⟧\n" \
        in text
    assert "<|vision_bos|>[VIDEO × 288][AUDIO × 50][VIDEO × 288]" in text
    assert text.count("⟦") == 1


def test_labels_controls(layout):
    ui = show_labels(layout, display=False)
    controls, view = ui["controls"], ui["view"]
    html = ui["widget"].children[1].value
    assert "color:#9a9a9a" in html and "VIDEO × 288" in html and "background:#ffe08a" in html
    controls["hide_system"].value = True
    assert "[system text, 38 tokens]" in view.text() and "You are Qwen" not in view.text()
    assert "You are Qwen" not in ui["widget"].children[1].value
    controls["max_runs"].value = 3
    assert "[VIDEO × 288][AUDIO × 50][… 5 more runs …][AUDIO × 50]<|vision_eos|>" in view.text()
    assert ui["widget"]._repr_mimebundle_()["text/plain"].startswith("labels: 14 of 1423 tokens labelled")


def test_labels_on_media_are_flagged(layout, omni_processor):
    ids = token_ids(omni_processor)
    bad = build_layout(layout.input_ids, layout.input_ids, omni_processor.tokenizer, ids, layout.stats,
                       source="test", profile=layout.profile)
    text = render_labels_text(bad)
    assert text.startswith("labels: 1423 of 1423 tokens labelled")
    assert "! labels: 1352 labels on media tokens" in text
    body = text[text.index("⟦"):]
    assert body.startswith("⟦<|im_start|>system\nYou are Qwen") and body.endswith("<|im_end|>\n⟧")
    assert body.count("⟦") == 1  # one labelled stretch: the whole sequence


def test_vl_layouts_spell_their_own_brackets(market, vl_processor):
    settings = LayoutSettings(profile="qwen2.5-vl-7b", frames=4, use_audio=False)
    layout = inspect(str(market), settings, processor=vl_processor)
    assert "<|vision_start|>[VIDEO × 288]<|vision_end|>" in render_labels_text(layout)
    rows = token_rows(layout, *default_selection(layout), clock=clock_of(layout))
    assert [r["token"] for r in rows if r["kind"] == "VIDEO"] == ["VIDEO × 144", "VIDEO × 144"]
    # Qwen2.5-VL rows carry transformers 5.23's temporal ids (omni_bench.layout.rope), 2 ids per second
    temporal = rope_positions(layout)[0]
    assert all(r["temporal"][0] == temporal[r["pos"]] for r in rows)
    assert [r["temporal"][0] for r in rows if r["kind"] == "VIDEO"] == [15, 15 + int(2 * layout.stats.second_per_grid)]


# ----------------------------------------------------------------------------- dashboard


def _rows(first, last):
    return [dict(step=i * 5, loss=round(3.0 / i, 4), learning_rate=1e-4, grad_norm=1.0 + i / 100, tokens=4096,
                 label_tokens=60, peak_mib=10000 + i) for i in range(first, last + 1)]


def _write(path, rows, tail=""):
    with open(path, "a") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in rows) + tail)


def test_read_metrics_leaves_a_partial_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _write(path, _rows(1, 3), tail='{"step": 20, "lo')
    rows, offset, skipped = read_metrics_file(path)
    assert [r["step"] for r in rows] == [5, 10, 15] and skipped == 0
    _write(path, [], tail='ss": 0.5}\nnot json\n')
    rows, offset, skipped = read_metrics_file(path, offset)
    assert rows == [{"step": 20, "loss": 0.5}] and skipped == 1
    assert read_metrics_file(tmp_path / "missing.jsonl") == ([], 0, 0)


@pytest.mark.slow
def test_dashboard_refresh_and_log(tmp_path):
    _write(tmp_path / "metrics.jsonl", _rows(1, 4))
    ui = show_dashboard(tmp_path, display=False)
    view, controls = ui["view"], ui["controls"]
    assert set(controls) == {"refresh", "smoothing", "x"}
    assert view.text() == ("step 20 · loss 0.7500 · lr 1.00e-04 · grad norm 1.040 · tokens 16,384 · "
                           "label tokens 240 · peak 10,004 MiB · 4 rows · best loss 0.7500 at step 20")
    first = bytes(_image(ui["widget"]).value)
    assert first.startswith(PNG)
    _write(tmp_path / "metrics.jsonl", _rows(5, 6))
    controls["refresh"].click()
    assert len(view.rows) == 6 and view.text().startswith("step 30 · loss 0.5000")
    assert bytes(_image(ui["widget"]).value) != first
    view.log(dict(step=35, loss=0.25, tokens=100))  # a trainer pushing a row
    assert view.text().startswith("step 35 · loss 0.2500 · lr - · grad norm -")
    assert "7 rows" in ui["widget"]._repr_mimebundle_()["text/plain"]
    controls["x"].value = "tokens"
    controls["smoothing"].value = 0.0
    assert bytes(_image(ui["widget"]).value).startswith(PNG)


@pytest.mark.slow
def test_dashboard_polls_while_a_run_writes(tmp_path):
    ui = show_dashboard(tmp_path / "run", display=False, refresh_seconds=0.05)
    view = ui["view"]
    try:
        assert view.polling and view.text() == "no metrics yet"
        (tmp_path / "run").mkdir()
        _write(tmp_path / "run" / "metrics.jsonl", _rows(1, 2))
        for _ in range(200):  # wait for the poller, without asserting on how long it took
            if len(view.rows) == 2:
                break
            time.sleep(0.05)
        assert [r["step"] for r in view.rows] == [5, 10]
    finally:
        view.stop()
    assert not view.polling


def test_dashboard_text_twin_of_rows():
    assert render_dashboard_text([]) == "no metrics yet"
    ui = show_dashboard(_rows(1, 2), display=False)
    assert ui["view"].text() == render_dashboard_text(_rows(1, 2))
    assert ui["view"].refresh() == 0  # rows given directly: nothing to re-read
    assert np.isclose(float(ui["view"].text().split("loss ")[1].split(" ")[0]), 1.5)
