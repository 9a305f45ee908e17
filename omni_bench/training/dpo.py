"""Direct preference optimisation (DPO) on video and audio-in-video: ``omni-bench train --method dpo``.

What it computes is trl 1.16's ``DPOTrainer`` (``f_divergence_type="reverse_kl"``): for each pair the
policy's and the reference's summed log-probs of the chosen and the rejected reply
(:mod:`omni_bench.training.logprobs`), the log-ratios ``policy - reference``, and trl's per-pair loss
of ``delta = chosen log-ratio - rejected log-ratio`` for the ``loss_type`` asked (``sigmoid``:
``-log sigmoid(beta * delta)``; ``hinge``, ``ipo``, ``robust``, ... in :func:`dpo_loss`), averaged over
the batch. The implicit rewards are ``beta x`` the log-ratios; the logged metrics are trl's:
``rewards/chosen``, ``rewards/rejected``, ``rewards/margins``, ``rewards/accuracies``,
``logps/chosen``, ``logps/rejected`` (means over the pairs of the logging window, gathered over
processes). ``tests/test_dpo_trl.py`` runs trl's own trainer beside this one.

What differs from trl, and why:

* **the media once per pair**: the two rows of a pair share one decode, one processor call and one
  tower pass; the reference pass reuses the same tower outputs while the towers are frozen
  (:mod:`omni_bench.training.preference_batch`). trl's collator doubles the media (images only).
  In each pass each pair's prompt runs through the text decoder once and the two replies attend to
  its keys and values (:func:`omni_bench.training.prefix.pair_prefix_hidden`); trl runs the full rows.
* **the reference**: from a base model, the LoRA adapter disabled (as trl with a ``peft_config``);
  from an SFT run (``--init-adapter``), a frozen copy of that adapter named ``"ref"`` (as trl does
  when it is handed a ``PeftModel``); never the base model after SFT. At step 1 the policy is the
  reference: the rewards are 0 and the sigmoid loss is ln 2.
* **the replies' log-probs from hidden states in chunks**, never the N x V logits of a long prompt.
* dropout is off during DPO (trl's ``disable_dropout=True`` default), so the policy and the
  reference passes see the same network.
* ``precompute_ref_log_probs`` (trl's name) works with video and audio (trl refuses it for vision
  data): the reference's log-probs of every pair are computed once, at the first step, and kept with
  the run (``ref_logps.json``, read back by ``--resume``); the steps then run no reference pass.

Several loss types at once are trl's list (``--loss-type sigmoid,sft --loss-weights 1,0.2``, the
weighted sum); ``sft`` is the chosen replies' per-token NLL, which with ``sigmoid`` is RPO.

Left out: trl's ``f_divergence_type`` other than reverse KL, ``ld_alpha``, ``use_weighting`` (WPO),
the batch-sorting ``aot`` losses, ``discopop``, ``sync_ref_model``, the ``entropy`` / ``logits/*`` /
``mean_token_accuracy`` metrics.
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.processor import load_processor
from omni_bench.core.stages import stage
from omni_bench.data.preference import read_pairs
from omni_bench.training.config import PreferenceSettings
from omni_bench.training.distributed import in_forward
from omni_bench.training.logprobs import DEFAULT_LOGPROB_CHUNK, sequence_logprobs
from omni_bench.training.preference_batch import (
    PreferenceCollator,
    PreferenceDataset,
    encode_media,
    model_parts,
    pair_hidden_states,
)
from omni_bench.training.prefix import pair_prefix_hidden

__all__ = ["DPO_METRICS", "REFERENCE_ADAPTER", "REF_LOGPS_FILE", "reference_table", "dpo_loss", "combined_loss",
           "preference_data", "PairLogps", "pair_hidden", "pair_logprobs",
           "reference_policy", "DPOStep", "dpo_step", "disable_dropout", "make_dpo_trainer_class"]

DPO_METRICS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
               "logps/rejected")  # trl's names, in metrics.jsonl
REFERENCE_ADAPTER = "ref"  # the frozen copy of an --init-adapter (trl's name for it)


def dpo_loss(chosen_logratios: torch.Tensor, rejected_logratios: torch.Tensor, settings: PreferenceSettings, *,
             chosen_tokens: torch.Tensor | None = None, rejected_tokens: torch.Tensor | None = None,
             kind: str | None = None) -> torch.Tensor:
    """trl's per-pair DPO loss [B] from the log-ratios ``policy - reference`` of each side [B], for the
    pairwise loss type ``kind`` (default: ``settings.loss_type``; ``sft`` is :func:`combined_loss`'s).

    ``chosen_tokens`` / ``rejected_tokens``: the replies' token counts, which ``ipo`` and
    ``sigmoid_norm`` divide by (trl's per-token normalisation).

    >>> zero = torch.zeros(1)
    >>> round(float(dpo_loss(zero, zero, PreferenceSettings())), 6)  # ln 2 at the start
    0.693147
    """
    beta, smoothing = settings.beta, settings.label_smoothing
    kind = settings.loss_type if kind is None else kind
    delta = chosen_logratios - rejected_logratios
    if kind == "sigmoid":
        return -F.logsigmoid(beta * delta)
    if kind == "hinge":
        return torch.relu(1 - beta * delta)
    if kind in ("ipo", "sigmoid_norm"):
        if chosen_tokens is None or rejected_tokens is None:
            raise ValueError(f"loss_type {kind} needs the replies' token counts")
        per_token = (chosen_logratios / chosen_tokens.clamp(min=1.0)
                     - rejected_logratios / rejected_tokens.clamp(min=1.0))
        return (per_token - 1 / (2 * beta)) ** 2 if kind == "ipo" else -F.logsigmoid(beta * per_token)
    if kind == "exo_pair":
        eps = torch.tensor(smoothing, device=delta.device)
        return (torch.sigmoid(beta * delta) * (F.logsigmoid(beta * delta) - torch.log1p(-eps))
                + torch.sigmoid(-beta * delta) * (F.logsigmoid(-beta * delta) - torch.log(eps)))
    if kind == "nca_pair":
        chosen, rejected = beta * chosen_logratios, beta * rejected_logratios
        return -F.logsigmoid(chosen) - 0.5 * F.logsigmoid(-chosen) - 0.5 * F.logsigmoid(-rejected)
    if kind == "robust":
        return ((-(1 - smoothing) * F.logsigmoid(beta * delta) + smoothing * F.logsigmoid(-beta * delta))
                / (1 - 2 * smoothing))
    if kind == "bco_pair":
        return -F.logsigmoid(beta * chosen_logratios) - F.logsigmoid(-beta * rejected_logratios)
    if kind == "sppo_hard":
        return (chosen_logratios - 0.5 / beta) ** 2 + (rejected_logratios + 0.5 / beta) ** 2
    if kind == "apo_zero":
        return 1 - torch.sigmoid(beta * chosen_logratios) + torch.sigmoid(beta * rejected_logratios)
    if kind == "apo_down":
        return torch.sigmoid(beta * chosen_logratios) + 1 - torch.sigmoid(beta * delta)
    raise ValueError(f"unknown loss_type {kind!r}")


def combined_loss(policy: PairLogps, reference: PairLogps, settings: PreferenceSettings) -> torch.Tensor:
    """The batch's loss as trl sums its list of loss types: ``sum(weight x loss)``, each pairwise loss
    averaged over the pairs; ``sft`` is the chosen replies' negative log-likelihood per token, over
    the batch's chosen tokens (trl's ``sft`` loss type; with ``sigmoid``, RPO's NLL term)."""
    weights = settings.loss_weights or (1.0,) * len(settings.loss_types)
    chosen_ratio, rejected_ratio = policy.chosen - reference.chosen, policy.rejected - reference.rejected
    total = 0.0
    for kind, weight in zip(settings.loss_types, weights, strict=True):
        if kind == "sft":
            loss = -policy.chosen.sum() / policy.chosen_tokens.sum().clamp(min=1.0)
        else:
            loss = dpo_loss(chosen_ratio, rejected_ratio, settings, chosen_tokens=policy.chosen_tokens,
                            rejected_tokens=policy.rejected_tokens, kind=kind).mean()
        total = total + weight * loss
    return total


# --------------------------------------------------------------------------- log-probs of a batch of pairs


@dataclass
class PairLogps:
    """Summed reply log-probs of a batch's rows, split into its pairs' two sides."""

    chosen: torch.Tensor  # [B]
    rejected: torch.Tensor  # [B]
    chosen_tokens: torch.Tensor  # [B] labelled tokens of each chosen reply
    rejected_tokens: torch.Tensor  # [B]


def _split(logps: torch.Tensor, tokens: torch.Tensor) -> PairLogps:
    chosen, rejected = logps.chunk(2)
    chosen_tokens, rejected_tokens = tokens.chunk(2)
    return PairLogps(chosen, rejected, chosen_tokens.float(), rejected_tokens.float())


def _towers_frozen(model) -> bool:
    _, inner = model_parts(model)
    towers = [getattr(inner, name, None) for name in ("visual", "audio_tower")]
    return not any(p.requires_grad for tower in towers if tower is not None for p in tower.parameters())


def pair_hidden(model, batch: dict, *, encodings=None, shared: bool = True):
    """``(last hidden states [rows, T, H], encodings)`` of a collated batch of pairs.

    ``shared``: the media encoded once per pair (``encodings`` reused when given; encoded here without
    a graph while the towers are frozen) and each pair's prompt through the decoder once; ``shared=False``:
    the duplicated path (every full row with its own media)."""
    has_media = batch.get("pixel_values_videos") is not None or batch.get("input_features") is not None
    if shared and has_media and encodings is None:
        with torch.no_grad() if _towers_frozen(model) else contextlib.nullcontext():
            encodings = encode_media(model, batch)
    hidden = pair_prefix_hidden(model, batch, encodings) if shared else None
    if hidden is None:
        hidden = pair_hidden_states(model, batch, encodings=encodings, shared=shared)
    return hidden, encodings


def pair_logprobs(model, batch: dict, *, encodings=None, shared: bool = True, chunk_size: int | None = None):
    """``(PairLogps, encodings)`` of a collated batch of pairs under ``model`` as it stands (adapter on).

    ``encodings``: tower outputs from an earlier pass to reuse (None: encoded here, once per pair,
    without a graph while the towers are frozen). ``shared=False``: the duplicated path.
    """
    base, _ = model_parts(model)

    def compute():  # inside the forward (distributed.in_forward): under FSDP the frozen towers are whole
        nonlocal encodings
        hidden, encodings = pair_hidden(model, batch, encodings=encodings, shared=shared)
        return sequence_logprobs(hidden, base.get_output_embeddings(), batch["labels"],
                                 chunk_size=chunk_size or DEFAULT_LOGPROB_CHUNK)

    logps, tokens = in_forward(model, batch["input_ids"], compute, always=True)
    return _split(logps, tokens), encodings


@contextlib.contextmanager
def reference_policy(model):
    """The reference while it lasts: the ``"ref"`` adapter (a frozen copy of ``--init-adapter``) if the
    model holds one, else the model with its adapter disabled (the base)."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        model = model.module
    if not hasattr(model, "peft_config"):
        raise OmniBenchError(f"{type(model_parts(model)[0]).__name__}: DPO here trains a LoRA adapter; the reference "
                             "is the model without it (full fine-tuning is left out)", reason="unsupported-model")
    if REFERENCE_ADAPTER in model.peft_config:
        previous = model.active_adapter
        model.set_adapter(REFERENCE_ADAPTER)
        try:
            yield
        finally:
            model.set_adapter(previous)
    else:
        with model.disable_adapter():
            yield


# --------------------------------------------------------------------------- one step


@dataclass
class DPOStep:
    """One DPO forward: the loss and what trl logs of it."""

    loss: torch.Tensor  # scalar, the mean per-pair loss
    policy: PairLogps
    reference: PairLogps
    chosen_rewards: torch.Tensor  # [B] beta x chosen log-ratio (detached)
    rejected_rewards: torch.Tensor  # [B]
    encodings: object = None  # the tower outputs both passes used (MediaEncodings or None)


def dpo_step(model, batch: dict, settings: PreferenceSettings, *, reference_model=None, shared: bool = True,
             reference: PairLogps | None = None) -> DPOStep:
    """The policy pass (with a graph), the reference pass (without) and trl's loss for one batch.

    ``reference_model``: the unwrapped peft model for the reference pass (default: ``model``).
    The reference reuses the policy pass's tower outputs while the towers are frozen.
    ``reference``: the batch's reference log-probs computed earlier (precompute_ref_log_probs): no
    reference pass.
    """
    policy, encodings = pair_logprobs(model, batch, shared=shared)
    if reference is None:
        reference_model = model if reference_model is None else reference_model
        reuse = encodings if _towers_frozen(reference_model) else None
        with torch.no_grad(), reference_policy(reference_model):
            reference, _ = pair_logprobs(reference_model, batch, encodings=reuse, shared=shared)
    chosen_ratio, rejected_ratio = policy.chosen - reference.chosen, policy.rejected - reference.rejected
    return DPOStep(loss=combined_loss(policy, reference, settings), policy=policy, reference=reference,
                   chosen_rewards=settings.beta * chosen_ratio.detach(),
                   rejected_rewards=settings.beta * rejected_ratio.detach(), encodings=encodings)


REF_LOGPS_FILE = "ref_logps.json"  # a run's precomputed reference log-probs (precompute_ref_log_probs)


def reference_table(model, dataset, collator, path) -> dict:
    """The reference's summed log-probs of every pair of ``dataset``: ``{"chosen": [...], "rejected": [...]}``
    in dataset order, read from ``path`` when a run already wrote it for this many pairs (a resumed run),
    else computed one pair at a time (no graph) and written there."""
    path = Path(path)
    if path.is_file():
        table = json.loads(path.read_text(encoding="utf-8"))
        if len(table.get("chosen", ())) == len(dataset):
            return table
    table = {"chosen": [], "rejected": []}
    with torch.no_grad(), reference_policy(model):
        for index in range(len(dataset)):
            logps, _ = pair_logprobs(model, collator([dataset[index]]))
            table["chosen"].append(float(logps.chosen[0]))
            table["rejected"].append(float(logps.rejected[0]))
    return table


def _table_logps(table: dict, batch: dict) -> PairLogps:
    """A batch's reference log-probs from the table (its token counts are not read: the loss takes the policy's)."""
    index = batch["pair_index"].tolist()
    device = batch["input_ids"].device
    chosen = torch.tensor([table["chosen"][i] for i in index], device=device)
    rejected = torch.tensor([table["rejected"][i] for i in index], device=device)
    return PairLogps(chosen, rejected, torch.zeros_like(chosen), torch.zeros_like(rejected))


def disable_dropout(model) -> None:
    """Every ``nn.Dropout`` of ``model`` to p = 0 (trl's ``disable_dropout``; LoRA's dropout included)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


# --------------------------------------------------------------------------- data and Trainer


def preference_data(config, data_path):
    """``(PreferenceDataset, PreferenceCollator)`` of a run's pair file: the pairs through the record gate
    (:func:`omni_bench.data.preference.read_pairs`), every bad or over-budget pair in ``dataset.dropped``."""
    if config.packing or config.pack_dataset:
        raise OmniBenchError("--method dpo keeps each pair's two rows side by side: --packing and --pack-dataset "
                             "are for --method sft", reason="bad-settings")
    stage("train", f"loading the {config.model or config.profile} processor (transformers)...", config.progress)
    processor = load_processor(config.model or config.profile)
    settings = config.layout_settings()
    stage("train", f"reading the preference pairs of {data_path}...", config.progress)
    pairs, problems = read_pairs(str(data_path), config.media_root, settings=settings, processor=processor,
                                 max_total_tokens=config.max_total_tokens, progress=False)
    dataset = PreferenceDataset(pairs, settings=settings, processor=processor,
                                max_total_tokens=config.max_total_tokens)
    dataset.dropped[:0] = problems
    if len(dataset) == 0:
        reasons = "; ".join(f"{d.source}: {d.reason}" for d in dataset.dropped[:3])
        raise OmniBenchError(f"{data_path}: no preference pair makes a training pair ({reasons or 'no pairs'})",
                             source=str(data_path), reason="no-samples")
    return dataset, PreferenceCollator(processor, settings=settings)


# --------------------------------------------------------------------------- the Trainer


def make_dpo_trainer_class(base):
    """``base`` (omni_bench's Trainer subclass, or transformers' ``Trainer``) with the DPO loss and trl's
    metrics: ``compute_loss`` runs :func:`dpo_step`; ``log`` adds the window's means of
    :data:`DPO_METRICS`, gathered over processes, as trl's ``DPOTrainer.log`` does."""

    class PreferenceTrainer(base):
        def __init__(self, *args, preference: PreferenceSettings | None = None, **kwargs):
            super().__init__(*args, **kwargs)
            disable_dropout(self.model)  # trl's disable_dropout=True: the policy and reference see one network
            self.preference = preference or PreferenceSettings()
            self.model_accepts_loss_kwargs = False  # a mean over pairs: Trainer divides by the accumulation steps
            self.dpo_metrics = defaultdict(list)
            self.checked_grad = False
            self.reference_table = None  # precompute_ref_log_probs: every pair's reference log-probs

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            reference = None
            if self.preference.precompute_ref_log_probs:  # trl's name: the table once, then no reference pass
                if self.reference_table is None:
                    self.reference_table = self._reference_table()
                reference = _table_logps(self.reference_table, inputs)
            step = dpo_step(model, inputs, self.preference, reference_model=self.accelerator.unwrap_model(model),
                            reference=reference)
            if model.training and not self.checked_grad:
                if not step.loss.requires_grad:
                    raise OmniBenchError("the DPO loss does not require grad: no trainable parameter is reached "
                                         "(check --lora-targets)", reason="no-grad")
                self.checked_grad = True
            gather = self.accelerator.gather
            chosen, rejected = gather(step.chosen_rewards), gather(step.rejected_rewards)
            values = {"rewards/chosen": chosen.mean(), "rewards/rejected": rejected.mean(),
                      "rewards/margins": (chosen - rejected).mean(),
                      "rewards/accuracies": (chosen > rejected).float().mean(),
                      "logps/chosen": gather(step.policy.chosen.detach()).mean(),
                      "logps/rejected": gather(step.policy.rejected.detach()).mean()}
            for key, value in values.items():
                self.dpo_metrics[key].append(float(value))
            return (step.loss, step) if return_outputs else step.loss

        def _reference_table(self) -> dict:
            """Every pair's reference log-probs, computed by each process (no collective) and written by
            the main one into the run folder, or read back from it when resuming."""
            path = Path(self.args.output_dir) / REF_LOGPS_FILE
            table = reference_table(self.accelerator.unwrap_model(self.model), self.train_dataset,
                                    self.data_collator, path)
            if self.args.process_index == 0 and not path.is_file():
                path.write_text(json.dumps(table) + "\n", encoding="utf-8")
            return table

        def log(self, logs, start_time=None):
            if self.dpo_metrics and "loss" in logs:
                logs.update({key: sum(v) / len(v) for key, v in self.dpo_metrics.items()})
                self.dpo_metrics.clear()
            return super().log(logs, start_time)

    return PreferenceTrainer
