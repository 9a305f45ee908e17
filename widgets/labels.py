"""The label-mask viewer: the decoded sequence with what the loss sees highlighted.

Labelled text (label != -100) is highlighted, everything else is greyed, and each
VIDEO/AUDIO/IMAGE run is one chip ("VIDEO × 128"), so a 30k-token sample reads in a
screen. The text twin :func:`render_labels_text` writes the same sequence with labelled
text inside ``⟦ ⟧`` and runs as ``[VIDEO × 128]``. Works from the layout's segments (their
decoded text); the tokenizer only spells the span brackets (``<|vision_bos|>`` for Omni,
``<|vision_start|>`` for VL). Not covered: per-token label values (they equal ``input_ids``
where set).
"""

from __future__ import annotations

import html

import ipywidgets as W

from ._common import KIND_COLOURS, KIND_NAMES, LABEL_COLOUR, Root, contract, labelled_mask, tokenizer_of

__all__ = ["show_labels", "render_labels_text", "label_pieces", "LabelsView"]

_OPEN = {"vision": "<|vision_bos|>", "audio": "<|audio_bos|>"}  # Omni's names, when no tokenizer loads
_CLOSE = {"vision": "<|vision_eos|>", "audio": "<|audio_eos|>"}


def _bracket_names(layout, tokenizer) -> tuple[dict, dict]:
    """The opener / closer of vision and audio spans as this tokenizer spells them (VL: <|vision_start|>)."""
    ids = layout.extra.get("token_ids")
    if tokenizer is None or ids is None:
        return _OPEN, _CLOSE
    name = tokenizer.convert_ids_to_tokens
    opens = {"vision": name(ids.vision_bos), "audio": name(ids.audio_bos) if ids.audio_bos is not None else ""}
    closes = {"vision": name(ids.vision_eos), "audio": name(ids.audio_eos) if ids.audio_eos is not None else ""}
    return opens, closes


def label_pieces(layout, *, hide_system: bool = False, max_runs: int = 24,
                 tokenizer=None) -> list[tuple[str, str, bool]]:
    """The sequence as ``(kind, text, labelled)`` pieces, kind in header/text/run/special/note.

    The ``<|im_start|>role`` header tokens between segments become ``header`` pieces;
    a media span becomes its opener, one ``run`` piece per run (the middle elided past
    ``max_runs``) and its closer, spelled by ``tokenizer`` (default: the layout's).
    ``labelled`` is True where any label in the piece is set.
    """
    opens, closes = _bracket_names(layout, tokenizer if tokenizer is not None else tokenizer_of(layout))
    mask = labelled_mask(layout)
    pieces: list[tuple[str, str, bool]] = []
    previous = 0
    for seg in sorted(layout.segments, key=lambda s: s.start):
        if seg.start > previous:
            header = "<|im_start|>" + (seg.role if seg.role in ("system", "user", "assistant") else "")
            pieces.append(("header", header, bool(mask[previous:seg.start].any())))
        previous = seg.end
        if hide_system and seg.role == "system":
            if seg.kind == "text" and seg.text.strip():
                pieces.append(("note", f"system text, {seg.length} tokens", bool(seg.labelled)))
                if seg.text.endswith("\n"):
                    pieces.append(("text", "\n", False))
            elif seg.kind == "text":
                pieces.append(("text", seg.text, bool(seg.labelled)))
            continue
        if seg.kind == "text":
            pieces.append(("text", seg.text, bool(seg.labelled)))
            continue
        labelled = bool(seg.labelled)
        pieces.append(("special", opens[seg.kind], labelled))
        runs = list(seg.runs)
        if len(runs) > max_runs:
            keep = max(max_runs - 1, 1)
            runs = [*runs[:keep], ("…", len(runs) - keep - 1), *runs[-1:]]
        for kind, count in runs:
            text = f"… {count} more runs …" if kind == "…" else f"{kind} × {count}"
            pieces.append(("note" if kind == "…" else "run", text, labelled))
        pieces.append(("special", closes[seg.kind], labelled))
    return pieces


def _counts(layout) -> str:
    total = len(layout.input_ids)
    return f"labels: {int(labelled_mask(layout).sum())} of {total} tokens labelled, the rest -100"


def render_labels_text(layout, *, hide_system: bool = False, max_runs: int = 24) -> str:
    """Text twin: the decoded sequence, labelled text in ``⟦ ⟧``, runs as ``[VIDEO × 128]``.

    ``<|im_start|>assistant\\n⟦A moving white bar ... plays.<|im_end|>⟧\\n`` for the default sample.
    """
    out = [_counts(layout)]
    for note in layout.notes:
        if note.startswith("labels:"):
            out.append(f"! {note}")
    body = []
    for kind, text, labelled in label_pieces(layout, hide_system=hide_system, max_runs=max_runs):
        shown = f"[{text}]" if kind in ("run", "note") else text
        body.append(f"⟦{shown}⟧" if labelled else shown)
    return "\n".join(out) + "\n" + "".join(body).replace("⟧⟦", "")


def _chip(text: str, colour: str, labelled: bool) -> str:
    border = f"2px solid {LABEL_COLOUR}" if labelled else "1px solid transparent"
    return (f"<span style='background:{colour};color:white;border-radius:3px;padding:0 4px;margin:0 1px;"
            f"border:{border}'>{html.escape(text)}</span>")


def _pieces_html(layout, hide_system: bool, max_runs: int) -> str:
    parts = []
    for kind, text, labelled in label_pieces(layout, hide_system=hide_system, max_runs=max_runs):
        if kind == "run":
            name = text.split(" ")[0]
            parts.append(_chip(text, KIND_COLOURS[KIND_NAMES.index(name)], labelled))
        elif kind == "note":
            parts.append(f"<i style='color:#999'>[{html.escape(text)}]</i>")
        elif labelled:
            parts.append(f"<span style='background:#ffe08a;color:black;outline:1px solid {LABEL_COLOUR}'>"
                         f"{html.escape(text)}</span>")
        else:
            weight = "bold" if kind == "header" else "normal"
            parts.append(f"<span style='color:#9a9a9a;font-weight:{weight}'>{html.escape(text)}</span>")
    legend = ("<span style='background:#ffe08a;outline:1px solid #d62728'>labelled</span> "
              "<span style='color:#9a9a9a'>-100 (ignored)</span>")
    notes = "".join(f"<div style='color:#b00'>! {html.escape(n)}</div>" for n in layout.notes
                    if n.startswith("labels:"))
    return (f"<div style='font-size:12px'>{html.escape(_counts(layout))} · {legend}</div>{notes}"
            f"<div style='font-family:monospace;font-size:12px;white-space:pre-wrap;line-height:1.7;"
            f"max-height:400px;overflow:auto'>{''.join(parts)}</div>")


class LabelsView:
    """The state behind :func:`show_labels`: the layout and the display options."""

    def __init__(self, layout, hide_system: bool = False, max_runs: int = 24):
        self.layout = layout
        self.hide_system = hide_system
        self.max_runs = max_runs

    def summary(self) -> str:
        labelled = self.layout.labelled_text
        shown = labelled if len(labelled) <= 60 else labelled[:60] + "..."
        return f"{_counts(self.layout)}; labelled text {shown!r}"

    def text(self) -> str:
        return render_labels_text(self.layout, hide_system=self.hide_system, max_runs=self.max_runs)

    def html(self) -> str:
        return _pieces_html(self.layout, self.hide_system, self.max_runs)

    def _repr_html_(self) -> str:  # a static copy of the view for records read without a kernel
        return self.html()

    def __repr__(self) -> str:
        return self.summary()


def show_labels(layout, *, display: bool = True):
    """Label-mask viewer for a :class:`omni_bench.TokenLayout`.

    Controls: ``hide_system`` (fold the system prompt into a note), ``max_runs`` (media
    runs shown per span before the middle is elided). Returns the root widget, or with
    ``display=False`` ``{"widget", "controls", "view"}``; ``view`` is a :class:`LabelsView`.
    """
    view = LabelsView(layout)
    controls = {
        "hide_system": W.Checkbox(value=False, description="fold the system prompt", indent=False),
        "max_runs": W.IntSlider(value=view.max_runs, min=2, max=200, description="runs shown",
                                continuous_update=False),
    }
    body = W.HTML()

    def redraw(change=None) -> None:
        view.hide_system = controls["hide_system"].value
        view.max_runs = controls["max_runs"].value
        body.value = view.html()

    for widget in controls.values():
        widget.observe(redraw, names="value")
    redraw()
    root = Root(view, children=[W.HBox(list(controls.values())), body])
    return contract(root, controls, display)

