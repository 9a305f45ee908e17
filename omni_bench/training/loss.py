"""Causal-LM loss from hidden states and the LM head, without the N x V logits.

Why this module exists
----------------------
With Qwen2.5-Omni's vocabulary (151,936 tokens) the logits of a training step are its
largest tensor: transformers' ``ForCausalLMLoss`` upcasts them to float32, so 4,096 tokens
cost 2.3 GiB for the logits alone, and as much again for their softmax and its gradient.
The functions here compute exactly the same loss (and the same gradients) straight from
the last hidden states and the LM-head weight.

What it covers
--------------
* :func:`chunked_linear_cross_entropy`: our own ``torch.autograd.Function``, pure torch,
  any device. It drops the ignored positions first, then walks the remaining rows in
  chunks of ``chunk_size``; each chunk's logits live only while that chunk is processed.
  The gradients are computed in the forward pass (the softmax is at hand there) and kept;
  backward only scales them by the incoming gradient.
* :func:`liger_fused_linear_cross_entropy`: Liger-Kernel's Triton kernel, with the same
  signature and semantics. It needs CUDA, except under Triton's interpreter
  (``TRITON_INTERPRET=1`` set before Liger is imported), which runs the same kernel on CPU
  tensors, slowly: that is how the tests check this backend on machines without a GPU.
* :func:`fused_linear_cross_entropy`: picks one of those, or ``"naive"``, the transformers
  path itself (``hidden @ weight.T`` then ``transformers.loss.loss_utils.ForCausalLMLoss``),
  kept as the reference and for comparison.

Semantics (all backends)
------------------------
Those of ``ForCausalLMLoss(logits=hidden @ weight.T (+ bias), labels, vocab_size,
num_items_in_batch, ignore_index)``: with ``shift=True`` position ``t`` predicts
``labels[..., t + 1]`` and the last position is ignored; with ``shift=False`` the labels are
the targets as given (transformers' ``shift_labels``). Logits are computed in the input
dtype and the softmax in float32 (float64 inputs are down-cast to float32 there too, as
transformers does). The loss is the mean over non-ignored targets, or their sum divided by
``num_items_in_batch`` when that is given. The loss is returned as a float32 scalar.

When every target is ignored, the mean is ``0 / 0 = nan``, exactly what transformers
returns (``F.cross_entropy(..., reduction="mean")`` with no valid target); the gradients
are zeros, as there. With ``num_items_in_batch`` the loss is ``0 / num_items = 0``.

What it leaves out
------------------
No label smoothing, no class weights, no z-loss, no logit soft-capping, no
``reduction="none"``: the transformers loss used by Qwen2.5-Omni has none of them. The
chunked function supports one backward per forward (``retain_graph`` double backward raises
a clear error) and no double differentiation.
"""

from __future__ import annotations

import importlib
import math
import os
from typing import Literal

import torch
import torch.nn.functional as F

from omni_bench._torchvision import ensure_torchvision
from omni_bench.layout.labels import IGNORE_INDEX
from omni_bench.training.config import LOSS_BACKENDS

__all__ = [
    "BACKENDS",
    "Backend",
    "DEFAULT_CHUNK_SIZE",
    "chunked_linear_cross_entropy",
    "fused_linear_cross_entropy",
    "liger_fused_linear_cross_entropy",
    "triton_interpreter",
]

Backend = Literal["auto", "chunked", "liger", "naive"]
BACKENDS: tuple[str, ...] = LOSS_BACKENDS  # defined beside TrainConfig, which checks --loss-backend without torch

# Rows per chunk. Measured on a 2-core CPU at N=4096, H=1024, V=151936 (benchmarks/results/
# loss_cpu.md): 512 rows (a 297 MiB float32 logits chunk) costs the same CPU time as 1024 rows
# at half the memory; 256 rows is ~15% slower (the [V, H] weight gradient is re-read per chunk).
DEFAULT_CHUNK_SIZE = 512

_LOW_PRECISION = (torch.float16, torch.bfloat16)


# --------------------------------------------------------------------------- shared helpers


def _flatten_targets(
    hidden: torch.Tensor, labels: torch.Tensor, *, ignore_index: int, shift: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten ``hidden`` [B, T, H] or [N, H] to [N, H] and turn ``labels`` into targets [N].

    With ``shift`` the labels are padded with ``ignore_index`` at the end of the last axis
    and shifted left by one, as ``ForCausalLMLoss`` does.
    """
    if hidden.dim() not in (2, 3):
        raise ValueError(f"hidden must be [B, T, H] or [N, H], got shape {tuple(hidden.shape)}")
    if tuple(labels.shape) != tuple(hidden.shape[:-1]):
        raise ValueError(
            f"labels must have shape {tuple(hidden.shape[:-1])} (hidden without its last axis), "
            f"got {tuple(labels.shape)}"
        )
    if shift:
        labels = F.pad(labels, (0, 1), value=ignore_index)[..., 1:]
    return hidden.reshape(-1, hidden.shape[-1]), labels.reshape(-1).to(hidden.device)


def _check_weight(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    if weight.dim() != 2 or weight.shape[1] != hidden.shape[-1]:
        raise ValueError(
            f"weight must be [V, H] with H={hidden.shape[-1]}, got shape {tuple(weight.shape)}"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"bias must be [V] with V={weight.shape[0]}, got shape {tuple(bias.shape)}")


# --------------------------------------------------------------------------- chunked (ours)


def _chunk_loss_and_dlogits(
    h: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    target: torch.Tensor,
    with_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Loss sum and d(loss sum)/d(logits) for one chunk of rows.

    h: [C, H], weight: [V, H], bias: [V] or None, target: [C] (all valid).
    Returns (float32 scalar, [C, V] float32 ``softmax - onehot`` or None). Works in place on
    the one [C, V] float32 buffer holding the logits.
    """
    logits = h @ weight.T if bias is None else torch.addmm(bias, h, weight.T)
    logits = logits.float()  # no copy for float32 inputs
    target_logit = logits.gather(1, target[:, None]).squeeze(1)
    row_max = logits.amax(dim=1, keepdim=True)
    exp = logits.sub_(row_max).exp_()
    sum_exp = exp.sum(dim=1, keepdim=True)
    loss = (row_max + sum_exp.log()).squeeze(1).sub_(target_logit).sum()
    if not with_grad:
        return loss, None
    dlogits = exp.div_(sum_exp)
    dlogits.scatter_add_(1, target[:, None], torch.full_like(target_logit[:, None], -1.0))
    return loss, dlogits


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 accumulators for half / bfloat16 parameters, the parameter dtype otherwise."""
    return torch.float32 if dtype in _LOW_PRECISION else dtype


def _chunked_loss_and_grads(
    hidden2d: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    rows: torch.Tensor,
    targets: torch.Tensor,
    scale: float,
    chunk_size: int,
    needs: tuple[bool, bool, bool],
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """Loss sum (float64 scalar) and the gradients of ``scale * loss sum``.

    hidden2d: [N, H]; rows: [M] indices of the valid rows; targets: [M]; needs: whether the
    gradients of (hidden, weight, bias) are wanted. Gradients come back in the inputs' dtypes
    (None where not wanted); the ones of weight and bias are accumulated in float32 at least.
    """
    need_h, need_w, need_b = needs
    acc_dtype = _accumulation_dtype(weight.dtype)
    grad_h = torch.zeros_like(hidden2d) if need_h else None
    grad_w = torch.zeros_like(weight, dtype=acc_dtype) if need_w else None
    grad_b = torch.zeros_like(bias, dtype=acc_dtype) if need_b else None
    with_grad = any(needs)
    loss_sum = torch.zeros((), dtype=torch.float64, device=hidden2d.device)
    for start in range(0, rows.numel(), chunk_size):
        rows_c = rows[start : start + chunk_size]
        h = hidden2d.index_select(0, rows_c)
        target_c = targets[start : start + chunk_size]
        loss_c, dlogits = _chunk_loss_and_dlogits(h, weight, bias, target_c, with_grad)
        loss_sum += loss_c
        if dlogits is None:
            continue
        dlogits.mul_(scale)
        if grad_h is not None:
            grad_h.index_copy_(0, rows_c, dlogits.to(weight.dtype) @ weight)
        if grad_w is not None:
            grad_w.addmm_(dlogits.T.to(acc_dtype), h.to(acc_dtype))
        if grad_b is not None:
            grad_b += dlogits.sum(dim=0).to(acc_dtype)
        del dlogits
    grad_w = None if grad_w is None else grad_w.to(weight.dtype)
    grad_b = None if grad_b is None else grad_b.to(bias.dtype)
    return loss_sum, grad_h, grad_w, grad_b


def _scale_(grad: torch.Tensor | None, grad_output: torch.Tensor) -> torch.Tensor | None:
    """Multiply a saved gradient by the incoming scalar gradient, in place (no V x H copy)."""
    if grad is None or bool(grad_output == 1):
        return grad
    return grad.mul_(grad_output.to(grad.dtype))


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    """loss = sum over valid rows of CE(hidden2d[row] @ weight.T + bias, target) / denominator."""

    @staticmethod
    def forward(
        ctx,
        hidden2d: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        rows: torch.Tensor,
        targets: torch.Tensor,
        denominator: float,
        chunk_size: int,
        track: bool,
    ) -> torch.Tensor:
        needs = tuple(track and ctx.needs_input_grad[i] for i in range(3))
        scale = 1.0 / denominator if denominator else math.inf
        loss_sum, *grads = _chunked_loss_and_grads(
            hidden2d, weight, bias, rows, targets, scale, chunk_size, needs
        )
        ctx.grads = grads
        return (loss_sum / denominator).float()

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        if ctx.grads is None:
            raise RuntimeError(
                "chunked_linear_cross_entropy supports one backward per forward; "
                "compute the loss again instead of using retain_graph=True"
            )
        grad_h, grad_w, grad_b = (_scale_(g, grad_output) for g in ctx.grads)
        ctx.grads = None
        return grad_h, grad_w, grad_b, None, None, None, None, None


def chunked_linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    num_items_in_batch: int | torch.Tensor | None = None,
    shift: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> torch.Tensor:
    """Causal-LM cross-entropy of ``hidden @ weight.T (+ bias)`` without building the logits.

    Same value and gradients as transformers' ``ForCausalLMLoss`` on the full logits (see the
    module docstring for the exact semantics), at a memory cost of one [chunk_size, V]
    float32 buffer (about twice that for half-precision inputs, whose logits are computed in
    their own dtype first) plus the gradients themselves. For half-precision weights the
    weight gradient is accumulated in float32 and cast back at the end of the forward pass.

    Args:
        hidden: [B, T, H] or [N, H] last hidden states (any float dtype).
        weight: [V, H] LM-head weight, same dtype as ``hidden``. If it does not require grad
            (a frozen head under LoRA), no [V, H] gradient is computed or stored at all.
        labels: [B, T] or [N] int64 token ids, ``ignore_index`` where no loss is wanted.
        bias: optional [V] LM-head bias.
        ignore_index: label value that contributes no loss.
        num_items_in_batch: if given (int or tensor), the loss is the sum over valid targets
            divided by it instead of their mean (transformers' gradient-accumulation mode).
        shift: shift the labels by one (position t predicts labels[t + 1]); False uses the
            labels as the targets of each position directly.
        chunk_size: rows (valid tokens) per chunk; memory grows with it, speed saturates.

    Returns:
        float32 scalar loss. Gradients of hidden / weight / bias come back in their dtypes.

    Example:
        >>> import torch
        >>> hidden = torch.randn(2, 5, 8, requires_grad=True)
        >>> weight = torch.randn(11, 8, requires_grad=True)
        >>> labels = torch.tensor([[1, 2, 3, -100, -100], [4, 5, 6, 7, 8]])
        >>> loss = chunked_linear_cross_entropy(hidden, weight, labels, chunk_size=4)
        >>> logits = (hidden @ weight.T).float()[:, :-1].reshape(-1, 11)
        >>> reference = torch.nn.functional.cross_entropy(logits, labels[:, 1:].reshape(-1))
        >>> torch.allclose(loss, reference, atol=1e-5)
        True
        >>> loss.backward()  # hidden.grad and weight.grad are now set
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    _check_weight(hidden, weight, bias)
    hidden2d, targets = _flatten_targets(hidden, labels, ignore_index=ignore_index, shift=shift)
    rows = torch.nonzero(targets != ignore_index).squeeze(1)
    valid = targets.index_select(0, rows)
    if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= weight.shape[0]):
        raise ValueError(f"labels must be in [0, {weight.shape[0]}) or equal to ignore_index={ignore_index}")
    denominator = float(rows.numel() if num_items_in_batch is None else num_items_in_batch)
    return _ChunkedLinearCrossEntropy.apply(
        hidden2d, weight, bias, rows, valid, denominator, chunk_size, torch.is_grad_enabled()
    )


# --------------------------------------------------------------------------- Liger (CUDA)


def _liger_loss_class():
    try:
        module = importlib.import_module("liger_kernel.transformers")
    except ImportError as error:
        raise ImportError(
            "the 'liger' backend needs Liger-Kernel: pip install 'omni-bench[cuda]' "
            "(or liger-kernel>=0.6) on a CUDA machine"
        ) from error
    return module.LigerFusedLinearCrossEntropyLoss


def triton_interpreter() -> bool:
    """True when Triton's interpreter is on (``TRITON_INTERPRET=1``): Triton kernels then run
    on CPU tensors, so the Liger backend may be given them. Triton reads the variable when a
    kernel module is imported, so it must be set before Liger is first imported."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "yes", "on")


def liger_fused_linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    num_items_in_batch: int | torch.Tensor | None = None,
    shift: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> torch.Tensor:
    """Same contract as :func:`chunked_linear_cross_entropy`, computed by Liger-Kernel (CUDA).

    ``chunk_size`` is accepted for a uniform signature and ignored: Liger sizes its own
    chunks. Liger is imported on first use. Raises ImportError without liger-kernel and
    ValueError for tensors that are not on CUDA, unless :func:`triton_interpreter` is on.
    """
    tensors = [hidden, weight] + ([] if bias is None else [bias])
    if not all(t.is_cuda for t in tensors) and not triton_interpreter():
        raise ValueError(
            "the 'liger' backend needs hidden, weight (and bias) on a CUDA device "
            "(or TRITON_INTERPRET=1 to run Liger's kernel on CPU through Triton's interpreter)"
        )
    loss_class = _liger_loss_class()
    _check_weight(hidden, weight, bias)
    hidden2d, targets = _flatten_targets(hidden, labels, ignore_index=ignore_index, shift=shift)
    reduction = "mean" if num_items_in_batch is None else "sum"
    loss_fn = loss_class(ignore_index=ignore_index, reduction=reduction)
    loss = loss_fn(weight, hidden2d.contiguous(), targets.contiguous(), bias)
    if num_items_in_batch is None:
        return loss
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(loss.device)
    return loss / num_items_in_batch


# --------------------------------------------------------------------------- naive + dispatch


def _naive_linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    bias: torch.Tensor | None,
    ignore_index: int,
    num_items_in_batch: int | torch.Tensor | None,
    shift: bool,
) -> torch.Tensor:
    """The transformers path: full logits, then ``ForCausalLMLoss`` itself."""
    ensure_torchvision()  # transformers.loss imports torchvision; see omni_bench._torchvision
    from transformers.loss import loss_utils

    logits = hidden @ weight.T
    if bias is not None:
        logits = logits + bias
    vocab_size = weight.shape[0]
    if shift:
        return loss_utils.ForCausalLMLoss(
            logits, labels, vocab_size, num_items_in_batch=num_items_in_batch, ignore_index=ignore_index
        )
    return loss_utils.ForCausalLMLoss(
        logits,
        None,
        vocab_size,
        num_items_in_batch=num_items_in_batch,
        ignore_index=ignore_index,
        shift_labels=labels,
    )


def _resolve_backend(backend: str, hidden: torch.Tensor) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend != "auto":
        return backend
    if hidden.is_cuda:
        try:
            _liger_loss_class()
            return "liger"
        except ImportError:
            pass
    return "chunked"


def fused_linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    num_items_in_batch: int | torch.Tensor | None = None,
    shift: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    backend: Backend = "auto",
) -> torch.Tensor:
    """Causal-LM loss of ``hidden @ weight.T (+ bias)`` by the chosen backend.

    ``backend``: ``"auto"`` is Liger on CUDA when liger-kernel imports, else ``"chunked"``;
    ``"chunked"``, ``"liger"`` and ``"naive"`` (full logits + transformers'
    ``ForCausalLMLoss``) force one. Arguments as in :func:`chunked_linear_cross_entropy`.

    Example:
        >>> import torch
        >>> hidden, weight = torch.randn(6, 4), torch.randn(9, 4)
        >>> labels = torch.tensor([3, 1, -100, 8, 0, 2])
        >>> ours = fused_linear_cross_entropy(hidden, weight, labels, backend="chunked")
        >>> ref = fused_linear_cross_entropy(hidden, weight, labels, backend="naive")
        >>> torch.allclose(ours, ref, atol=1e-6)
        True
    """
    chosen = _resolve_backend(backend, hidden)
    kwargs = {
        "bias": bias,
        "ignore_index": ignore_index,
        "num_items_in_batch": num_items_in_batch,
        "shift": shift,
    }
    if chosen == "naive":
        return _naive_linear_cross_entropy(hidden, weight, labels, **kwargs)
    if chosen == "liger":
        return liger_fused_linear_cross_entropy(hidden, weight, labels, chunk_size=chunk_size, **kwargs)
    return chunked_linear_cross_entropy(hidden, weight, labels, chunk_size=chunk_size, **kwargs)
