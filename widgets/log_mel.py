"""The audio under the AUDIO tokens as the model sees it: the log-mel ``input_features``.

The waveform row of the inspector shows what is in the clip; this row shows what the
processor hands the audio tower. :func:`processor_log_mel` runs the processor's own feature
extractor (``processor.feature_extractor``, transformers' ``WhisperFeatureExtractor`` for the
Omni families) on the decoded track with the keywords the processor itself passes, and keeps
the valid frames: its result equals
``input_features[0, :, :feature_attention_mask.sum()]`` of the processor call (tested).

Mel frame ``j`` covers ``[j, j + 1) * hop_length / sampling_rate`` s (10 ms), so an AUDIO run
whose tokens cover ``[lo, hi)`` s is drawn from frames ``round(lo * 100) ... round(hi * 100)``
over its token positions - the token strip's axis - with the chunk bounds of the other rows.

* :func:`processor_log_mel` - ``[mel_bins, frames]`` float32;
* :func:`draw_log_mel` - the row of :func:`omni_bench_widgets.draw_layout` (``audio_view="log-mel"``);
* :func:`log_mel_runs` / :func:`render_log_mel_text` - which frames a selection shows, as data and
  as one line (the text twin).

Not covered: a layout planned with a non-default ``audio_max_seconds`` (the extractor's own
300 s length is used), audio given apart from the video.
"""

from __future__ import annotations

import numpy as np

__all__ = ["processor_log_mel", "log_mel_runs", "draw_log_mel", "render_log_mel_text", "FRAMES_PER_SECOND",
           "audio_runs", "bare_axes"]

FRAMES_PER_SECOND = 100  # mel frames per second: sampling_rate / hop_length = 16000 / 160


def audio_runs(layout, start: int, stop: int) -> list[tuple[int, int]]:
    """``[(first, end), ...]``: the runs of AUDIO tokens in ``[start, stop)`` (the waveform's and the log-mel's)."""
    audio = np.concatenate([[False], layout.kinds[start:stop] == 3, [False]])
    edges = np.flatnonzero(audio[1:] != audio[:-1])
    return [(start + int(a), start + int(b)) for a, b in zip(edges[::2], edges[1::2])]


def bare_axes(ax) -> None:
    """No frame but the bottom axis (the media rows under the token strip)."""
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def processor_log_mel(processor, audio: np.ndarray, sampling_rate: int) -> np.ndarray:
    """``[mel_bins, valid frames]``: the log-mel the processor computes for ``audio`` (mono float samples).

    ``processor.feature_extractor(audio, **keywords)`` with the processor's own audio keywords
    (its class's ``audio_kwargs``: Qwen3-Omni pads to the clip and never truncates; Qwen2.5-Omni
    pads to ``max_length``, which its processor forces), cut to the attention mask.
    """
    keywords = {"padding": "max_length", "return_attention_mask": True,
                **dict(getattr(processor, "audio_kwargs", None) or {}), "sampling_rate": sampling_rate}
    out = processor.feature_extractor([np.asarray(audio, dtype=np.float32)], return_tensors="np", **keywords)
    valid = int(np.asarray(out["attention_mask"])[0].sum())
    return np.ascontiguousarray(np.asarray(out["input_features"], dtype=np.float32)[0, :, :valid])


def log_mel_runs(layout, clock, mel: np.ndarray, start: int, stop: int) -> list[tuple[int, int, int, int]]:
    """``[(first token, one past last token, first mel frame, one past last frame), ...]`` per AUDIO run."""
    if clock is None or clock.times is None:
        return []
    out = []
    for a, b in audio_runs(layout, start, stop):
        lo, hi = clock.times[a, 0], clock.times[b - 1, 1]
        f0 = min(int(round(lo * FRAMES_PER_SECOND)), mel.shape[1])
        f1 = min(int(round(hi * FRAMES_PER_SECOND)), mel.shape[1])
        out.append((a, b, f0, f1))
    return out


def draw_log_mel(ax, layout, clock, mel: np.ndarray, start: int, stop: int) -> int:
    """Each AUDIO run's log-mel frames over its tokens (one colour scale for the whole track); returns the runs."""
    bins = mel.shape[0]
    lo, hi = (float(mel.min()), float(mel.max())) if mel.size else (0.0, 1.0)
    drawn = 0
    for a, b, f0, f1 in log_mel_runs(layout, clock, mel, start, stop):
        if f1 <= f0:
            continue
        ax.imshow(mel[:, f0:f1], origin="lower", extent=(a, b, 0, bins), aspect="auto", cmap="magma",
                  vmin=lo, vmax=hi, interpolation="nearest", label=f"log-mel {f0}:{f1}")
        drawn += 1
    ax.set_xlim(start, stop)
    ax.set_ylim(0, bins)
    ax.set_yticks([0, bins], ["0", str(bins)])
    ax.set_ylabel("mel bin", fontsize=7)
    ax.text(1.0, 1.02, f"log-mel input_features ({bins} bins x 10 ms)", transform=ax.transAxes, ha="right",
            va="bottom", fontsize=6, color="#555555")
    bare_axes(ax)
    return drawn


def render_log_mel_text(layout, clock, mel: np.ndarray | None, start: int, stop: int) -> str:
    """One line: ``"log-mel input_features [128, 1200]: frames 0-200 (2.00 s) under 50 AUDIO tokens"``."""
    if mel is None:
        return "log-mel: - (no audio decoded)"
    head = f"log-mel input_features [{mel.shape[0]}, {mel.shape[1]}]"
    runs = log_mel_runs(layout, clock, mel, start, stop)
    if not runs:
        return f"{head}: no AUDIO tokens in the selection"
    frames = sum(f1 - f0 for _, _, f0, f1 in runs)
    tokens = sum(b - a for a, b, _, _ in runs)
    spans = ", ".join(f"{f0}-{f1}" for _, _, f0, f1 in runs[:6]) + (", ..." if len(runs) > 6 else "")
    return (f"{head}: frames {spans} ({frames / FRAMES_PER_SECOND:.2f} s) under {tokens:,} AUDIO tokens "
            f"in {len(runs)} run{'s' if len(runs) != 1 else ''}")
