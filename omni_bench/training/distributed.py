"""How a run is spread over processes: what ``accelerate launch`` asked for, and FSDP on CPU processes.

``accelerate launch --config_file configs/accelerate_fsdp.yaml`` tells the processes it starts to
shard the model (``ACCELERATE_USE_FSDP=true`` and the ``FSDP_*`` settings in their environment).
On GPUs accelerate does that. On CPU processes (gloo) accelerate 1.15 records the run as
``MULTI_CPU`` and silently trains plain data parallel instead: its ``AcceleratorState`` only turns
FSDP on for accelerator devices, although torch's FSDP2 (``fully_shard``) runs on CPU with gloo.
:func:`shard_on_cpu` turns it back on for such a run, so the same config is exercised on CPU
exactly as it is on GPUs (accelerate's own FSDP2 wrapping, state dicts and checkpoints), and a CI
machine without a GPU tests the sharded path. ``accelerate launch --cpu`` is not a way to get
there: accelerate then starts one process whatever ``--num_processes`` says (more CPU processes
need ``--mpirun_hostfile``); hide the GPUs instead (``CUDA_VISIBLE_DEVICES=""``), see
docs/training.md.

:func:`launch_kind` names what the launcher asked for ("fsdp", "deepspeed", "ddp" or "single"),
whatever accelerate made of it; :func:`sharded` says whether a prepared model's weights are
sharded over the processes; :func:`whole_units` holds FSDP2 units whole for a while, so that work
that differs between processes (GRPO's sampling, a tower only one process's batch uses) runs no
collective; :func:`in_forward` runs a step's own computation (DPO's pair log-probs, GRPO's rollout
and replays) as the wrapped model's forward, where DDP and FSDP2 must see one.

Left out: FSDP1 on CPU (the configs use FSDP2), tensor, context and pipeline parallelism. DeepSpeed
on CPU processes: see docs/training.md.
"""

from __future__ import annotations

import contextlib
import os

from omni_bench.core.errors import OmniBenchError

__all__ = ["launch_kind", "parallelism_of", "shard_on_cpu", "sharded", "whole_units", "as_forward", "in_forward",
           "adapter_state_dict", "sharded_fsdp_save"]


def _flag(name: str) -> bool:
    return os.environ.get(name, "false").lower() in ("1", "true", "yes")


def launch_kind() -> str:
    """What ``accelerate launch`` asked these processes for: "fsdp", "deepspeed", "ddp" or "single".

    >>> launch_kind()  # a plain python process  # doctest: +SKIP
    'single'
    """
    if _flag("ACCELERATE_USE_FSDP"):
        return "fsdp"
    if _flag("ACCELERATE_USE_DEEPSPEED"):
        return "deepspeed"
    return "ddp" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else "single"


def shard_on_cpu(accelerator) -> bool:
    """Make ``accelerator`` shard the model with FSDP when the launcher asked for FSDP but accelerate
    recorded a CPU data-parallel run (``MULTI_CPU``). Returns whether it did.

    The plugin is built from the launcher's environment (``FSDP_VERSION``, ``FSDP_TRANSFORMER_LAYER_
    CLS_TO_WRAP``, ``FSDP_STATE_DICT_TYPE``...) exactly as ``Accelerator`` builds it on GPUs, with the
    run's mixed precision. Call it right after the ``Accelerator`` is created, before the model is
    prepared (the Trainer subclass of :mod:`omni_bench.training.run` does).
    """
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    state = accelerator.state
    if launch_kind() != "fsdp" or state.distributed_type != DistributedType.MULTI_CPU:
        return False
    plugin = FullyShardedDataParallelPlugin()
    if plugin.fsdp_version != 2:
        raise OmniBenchError(f"fsdp_version {plugin.fsdp_version}: on CPU processes omni_bench runs FSDP2 only "
                             "(fsdp_version: 2, as in configs/accelerate_fsdp.yaml)", reason="bad-settings")
    if state.mixed_precision != "no":
        plugin.set_mixed_precision(state.mixed_precision)
    state.fsdp_plugin = plugin
    state.distributed_type = DistributedType.FSDP
    return True


def sharded(model) -> bool:
    """Whether any parameter of ``model`` is a DTensor shard (FSDP2) or a DeepSpeed ZeRO-3 partition."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) or hasattr(p, "ds_id") for p in model.parameters())


@contextlib.contextmanager
def as_forward(model, compute):
    """While it lasts, calling ``model`` (through its peft / DDP / FSDP wrappers) runs ``compute()`` and returns
    what it returns: the wrappers then see a forward (DDP prepares its gradient reduction, FSDP2 gathers its root
    unit) as for any step."""
    from omni_bench.training.preference_batch import model_parts

    base, _ = model_parts(model)
    previous = base.__dict__.get("forward")
    base.forward = lambda *args, **kwargs: compute()
    try:
        yield
    finally:
        if previous is None:
            del base.forward
        else:
            base.forward = previous


def in_forward(model, input_ids, compute, *, whole: bool = False, always: bool = False):
    """``compute()`` run as ``model``'s forward where a wrapper must see one, else directly; returns its result.

    * FSDP2 (:func:`sharded`): through the forward (its root unit's weights, a tower's patch embedding and the
      LM head, are whole only there; it reduces the gradients), with the frozen towers held whole (a tower one
      process's batch feeds and the other's does not runs no collective); with ``whole`` every unit (GRPO's
      sampling: the number of decoder forwards differs between processes).
    * DDP: through the forward (it reduces the gradients), except ``whole`` work, which has none.
    * one process: directly, unless ``always`` (DPO's pair log-probs always go through the forward, as a
      Trainer's loss does).

    ``input_ids``: what the wrappers are called with (they look at the inputs, ``compute`` ignores them).
    """
    import torch

    if sharded(model):
        def inside():
            with whole_units(model, frozen_only=not whole):
                return compute()
    elif always or (isinstance(model, torch.nn.parallel.DistributedDataParallel) and not whole):
        inside = compute
    else:
        return compute()
    with as_forward(model, inside):
        return model(input_ids=input_ids)


@contextlib.contextmanager
def whole_units(model, *, frozen_only: bool = False):
    """While it lasts, the FSDP2 units of ``model`` (with ``frozen_only``: those whose parameters are all
    frozen, the towers' blocks) hold their whole parameters and keep them after each forward.

    An FSDP2 unit all-gathers its shards at every forward, a collective all processes must join the
    same number of times and in the same order. Inside this context the units' forwards run no
    collective, so the processes may differ in what they run: GRPO's sampling, which stops when every
    completion of the process's group has ended; a tower that one process's batch feeds and the
    other's does not. Entering gathers each unit once, in ``model.modules()`` order on every process
    (a collective: every process enters together); leaving frees the gathered copies. Call it inside
    the root's forward (the root's own lazy set-up has run). Costs the units' whole size in memory
    while it lasts. A no-op on a model without FSDP2 units (one process, DDP).
    """
    from torch.distributed.fsdp import FSDPModule

    units = [m for m in model.modules() if isinstance(m, FSDPModule)
             and not (frozen_only and any(p.requires_grad for p in m.parameters()))]
    # FSDP2 has no public "unshard and keep"; its groups' post_forward_mesh_info is None when they keep
    # the whole parameters after a forward (set_reshard_after_forward(False) also flips the root heuristic)
    groups = [group for unit in units for group in unit._get_fsdp_state()._fsdp_param_groups]
    saved = [group.post_forward_mesh_info for group in groups]
    for unit in units:
        unit.unshard()
    for group in groups:
        group.post_forward_mesh_info = None
    try:
        yield
    finally:
        for group, info in zip(groups, saved, strict=True):
            group.post_forward_mesh_info = info
        for unit in units:
            unit.reshard()


def adapter_state_dict(model) -> dict:
    """The trained parameters (the LoRA adapter) of ``model`` as whole tensors, by state-dict name.

    Under FSDP2 each one is a DTensor shard; ``full_tensor()`` gathers it, a collective: every
    process calls this, in the same order, and gets the same dict. Elsewhere the tensors are
    the parameters themselves (detached). peft's ``save_pretrained(state_dict=...)`` takes it.
    """
    from torch.distributed.tensor import DTensor

    return {name: (p.full_tensor() if isinstance(p, DTensor) else p).detach()
            for name, p in model.named_parameters() if p.requires_grad}


def sharded_fsdp_save(trainer) -> bool:
    """Whether ``trainer`` runs FSDP with a sharded state dict: then transformers' Trainer writes the
    adapter only as DCP shards (``pytorch_model_fsdp_0/``, what resuming reads), never as peft files."""
    plugin = getattr(trainer.accelerator.state, "fsdp_plugin", None)
    return bool(trainer.is_fsdp_enabled and plugin is not None and "FULL_STATE_DICT" not in str(plugin.state_dict_type))


def parallelism_of(trainer) -> str:
    """How ``trainer`` trained: "fsdp", "deepspeed-zero<stage>", "ddp" or "single" (what accelerate
    ran, which on CPU processes can differ from what the launcher asked: :func:`launch_kind`)."""
    if getattr(trainer, "is_fsdp_enabled", False):
        return "fsdp"
    if getattr(trainer, "is_deepspeed_enabled", False):
        stage = trainer.accelerator.state.deepspeed_plugin.zero_stage
        return f"deepspeed-zero{stage}"
    return "ddp" if trainer.args.world_size > 1 else "single"
