"""Liger-Kernel's fused linear cross-entropy, run on CPU through Triton's interpreter.

Run by ``tests/test_liger_interpret.py`` as ``python tests/liger_interpret_check.py OUT_DIR``
in a fresh process with ``TRITON_INTERPRET=1``: Triton decides between compiling and
interpreting when a kernel module is imported, so the variable must be set before Liger is.
The interpreter runs the very kernel the GPU runs, one program at a time in numpy, which
is slow but exact enough to check our use of it: argument order, shift, bias, ignored
positions and ``num_items_in_batch``, the model wiring, and a short training run.

Prints one JSON object: per case the loss of Liger and of transformers' path and the
largest absolute gradient difference, and how many times Liger's module was called.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import torch

from omni_bench import tiny_model
from omni_bench.training import loss as loss_mod
from omni_bench.training.fused import enable_fused_loss
from omni_bench.training.run import TrainConfig, train

ROOT = Path(__file__).resolve().parent.parent
CALLS = {"liger": 0}


def _count_liger_calls() -> None:
    """Count forwards of Liger's loss module, to prove the backend really ran."""
    cls = loss_mod._liger_loss_class()
    forward = cls.forward

    def counted(self, *args, **kwargs):
        CALLS["liger"] += 1
        return forward(self, *args, **kwargs)

    cls.forward = counted


def _loss_and_grads(backend, hidden, weight, bias, labels, **kwargs):
    leaves = [t.detach().clone().requires_grad_() for t in (hidden, weight, bias) if t is not None]
    loss = loss_mod.fused_linear_cross_entropy(
        leaves[0], leaves[1], labels, bias=leaves[2] if bias is not None else None, backend=backend, **kwargs
    )
    loss.backward()
    return float(loss.detach()), [t.grad for t in leaves]


def function_cases() -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    rows = []
    for shift, with_bias, num_items in itertools.product((True, False), (False, True), (None, 37)):
        hidden = torch.randn(2, 48, 32, generator=gen)
        weight = torch.randn(3000, 32, generator=gen) * 0.3
        bias = torch.randn(3000, generator=gen) if with_bias else None
        labels = torch.randint(0, 3000, (2, 48), generator=gen)
        labels[torch.rand(labels.shape, generator=gen) < 0.3] = -100
        kwargs = {"shift": shift, "num_items_in_batch": num_items}
        ref_loss, ref_grads = _loss_and_grads("naive", hidden, weight, bias, labels, **kwargs)
        got_loss, got_grads = _loss_and_grads("liger", hidden, weight, bias, labels, **kwargs)
        rows.append({
            "shift": shift, "bias": with_bias, "num_items_in_batch": num_items,
            "naive": ref_loss, "liger": got_loss,
            "max_grad_diff": max(float((a - b).abs().max()) for a, b in zip(got_grads, ref_grads)),
        })
    return rows


def model_cases() -> list[dict]:
    rows = []
    for name in ("qwen2.5-omni-7b", "qwen2.5-vl-7b"):
        model = tiny_model(name)
        gen = torch.Generator().manual_seed(1)
        ids = torch.randint(0, 5000, (2, 40), generator=gen)
        labels = ids.clone()
        labels[:, :12] = -100
        result = {}
        for backend in ("naive", "liger"):
            enable_fused_loss(model, backend=backend)
            model.zero_grad()
            loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
            result[backend] = (float(loss.detach()), grads)
        naive, liger = result["naive"], result["liger"]
        rows.append({
            "model": name, "naive": naive[0], "liger": liger[0], "parameters": len(naive[1]),
            "same_parameters": sorted(naive[1]) == sorted(liger[1]),
            "max_grad_diff": max(float((naive[1][n] - liger[1][n]).abs().max()) for n in naive[1]),
        })
    return rows


def training_runs(out_dir: Path) -> dict:
    runs = {}
    for backend in ("chunked", "liger"):
        config = TrainConfig(tiny=True, data=str(ROOT / "data" / "longvale_sft.json"), frames=4, resize=(56, 56),
                             max_steps=3, logging_steps=1, learning_rate=1e-3, lora_dropout=0.0,
                             loss_backend=backend, output=str(out_dir / backend), progress=False)
        runs[backend] = [{k: row[k] for k in ("step", "loss", "grad_norm", "label_tokens")}
                         for row in train(config).metrics]
    return runs


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0])
    _count_liger_calls()
    result = {"function": function_cases()}
    result["function_calls"] = CALLS["liger"]
    result["model"] = model_cases()
    result["model_calls"] = CALLS["liger"] - result["function_calls"]
    result["training"] = training_runs(out_dir)
    result["training_calls"] = CALLS["liger"] - result["function_calls"] - result["model_calls"]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
