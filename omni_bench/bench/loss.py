"""Peak memory and time of the causal-LM loss backends of :mod:`omni_bench.training.loss`.

What it measures
----------------
One forward + backward of the loss on hidden states [N, H] and an LM head [V, H], both
requiring grad, with a fraction of the labels ignored. Each backend runs in its own fresh
subprocess (``python -m omni_bench.bench.loss _worker SPEC OUT_DIR``) so that one backend's
peak, allocator state or imports never show in another's figures.

In each worker:

1. a warm-up on tiny inputs imports what the backend needs (transformers' loss for
   "naive") and starts torch's thread pools, so neither lands in the measured run;
2. the inputs are built, then a buffer the size of the weight's gradient is allocated and
   filled; the *baseline* is taken then (every backend produces that gradient, so the
   baseline is inputs + weight + its gradient) and the buffer is freed;
3. **one** measured forward + backward, timed in wall-clock seconds and in CPU seconds of
   the worker process (the latter is less disturbed by other work on a shared machine).
   A worker does not repeat its run: its large buffers are fresh mappings each time, so a
   second run in the same process gives the same memory figure, and the warm-up already
   takes the one-off costs out of the timing. What a repeat does buy on a shared machine
   is protection from a burst of outside load; ``repeats=2`` (what
   ``benchmarks/bench_loss.py`` uses) runs every backend twice, each time in a fresh worker,
   alternating backends, and keeps the best time and the largest peak.

Peak memory on CPU is the resident set size (:class:`omni_bench.bench.base.PeakRSS`: the
kernel's high-water mark together with a thread sampling it every millisecond). On CUDA it is
``torch.cuda.max_memory_allocated``. Figures are
MiB above the baseline. The workers save their gradients with ``torch.save``; the parent
compares them (``max_grad_diff``: largest absolute difference, any backend vs the first).

The shape (:mod:`omni_bench.bench.base`): :class:`LossBench` is the config (each field a flag of
``omni-bench bench loss``, its comment the help), :func:`run` returns a
:class:`~omni_bench.bench.base.BenchResult` (one row per backend; ``summary`` is the dict
:func:`bench_loss` returns, which ``--json`` prints). :func:`bench_loss` is ``run`` with keyword
arguments.

What it leaves out: no timing statistics (one run per backend), no multi-step training
loop, Linux only for CPU memory (``/proc``).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from omni_bench.bench.base import BenchResult, PeakRSS, resolve_device, rss_bytes, run_worker
from omni_bench.core.numbers import check_ints
from omni_bench.core.stages import progress_bar
from omni_bench.layout.labels import IGNORE_INDEX

if TYPE_CHECKING:
    import torch

__all__ = ["LossBench", "run", "bench_loss", "format_bench_loss"]



def __getattr__(name: str):
    # DEFAULT_BENCH_CHUNK_SIZE: the loss's own default, chosen with this benchmark (read on first use, so that
    # LossBench, which `omni-bench bench loss` builds its flags from, comes without torch)
    if name == "DEFAULT_BENCH_CHUNK_SIZE":
        from omni_bench.training.loss import DEFAULT_CHUNK_SIZE

        return DEFAULT_CHUNK_SIZE
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
_MIB = 2**20


# --------------------------------------------------------------------------- memory probe (omni_bench.bench.base)

_PeakRSS, _rss_bytes = PeakRSS, rss_bytes  # the names this module's tests and workers have used


# --------------------------------------------------------------------------- worker


def _make_inputs(spec: dict, tokens: int, hidden_size: int, vocab: int):
    """hidden [N, H] and weight [V, H] requiring grad, labels [N] with a fraction ignored."""
    import torch

    gen = torch.Generator().manual_seed(spec["seed"])
    dtype = getattr(torch, spec["dtype"])
    device = torch.device(spec["device"])
    hidden = torch.randn(tokens, hidden_size, generator=gen).to(device=device, dtype=dtype)
    weight = (torch.randn(vocab, hidden_size, generator=gen) * 0.02).to(device=device, dtype=dtype)
    labels = torch.randint(0, vocab, (tokens,), generator=gen)
    labels[torch.rand(tokens, generator=gen) < spec["ignore_fraction"]] = IGNORE_INDEX
    return hidden.requires_grad_(), weight.requires_grad_(), labels.to(device)


def _forward_backward(spec: dict, hidden, weight, labels) -> torch.Tensor:
    from omni_bench.training.loss import fused_linear_cross_entropy

    if spec["backend"] == "cce":  # Apple's Cut Cross-Entropy; torch.compile's path runs on CPU too
        from cut_cross_entropy import linear_cross_entropy

        impl = "cce" if hidden.device.type == "cuda" else "torch_compile"
        loss = linear_cross_entropy(hidden, weight, labels, ignore_index=IGNORE_INDEX, shift=True, impl=impl)
    else:
        loss = fused_linear_cross_entropy(
            hidden, weight, labels, chunk_size=spec["chunk_size"], backend=spec["backend"]
        )
    loss.backward()
    return loss.detach()


def _synchronize(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _measure(spec: dict, hidden, weight, labels) -> tuple[torch.Tensor, float, float, int, int]:
    """One measured forward + backward: (loss, seconds, CPU seconds, baseline bytes, peak bytes)."""
    import torch

    device = hidden.device
    grad_sized = torch.ones_like(weight)  # stands for weight.grad, which every backend makes
    _synchronize(device)
    if device.type == "cuda":
        baseline = torch.cuda.memory_allocated(device)
        del grad_sized
        torch.cuda.reset_peak_memory_stats(device)
        start, cpu_start = time.perf_counter(), time.process_time()
        loss = _forward_backward(spec, hidden, weight, labels)
        _synchronize(device)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        return loss, seconds, cpu_seconds, baseline, torch.cuda.max_memory_allocated(device)
    baseline = _rss_bytes()
    del grad_sized
    probe = _PeakRSS()
    probe.start()
    try:
        start, cpu_start = time.perf_counter(), time.process_time()
        loss = _forward_backward(spec, hidden, weight, labels)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    finally:
        peak = probe.stop()
    return loss, seconds, cpu_seconds, baseline, peak


def _worker(spec: dict, out_dir: str) -> dict:
    """Run one backend as described in the module docstring; save grads, return figures."""
    import torch

    _forward_backward(spec, *_make_inputs(spec, 8, 8, 16))  # warm-up: imports, thread pools
    if spec["backend"] == "cce":  # warm-up at the measured shape: torch.compile recompiles per shape
        _forward_backward(spec, *_make_inputs(spec, spec["tokens"], spec["hidden"], spec["vocab"]))
    hidden, weight, labels = _make_inputs(spec, spec["tokens"], spec["hidden"], spec["vocab"])
    loss, seconds, cpu_seconds, baseline, peak = _measure(spec, hidden, weight, labels)
    grads = {"hidden": hidden.grad.cpu(), "weight": weight.grad.cpu()}
    torch.save(grads, Path(out_dir) / f"{spec['backend']}.pt")
    checksum = sum(float(g.double().sum()) for g in grads.values())
    return {
        "peak_mib": round((peak - baseline) / _MIB, 1),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "baseline_mib": round(baseline / _MIB, 1),
        "loss": float(loss),
        "grad_checksum": checksum,
    }


# --------------------------------------------------------------------------- parent


def _run_worker(spec: dict, out_dir: str) -> dict:
    return run_worker("omni_bench.bench.loss", ["_worker", json.dumps(spec), out_dir],
                             label=f"benchmark worker for backend {spec['backend']!r}")


def _max_grad_diff(out_dir: str, backends: tuple[str, ...]) -> float:
    import torch

    reference = torch.load(Path(out_dir) / f"{backends[0]}.pt")
    worst = 0.0
    for backend in backends[1:]:
        grads = torch.load(Path(out_dir) / f"{backend}.pt")
        for name, ref in reference.items():
            worst = max(worst, float((grads[name].double() - ref.double()).abs().max()))
    return worst


def _best_of(rows: list[dict]) -> dict:
    """Combine a backend's runs: shortest times, largest peak, the rest from the first run."""
    best = dict(rows[0])
    best["seconds"] = min(row["seconds"] for row in rows)
    best["cpu_seconds"] = min(row["cpu_seconds"] for row in rows)
    best["peak_mib"] = max(row["peak_mib"] for row in rows)
    return best


@dataclass(frozen=True)
class LossBench:
    """``omni-bench bench loss``'s settings."""

    tokens: int = 4096  # N: rows of hidden states
    hidden: int = 1024  # H: hidden size
    vocab: int = 151936  # V: vocabulary (LM head rows)
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"  # dtype of the hidden states and the head
    device: Literal["auto", "cpu", "cuda"] = "auto"  # cpu, cuda or auto (cuda where present)
    chunk_size: int | None = None  # rows per chunk of ours (when not given: the loss's own, 512)
    repeats: int = 1  # runs per backend, each in a fresh worker, the best kept
    cce: bool = False  # also Apple's Cut Cross-Entropy (cut-cross-entropy; torch.compile on CPU)
    backends: tuple[str, ...] | None = None  # --backends A,B: which to run, the first the gradients' reference
        # (when not given: naive,chunked, and liger on CUDA)
    seed: int = 0  # seeds the inputs (the same in every worker)
    ignore_fraction: float = 0.1  # share of labels set to -100


_LOSS_COLUMNS = ("backend", "peak_mib", "seconds", "cpu_seconds", "baseline_mib", "loss")


def run(config: LossBench = LossBench()) -> BenchResult:
    """Every backend's peak memory above baseline and seconds of one forward + backward (module docstring)."""
    from omni_bench.training.loss import DEFAULT_CHUNK_SIZE

    chunk_size = DEFAULT_CHUNK_SIZE if config.chunk_size is None else config.chunk_size
    check_ints(tokens=config.tokens, hidden=config.hidden, vocab=config.vocab, chunk_size=chunk_size,
               repeats=config.repeats)
    device = resolve_device(config.device)
    backends = config.backends or ("naive", "chunked") + (("liger",) if device.startswith("cuda") else ())
    if config.cce and "cce" not in backends:
        backends = (*backends, "cce")
    spec = {"tokens": config.tokens, "hidden": config.hidden, "vocab": config.vocab, "dtype": config.dtype,
            "device": device, "chunk_size": chunk_size, "seed": config.seed,
            "ignore_fraction": config.ignore_fraction}
    summary = _measure_backends(spec, tuple(backends), config.repeats)
    summary.update(spec, repeats=config.repeats)
    summary.update(_ratios(summary))
    rows = [{"backend": b, **{k: summary[b][k] for k in _LOSS_COLUMNS[1:]}} for b in backends]
    text = format_bench_loss(summary)
    notes = tuple(line for line in text.splitlines()[-3:] if line.startswith(("chunked /", "max |")))
    return BenchResult("loss", asdict(replace(config, device=device, chunk_size=chunk_size,
                                              backends=tuple(backends))),
                       _LOSS_COLUMNS, rows, notes, summary=summary, text=text)


def bench_loss(
    tokens: int,
    hidden: int,
    vocab: int,
    *,
    dtype: str = "float32",
    device: str = "cpu",
    chunk_size: int | None = None,
    backends: tuple[str, ...] | None = None,
    seed: int = 0,
    ignore_fraction: float = 0.1,
    repeats: int = 1,
) -> dict:
    """Peak memory above baseline and seconds of one forward + backward for each backend.

    Args:
        tokens, hidden, vocab: N, H, V of hidden [N, H] and weight [V, H].
        dtype: torch dtype name of hidden and weight ("float32", "bfloat16", ...).
        device: "cpu" or a CUDA device.
        chunk_size: rows per chunk of the "chunked" backend.
        backends: which to run, the first is the reference of ``max_grad_diff``; default
            ("naive", "chunked"), plus "liger" on CUDA; add "cce" for Apple's Cut Cross-Entropy
            (``impl="torch_compile"`` on CPU, compiled once at the measured shape before timing;
            its Triton kernel on CUDA).
        seed: seeds the inputs (identical in every worker).
        ignore_fraction: share of labels set to -100.
        repeats: measured runs per backend, each in a fresh worker, backends alternating
            (naive, chunked, naive, chunked, ...) so that a burst of outside load hits at most
            one run of a backend. Times are the best run's, peaks the largest.

    Returns:
        ``{"naive": {"peak_mib", "seconds", "cpu_seconds", "baseline_mib", "loss", "grad_checksum"},
        "chunked": {...}, "max_grad_diff", "tokens", "hidden", "vocab", "dtype", "device",
        "chunk_size", "ignore_fraction", "seed", "repeats", "ratio_peak", "ratio_seconds",
        "ratio_cpu_seconds"}``; the ratios are chunked / naive and present when both ran.

    Example:
        >>> result = bench_loss(64, 32, 1000)          # doctest: +SKIP
        >>> print(format_bench_loss(result))           # doctest: +SKIP
    """
    config = LossBench(tokens=tokens, hidden=hidden, vocab=vocab, dtype=dtype, device=device, chunk_size=chunk_size,
                       repeats=repeats, backends=tuple(backends) if backends is not None else None, seed=seed,
                       ignore_fraction=ignore_fraction)
    return run(config).summary


def _measure_backends(spec: dict, backends: tuple[str, ...], repeats: int) -> dict:
    """Each backend's best run (fresh worker per run, backends alternating) and the largest gradient
    difference from the first backend."""
    runs: dict[str, list[dict]] = {backend: [] for backend in backends}
    with tempfile.TemporaryDirectory(prefix="omni_bench_loss_") as out_dir:
        order = [backend for _ in range(repeats) for backend in backends]
        bar = progress_bar("bench loss", len(order), unit="runs", progress=None)  # a terminal or a log
        for backend in order:
            bar.set_postfix_str(backend)
            runs[backend].append(_run_worker({**spec, "backend": backend}, out_dir))
            bar.update(1)
        bar.close()
        result: dict = {backend: _best_of(rows) for backend, rows in runs.items()}
        result["max_grad_diff"] = _max_grad_diff(out_dir, backends)
    return result


def _ratios(result: dict) -> dict:
    """chunked / naive peak, seconds and CPU seconds, when both ran (None where naive's is 0)."""
    if "naive" not in result or "chunked" not in result:
        return {}
    naive, chunked = result["naive"], result["chunked"]
    return {
        "ratio_peak": chunked["peak_mib"] / naive["peak_mib"] if naive["peak_mib"] else None,
        "ratio_seconds": chunked["seconds"] / naive["seconds"] if naive["seconds"] else None,
        "ratio_cpu_seconds": chunked["cpu_seconds"] / naive["cpu_seconds"] if naive["cpu_seconds"] else None,
    }


def format_bench_loss(result: dict) -> str:
    """A small text table of a :func:`bench_loss` result."""
    title = (
        f"N={result['tokens']} H={result['hidden']} V={result['vocab']} {result['dtype']} on "
        f"{result['device']}, chunk_size={result['chunk_size']}, "
        f"{result['ignore_fraction']:.0%} of labels ignored"
    )
    lines = [
        title,
        "",
        f"| {'backend':<8} | {'peak MiB above baseline':>23} | {'seconds (fwd+bwd)':>17} "
        f"| {'CPU seconds':>11} | {'loss':>9} |",
        f"|{'-' * 10}|{'-' * 24}:|{'-' * 18}:|{'-' * 12}:|{'-' * 10}:|",
    ]
    for name in ("naive", "chunked", "liger", "cce"):
        if name in result:
            row = result[name]
            lines.append(
                f"| {name:<8} | {row['peak_mib']:>23.1f} | {row['seconds']:>17.2f} "
                f"| {row['cpu_seconds']:>11.2f} | {row['loss']:>9.5f} |"
            )
    lines.append("")
    if result.get("ratio_peak") is not None:
        lines.append(
            f"chunked / naive: peak {result['ratio_peak']:.3f}, time {result['ratio_seconds']:.3f}, "
            f"CPU time {result['ratio_cpu_seconds']:.3f}"
        )
    if "cce" in result and "chunked" in result:
        cce, ours = result["cce"], result["chunked"]
        lines.append(f"chunked / cce: peak {ours['peak_mib'] / max(cce['peak_mib'], 1e-9):.3f}, "
                     f"time {ours['seconds'] / cce['seconds']:.3f}, "
                     f"CPU time {ours['cpu_seconds'] / cce['cpu_seconds']:.3f}")
    lines.append(f"max |grad difference| between backends: {result['max_grad_diff']:.3g}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m omni_bench.bench.loss _worker SPEC_JSON OUT_DIR``: the subprocess entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[0] != "_worker":
        print("usage: python -m omni_bench.bench.loss _worker SPEC_JSON OUT_DIR", file=sys.stderr)
        return 2
    print(json.dumps(_worker(json.loads(argv[1]), argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
