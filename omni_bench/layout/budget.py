"""Token and logits-memory budget of a whole dataset, from metadata, at array speed.

:func:`budget` takes many samples' media metadata (VideoInfo or dicts, as for
:func:`~omni_bench.layout.plan.plan`) and one :class:`~omni_bench.layout.settings.LayoutSettings`
and returns a :class:`Budget`: per sample the VIDEO, AUDIO and text tokens (text = every
other token of ``input_ids``: template, prompt, answer, ``<|vision_bos|>``...), the
total, the labelled tokens, whether the total is over ``max_total_tokens``, and the
memory of the loss's logits: ``N x V x 4`` bytes, the float32 copy transformers'
``ForCausalLMLoss`` makes of the N x V logits (the model's own bf16 logits and
cross-entropy's softmax come on top).

It runs the planner's arithmetic on NumPy arrays: frame counts (qwen-vl-utils'
``smart_nframes``, the same float operations), frame sizes (computed once per distinct
width x height), grids, mel frames and audio tokens; text tokens are tokenized once per
distinct prompt / answer / system text. Counts equal :func:`~omni_bench.layout.plan.plan`'s
(tests) and the real processor's (``benchmarks/bench_budget.py``). A dict may carry
``prompt`` / ``answer`` / ``system`` keys of its own.

:func:`budget_dataset` is the same over a real collection: video files (their headers are
read, nothing is decoded), folders of them, or metadata records; every input is either
budgeted or listed with the reason it could not be (unreadable file, no audio track when
audio is asked for, too few frames, impossible size), never dropped silently. It backs
``omni-bench budget``.

With ``max_total_tokens`` set, the report also shows how the samples would pack into rows of
that many tokens (:mod:`omni_bench.layout.budget_packing`). Not covered: multi-turn samples and
truncation by turn (``omni-bench validate`` checks those against the budget exactly), several
videos per sample.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from omni_bench.core import arith
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.light import load_planner
from omni_bench.core.media import VIDEO_SUFFIXES, VideoInfo, probe
from omni_bench.core.numbers import FIELD_BOUNDS, check_number
from omni_bench.core.problems import NO_AUDIO, Problem
from omni_bench.core.processor import resolve_profile
from omni_bench.core.stages import track
from omni_bench.core.tokens import token_ids
from omni_bench.families.base import Family
from omni_bench.layout.budget_packing import dataset_packing, format_dataset_packing
from omni_bench.layout.cost import logits_bytes
from omni_bench.layout.labels import IGNORE_INDEX, assistant_labels
from omni_bench.layout.plan import media_info, media_plan, resized_size, template_ids
from omni_bench.layout.settings import LayoutSettings, ResolvedSettings

__all__ = ["Budget", "budget", "DatasetBudget", "budget_dataset", "VIDEO_SUFFIXES", "logits_bytes", "TEXT_FIELDS"]

TEXT_FIELDS = ("prompt", "answer", "system")  # per-sample keys of a dict that override the settings


@dataclass(frozen=True)
class Budget:
    """Per-sample token counts (int64 arrays of shape [samples]) and what they cost."""

    video_tokens: np.ndarray  # VIDEO tokens
    audio_tokens: np.ndarray  # AUDIO tokens (interleaved audio of the video)
    text_tokens: np.ndarray  # every other token of input_ids
    total_tokens: np.ndarray  # len(input_ids)
    label_tokens: np.ndarray  # labels != -100 (the assistant reply and its <|im_end|>)
    logits_bytes: np.ndarray  # total_tokens x vocab_size x 4 (float32 logits in the loss)
    vocab_size: int  # rows of the LM head
    max_total_tokens: int | None  # the limit, if any
    settings: LayoutSettings = field(repr=False, compare=False, default_factory=LayoutSettings)
    audio_tokens_uncertainty: np.ndarray | None = None  # +- AUDIO tokens where the header is not exact (else 0)
    audio_dropped_seconds: np.ndarray | None = None  # audio past the feature extractor's cap (300 s), seconds

    def __len__(self) -> int:
        return len(self.total_tokens)

    @property
    def over(self) -> np.ndarray:
        """Boolean [samples]: total tokens above max_total_tokens (all False without a limit)."""
        if self.max_total_tokens is None:
            return np.zeros(len(self), dtype=bool)
        return self.total_tokens > self.max_total_tokens

    @property
    def fraction_over(self) -> float:
        return float(self.over.mean()) if len(self) else 0.0

    def to_dict(self, *, per_sample: bool = False) -> dict:
        """Summary numbers (and the per-sample arrays as lists with ``per_sample``)."""
        t = self.total_tokens
        out = {
            "samples": len(self), "max_total_tokens": self.max_total_tokens, "vocab_size": self.vocab_size,
            "fraction_over": self.fraction_over, "over": int(self.over.sum()),
            "total_tokens": _describe(t), "video_tokens": _describe(self.video_tokens),
            "audio_tokens": _describe(self.audio_tokens), "text_tokens": _describe(self.text_tokens),
            "label_tokens": _describe(self.label_tokens),
            "logits_gib": {k: v / 2**30 for k, v in _describe(self.logits_bytes).items()},
        }
        out.update(self._audio_summary())
        if self.max_total_tokens is not None:  # rows of that many tokens, packed vs padded (layout/budget_packing.py)
            out["packing"] = dataset_packing(self.total_tokens, self.max_total_tokens)
        if per_sample:
            for name in ("video_tokens", "audio_tokens", "text_tokens", "total_tokens", "label_tokens",
                         "logits_bytes", "audio_tokens_uncertainty", "audio_dropped_seconds"):
                value = getattr(self, name)
                out[name + "_per_sample"] = value.tolist() if value is not None else [0] * len(self)
        return json.loads(json.dumps(out))

    def _audio_summary(self) -> dict:
        spread = self.audio_tokens_uncertainty if self.audio_tokens_uncertainty is not None else np.zeros(len(self))
        dropped = self.audio_dropped_seconds if self.audio_dropped_seconds is not None else np.zeros(len(self))
        return {"audio_tokens_uncertainty": {"max": int(spread.max(initial=0)), "samples": int((spread > 0).sum())},
                "audio_dropped_seconds": {"samples": int((dropped > 0).sum()), "sum": float(dropped.sum()),
                                          "max": float(dropped.max(initial=0.0))}}

    def _audio_lines(self) -> list[str]:
        d = self._audio_summary()
        lines = []
        if d["audio_tokens_uncertainty"]["samples"]:
            u = d["audio_tokens_uncertainty"]
            lines.append(f"audio tokens ±{u['max']} on {u['samples']} of {len(self)} samples: their audio packets do "
                         "not give the decoded length exactly")
        if d["audio_dropped_seconds"]["samples"]:
            a = d["audio_dropped_seconds"]
            lines.append(f"audio past the feature extractor's cap: {a['samples']} of {len(self)} samples lose "
                         f"{a['sum']:.2f} s in all (at most {a['max']:.2f} s); the video after the cap has no audio")
        return lines

    def __str__(self) -> str:
        d = self.to_dict()
        lines = [f"[Budget] {d['samples']} samples, vocab {self.vocab_size}"]
        for name in ("total_tokens", "video_tokens", "audio_tokens", "text_tokens", "label_tokens"):
            s = d[name]
            lines.append(f"{name:13s} mean {s['mean']:10.1f}  p50 {s['p50']:8.0f}  p95 {s['p95']:8.0f}  "
                         f"max {s['max']:8.0f}")
        g = d["logits_gib"]
        lines.append(f"{'logits GiB':13s} mean {g['mean']:10.2f}  p50 {g['p50']:8.2f}  p95 {g['p95']:8.2f}  "
                     f"max {g['max']:8.2f}   (N x V x 4 bytes, float32 in the loss)")
        if self.max_total_tokens is not None:
            lines.append(f"over {self.max_total_tokens} tokens: {d['over']} of {d['samples']} "
                         f"({100 * self.fraction_over:.1f}%)")
        if "packing" in d:
            lines += format_dataset_packing(d["packing"])
        return "\n".join(lines + self._audio_lines())


def _describe(values: np.ndarray) -> dict:
    if len(values) == 0:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0, "sum": 0.0}
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)),
            "max": float(v.max()), "sum": float(v.sum())}


def _columns(metas) -> tuple[dict, list[tuple | None], list[str]]:
    """Metadata as arrays (one Python pass), per-sample text overrides, and paths for messages."""
    cols = {k: [] for k in ("duration", "native_fps", "total_frames", "width", "height", "has_audio",
                            "audio_seconds", "audio_uncertainty")}
    texts: list[tuple | None] = []
    paths: list[str] = []
    for meta in metas:
        if isinstance(meta, VideoInfo):
            info, text = meta, None
        elif isinstance(meta, Mapping):
            text = tuple(meta.get(k, _UNSET) for k in TEXT_FIELDS)
            text = None if all(t is _UNSET for t in text) else text
            info = media_info({k: v for k, v in meta.items() if k not in TEXT_FIELDS})
        else:
            raise TypeError(f"budget needs VideoInfo or dict metadata, got {type(meta).__name__}")
        if info.has_audio and info.audio_seconds is None:
            info = media_info(info)
        cols["duration"].append(info.duration)
        cols["native_fps"].append(info.native_fps)
        cols["total_frames"].append(info.total_frames)
        cols["width"].append(info.width)
        cols["height"].append(info.height)
        cols["has_audio"].append(info.has_audio)
        cols["audio_seconds"].append(info.audio_seconds if info.audio_seconds is not None else 0.0)
        cols["audio_uncertainty"].append(info.audio_uncertainty if info.has_audio else 0)
        texts.append(text)
        paths.append(info.path)
    arrays = {k: np.asarray(v, dtype=np.float64 if k in ("duration", "native_fps", "audio_seconds") else
                            (bool if k == "has_audio" else np.int64)) for k, v in cols.items()}
    return arrays, texts, paths


_UNSET = object()


def _frame_counts(total: np.ndarray, native_fps: np.ndarray, settings: ResolvedSettings, factor: int) -> np.ndarray:
    # the planner's frame count (arith.fps_indices' or qwen-vl-utils' smart_nframes), on arrays
    if getattr(settings, "sampling", "qwen-vl-utils") == "fps":
        return arith.fps_frame_count(total, native_fps, float(settings.fps or arith.DEFAULT_FPS), factor)
    return arith.smart_nframes(total, native_fps, nframes=settings.frames,
                               fps=None if settings.frames is not None else float(settings.fps),
                               min_frames=settings.min_frames, max_frames=settings.max_frames, frame_factor=factor,
                               check=False)


def _resolve(settings: LayoutSettings | None, processor) -> tuple[LayoutSettings, ResolvedSettings, object]:
    """Settings (default ones if None), them resolved against the processor's profile, and the
    processor (built from the profile if None)."""
    settings = settings or LayoutSettings()
    if processor is None:  # tokenizer + chat template only: no torch (omni_bench.core.light)
        processor = load_planner(settings.profile, command="budget")
    return settings, settings.resolve(resolve_profile(processor)), processor


def _sampling(cols: dict, settings: ResolvedSettings, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames sampled per sample, and where the request cannot be sampled from the video's frames."""
    count = _frame_counts(cols["total_frames"], cols["native_fps"], settings, factor)
    return count, (count < factor) | (count > cols["total_frames"])


def _sampling_message(settings: ResolvedSettings, total_frames) -> str:
    what = f"{settings.frames} frames" if settings.frames is not None else f"{settings.fps:g} fps"
    return f"cannot sample {what} from {int(total_frames)} frames"


def budget(metas: Iterable[VideoInfo | Mapping], settings: LayoutSettings | None = None, *, processor=None,
           max_total_tokens: int | None = None, vocab_size: int | None = None) -> Budget:
    """Token counts and logits memory for many samples from their metadata (nothing decoded).

    ``budget([dict(duration=256.89, width=640, height=360, native_fps=25)],
    LayoutSettings(frames=50, resize=(224, 224), processor_fps=2), max_total_tokens=8192)``
    -> video 1600, audio 6422, total 8093, not over. ``vocab_size`` defaults to the
    profile's LM-head rows (152,064 for Qwen2.5-Omni-7B). Raises OmniBenchError naming the
    first sample that cannot be sampled or lacks the audio asked for.
    """
    settings, r, processor = _resolve(settings, processor)
    profile, use_audio = r.profile, r.use_audio
    cols, texts, paths = _columns(metas)
    factor = profile.temporal_patch_size
    count, unsampleable = _sampling(cols, r, factor)
    bad = np.flatnonzero(unsampleable)
    if len(bad):
        i = int(bad[0])
        raise OmniBenchError(f"sample {i} ({paths[i]}): {_sampling_message(r, cols['total_frames'][i])}",
                             source=paths[i], reason="sampling")
    if use_audio and not cols["has_audio"].all():
        i = int(np.flatnonzero(~cols["has_audio"])[0])
        raise OmniBenchError(f"sample {i} ({paths[i]}): {NO_AUDIO}", source=paths[i], reason="no-audio")
    text, labels = _text_counts(processor, settings, texts, use_audio)
    if _per_sample_family(r):
        video, audio, spread, dropped, extra = _per_sample(cols, paths, r)
        text = text + extra
    else:
        video, audio, spread, dropped = _vectorised(cols, paths, r, count)
    total_tokens = text + video + audio
    vocab = int(vocab_size or profile.vocab_size)
    return Budget(video_tokens=video, audio_tokens=audio, text_tokens=text, total_tokens=total_tokens,
                  label_tokens=labels, logits_bytes=logits_bytes(total_tokens, vocab), vocab_size=vocab,
                  max_total_tokens=max_total_tokens, settings=settings, audio_tokens_uncertainty=spread,
                  audio_dropped_seconds=dropped)


def _per_sample_family(r: ResolvedSettings) -> bool:
    """True for a family whose counts the Qwen2.5 array arithmetic does not give (Qwen3-VL, Qwen3-Omni)."""
    family = type(r.family)
    return any(getattr(family, name) is not getattr(Family, name)
               for name in ("resized_size", "mel_frames", "audio_tokens", "span_tokens"))


def _per_sample(cols: dict, paths: list[str], r: ResolvedSettings):
    """The planner's exact arithmetic per sample (media_plan); ``extra``: span tokens that are
    neither video nor audio (Qwen3-VL's timestamp text and per-step vision pairs)."""
    n = len(paths)
    video, audio, spread, extra = (np.zeros(n, dtype=np.int64) for _ in range(4))
    for i in range(n):
        has_audio = bool(cols["has_audio"][i])
        info = VideoInfo(paths[i], float(cols["native_fps"][i]), int(cols["total_frames"][i]),
                         float(cols["duration"][i]), int(cols["width"][i]), int(cols["height"][i]), has_audio,
                         float(cols["audio_seconds"][i]) if has_audio else None, int(cols["audio_uncertainty"][i]))
        mp = media_plan(info, r)
        video[i], audio[i], spread[i] = mp.video_tokens, mp.audio_tokens, mp.audio_tokens_uncertainty
        extra[i] = mp.span_tokens - mp.video_tokens - mp.audio_tokens - (2 if mp.use_audio else 0)
    return video, audio, spread, np.zeros(n), extra


def _vectorised(cols: dict, paths: list[str], r: ResolvedSettings, count: np.ndarray):
    """Video, audio tokens, their uncertainty and the audio past the cap, on arrays (Qwen2.5)."""
    profile, factor, n = r.profile, r.profile.temporal_patch_size, len(paths)
    per_grid = _tokens_per_grid(cols["height"], cols["width"], r, paths)
    video = -(-count // factor) * per_grid
    if r.use_audio:
        samples = np.rint(cols["audio_seconds"] * profile.sampling_rate).astype(np.int64)
        audio = _audio_tokens(samples, profile)
        spread = cols["audio_uncertainty"]
        spread = np.maximum(_audio_tokens(samples + spread, profile) - audio,
                            audio - _audio_tokens(np.maximum(samples - spread, 1), profile))
        dropped = np.maximum(samples - profile.nb_max_frames * profile.hop_length, 0) / profile.sampling_rate
    else:
        audio = spread = np.zeros(n, dtype=np.int64)
        dropped = np.zeros(n)
    return video, audio, spread, dropped


def _audio_tokens(samples: np.ndarray, profile) -> np.ndarray:
    """arith.mel_frames then arith.audio_tokens, on arrays."""
    mel = arith.mel_frames(samples, hop_length=profile.hop_length, max_frames=profile.nb_max_frames)
    return arith.audio_tokens(mel)


def _tokens_per_grid(height: np.ndarray, width: np.ndarray, settings: ResolvedSettings,
                     paths: list[str]) -> np.ndarray:
    """VIDEO tokens per grid step of each sample, resizing once per distinct (height, width)."""
    profile = settings.profile
    merge = profile.merge_size * profile.merge_size
    if len(height) == 0:
        return np.zeros(0, dtype=np.int64)
    pairs, first, inverse = np.unique(np.stack([height, width], axis=1), axis=0, return_index=True,
                                      return_inverse=True)
    values = np.empty(len(pairs), dtype=np.int64)
    for k, ((h0, w0), i) in enumerate(zip(pairs, first)):
        info = VideoInfo(paths[int(i)], 1.0, 1, 1.0, int(w0), int(h0), False)
        h, w = resized_size(info, settings)
        values[k] = (h // profile.patch_size) * (w // profile.patch_size) // merge
    return values[inverse.reshape(-1)]


def _text_counts(processor, settings: LayoutSettings, texts: list[tuple | None], use_audio: bool):
    """Text and label tokens per sample, tokenizing once per distinct (prompt, answer, system)."""
    ids = token_ids(processor)
    cache: dict[tuple | None, tuple[int, int]] = {}
    text = np.empty(len(texts), dtype=np.int64)
    labels = np.empty(len(texts), dtype=np.int64)
    for i, key in enumerate(texts):
        value = cache.get(key)
        if value is None:
            changes = {} if key is None else {k: v for k, v in zip(TEXT_FIELDS, key) if v is not _UNSET}
            s = settings.replace(**changes) if changes else settings
            template, _ = template_ids(processor, s)
            lab = assistant_labels(template, ids)
            value = cache[key] = (len(template) - 1 + (2 if use_audio else 0), int((lab != IGNORE_INDEX).sum()))
        text[i], labels[i] = value
    return text, labels


# --------------------------------------------------------------------------- a real collection


@dataclass(frozen=True)
class DatasetBudget:
    """:class:`Budget` of the usable inputs, their names, and every input that was not usable."""

    budget: Budget
    sources: list[str]  # one per budgeted sample, in input order
    problems: list[Problem]  # one per input that could not be budgeted
    skipped: tuple[tuple[str, str], ...] = ()  # (file, why) for files inside folders not taken as videos

    @property
    def total(self) -> int:
        return len(self.sources) + len(self.problems)

    def to_dict(self, *, per_sample: bool = False) -> dict:
        out = {"inputs": self.total, "budgeted": len(self.sources), **self.budget.to_dict(per_sample=per_sample),
               "problems": [p.to_dict() for p in self.problems],
               "skipped": [{"source": name, "reason": why} for name, why in self.skipped]}
        if per_sample:
            out["sources"] = list(self.sources)
        return out

    def __str__(self) -> str:
        lines = [str(self.budget)]
        if self.budget.max_total_tokens is not None and self.budget.over.any():
            worst = np.argsort(-self.budget.total_tokens, kind="stable")[:5]
            lines.append("largest: " + ", ".join(f"{Path(self.sources[i]).name} {int(self.budget.total_tokens[i]):,}"
                                                 for i in worst if self.budget.over[i]))
        lines.append(f"{len(self.sources)} of {self.total} inputs budgeted, {len(self.problems)} not:")
        lines.extend(f"  {p.source}: {p.reason}: {p.message}" for p in self.problems)
        if not self.problems:
            lines[-1] = lines[-1].rstrip(":")
        if self.skipped:
            shown = ", ".join(f"{Path(name).name} ({why})" for name, why in self.skipped[:5])
            lines.append(f"{len(self.skipped)} other entr{'y' if len(self.skipped) == 1 else 'ies'} in the folders "
                         f"skipped: {shown}" + (", ..." if len(self.skipped) > 5 else ""))
        return "\n".join(lines)


# The first bytes of the containers a video comes in (MP4 / MOV / 3GP "ftyp" at 4, Matroska / WebM,
# AVI, FLV, Ogg, MPEG-PS, ASF / WMV); MPEG-TS is a 0x47 sync byte every 188 bytes.
_SIGNATURES = ((4, b"ftyp"), (0, b"\x1a\x45\xdf\xa3"), (8, b"AVI "), (0, b"FLV"), (0, b"OggS"),
               (0, b"\x00\x00\x01\xba"), (0, b"\x30\x26\xb2\x75"), (4, b"moov"), (4, b"mdat"))


def looks_like_media(path: Path) -> bool:
    """A video suffix in any case (:data:`VIDEO_SUFFIXES`), or a container signature in the first bytes."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(400)
    except OSError:
        return False
    if any(head[at:at + len(magic)] == magic for at, magic in _SIGNATURES):
        return True
    return len(head) > 376 and head[0] == head[188] == head[376] == 0x47


def _expand(items) -> tuple[list, list[tuple[str, str]]]:
    """Folders become the files in them that look like media (sorted, recursively; see
    :func:`looks_like_media`); everything else stays as given. Also ``(file, why)`` for the folders'
    other files."""
    out, skipped = [], []
    for item in items:
        if isinstance(item, (str, os.PathLike)) and Path(item).is_dir():
            for path in sorted(Path(item).rglob("*")):
                why = _not_a_file(path)
                if why is None and looks_like_media(path):
                    out.append(str(path))
                elif why != "folder":  # folders are walked; every other entry is budgeted or listed
                    skipped.append((str(path), why or "no video suffix and no container signature"))
        else:
            out.append(item)
    return out, skipped


def _not_a_file(path: Path) -> str | None:
    """Why a folder entry is not a file to budget (None: a regular file; "folder": a folder to walk).

    A symlink loop (``a.mp4 -> b.mp4 -> a.mp4``), a dangling link, a FIFO / socket / device and a folder
    named like a video are each listed with their reason, never budgeted or silently passed over."""
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except RuntimeError:  # Python 3.11 names a loop this way
            return "a symlink loop"
        except OSError as exc:
            return "a symlink loop" if exc.errno == errno.ELOOP else "a symlink to nothing"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISDIR(mode):
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return "a folder named like a video"
        return "a symlink to a folder (not followed)" if path.is_symlink() else "folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a file"
    if not stat.S_ISREG(mode):
        return "a socket or device, not a file"
    return None


def _checked_metadata(meta: dict, source: str) -> dict:
    """A metadata record whose numbers are finite and in range (omni_bench.core.numbers), or OmniBenchError."""
    for key in ("duration", "width", "height", "native_fps", "total_frames", "audio_seconds"):
        if meta.get(key) is not None:
            check_number(meta[key], f"{source}: {key}", FIELD_BOUNDS[key], integer=key in ("width", "height",
                                                                                       "total_frames"),
                         source=source)
    return meta


def budget_dataset(items: Iterable, settings: LayoutSettings | None = None, *, processor=None,
                   max_total_tokens: int | None = None, vocab_size: int | None = None,
                   progress: bool | None = False) -> DatasetBudget:
    """:func:`budget` over video files, folders of videos and/or metadata records.

    Paths are probed (container headers only, :func:`~omni_bench.core.media.probe`) with a
    progress bar when ``progress`` is True (None: only on a terminal). Inputs that cannot be
    budgeted are returned in ``problems`` with their reason, never dropped:
    ``result.total`` equals the number of inputs after folders are expanded.
    """
    settings, r, processor = _resolve(settings, processor)
    items, skipped = _expand(items)
    found = []  # (input index, source, metadata as given, VideoInfo)
    problems: dict[int, Problem] = {}  # input index -> its problem

    for k, item in enumerate(track(items, "budget", unit="files probed", progress=progress)):
        try:
            if isinstance(item, (str, os.PathLike)):
                meta, source = probe(item), str(item)
            else:
                meta = item
                source = str((item.path if isinstance(item, VideoInfo) else item.get("path")) or f"record {k}")
            info = meta if isinstance(meta, VideoInfo) else media_info(_checked_metadata(
                {key: v for key, v in meta.items() if key not in TEXT_FIELDS}, source))
        except OmniBenchError as exc:
            problems[k] = Problem.from_error(getattr(exc, "source", None) or item, exc)
            continue
        found.append((k, source, meta, info))
    cols, _, _ = _columns([info for *_, info in found])
    _, unsampleable = _sampling(cols, r, r.profile.temporal_patch_size)
    metas, sources = [], []
    for (k, source, meta, info), cannot_sample in zip(found, unsampleable):
        if r.use_audio and not info.has_audio:
            problems[k] = Problem.of(source, "no-audio", NO_AUDIO)
            continue
        if cannot_sample:
            problems[k] = Problem.of(source, "sampling", _sampling_message(r, info.total_frames))
            continue
        try:
            resized_size(info, r)
        except OmniBenchError as exc:
            problems[k] = Problem.from_error(source, exc)
            continue
        metas.append(meta if isinstance(meta, VideoInfo) else dict(meta))
        sources.append(source)
    result = budget(metas, settings, processor=processor, max_total_tokens=max_total_tokens, vocab_size=vocab_size)
    return DatasetBudget(result, sources, [problems[k] for k in sorted(problems)], tuple(skipped))
