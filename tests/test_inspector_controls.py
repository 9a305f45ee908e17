"""Controls that keep their word: invalid combinations refused in the view with the reason, and a
re-plan that keeps a sensible selection, the range slider and the summary agreeing with it."""

from __future__ import annotations

import pytest

from omni_bench import LayoutSettings, plan, probe
from omni_bench_widgets import show_layout
from omni_bench_widgets.layout_text import carried_selection, default_selection, refusal_of

ANSWER = "A bar crosses a gradient."
PX = 28 * 28


@pytest.fixture
def ui(clips, omni_processor):
    info = probe(clips / "street_market.mkv")
    settings = LayoutSettings(frames=16, answer=ANSWER)
    return show_layout(plan(info, settings, processor=omni_processor), meta=info, settings=settings, display=False)


def _agree(ui) -> None:
    view, slider = ui["view"], ui["controls"]["selection"]
    n = len(view.layout.input_ids)
    assert slider.value == view.selection and slider.max == n
    assert 0 <= view.selection[0] < view.selection[1] <= n
    assert f"{n} tokens" in view.summary() and f"selection {view.selection[0]}:{view.selection[1]}" in view.summary()
    assert ui["widget"]._repr_mimebundle_()["text/plain"] == view.summary()


def test_max_below_min_pixels_is_refused_with_the_reason(ui):
    controls, view = ui["controls"], ui["view"]
    before = view.layout
    controls["max_pixels"].value = 64 * PX  # the profile's min is 128 x 28²
    reason = "max pixels 50176 (64 x 28²) is below min pixels 100352 (128 x 28²): raise max pixels or lower min pixels"
    assert view.error == reason and view.layout is before and view.replans == 0
    assert f"error: {reason}" in view.summary()
    assert f"refused: {reason}" in ui["widget"].children[2].value  # the status line under the banner
    controls["min_pixels"].value = 32 * PX  # now a valid pair: planned, error gone
    assert view.error is None and view.replans == 1
    assert view.settings.min_pixels == 32 * PX and view.settings.max_pixels == 64 * PX
    _agree(ui)


def test_frames_above_the_clips_are_refused(ui):
    view = ui["view"]
    before = view.layout
    view.replan(view.settings.replace(frames=202))  # street_market.mkv has 200 frames
    assert view.error == f"frames 202 is above the clip's 200 frames ({view.meta.path}): choose at most 200"
    assert view.layout is before and view.replans == 0
    assert ui["controls"]["frames"].max == 200  # the slider cannot ask for more


def test_refusal_of_names_the_numbers(clips):
    info = probe(clips / "street_market.mkv")
    assert refusal_of(LayoutSettings(frames=200), info) is None
    assert refusal_of(LayoutSettings(frames=16), info) is None
    assert refusal_of(LayoutSettings(frames=400), info).startswith("frames 400 is above the clip's 200 frames")


def test_a_shrinking_replan_scales_the_selection(ui):
    controls, view = ui["controls"], ui["view"]
    controls["selection"].value = (1000, 1400)
    old_n = len(view.layout.input_ids)
    controls["frames"].value = 4
    n = len(view.layout.input_ids)
    assert n < 1000 < old_n  # the old selection lies wholly past the new end
    assert view.selection == (round(1000 * n / old_n), round(1400 * n / old_n))
    assert view.selection[1] - view.selection[0] > 1  # not collapsed to one token
    _agree(ui)
    controls["frames"].value = 16  # and back: scaled up again, inside the layout
    _agree(ui)


def test_the_default_selection_stays_the_default(ui):
    controls, view = ui["controls"], ui["view"]
    assert view.selection == default_selection(view.layout)
    controls["frames"].value = 8
    assert view.selection == default_selection(view.layout)
    _agree(ui)


def test_a_jumped_to_segment_stays_that_segment(ui):
    controls, view = ui["controls"], ui["view"]
    labelled = next(s for s in view.layout.segments if s.labelled)
    controls["segment"].value = (labelled.start, labelled.end)
    controls["frames"].value = 4
    now = next(s for s in view.layout.segments if s.labelled)
    assert view.selection == (now.start, now.end) != (labelled.start, labelled.end)
    _agree(ui)


def test_the_whole_sequence_stays_whole(clips, omni_processor):
    info = probe(clips / "street_market.mkv")
    a = plan(info, LayoutSettings(frames=16), processor=omni_processor)
    b = plan(info, LayoutSettings(frames=4), processor=omni_processor)
    assert carried_selection(a, (0, len(a.input_ids)), b) == (0, len(b.input_ids))
