"""Idle towers: a zero-weighted forward of the frozen vision / audio tower for a batch that has no such input.

Why: under FSDP and DeepSpeed ZeRO-3 a tower's weights are sharded, and every forward of one of its
blocks starts with a collective (all-gather) that *all* processes must join. A process whose batch
has a video runs the vision tower; one whose batch is text only does not, and the first process
waits for the other forever (QwenLM/Qwen3-VL#126, deepspeedai/DeepSpeed#7170, modelscope/ms-swift#3213).

What: :func:`install_idle_towers` hooks the multimodal model under the LM head (the Omni thinker's
``model``, Qwen2.5-VL's ``model``: the module whose forward runs ``get_audio_features``,
``get_image_features`` and ``get_video_features``, in that order, then the decoder). For every kind of
input the model has a tower for and the batch does *not* carry, that tower runs once on the smallest
input it takes (one merged vision token: a 1 x 2 x 2 patch grid of zeros; 2 x ``n_window`` zero mel
frames; the family builds them, :meth:`~omni_bench.families.base.Family.idle_tower_inputs`), at the
place in the forward where the real call would be: just before the next real tower call, or before
the decoder. So every process calls audio, image and video tower in the same order, once per
forward, whatever its batch holds (the collectives pair up in order: a dummy run anywhere else, say
after the decoder, is a "collective mismatch" in gloo). ``0 * sum(outputs)`` is added to the
decoder's input embeddings, which ties the dummies into the graph; the loss, and with frozen towers
the gradients, are exactly those of the run without the dummy (adding 0 changes no bit of a finite
tensor). It acts only in training mode on a distributed run (world size > 1); a single process and
``generate`` never see it.

Cost: one forward of one merged token per idle kind and step (plus, under FSDP / ZeRO-3, the
gathers of that tower's weights, which the process would otherwise skip).

Left out: a batch whose items call a tower a different number of times on different processes
for other reasons (the thinkers call each tower once per batch); models whose towers are not
reached through ``get_*_features``.
"""

from __future__ import annotations

import functools

import torch

from omni_bench.core.errors import OmniBenchError
from omni_bench.families import family_of_model_type

__all__ = ["IDLE_KINDS", "install_idle_towers", "remove_idle_towers", "idle_towers_installed", "idle_kinds"]

# input kind -> (the forward keyword that carries it, the model method that runs its tower)
# in the order the thinkers' forwards run the towers (audio, then image, then video)
IDLE_KINDS = {"audio": ("input_features", "get_audio_features"),
              "image": ("pixel_values", "get_image_features"),
              "video": ("pixel_values_videos", "get_video_features")}
_ATTR = "_omni_idle_towers"


def _multimodal(model: torch.nn.Module) -> torch.nn.Module:
    """The module under the LM head whose forward runs the towers (a peft wrapper is looked through)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner = getattr(base, "model", None)
    if inner is None or not hasattr(inner, "get_video_features"):
        raise OmniBenchError(f"{type(base).__name__}: no multimodal model with get_video_features at .model",
                             reason="unsupported-model")
    return inner


def idle_kinds(inner: torch.nn.Module, inputs: dict) -> tuple[str, ...]:
    """The input kinds ``inner`` has a tower for that ``inputs`` (its forward's keywords) does not carry.

    >>> idle_kinds(tiny_model("qwen2.5-omni-7b").model, {"input_ids": ids})  # doctest: +SKIP
    ('audio', 'image', 'video')
    """
    kinds = []
    for kind, (key, method) in IDLE_KINDS.items():
        has_tower = hasattr(inner, method) and (kind != "audio" or hasattr(inner, "audio_tower"))
        if has_tower and inputs.get(key) is None:
            kinds.append(kind)
    return tuple(kinds)


def _tensors(value):
    """Every tensor in a tower's output (a tensor, a tuple / list of them, or a ModelOutput)."""
    if torch.is_tensor(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def _active(module: torch.nn.Module) -> bool:
    import torch.distributed as dist

    return module.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class _IdleTowers:
    """The hooks of one model: which kinds are idle in the current forward, their dummies run so far."""

    def __init__(self, inner: torch.nn.Module, family):
        self.inner, self.family = inner, family
        self.pending: list[str] = []  # idle kinds whose dummy has not run yet in this forward
        self.zero = None  # 0 * the sum of the dummies' outputs
        self.device = None
        self.handles = [inner.register_forward_pre_hook(self.begin, with_kwargs=True),
                        inner.language_model.register_forward_pre_hook(self.before_decoder, with_kwargs=True)]
        self.originals = {}
        for kind, (_, method) in IDLE_KINDS.items():
            if hasattr(inner, method):
                self.originals[method] = getattr(inner, method)
                setattr(inner, method, self._wrapped(kind, self.originals[method]))

    def begin(self, module, args, kwargs):
        self.pending = list(idle_kinds(module, kwargs)) if _active(module) else []
        self.zero = None
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.device = ids.device if ids is not None else kwargs["inputs_embeds"].device

    def _run_until(self, kind: str | None) -> None:
        """Run the pending dummies that come before ``kind`` in the forward's order (None: all)."""
        order = list(IDLE_KINDS)
        while self.pending and (kind is None or order.index(self.pending[0]) < order.index(kind)):
            idle = self.pending.pop(0)
            # float32, as the processor hands pixels and mel features to the forward
            inputs = self.family.idle_tower_inputs(self.inner.config, idle, device=self.device, dtype=torch.float32)
            result = self.originals[IDLE_KINDS[idle][1]](**inputs)
            for tensor in _tensors(result):
                if tensor.is_floating_point():
                    part = tensor.float().sum() * 0
                    self.zero = part if self.zero is None else self.zero + part

    def _wrapped(self, kind: str, original):
        # functools.wraps keeps the tower method's signature: generate() reads it to pick the pixel
        # keywords it encodes before prefill (a bare (*args, **kwargs) left them in, beside
        # mm_encoder_outputs, and the thinker's forward refused both)
        @functools.wraps(original)
        def call(*args, **kwargs):
            self._run_until(kind)  # the idle kinds the forward would have run before this one
            return original(*args, **kwargs)

        return call

    def before_decoder(self, module, args, kwargs):
        self._run_until(None)
        if self.zero is not None and kwargs.get("inputs_embeds") is not None:
            embeds = kwargs["inputs_embeds"]
            kwargs["inputs_embeds"] = embeds + self.zero.to(embeds.dtype)
        self.zero = None
        return args, kwargs

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        for method in self.originals:
            self.inner.__dict__.pop(method, None)


def install_idle_towers(model: torch.nn.Module, family=None):
    """Hook ``model`` (a supported transformers model or a peft model wrapping one) so that a training
    forward on a distributed run also runs each tower its batch does not use, zero-weighted, in the
    order the forward runs the towers (see the module docstring). ``family``: its
    :class:`~omni_bench.families.base.Family` (default: the one of the model's ``model_type``).
    Installing twice keeps one set of hooks. Returns the installed hooks."""
    inner = _multimodal(model)
    if _ATTR in inner.__dict__:
        return inner.__dict__[_ATTR]
    if family is None:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        family = family_of_model_type(getattr(base.config, "model_type", ""))
    hooks = _IdleTowers(inner, family)
    inner.__dict__[_ATTR] = hooks
    return hooks


def remove_idle_towers(model: torch.nn.Module) -> None:
    """Undo :func:`install_idle_towers` (a no-op when it is not installed)."""
    hooks = _multimodal(model).__dict__.pop(_ATTR, None)
    if hooks is not None:
        hooks.remove()


def idle_towers_installed(model: torch.nn.Module) -> bool:
    return _ATTR in _multimodal(model).__dict__
