"""What a training run is asked to do: :class:`TrainConfig`, one field per ``omni-bench train`` flag.

A run folder keeps its resolved config as ``config.json`` (:data:`CONFIG_FILE`);
:meth:`TrainConfig.from_file` reads it back (resuming checks which fields may change:
:data:`RESUMABLE_CHANGES`). See :mod:`omni_bench.training.run` for the run itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from omni_bench.core.composed import composed, flat_dict, flat_names, parts
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.numbers import check_fields
from omni_bench.data.settings import DataSettings
from omni_bench.eval.memory import parse_size
from omni_bench.layout.settings import LayoutSettings

__all__ = ["TrainConfig", "PreferenceSettings", "GRPOSettings", "GRPO_LOSS_TYPES", "SCALE_REWARDS",
           "LOSS_TYPES", "METHODS", "DEFAULT_LORA_TARGETS", "CONFIG_FILE",
           "ADAPTER_DIR", "RESUMABLE_CHANGES"]

DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
METHODS = ("sft", "dpo", "grpo")  # --method values: supervised fine-tuning, direct preference optimisation,
# group relative policy optimisation (training/grpo.py)
_DTYPES = ("auto", "float32", "bfloat16")
_SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
LOSS_BACKENDS = ("auto", "chunked", "liger", "naive")  # training.loss.BACKENDS; here, checked without torch
# Fields that may change between a run and its resumption (the others fix the trajectory).
RESUMABLE_CHANGES = {"max_steps", "resume", "progress", "save_steps", "save_total_limit", "logging_steps",
                      "num_workers", "output", "max_bad_samples"}
CONFIG_FILE = "config.json"
ADAPTER_DIR = "adapter"


# trl 1.16 DPOTrainer's loss_type values that take one (chosen, rejected) pair at a time (omni_bench.training.dpo)
LOSS_TYPES = ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "apo_zero",
              "apo_down", "sigmoid_norm", "sft")


@dataclass(frozen=True)
class PreferenceSettings:
    """``--method dpo``'s knobs: trl's ``DPOConfig`` names, meanings and defaults (omni_bench.training.dpo)."""

    beta: float = 0.1  # --beta: trl's beta, the strength of the pull towards the reference (the implicit
        # reward is beta x the log-ratio of policy to reference)
    loss_type: str = "sigmoid"  # --loss-type: trl's loss_type: sigmoid | hinge | ipo | exo_pair | nca_pair | robust
        # | bco_pair | sppo_hard | apo_zero | apo_down | sigmoid_norm | sft, or several joined by commas (trl's list,
        # summed with --loss-weights: sigmoid,sft is RPO, DPO plus the chosen replies' NLL)
    loss_weights: tuple[float, ...] = ()  # --loss-weights a,b: trl's loss_weights, one weight per --loss-type
        # (default: 1 each)
    label_smoothing: float = 0.0  # --label-smoothing: trl's label_smoothing, the assumed share of flipped pairs
        # (robust: [0, 0.5); exo_pair: > 0)
    precompute_ref_log_probs: bool = False  # --precompute-ref-log-probs: trl's name: the reference's log-probs of
        # every pair computed once at the first step and kept with the run (ref_logps.json); no reference pass after

    @property
    def loss_types(self) -> tuple[str, ...]:
        """``loss_type`` as trl's list: ``"sigmoid,sft"`` -> ``("sigmoid", "sft")``."""
        return tuple(kind.strip() for kind in str(self.loss_type).split(",") if kind.strip())

    def __post_init__(self):
        def bad(message: str):
            raise OmniBenchError(message, reason="bad-settings")

        kinds = self.loss_types
        unknown = [kind for kind in kinds if kind not in LOSS_TYPES]
        if not kinds or unknown or len(set(kinds)) < len(kinds):
            bad(f"--loss-type must be one of {', '.join(LOSS_TYPES)}, or several joined by commas, "
                f"got {self.loss_type!r}")
        weights = (self.loss_weights.split(",") if isinstance(self.loss_weights, str) else self.loss_weights) or ()
        try:
            weights = tuple(float(w) for w in weights)
        except (TypeError, ValueError):
            bad(f"--loss-weights must be numbers joined by commas, got {self.loss_weights!r}")
        if weights and (len(weights) != len(kinds) or not all(0 <= w < float("inf") for w in weights)):
            bad(f"--loss-weights needs one finite weight >= 0 per --loss-type ({len(kinds)}: {self.loss_type}), "
                f"got {self.loss_weights!r}")
        object.__setattr__(self, "loss_weights", weights)
        if not (isinstance(self.beta, (int, float)) and 0 < self.beta < float("inf")):
            bad(f"--beta must be a finite number > 0, got {self.beta!r}")
        if not (isinstance(self.label_smoothing, (int, float)) and 0 <= self.label_smoothing < 1):
            bad(f"--label-smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if "robust" in kinds and not self.label_smoothing < 0.5:
            bad(f"--loss-type robust takes --label-smoothing in [0, 0.5), got {self.label_smoothing}")
        if "exo_pair" in kinds and self.label_smoothing == 0:
            bad("--loss-type exo_pair needs --label-smoothing > 0 (e.g. 1e-3, trl's advice)")


GRPO_LOSS_TYPES = ("grpo", "dapo", "dr_grpo")  # trl 1.16 GRPOConfig.loss_type values omni_bench computes
SCALE_REWARDS = ("group", "batch", "none")  # trl 1.16 GRPOConfig.scale_rewards


@dataclass(frozen=True)
class GRPOSettings:
    """``--method grpo``'s knobs: trl 1.16 ``GRPOConfig``'s names, meanings and defaults (training/grpo.py).

    trl's ``beta`` and ``loss_type`` are ``grpo_beta`` and ``grpo_loss_type`` here: the DPO part holds
    ``beta`` and ``loss_type`` (one flat namespace of flags)."""

    num_generations: int = 8  # --num-generations: trl's num_generations (G), completions sampled per prompt
    temperature: float = 1.0  # --temperature: trl's temperature, sampling and the log-probs' logits divided by it
    top_p: float = 1.0  # --top-p: trl's top_p, nucleus sampling (1: off)
    max_completion_length: int = 512  # --max-completion-length: trl's max_completion_length, tokens per completion
    grpo_beta: float = 0.0  # --grpo-beta: trl's GRPOConfig.beta, the KL coefficient (0: no reference pass)
    epsilon: float = 0.2  # --epsilon: trl's epsilon, the lower clipping bound of the ratio (1 - epsilon)
    epsilon_high: float | None = None  # --epsilon-high: trl's epsilon_high, the upper bound (None: epsilon)
    grpo_loss_type: str = "dapo"  # --grpo-loss-type: trl's GRPOConfig.loss_type: grpo | dapo | dr_grpo
    scale_rewards: str = "group"  # --scale-rewards: trl's scale_rewards: group | batch | none
    mask_truncated_completions: bool = False  # --mask-truncated-completions: trl's name: completions cut at
        # --max-completion-length are left out of the loss
    reward_funcs: tuple[str, ...] = ("grounding_iou",)  # --reward-funcs a,b: reward names (training/rewards.py
        # REWARDS: grounding_iou, time_r1_iou, dense_f1, format; or module:function), summed
    max_memory: str | None = None  # --max-memory SIZE: memory one GRPO step (the rollout of G completions and their
        # replay) may take, e.g. 8GiB (None: 25% of the memory available); checked before the first step
        # (eval/memory.py check_grpo_memory): the largest prompt over it is refused in one line

    def __post_init__(self):
        def bad(message: str):
            raise OmniBenchError(message, reason="bad-settings")

        if isinstance(self.reward_funcs, str):  # --reward-funcs a,b given as a keyword
            names = tuple(n.strip() for n in self.reward_funcs.split(",") if n.strip())
            object.__setattr__(self, "reward_funcs", names)
        if self.grpo_loss_type not in GRPO_LOSS_TYPES:
            bad(f"--grpo-loss-type must be one of {', '.join(GRPO_LOSS_TYPES)}, got {self.grpo_loss_type!r}")
        if self.scale_rewards not in SCALE_REWARDS:
            bad(f"--scale-rewards must be one of {', '.join(SCALE_REWARDS)}, got {self.scale_rewards!r}")
        if not (isinstance(self.num_generations, int) and self.num_generations >= 2):
            bad(f"--num-generations must be a whole number >= 2 (a group's advantages compare its completions), "
                f"got {self.num_generations!r}")
        if not (isinstance(self.max_completion_length, int) and self.max_completion_length >= 1):
            bad(f"--max-completion-length must be a whole number >= 1, got {self.max_completion_length!r}")
        for name, low in (("temperature", 0.0), ("epsilon", 0.0), ("grpo_beta", -1.0)):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and low < value < float("inf")):
                bad(f"--{name.replace('_', '-')} must be a finite number > {max(low, 0):g}, got {value!r}")
        if self.grpo_beta < 0:
            bad(f"--grpo-beta must be >= 0, got {self.grpo_beta!r}")
        if not (isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1):
            bad(f"--top-p must be in (0, 1], got {self.top_p!r}")
        high = self.epsilon_high
        if high is not None and not (isinstance(high, (int, float)) and 0 < high < float("inf")):
            bad(f"--epsilon-high must be a number > 0, got {self.epsilon_high!r}")
        if not self.reward_funcs:
            bad("--reward-funcs names at least one reward")
        if self.max_memory is not None:
            parse_size(self.max_memory)  # a size such as 8GiB, or one clear line


@composed
@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; CLI flags map 1:1 (``--max-steps`` is ``max_steps``).

    It holds two parts, as ``HfArgumentParser`` composes dataclasses: ``dataset``
    (:class:`~omni_bench.data.settings.DataSettings`: the annotation file, format, task, media root,
    token budget) and ``layout`` (:class:`~omni_bench.layout.settings.LayoutSettings`: frames, sizes,
    chunks, audio, system prompt). Their fields keep their names: ``TrainConfig(data=..., frames=4)``
    fills the parts, ``config.frames`` reads ``config.layout.frames``, and ``config.json`` is flat
    (:mod:`omni_bench.core.composed`). A new part (preference tuning's knobs) is one more field here.
    """

    # model
    model: str | None = None  # --model PATH: checkpoint directory (weights + processor); None: --tiny
    tiny: bool = False  # --tiny: random-init tiny model of --profile (CPU smoke runs, not quality)
    # method (a preference-tuning part adds its knobs beside these)
    method: str = "sft"  # --method NAME: the training objective: sft (supervised fine-tuning on the replies)
    init_adapter: str | None = None  # --init-adapter DIR: a trained LoRA adapter to start from (a run's adapter/
        # folder); used by preference tuning, refused with --method sft
    preference: PreferenceSettings = field(default_factory=PreferenceSettings)  # --method dpo's knobs
    grpo: GRPOSettings = field(default_factory=GRPOSettings)  # --method grpo's knobs
    # the records, and how each sample is laid out (their flags and help come from the parts)
    dataset: DataSettings = field(default_factory=DataSettings)
    layout: LayoutSettings = field(default_factory=LayoutSettings,
                                   metadata={"unused": ("prompt", "answer")})  # the records hold both
    # optimisation
    max_steps: int = 100  # --max-steps: optimizer steps
    learning_rate: float = 1e-4  # --learning-rate: peak learning rate (the LongVALE notebook's 1e-4)
    lr_scheduler: str = "linear"  # --lr-scheduler: linear | cosine | constant | constant_with_warmup
    warmup_steps: int = 0  # --warmup-steps: linear warm-up steps
    weight_decay: float = 0.0  # --weight-decay: AdamW weight decay
    max_grad_norm: float = 1.0  # --max-grad-norm: gradient clipping (0: off)
    batch_size: int = 1  # --batch-size: samples per process per micro-batch
    grad_accum: int = 1  # --grad-accum: micro-batches per optimizer step
    # LoRA (the LongVALE notebook's r=16, alpha=16, dropout 0.05; docs/background.md)
    lora_r: int = 16  # --lora-r: adapter rank
    lora_alpha: int = 16  # --lora-alpha: adapter scale numerator (scale = alpha / r)
    lora_dropout: float = 0.05  # --lora-dropout: dropout on the adapter input
    lora_targets: tuple[str, ...] = DEFAULT_LORA_TARGETS  # --lora-targets a,b: projections of the TEXT model
    train_modules: tuple[str, ...] = ()  # --train-modules norm,lm_head: also trained in full and saved with the
        # adapter (peft modules_to_save): norm (text model's final norm), lm_head, or a full module name
    # loss and memory
    loss_backend: str = "auto"  # --loss-backend: auto | chunked | liger | naive (omni_bench.training.loss)
    loss_chunk_size: int = 512  # --loss-chunk-size: rows per chunk of the chunked loss (loss.DEFAULT_CHUNK_SIZE)
    gradient_checkpointing: bool = True  # --no-gradient-checkpointing turns it off
    packing: bool = False  # --packing: a micro-batch's samples share rows of --max-total-tokens, no attention
        # across samples
    pack_dataset: bool = False  # --pack-dataset: pack the whole dataset into rows of --max-total-tokens (first-fit
        # decreasing, each sample once per epoch); a micro-batch is --batch-size rows (training/dataset_packing.py)
    dtype: str = "auto"  # --dtype: auto (bfloat16 on CUDA, float32 on CPU) | float32 | bfloat16
    # run directory and bookkeeping
    output: str = "runs/train"  # --output DIR: the run directory
    logging_steps: int = 5  # --logging-steps: one metrics row every N steps (the LongVALE notebook logged every 5)
    save_steps: int = 100  # --save-steps: a resumable checkpoint every N steps
    save_total_limit: int | None = None  # --save-total-limit: keep only the newest N checkpoints
    seed: int = 0  # --seed: model init, LoRA init, data order, dropout
    num_workers: int = 0  # --num-workers: DataLoader worker processes (decoding runs there)
    max_bad_samples: int = 10  # --max-bad-samples: samples that may fail to decode mid-run (each skipped and
        # listed in problems.jsonl) before the run stops (training/bad_samples.py)
    resume: bool = False  # --resume: continue from the last complete checkpoint in --output
    progress: bool = True  # --no-progress hides the progress bar

    def __post_init__(self):
        def bad(message: str):
            raise OmniBenchError(message, reason="bad-settings")

        if self.model is not None and self.tiny:
            bad("pass either --model PATH or --tiny, not both")
        if self.model is None and not self.tiny:
            bad("pass --model PATH (a checkpoint directory) or --tiny (random-init tiny model)")
        if not self.data:
            bad("pass --data ANNOTATIONS (a LongVALE SFT / Qwen-VL JSON file)")
        self._check_unused()  # --prompt / --answer: the records hold the prompts and replies
        check_fields(self)  # every number finite, whole where an int, in range (omni_bench.core.numbers)
        if self.warmup_steps >= self.max_steps > 0 and self.warmup_steps and self.lr_scheduler != "constant":
            bad(f"--warmup-steps {self.warmup_steps} is not shorter than the run (--max-steps {self.max_steps}): the "
                "learning rate would never reach --learning-rate; lower --warmup-steps")
        if self.pack_dataset and self.max_total_tokens is None:
            bad("--pack-dataset fills rows of --max-total-tokens tokens: pass --max-total-tokens N")
        if self.method not in METHODS:
            bad(f"--method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.init_adapter is not None and self.method == "sft":
            bad("--init-adapter is for preference tuning; --method sft starts from the base model")
        if self.dtype not in _DTYPES:
            bad(f"--dtype must be one of {', '.join(_DTYPES)}, got {self.dtype!r}")
        if self.lr_scheduler not in _SCHEDULERS:
            bad(f"--lr-scheduler must be one of {', '.join(_SCHEDULERS)}, got {self.lr_scheduler!r}")
        if self.loss_backend not in LOSS_BACKENDS:
            bad(f"--loss-backend must be one of {', '.join(LOSS_BACKENDS)}, got {self.loss_backend!r}")
        if not self.lora_targets or not all(re.fullmatch(r"\w+", t) for t in self.lora_targets):
            bad(f"--lora-targets must be module names such as q_proj,v_proj, got {self.lora_targets!r}")
        if not all(re.fullmatch(r"\w+(?:\.\w+)*", t) for t in self.train_modules):
            bad(f"--train-modules must be module names such as norm,lm_head, got {self.train_modules!r}")

    def layout_settings(self) -> LayoutSettings:
        """The :class:`~omni_bench.layout.settings.LayoutSettings` the dataset samples with (``--model``'s
        checkpoint as the profile when given)."""
        return self.layout.replace(profile=self.model) if self.model else self.layout

    def absolute(self) -> TrainConfig:
        """The config with every path absolute (data file, media root, output, and the model and adapter folders
        that exist): what a run records in ``config.json``, so ``--config RUN/config.json`` works from any folder."""
        folders = {name: str(Path(getattr(self, name)).absolute()) for name in ("model", "init_adapter")
                   if getattr(self, name) and Path(getattr(self, name)).exists()}
        return self.replace(dataset=self.dataset.absolute(), output=str(Path(self.output).absolute()), **folders)

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes``: fields of the config or of its parts, by name (``frames=8``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Flat ``{field: value}``, the parts' fields by their names: a run's ``config.json``."""
        return flat_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """A config from a dict (e.g. a run's ``config.json``, flat as every version wrote it, or with the parts
        as objects); unknown keys are an error."""
        known = set(flat_names(cls)) | set(parts(cls))
        unknown = sorted(set(data) - known)
        if unknown:
            raise OmniBenchError(f"unknown training settings: {', '.join(unknown)}", reason="bad-settings")
        values = dict(data)
        for name in parts(cls):  # a part given as a JSON object: its fields by name
            if isinstance(values.get(name), dict):
                values = {**values.pop(name), **values}
        if values.get("resize") is not None:
            values["resize"] = tuple(values["resize"])
        for key in ("lora_targets", "train_modules", "reward_funcs"):
            if values.get(key) is not None:
                names = values[key]
                values[key] = tuple((names.split(",") if names else ()) if isinstance(names, str) else names)
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | os.PathLike, **changes) -> TrainConfig:
        """Read a JSON config file (a run's ``config.json`` works), then apply ``changes``."""
        path = Path(path)
        if not path.is_file():
            raise OmniBenchError(f"{path}: config file not found", source=str(path), reason="missing")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise OmniBenchError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})", source=str(path),
                                 reason="bad-json") from None
        if not isinstance(data, dict):
            raise OmniBenchError(f"{path}: a config file is one JSON object", source=str(path), reason="bad-json")
        try:
            return cls.from_dict({**data, **changes})
        except OmniBenchError as exc:  # name the file: "run/config.json: --max-steps must be ..."
            raise OmniBenchError(f"{path}: {exc}", source=str(path), reason=exc.reason) from None
