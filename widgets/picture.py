"""Figures that draw themselves in a notebook, without pyplot.

Every ``draw_*`` of :mod:`omni_bench_widgets` returns a :class:`Picture` (or, for a view drawn
on one Axes, a :class:`PictureAxes` of a Picture): a plain ``matplotlib.figure.Figure`` on the
Agg canvas - ``.axes``, ``.savefig``, ``.add_subplot`` work as usual - with a ``_repr_png_``
that JupyterLab, nbval and nbconvert show as an ``image/png`` output. The PNG is rendered
lazily, the first time something asks for it, and kept until the figure changes
(matplotlib marks a changed figure ``stale``), as lovely-tensors' display objects do::

    fig = figure(5, 3)            # 500 x 300 px at dpi 100
    fig.add_subplot().plot([0, 1])
    fig                           # a cell's last expression: the picture, drawn once

A Figure made by pyplot keeps pyplot's own display (matplotlib-inline); nothing here imports
pyplot, so ``import omni_bench`` and these views never load it. Not covered: interactive
backends (ipympl), SVG output.
"""

from __future__ import annotations

import io

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["Picture", "PictureAxes", "figure", "png_bytes"]

_STAMP = {"Software": None}  # no matplotlib version in the PNG: stable bytes


def png_bytes(fig) -> bytes:
    """Render a Figure to PNG bytes (``savefig``), without the matplotlib version stamp."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata=_STAMP)
    return buf.getvalue()


class Picture(Figure):
    """A pyplot-free Figure whose notebook form is its PNG (rendered once, again only after a change)."""

    _png: bytes | None = None

    def __repr__(self) -> str:  # a Figure's text form, "<Figure size 500x300 with 1 Axes>", as records hold it
        return Figure.__repr__(self).replace(f"<{type(self).__name__} ", "<Figure ", 1)

    def _repr_png_(self) -> bytes:
        if self._png is None or self.stale:
            buf = io.BytesIO()
            self.canvas.print_png(buf, metadata=_STAMP)  # draws the figure: stale is False after it
            self._png = buf.getvalue()
        return self._png


class PictureAxes(Axes):
    """An Axes whose notebook form is the picture of its figure (for views that return the Axes)."""

    def _repr_png_(self) -> bytes:
        fig = self.figure
        return fig._repr_png_() if isinstance(fig, Picture) else png_bytes(fig)


def figure(width: float, height: float, **kwargs) -> Picture:
    """A :class:`Picture` on the Agg canvas: ``figure(9, 2)`` is 900 x 200 px at dpi 100.

    ``kwargs`` go to ``Figure`` (e.g. ``layout="constrained"``).
    """
    fig = Picture(figsize=(width, height), dpi=100, **kwargs)
    FigureCanvasAgg(fig)
    return fig
