"""What every view shares: the factory contract, colours, PNG rendering and per-token codes.

The contract (one for every ``show_x``)::

    show_x(obj, *, display=True)  -> the root widget, displayed
    show_x(obj, *, display=False) -> {"widget": root, "controls": {...}, "view": view}

``controls`` are the input widgets by name (tests set ``controls["fps"].value = 1.0``);
``view`` is the plain-Python object behind the widget (its current data, ``text()`` = the
text twin). The root's ``text/plain`` form is the view's one-line summary, so a notebook
record of a displayed widget holds a deterministic line instead of a model id.

Figures are :class:`.picture.Picture` objects (a ``matplotlib.figure.Figure`` on the Agg
canvas that shows as a picture in a notebook), never pyplot, rendered to PNG bytes (no
"Software" stamp, so bytes are stable) for an ``ipywidgets.Image``.
Not covered: interactive matplotlib backends (ipympl), click events on the image.
"""

from __future__ import annotations

import ipywidgets as W
import numpy as np

import omni_bench
from omni_bench.layout.labels import IGNORE_INDEX

from .picture import figure, png_bytes  # noqa: F401 (the views import them from here)

# kind codes of TokenLayout.kinds: 0 text, 1 special, 2 VIDEO, 3 AUDIO, 4 IMAGE
KIND_NAMES = ("text", "special", "VIDEO", "AUDIO", "IMAGE")
KIND_COLOURS = ("#8fa8c8", "#3b3b3b", "#f28e2b", "#59a14f", "#b07aa1")
ROLE_NAMES = ("", "system", "user", "assistant", "other")
ROLE_COLOURS = ("#dddddd", "#bab0ac", "#4e79a7", "#edc948", "#9c755f")
LABEL_COLOUR = "#d62728"


class Root(W.VBox):
    """The root of a view: a VBox whose plain-text form is its view's summary line."""

    def __init__(self, view, **kwargs):
        super().__init__(**kwargs)
        self.view = view

    _shown_in = None  # the cell that last displayed this root (see _ipython_display_)

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle["text/plain"] = self.view.summary()
        return bundle

    def _ipython_display_(self) -> None:
        """Display at most once per cell. A factory displays its root and returns it, so a bare
        ``show_x(...)`` as a cell's last expression would otherwise draw a second, live copy."""
        from IPython.display import display

        cell = _current_cell()
        if cell is not None and cell == self._shown_in:
            return
        self._shown_in = cell
        display(self._repr_mimebundle_(), raw=True)


def _current_cell():
    """An id of the cell running now: the kernel's execute request id (or IPython's execution
    count); None outside IPython."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return None
    header = getattr(shell, "parent_header", None) or {}
    return header.get("msg_id") or shell.execution_count


def contract(root: Root, controls: dict, display: bool):
    """The factory contract: display and return the root, or return the parts for tests."""
    if display:
        from IPython.display import display as ipy_display

        ipy_display(root)
        return root
    return {"widget": root, "controls": controls, "view": root.view}


def runs(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encoding: ``runs([0, 0, 2, 2, 2, 0]) -> (starts [0, 2, 5], lengths [2, 3, 1], values [0, 2, 0])``."""
    codes = np.asarray(codes)
    if codes.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, codes[:0]
    starts = np.concatenate([[0], np.flatnonzero(codes[1:] != codes[:-1]) + 1])
    lengths = np.diff(np.concatenate([starts, [codes.size]]))
    return starts, lengths, codes[starts]


def role_codes(layout) -> np.ndarray:
    """Per-token role codes (index into ROLE_NAMES). The ``<|im_start|>role`` header tokens,
    which sit between segments, belong to the turn they open."""
    out = np.zeros(len(layout.input_ids), dtype=np.int8)
    previous = 0
    code = 0
    for seg in sorted(layout.segments, key=lambda s: s.start):
        code = ROLE_NAMES.index(seg.role) if seg.role in ROLE_NAMES else ROLE_NAMES.index("other")
        out[previous:seg.end] = code
        previous = seg.end
    out[previous:] = code
    return out


def labelled_mask(layout) -> np.ndarray:
    """True where the label is not -100."""
    return np.asarray(layout.labels) != IGNORE_INDEX


def tokenizer_of(layout):
    """The layout's tokenizer (``load_processor`` caches the processor), or None if it cannot load."""
    try:
        return omni_bench.load_processor(layout.profile).tokenizer
    except (omni_bench.OmniBenchError, OSError, ValueError):
        return None


def grid_text(layout) -> str:
    """``[[8, 18, 32]]`` or ``-``."""
    grids = layout.stats.video_grid_thw
    return str([list(g) for g in grids]) if grids else "-"
