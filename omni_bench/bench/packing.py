"""Padded, batch-packed and dataset-packed batches on a LongVALE-like length mix: padding and tokens per second.

What it measures
----------------
Sample lengths come from the planner (:func:`omni_bench.budget`, headers only): ``samples``
videos with durations drawn log-uniformly from 10 s to 10 min (seeded; LongVALE's clips run
from a few seconds to several minutes), 640x360 at 25 fps with their audio track, sampled
with the given :class:`~omni_bench.layout.settings.LayoutSettings` (default 0.5 fps, frames
resized to 56x56, without the audio track: CPU-sized rows of 70 to 700 tokens; ``--audio`` adds
the track at its real 25 tokens per second, rows of up to ~8,200 tokens, for a GPU - both grow
linearly with the duration, so the shape of the distribution is the same). Taken
``batch_size`` at a time, in the same order, they are

* **padded**: one row per sample, right-padded to the batch's longest (:class:`OmniCollator`);
* **packed**: rows of at most ``capacity`` tokens, first-fit decreasing (default capacity: the
  longest sample), position ids restarting per sample, block-diagonal attention
  (:mod:`omni_bench.data.packing`, :mod:`omni_bench.training.packed`);
* **dataset_packed**: the samples packed across the whole set into rows of ``capacity`` tokens
  (:class:`~omni_bench.data.packing.PackedBatchSampler`, what ``train --pack-dataset`` trains on:
  shuffled with ``seed``, every sample once), as many rows per batch as the packed batches hold
  on average, each batch padded to its longest row.

Padding fraction: slots that hold no sample token / all slots. Tokens per second: sample
tokens (padding not counted) over the wall time (the process's CPU time is reported beside it:
on a machine shared with other work the two differ) of forward + backward of a LoRA step of the
tiny Qwen2.5-Omni thinker's text model (random token ids of the planned lengths, fused loss
on every token), all three layouts in one process, taking turns batch by batch, after one
warm-up batch each. On CPU the SDPA kernel still computes the masked-out blocks of a packed
row (it cannot skip them), so packing saves the padding but pays for each row's full L x L
attention; flash-attention's varlen kernel on CUDA skips them.

The shape (:mod:`omni_bench.bench.base`): :class:`PackingBench` is the config (each field a flag of
``omni-bench bench packing``), :func:`run` returns a :class:`~omni_bench.bench.base.BenchResult` (one
row per layout; ``summary`` is the dict :func:`bench_packing` returns, which ``--json`` prints).

Not covered: the towers (the input is text-only; the lengths are the planned multimodal ones),
real checkpoint widths (``bench step`` measures those).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Literal

import numpy as np

from omni_bench.bench.base import BenchResult, resolve_device
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.models import tiny_model
from omni_bench.layout.budget import budget
from omni_bench.layout.labels import IGNORE_INDEX
from omni_bench.layout.settings import LayoutSettings
from omni_bench.training.prepare import adapt_model

__all__ = ["PackingBench", "run", "longvale_like_lengths", "bench_packing", "format_bench_packing"]


def longvale_like_lengths(samples: int = 32, *, seed: int = 0, settings=None, min_seconds: float = 10,
                          max_seconds: float = 600) -> tuple[np.ndarray, np.ndarray]:
    """(durations, planned total tokens) of ``samples`` videos, durations log-uniform in [min, max] s."""
    rng = np.random.default_rng(seed)
    durations = np.exp(rng.uniform(np.log(min_seconds), np.log(max_seconds), samples)).round(2)
    settings = settings or LayoutSettings(fps=0.5, resize=(56, 56), use_audio=False)
    metas = [dict(duration=float(d), width=640, height=360, native_fps=25.0, has_audio=True) for d in durations]
    return durations, budget(metas, settings).total_tokens.astype(np.int64)


def _sequences(lengths, generator, vocab: int) -> list:
    import torch

    return [torch.randint(0, vocab, (int(n),), generator=generator) for n in lengths]


def _packed(seqs, rows) -> dict:
    # rows of samples back to back, labels never across a boundary, text positions restarting per sample
    import torch

    length = max(sum(len(seqs[i]) for i in row) for row in rows)
    ids = torch.zeros(len(rows), length, dtype=torch.long)
    labels = torch.full((len(rows), length), IGNORE_INDEX)
    text = torch.zeros(len(rows), length, dtype=torch.long)
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            n = len(seqs[i])
            ids[r, at:at + n], labels[r, at + 1:at + n] = seqs[i], seqs[i][1:]
            text[r, at:at + n] = torch.arange(n)
            at += n
        text[r, at:] = torch.arange(length - at)  # the padding: a segment of its own
    return {"input_ids": ids, "labels": labels, "position_ids": text[None].expand(4, -1, -1).contiguous()}


def _batches(lengths, batch_size: int, capacity: int, generator, vocab: int, seqs=None):
    import torch

    from omni_bench.data.packing import pack_rows

    seqs = seqs if seqs is not None else _sequences(lengths, generator, vocab)
    out = []
    for lo in range(0, len(lengths), batch_size):
        chunk = seqs[lo:lo + batch_size]
        width = max(len(s) for s in chunk)
        padded = {"input_ids": torch.zeros(len(chunk), width, dtype=torch.long),
                  "attention_mask": torch.zeros(len(chunk), width, dtype=torch.long)}
        for i, s in enumerate(chunk):
            padded["input_ids"][i, :len(s)] = s
            padded["attention_mask"][i, :len(s)] = 1
        padded["labels"] = padded["input_ids"].masked_fill(padded["attention_mask"] == 0, IGNORE_INDEX)
        packed = _packed(chunk, pack_rows([len(s) for s in chunk], capacity))
        out.append((sum(len(s) for s in chunk), padded, packed))
    return out


def _dataset_batches(seqs, sampler) -> list[dict]:
    """The dataset-packed micro-batches: the sampler's rows (packed across all samples), a batch at a time."""
    return [_packed(seqs, rows) for rows in sampler.batches()]


def _timed_step(model, batch, device: str = "cpu") -> tuple[float, float]:
    # (wall seconds, CPU seconds of this process): on a shared machine the two differ
    import torch

    from omni_bench.training.packed import packed_model_inputs

    batch = {k: v.to(device) for k, v in batch.items()}
    start, cpu = time.perf_counter(), time.process_time()
    model(**packed_model_inputs(batch, model)).loss.backward()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, time.process_time() - cpu


def _model(seed: int, device: str, attention: str | None):
    import torch

    from omni_bench.training.packed import attention_implementation
    torch.manual_seed(seed)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    base = tiny_model("qwen2.5-omni-7b", seed=seed, dtype=dtype).to(device)
    attention = attention or (attention_implementation() if device == "cuda" else "sdpa")
    base.set_attn_implementation(attention)
    return adapt_model(base, gradient_checkpointing=False, lora_dropout=0.0, loss_backend="chunked"), attention


def _timed(model, runs: dict, device: str) -> dict:
    # kind -> (wall, cpu) seconds over its batches, the kinds taking turns batch by batch, one warm-up each
    seconds = {kind: np.zeros(2) for kind in runs}
    for batches in runs.values():
        _timed_step(model, batches[0], device)
    for i in range(max(len(b) for b in runs.values())):
        for kind, batches in runs.items():
            if i < len(batches):
                seconds[kind] += _timed_step(model, batches[i], device)
    return seconds


@dataclass(frozen=True)
class PackingBench:
    """``omni-bench bench packing``'s settings."""

    samples: int = 32  # videos planned
    batch_size: int = 8  # samples per batch
    capacity: int | None = None  # tokens per packed row (when not given: the longest sample)
    audio: bool = False  # plan each video's audio track too (~8k-token rows)
    seed: int = 0  # seed of the durations and tokens
    device: Literal["auto", "cpu", "cuda"] = "cpu"  # cpu, cuda or auto (cuda where present)
    attention: Literal["sdpa", "eager", "flash_attention_2"] | None = None  # attention implementation (when
        # not given: flash_attention_2 on CUDA where installed, else sdpa)
    lengths: tuple[int, ...] | None = None  # --lengths A,B: sample token counts to use instead of the
        # LongVALE-like distribution (--samples is then their number)


_PACKING_COLUMNS = ("layout", "slots", "rows", "padding_fraction", "seconds", "cpu_seconds", "tokens_per_second")


def run(config: PackingBench = PackingBench(), *, settings=None) -> BenchResult:
    """Padding fraction and tokens/s of padded, batch-packed and dataset-packed batches, side by side.

    ``settings``: the LayoutSettings that plan the lengths (default 0.5 fps, 56x56, the audio track
    as ``config.audio`` says)."""
    device = resolve_device(config.device)
    settings = settings or LayoutSettings(fps=0.5, resize=(56, 56), use_audio=config.audio)
    try:
        lengths = [int(n) for n in config.lengths] if config.lengths is not None else None
    except ValueError:
        raise OmniBenchError(f"--lengths: whole numbers of tokens, got {','.join(map(str, config.lengths))}",
                             reason="bad-settings") from None
    summary = _measure(config.samples, config.batch_size, capacity=config.capacity, seed=config.seed,
                       settings=settings, lengths=lengths, device=device, attention=config.attention)
    rows = [{"layout": kind, **{k: summary[kind].get(k) for k in _PACKING_COLUMNS[1:]}}
            for kind in ("padded", "packed", "dataset_packed")]
    used = replace(config, device=device, attention=summary["attention"], capacity=summary["capacity"],
                   samples=summary["samples"])
    return BenchResult("packing", asdict(used), _PACKING_COLUMNS, rows, summary=summary,
                       text=format_bench_packing(summary))


def bench_packing(samples: int = 32, batch_size: int = 8, *, capacity: int | None = None, seed: int = 0,
                  settings=None, lengths=None, device: str = "cpu", attention: str | None = None) -> dict:
    """:func:`run` with keyword arguments; returns its ``summary``: ``{"padded": {...}, "packed": {...},
    "dataset_packed": {...}, "samples", "batch_size", ...}``."""
    config = PackingBench(samples=samples, batch_size=batch_size, capacity=capacity, seed=seed, device=device,
                          attention=attention, lengths=tuple(int(n) for n in lengths) if lengths is not None else None)
    return run(config, settings=settings).summary


def _measure(samples: int = 32, batch_size: int = 8, *, capacity: int | None = None, seed: int = 0,
                  settings=None, lengths=None, device: str = "cpu", attention: str | None = None) -> dict:
    """The figures of :func:`run`.

    ``lengths``: sample token counts to use instead of the LongVALE-like distribution.
    Dataset-packed: :class:`~omni_bench.data.packing.PackedBatchSampler` (rows packed across all
    samples, shuffled with ``seed``), as many rows per batch as the batch-packed batches hold on average.
    ``attention``: the model's attention implementation (default
    :func:`~omni_bench.training.packed.attention_implementation`: flash-attention 2 on CUDA where
    installed, else SDPA); ``device`` "cpu" or "cuda" (bfloat16 there).
    Returns ``{"padded": {...}, "packed": {...}, "dataset_packed": {...}, "samples", "batch_size", ...}``.
    """
    import torch

    from omni_bench.data.packing import PackedBatchSampler, packing_stats

    durations = None
    if lengths is None:
        durations, lengths = longvale_like_lengths(samples, seed=seed, settings=settings)
    lengths = np.asarray(lengths, dtype=np.int64)
    capacity = int(capacity or lengths.max())
    stats = packing_stats(lengths.tolist(), capacity, batch_size)
    seqs = _sequences(lengths, torch.Generator().manual_seed(seed), 151643)
    batches = _batches(lengths, batch_size, capacity, None, 151643, seqs=seqs)
    rows_per_batch = max(1, round(stats["packed"]["rows"] / len(batches)))
    sampler = PackedBatchSampler(lengths.tolist(), capacity, rows_per_batch=rows_per_batch, seed=seed)
    dataset = _dataset_batches(seqs, sampler)
    report = sampler.report()
    stats["dataset_packed"] = {"slots": int(sum(b["input_ids"].numel() for b in dataset)), "rows": report["rows"],
                               "batches": len(dataset), "rows_per_batch": rows_per_batch,
                               "padding_fraction": report["padding_fraction"], "fill_fraction": report["fill_fraction"],
                               "every_sample_once": report["every_sample_once"]}
    model, attention = _model(seed, device, attention)
    seconds = _timed(model, {"padded": [b[1] for b in batches], "packed": [b[2] for b in batches],
                             "dataset_packed": dataset}, device)
    result = {"samples": len(lengths), "batch_size": batch_size, "capacity": capacity, "tokens": stats["tokens"],
              "length_min": int(lengths.min()), "length_median": float(np.median(lengths)),
              "length_max": int(lengths.max()), "threads": torch.get_num_threads(), "device": device,
              "attention": attention}
    if durations is not None:
        result["durations"] = [float(durations.min()), float(durations.max())]
    for kind, (wall, cpu) in seconds.items():
        result[kind] = {**stats[kind], "seconds": round(float(wall), 4), "cpu_seconds": round(float(cpu), 4),
                        "tokens_per_second": round(stats["tokens"] / float(wall), 1)}
    return result


def format_bench_packing(result: dict) -> str:
    """The text report of :func:`bench_packing`."""
    lines = [f"{result['samples']} samples, {result['batch_size']} per batch, rows of at most "
             f"{result['capacity']:,} tokens; sample lengths {result['length_min']:,} / "
             f"{result['length_median']:,.0f} / {result['length_max']:,} (min / median / max), "
             f"{result['tokens']:,} tokens; {result['device']}, {result['attention']}, {result['threads']} threads",
             f"{'':14} {'slots':>9} {'padding':>8} {'seconds':>8} {'cpu s':>8} {'tokens/s':>10}"]
    for kind in ("padded", "packed", "dataset_packed"):
        r = result[kind]
        lines.append(f"{kind:14} {r['slots']:>9,} {100 * r['padding_fraction']:>7.1f}% {r['seconds']:>8.2f} "
                     f"{r['cpu_seconds']:>8.2f} {r['tokens_per_second']:>10,.0f}")
    return "\n".join(lines)
