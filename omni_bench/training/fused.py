"""Wire the fused linear cross-entropy into a model's forward: a loss without the N x V logits.

``enable_fused_loss(model)`` replaces, on that one model instance, the forward of the
Qwen2.5-Omni thinker (``Qwen2_5OmniThinkerForConditionalGeneration``) or Qwen2.5-VL
(``Qwen2_5_VLForConditionalGeneration``), or of a plain ``*ForCausalLM``, with one that:

* **with** ``labels``: runs the decoder (``model.model(...)``, the same call the original
  forward makes, with every multimodal argument - ``use_audio_in_video``, grids, audio masks -
  passed through, so the TMRoPE positions and rope deltas are computed exactly as before),
  then :func:`omni_bench.training.loss.fused_linear_cross_entropy` on the last hidden states and the
  LM-head weight. It returns a ``CausalLMOutputWithPast`` with ``loss`` and ``logits=None``:
  the [B, T, V] logits are never built. ``num_items_in_batch`` (transformers' Trainer passes
  it for gradient accumulation) and ``shift_labels`` keep their transformers meaning.
* **without** ``labels``: the original forward, untouched - ``generate`` and evaluation
  logits are exactly what they were.

A model wrapped by peft (``PeftModel``) can be given: the wiring goes on the base model it
wraps, which peft's forward calls. :func:`use_fused_loss` is the same as a context manager
that restores the original forward on exit. Under DeepSpeed ZeRO-3 the LM-head weight is
gathered for the loss (it is read outside the head's own forward).

Left out: an LM head that is not a plain ``nn.Linear`` (LoRA on ``lm_head``, quantised
heads) raises :class:`~omni_bench.core.errors.OmniBenchError`; ``logits_to_keep`` is ignored when
labels are given (all positions carry the loss); models whose forward does not follow the
"decoder, then ``lm_head``" pattern (the Omni talker, encoder-decoders) are refused.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import types
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from omni_bench.core.errors import OmniBenchError
from omni_bench.layout.labels import IGNORE_INDEX
from omni_bench.training.loss import BACKENDS, DEFAULT_CHUNK_SIZE, fused_linear_cross_entropy

__all__ = ["enable_fused_loss", "disable_fused_loss", "use_fused_loss", "fused_loss_enabled", "FusedLoss"]

_SUPPORTED = ("Qwen2_5OmniThinkerForConditionalGeneration", "Qwen2_5_VLForConditionalGeneration",
              "Qwen3VLForConditionalGeneration", "Qwen3OmniMoeThinkerForConditionalGeneration")
# arguments of the original forward that are about the loss or the logits, not the decoder
_LOSS_ONLY = ("labels", "num_items_in_batch", "shift_labels", "logits_to_keep", "ignore_index")


@dataclass
class FusedLoss:
    """What :func:`enable_fused_loss` installed on a model (kept as ``model._omni_fused_loss``)."""

    backend: str  # "auto", "chunked", "liger" or "naive" (see omni_bench.training.loss)
    chunk_size: int  # rows per chunk of the chunked backend
    previous_forward: object | None  # an instance-level forward that was there before (None: the class's)
    calls: int = 0  # forwards that took the fused path (labels given)


def _causal_lm(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model under a peft wrapper (or the model itself), checked to be supported."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    name = type(base).__name__
    if name not in _SUPPORTED and not name.endswith("ForCausalLM"):
        raise OmniBenchError(
            f"{name}: the fused loss supports {', '.join(_SUPPORTED)} and *ForCausalLM models",
            source=name, reason="unsupported-model")
    if not isinstance(getattr(base, "model", None), torch.nn.Module):
        raise OmniBenchError(f"{name}: no decoder at .model to take hidden states from", source=name,
                             reason="unsupported-model")
    return base


def _lm_head(base: torch.nn.Module) -> torch.nn.Linear:
    head = base.get_output_embeddings()
    if hasattr(head, "modules_to_save") and hasattr(head, "original_module"):  # peft modules_to_save (--train-modules)
        active = [name for name in head.active_adapters if name in head.modules_to_save]
        head = head.original_module if head.disable_adapters or not active else head.modules_to_save[active[0]]
    if _plain_class(head) is not torch.nn.Linear:
        raise OmniBenchError(
            f"{type(base).__name__}: the LM head is {type(head).__name__}, not a plain nn.Linear "
            "(LoRA or quantisation on lm_head?); leave lm_head out of the adapter targets to use the fused loss",
            reason="unsupported-head")
    return head


def _plain_class(module: torch.nn.Module) -> type:
    """The module's class, or the one FSDP2's ``fully_shard`` derived its ``FSDP<Name>`` class from."""
    from torch.distributed.fsdp import FSDPModule

    cls = type(module)
    if isinstance(module, FSDPModule):
        cls = next(c for c in cls.__bases__ if c is not FSDPModule)
    return cls


def _gathered(head: torch.nn.Linear):
    """DeepSpeed ZeRO-3 and FSDP2 shard the weights and gather them around their module's forward;
    the fused loss reads ``lm_head.weight`` outside that forward, so gather it here (a no-op otherwise).
    FSDP2 (accelerate puts the final norm and the head in one unit that stays gathered until the
    backward) is asked to unshard, which does nothing when the norm's forward already did. The
    chunked and Liger backends compute their gradients in the forward, while it is gathered.
    """
    from torch.distributed.fsdp import FSDPModule

    if isinstance(head, FSDPModule):
        head.unshard()
        return contextlib.nullcontext()
    # a weight that is already gathered (tied to the embeddings, whose module still holds it) is read
    # as it is: gathering it again would release it on exit while the embedding module uses it
    params = [p for p in (head.weight, head.bias)
              if p is not None and hasattr(p, "ds_id") and p.ds_status.name != "AVAILABLE"]
    if not params:
        return contextlib.nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters(params, modifier_rank=None)


def _fused_forward(self: torch.nn.Module, *args, **kwargs):
    """The forward installed by :func:`enable_fused_loss` (bound to the model instance)."""
    state: FusedLoss = self._omni_fused_loss
    original = state.previous_forward
    if original is None:
        original = types.MethodType(type(self).forward, self)
    bound = inspect.signature(type(self).forward).bind_partial(self, *args, **kwargs)
    named = dict(bound.arguments)
    named.pop("self")
    for name, parameter in inspect.signature(type(self).forward).parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD and name in named:
            named.update(named.pop(name))
    labels = named.get("labels")
    if labels is None:
        return original(*args, **kwargs)

    shift_labels = named.pop("shift_labels", None)
    num_items = named.pop("num_items_in_batch", None)
    ignore_index = named.pop("ignore_index", IGNORE_INDEX)
    for name in _LOSS_ONLY:
        named.pop(name, None)
    return_dict = named.pop("return_dict", None)
    if named.get("use_cache") is None:
        named["use_cache"] = False  # training: no KV cache (same hidden states)
    outputs = self.model(**named)
    head = _lm_head(self)
    hidden = outputs[0].to(head.weight.device)  # a no-op unless the model is split over devices
    targets, shift = (labels, True) if shift_labels is None else (shift_labels, False)
    # Under autocast (accelerate's --mixed_precision bf16 with float32 weights, as the configs ask on a
    # CPU run) the loss's own matmuls would come out in bf16 beside float32 buffers: it runs outside
    # autocast, in the head weight's dtype, as transformers upcasts the logits for its loss.
    with _gathered(head), torch.autocast(hidden.device.type, enabled=False):
        loss = fused_linear_cross_entropy(
            hidden.to(head.weight.dtype), head.weight, targets, bias=head.bias, ignore_index=ignore_index,
            num_items_in_batch=num_items, shift=shift, chunk_size=state.chunk_size, backend=state.backend)
    state.calls += 1
    from transformers.modeling_outputs import CausalLMOutputWithPast

    result = CausalLMOutputWithPast(
        loss=loss, logits=None, past_key_values=getattr(outputs, "past_key_values", None),
        hidden_states=getattr(outputs, "hidden_states", None), attentions=getattr(outputs, "attentions", None))
    return result.to_tuple() if return_dict is False else result


def enable_fused_loss(
    model: torch.nn.Module, *, backend: str = "auto", chunk_size: int = DEFAULT_CHUNK_SIZE
) -> FusedLoss:
    """Make ``model(..., labels=...)`` compute the fused loss and return ``logits=None``.

    ``model``: a supported transformers model or a peft model wrapping one. ``backend`` and
    ``chunk_size`` go to :func:`omni_bench.training.loss.fused_linear_cross_entropy`. Calling it again
    only updates backend and chunk size. Returns the :class:`FusedLoss` state.

    >>> model = tiny_model("qwen2.5-omni-7b")                     # doctest: +SKIP
    >>> enable_fused_loss(model, backend="chunked")               # doctest: +SKIP
    >>> model(**batch, labels=labels).logits is None              # doctest: +SKIP
    True
    """
    if backend not in BACKENDS:
        raise OmniBenchError(f"unknown loss backend {backend!r}; known: {', '.join(BACKENDS)}",
                             reason="bad-settings")
    base = _causal_lm(model)
    _lm_head(base)
    state = getattr(base, "_omni_fused_loss", None)
    if state is not None:
        state.backend, state.chunk_size = backend, chunk_size
        return state
    state = FusedLoss(backend=backend, chunk_size=chunk_size, previous_forward=base.__dict__.get("forward"))
    base._omni_fused_loss = state

    @functools.wraps(type(base).forward)  # keeps the signature: generate() validates kwargs against it
    def forward(self, *args, **kwargs):
        return _fused_forward(self, *args, **kwargs)

    base.forward = types.MethodType(forward, base)
    return state


def disable_fused_loss(model: torch.nn.Module) -> None:
    """Restore the forward :func:`enable_fused_loss` replaced (no-op if it was not enabled)."""
    base = _causal_lm(model)
    state = base.__dict__.pop("_omni_fused_loss", None)
    if state is None:
        return
    if state.previous_forward is None:
        base.__dict__.pop("forward", None)
    else:
        base.forward = state.previous_forward


def fused_loss_enabled(model: torch.nn.Module) -> bool:
    """Whether :func:`enable_fused_loss` is in effect on this model (or the one peft wraps)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "_omni_fused_loss" in base.__dict__


@contextlib.contextmanager
def use_fused_loss(
    model: torch.nn.Module, *, backend: str = "auto", chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[FusedLoss]:
    """``with use_fused_loss(model): loss = model(**batch, labels=labels).loss`` - restored on exit."""
    before = _causal_lm(model).__dict__.get("_omni_fused_loss")
    saved = None if before is None else (before.backend, before.chunk_size)
    state = enable_fused_loss(model, backend=backend, chunk_size=chunk_size)
    try:
        yield state
    finally:
        if saved is None:
            disable_fused_loss(model)
        else:
            state.backend, state.chunk_size = saved
