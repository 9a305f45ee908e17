"""The model a run trains: loaded (a profile's tiny model or a checkpoint, through its family's
rules in :mod:`omni_bench.families`), adapted (base frozen, gradient checkpointing with input
gradients, LoRA on the text decoder's projections only, the fused loss) and reloaded with
its trained adapter.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

from omni_bench._torchvision import ensure_torchvision
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.models import tiny_model
from omni_bench.core.profiles import get_profile
from omni_bench.families import family_of, family_of_model_type
from omni_bench.training.config import ADAPTER_DIR, CONFIG_FILE, DEFAULT_LORA_TARGETS, TrainConfig

__all__ = ["lora_target_regex", "train_module_names", "adapt_model", "adapter_folder", "load_trained_model",
           "load_model", "resolve_dtype", "prepare_model"]


def lora_target_regex(model, targets=DEFAULT_LORA_TARGETS) -> str:
    """A peft ``target_modules`` regex matching ``targets`` inside the text decoder's layers only.

    The text decoder is the module with ``embed_tokens`` and ``layers`` (the Omni thinker's
    and Qwen2.5-VL's ``model.language_model``), so the audio tower's ``q_proj`` and the
    vision tower's ``up_proj`` never match.

    >>> lora_target_regex(tiny_model("qwen2.5-omni-7b"), ("q_proj", "down_proj"))  # doctest: +SKIP
    'model\\\\.language_model\\\\.layers\\\\.\\\\d+\\\\.(?:self_attn|mlp)\\\\.(?:q_proj|down_proj)'
    """
    decoder = _text_decoder_name(model)
    prefix = re.escape(decoder) + r"\." if decoder else ""
    pattern = prefix + r"layers\.\d+\.(?:self_attn|mlp)\.(?:" + "|".join(re.escape(t) for t in targets) + ")"
    matched = [name for name, _ in model.named_modules() if re.fullmatch(pattern, name)]
    missing = [t for t in targets if not any(name.endswith("." + t) for name in matched)]
    if missing:
        raise OmniBenchError(f"--lora-targets: no {', '.join(missing)} in the text model's layers of "
                             f"{type(model).__name__}", reason="bad-settings")
    return pattern


def _text_decoder_name(model) -> str:
    """The name of the text decoder: the one module with ``embed_tokens`` and a ``layers`` list."""
    import torch

    prefixes = [name for name, module in model.named_modules()
                if isinstance(getattr(module, "layers", None), torch.nn.ModuleList) and hasattr(module, "embed_tokens")]
    if len(prefixes) != 1:
        raise OmniBenchError(f"{type(model).__name__}: cannot find one text decoder (found {prefixes or 'none'})",
                             reason="unsupported-model")
    return prefixes[0]


def train_module_names(model, names) -> list[str]:
    """Full module names for ``--train-modules`` (peft ``modules_to_save``): ``norm`` is the text
    decoder's final norm, ``lm_head`` the output head, any other name a module's full name.

    Full names, because peft matches ``modules_to_save`` by suffix (a bare ``norm`` would also
    catch every ``input_layernorm``).
    """
    modules = dict(model.named_modules())
    head = model.get_output_embeddings()
    resolved = []
    for name in names:
        if name == "norm":
            decoder = _text_decoder_name(model)
            full = f"{decoder}.norm" if decoder else "norm"
        elif name == "lm_head":
            full = next((key for key, module in modules.items() if module is head), name)
        else:
            full = name
        if full not in modules:
            raise OmniBenchError(f"--train-modules: no module {name!r} in {type(model).__name__}",
                                 reason="bad-settings")
        resolved.append(full)
    return resolved


def load_model(config: TrainConfig, dtype):
    """The base model: the tiny one of the profile, or a checkpoint (the Omni thinker only)."""
    ensure_torchvision()
    if config.tiny:
        return tiny_model(config.profile, seed=config.seed, dtype=dtype)
    path = Path(config.model)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise OmniBenchError(f"{path}: no config.json; --model takes a checkpoint directory", source=str(path),
                             reason="missing")
    model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type", "")
    return family_of_model_type(model_type).load_checkpoint(str(path), model_type, dtype)


def resolve_dtype(config: TrainConfig):
    import torch

    if config.dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return getattr(torch, config.dtype)


def prepare_model(config: TrainConfig, dtype):
    """Frozen base + gradient checkpointing + LoRA on the text model + the fused loss, and the idle
    towers' zero-weighted forward that keeps sharded runs in step (:mod:`omni_bench.training.towers`).

    The default targets pass through the family (Qwen3-Omni's MoE layers have no gate/up/down
    projections to wrap: its default is the attention's four); explicit ones are kept.
    """
    targets = config.lora_targets
    if tuple(targets) == DEFAULT_LORA_TARGETS and config.tiny:
        targets = family_of(get_profile(config.profile)).lora_targets(targets)
    model = adapt_model(load_model(config, dtype), gradient_checkpointing=config.gradient_checkpointing,
                        lora_r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                        lora_targets=targets, loss_backend=config.loss_backend,
                        loss_chunk_size=config.loss_chunk_size, train_modules=config.train_modules,
                        init_adapter=None if config.init_adapter is None else adapter_folder(config.init_adapter))
    from omni_bench.training.towers import install_idle_towers

    install_idle_towers(model)  # every process runs every tower on a sharded run (training/towers.py)
    return model


def adapt_model(model, *, gradient_checkpointing: bool = True, lora_r: int = 16, lora_alpha: int = 16,
                lora_dropout: float = 0.05, lora_targets=DEFAULT_LORA_TARGETS, loss_backend: str = "auto",
                loss_chunk_size: int | None = None, train_modules=(), init_adapter: str | os.PathLike | None = None):
    """What :func:`train` does to a loaded model, as a function: base frozen, gradient
    checkpointing with input gradients, LoRA on the text model's projections only (peft),
    and the fused loss (``loss_chunk_size`` None: the loss's default); ``train_modules`` (names as
    :func:`train_module_names` reads them) train in full beside it. Returns the peft model.
    ``init_adapter``: a trained adapter folder to continue instead of a new LoRA (its own rank, targets
    and modules; the lora_* and train_modules arguments are not used), loaded twice: as the trained
    ``"default"`` and as a frozen copy ``"ref"``, preference tuning's reference (training/dpo.py).
    Used by :func:`train` and the step benchmark (:mod:`omni_bench.bench.step`)."""
    ensure_torchvision()  # before peft: it imports transformers' vision code
    from peft import LoraConfig, get_peft_model

    from omni_bench.training.fused import enable_fused_loss

    model.requires_grad_(False)  # towers, embeddings, head: frozen; only the adapter trains
    lora = LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                      target_modules=lora_target_regex(model, tuple(lora_targets)), task_type="CAUSAL_LM",
                      modules_to_save=train_module_names(model, train_modules) or None)
    with warnings.catch_warnings():  # peft reads the deprecated is_gradient_checkpointing alias
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        if init_adapter is None:
            model = get_peft_model(model, lora)
        else:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True)
            model.load_adapter(str(init_adapter), adapter_name="ref", is_trainable=False)
            model.set_adapter("default")
    if gradient_checkpointing:  # after peft, which would hook every tower's input (_text_inputs_require_grad)
        base = model.get_base_model()
        base.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        base.config.use_cache = False
        _text_inputs_require_grad(base)
    enable_fused_loss(model, backend=loss_backend,
                      **({} if loss_chunk_size is None else {"chunk_size": loss_chunk_size}))
    return model


def _text_inputs_require_grad(model) -> None:
    """Make the text decoder's input embeddings require grad, and nothing else.

    Frozen embeddings + checkpointing: without this the checkpointed blocks see inputs that need
    no grad and the loss has none (the LongVALE notebook's "Loss requires_grad: False").
    transformers' ``enable_input_require_grads()`` (peft calls it for a checkpointed model) hooks
    every tower's input layer as well, so the frozen towers would run a backward that trains
    nothing, and under FSDP / ZeRO-3 gather their weights for it in an order that differs between
    a process whose batch has a video and one whose batch has none: a collective mismatch.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.disable_input_require_grads()  # hooks of an earlier enable_input_require_grads()

    def require_grad(module, inputs, output):
        output.requires_grad_(True)

    embed = base.get_submodule(_text_decoder_name(base)).embed_tokens
    base._require_grads_hooks = [embed.register_forward_hook(require_grad)]  # what disable_... removes


def adapter_folder(path: str | os.PathLike) -> Path:
    """The adapter folder ``path`` names: a run directory (its ``adapter/``), or an adapter folder itself
    (a ``checkpoint-N`` works); a one-line OmniBenchError when it holds none."""
    path = Path(path)
    for folder in (path / ADAPTER_DIR, path):
        if (folder / "adapter_config.json").is_file():
            return folder
    raise OmniBenchError(f"{path}: no LoRA adapter (adapter_config.json) here or in {path / ADAPTER_DIR}; "
                         "--init-adapter takes a training run's folder", source=str(path), reason="missing")


def load_trained_model(run_dir: str | os.PathLike, *, adapter: str | os.PathLike | None = None):
    """The base model of a run with its trained adapter loaded (peft), in eval mode.

    ``adapter``: a folder holding an adapter (default: the run's ``adapter/``; a
    ``checkpoint-N`` folder works too).
    """
    ensure_torchvision()
    from peft import PeftModel

    run_dir = Path(run_dir)
    config = TrainConfig.from_file(run_dir / CONFIG_FILE)
    base = load_model(config, resolve_dtype(config))
    with warnings.catch_warnings():  # peft reads the deprecated is_gradient_checkpointing alias
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        model = PeftModel.from_pretrained(base, str(adapter or run_dir / ADAPTER_DIR))
    model.eval()
    return model
