"""One LoRA training step of a Qwen2.5-Omni thinker per loss backend: step time and peak memory.

What it measures
----------------
The step study (the loss backends inside a whole training step; on a GPU, Qwen2.5-Omni-3B's
36 layers at 8,192 tokens): a randomly initialised thinker with a profile's **real text
dimensions** (``tiny_model(profile, text_dims=True)``: for ``qwen2.5-omni-3b`` hidden 2048,
36 layers, intermediate 11008, vocabulary 151,936; the audio and vision towers stay tiny,
the input is text only), prepared exactly as :func:`omni_bench.train` prepares a model
(:func:`omni_bench.training.prepare.adapt_model`: base frozen, gradient checkpointing, LoRA on the
text model's projections, the fused loss with the chosen backend), then full training
steps on one sequence of ``tokens`` tokens: forward with labels, backward, AdamW step on
the adapter.

Each backend runs in its own fresh subprocess (``python -m omni_bench.bench.step _worker
SPEC``), as in :mod:`omni_bench.bench.loss`: one warm-up step (kernels, AdamW state), then
``steps`` measured steps. Figures: mean seconds per measured step; peak memory of the
measured steps above the memory held just before them (weights, adapter, optimizer state):
on CUDA ``torch.cuda.max_memory_allocated``, on CPU the resident set size (the probe of
:mod:`omni_bench.bench.base`); and the first measured step's loss. The same seed gives every
backend the same weights and tokens, so their losses must agree: ``max_loss_diff``.

Backends: ``naive`` (the model's logits + transformers' ``ForCausalLMLoss``, which upcasts
the N x V logits to float32), ``chunked`` (ours) and ``liger`` (Liger-Kernel, CUDA; on CPU
only under Triton's interpreter, which the tests use at tiny size).

The shape (:mod:`omni_bench.bench.base`): :class:`StepBench` is the config (each field a flag of
``omni-bench bench step``), :func:`run` returns a :class:`~omni_bench.bench.base.BenchResult` (one
row per backend; ``summary`` is the dict :func:`bench_step` returns, which ``--json`` prints).

Not covered: images, audio or video in the input (the towers are not what this measures),
several sequences per batch, multi-GPU. The numbers are for random weights; memory and
time do not depend on the values.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from typing import Literal

from omni_bench.bench.base import BenchResult, PeakRSS, resolve_device, rss_bytes, run_worker
from omni_bench.core.models import tiny_model
from omni_bench.core.numbers import check_ints
from omni_bench.core.profiles import get_profile
from omni_bench.core.stages import progress_bar
from omni_bench.layout.labels import IGNORE_INDEX
from omni_bench.training.prepare import adapt_model

__all__ = ["StepBench", "run", "bench_step", "format_bench_step"]

_MIB = 2**20


def _worker(spec: dict) -> dict:
    import torch

    device = torch.device(spec["device"])
    dtype = getattr(torch, spec["dtype"])
    model = tiny_model(spec["profile"], seed=spec["seed"], text_dims=spec["text_dims"], dtype=dtype,
                       layers=spec["layers"])
    model = model.to(device)
    model = adapt_model(model, loss_backend=spec["backend"], lora_dropout=0.0)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    gen = torch.Generator().manual_seed(spec["seed"])
    vocab = model.get_output_embeddings().weight.shape[0]
    ids = torch.randint(0, min(vocab, 151643), (1, spec["tokens"]), generator=gen)
    labels = ids.clone()
    labels[:, : int(spec["tokens"] * (1 - spec["label_fraction"]))] = IGNORE_INDEX
    ids, labels = ids.to(device), labels.to(device)
    cuda = device.type == "cuda"

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    step()  # warm-up: kernels, autotuning, AdamW state
    if cuda:
        torch.cuda.synchronize(device)
        baseline = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        baseline = rss_bytes()
        probe = PeakRSS()
        probe.start()
    losses, start = [], time.perf_counter()
    for _ in range(spec["steps"]):
        losses.append(step())
    if cuda:
        torch.cuda.synchronize(device)
    seconds = (time.perf_counter() - start) / spec["steps"]
    peak = torch.cuda.max_memory_allocated(device) if cuda else probe.stop()
    return {
        "step_seconds": round(seconds, 4),
        "peak_mib": round((peak - baseline) / _MIB, 1),
        "baseline_mib": round(baseline / _MIB, 1),
        "loss": losses[0],
        "trainable_parameters": sum(p.numel() for p in params),
    }


def _run_worker(spec: dict) -> dict:
    return run_worker("omni_bench.bench.step", ["_worker", json.dumps(spec)],
                             label=f"step benchmark worker for backend {spec['backend']!r}")


@dataclass(frozen=True)
class StepBench:
    """``omni-bench bench step``'s settings."""

    profile: str = "qwen2.5-omni-3b"  # whose text dimensions
    tokens: int = 8192  # sequence length
    layers: int | None = None  # decoder layers (when not given: the profile's)
    tiny: bool = False  # tiny widths instead of the profile's (a quick check)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # cpu, cuda or auto (cuda where present)
    dtype: Literal["float32", "bfloat16"] | None = None  # when not given: bfloat16 on CUDA, float32 on CPU
    steps: int = 2  # measured steps per backend, after one warm-up
    backends: tuple[str, ...] | None = None  # --backends A,B: which to run (when not given: naive,chunked, and
        # liger on CUDA)
    label_fraction: float = 1.0  # share of positions labelled (the last ones), in (0, 1]
    seed: int = 0  # seeds the weights and tokens (the same for every backend)


_STEP_COLUMNS = ("backend", "peak_mib", "baseline_mib", "step_seconds", "loss", "trainable_parameters")


def run(config: StepBench = StepBench()) -> BenchResult:
    """Step time and peak memory of a LoRA training step per loss backend (module docstring)."""
    check_ints(tokens=config.tokens, layers=config.layers, steps=config.steps)
    device = resolve_device(config.device)
    get_profile(config.profile)  # an unknown name is refused here, not in the worker
    backends = config.backends or ("naive", "chunked") + (("liger",) if device.startswith("cuda") else ())
    dtype = config.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    if not 0 < config.label_fraction <= 1:
        raise ValueError(f"label_fraction must be in (0, 1], got {config.label_fraction}")
    spec = {"profile": config.profile, "tokens": config.tokens, "device": device, "dtype": dtype,
            "text_dims": not config.tiny, "layers": config.layers, "steps": config.steps,
            "label_fraction": config.label_fraction, "seed": config.seed}
    summary: dict = {}
    bar = progress_bar("bench step", len(backends), unit="backends", progress=None)  # a terminal or a log
    for backend in backends:
        bar.set_postfix_str(backend)
        summary[backend] = _run_worker({**spec, "backend": backend})
        bar.update(1)
    bar.close()
    losses = [summary[b]["loss"] for b in backends]
    summary["max_loss_diff"] = max(losses) - min(losses)
    summary.update(spec, backends=list(backends))
    naive = summary.get("naive")
    for name, prefix in (("chunked", ""), ("liger", "liger_")):
        if naive and name in summary:
            summary[f"{prefix}ratio_peak"] = (summary[name]["peak_mib"] / naive["peak_mib"] if naive["peak_mib"]
                                              else None)
            summary[f"{prefix}ratio_step"] = (summary[name]["step_seconds"] / naive["step_seconds"]
                                              if naive["step_seconds"] else None)
    rows = [{"backend": b, **{k: summary[b][k] for k in _STEP_COLUMNS[1:]}} for b in backends]
    text = format_bench_step(summary)
    notes = tuple(line for line in text.splitlines() if line.startswith(("max |", "chunked /", "liger /")))
    return BenchResult("step", asdict(replace(config, device=device, dtype=dtype, backends=tuple(backends))),
                       _STEP_COLUMNS, rows, notes, summary=summary, text=text)


def bench_step(profile: str = "qwen2.5-omni-3b", tokens: int = 8192, *, backends: tuple[str, ...] | None = None,
               device: str = "cuda", dtype: str | None = None, text_dims: bool = True, layers: int | None = None,
               steps: int = 2, label_fraction: float = 1.0, seed: int = 0) -> dict:
    """Step time and peak memory of a LoRA training step per loss backend (module docstring).

    ``backends`` default: naive and chunked, plus liger on CUDA. ``dtype`` default: bfloat16
    on CUDA, float32 on CPU. ``text_dims=False`` gives the tiny widths (for tests);
    ``layers`` overrides the decoder depth. ``label_fraction``: the share of positions
    labelled (the last ones), 1.0 by default, the loss's worst case.

    Returns ``{backend: {"step_seconds", "peak_mib", "baseline_mib", "loss",
    "trainable_parameters"}, ..., "max_loss_diff", "ratio_peak" (chunked / naive),
    "ratio_step" (chunked / naive), and the settings}``; ``liger_ratio_peak`` and
    ``liger_ratio_step`` when Liger ran.
    """
    config = StepBench(profile=profile, tokens=tokens, layers=layers, tiny=not text_dims, device=device,
                       dtype=dtype, steps=steps, backends=tuple(backends) if backends is not None else None,
                       label_fraction=label_fraction, seed=seed)
    return run(config).summary


def format_bench_step(result: dict) -> str:
    """A small text table of a :func:`bench_step` result."""
    dims = "real text dims" if result["text_dims"] else "tiny dims"
    depth = f", {result['layers']} layers" if result["layers"] else ""
    lines = [f"{result['profile']} ({dims}{depth}), {result['tokens']} tokens, {result['dtype']} on "
             f"{result['device']}, {result['steps']} measured step(s), {result['label_fraction']:.0%} labelled",
             "",
             f"| {'backend':<8} | {'peak MiB above baseline':>23} | {'baseline MiB':>12} | {'s / step':>9} "
             f"| {'loss':>9} |",
             f"|{'-' * 10}|{'-' * 24}:|{'-' * 13}:|{'-' * 10}:|{'-' * 10}:|"]
    for name in result["backends"]:
        row = result[name]
        lines.append(f"| {name:<8} | {row['peak_mib']:>23.1f} | {row['baseline_mib']:>12.1f} "
                     f"| {row['step_seconds']:>9.3f} | {row['loss']:>9.4f} |")
    lines.append("")
    lines.append(f"max |loss difference| between backends: {result['max_loss_diff']:.3g}")
    if result.get("ratio_peak") is not None:
        lines.append(f"chunked / naive: peak {result['ratio_peak']:.1%}, step time {result['ratio_step']:.2f}x")
    if result.get("liger_ratio_peak") is not None:
        lines.append(f"liger / naive: peak {result['liger_ratio_peak']:.1%}, "
                     f"step time {result['liger_ratio_step']:.2f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_worker":
        print(json.dumps(_worker(json.loads(sys.argv[2]))))
        sys.exit(0)
    print("usage: python -m omni_bench.bench.step _worker SPEC (see benchmarks/bench_step.py)", file=sys.stderr)
    sys.exit(2)
