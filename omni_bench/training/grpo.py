"""Group relative policy optimisation (GRPO) on video and audio-in-video: ``omni-bench train --method grpo``.

What it computes is trl 1.16's ``GRPOTrainer`` with one generation per step (``num_iterations=1``):
for each prompt G completions are sampled (:mod:`omni_bench.training.rollout`: one tower pass and one
prefill per group), scored by the rewards (:mod:`omni_bench.training.rewards`, with ``eval score``'s
parsers; summed), turned into group-relative
advantages (:func:`group_advantages`: ``reward - group mean``, divided by the group's / the batch's
std + 1e-4 unless ``scale_rewards="none"``), and the loss is trl's clipped surrogate
(:func:`grpo_loss`) for ``loss_type`` grpo / dapo / dr_grpo, plus ``beta x`` the k3 KL to the reference
when ``beta`` > 0. ``tests/test_grpo_trl.py`` runs trl's own ``_compute_loss`` beside it.

* the reference (``--grpo-beta`` > 0) is DPO's (:func:`omni_bench.training.dpo.reference_policy`): the
  frozen ``"ref"`` copy of an ``--init-adapter``, else the adapter disabled. ``beta`` 0 (trl's default):
  no reference pass.
* the old policy is the policy that sampled (one optimisation step per generation, trl's default), so
  ``old_per_token_logps`` is the policy's own log-probs, detached: the ratio is 1 at the step.
* metrics, trl's names: ``reward``, ``reward_std``, ``rewards/<name>/mean``, ``frac_reward_zero_std``,
  ``completions/mean_length``, ``completions/clipped_ratio``, ``kl`` (beta > 0), ``clip_ratio``,
  ``entropy``; and the rewards library's ``format_failure_rate`` (nothing parsed) and
  ``degenerate_rate`` (a reversed, zero-length, out-of-range or whole-video span); ``parity/*``, the
  rollout = replay audit of the step; ``reward_faults``, the share of groups skipped. At each logging step
  every process's groups (prompt, truth, G completions, rewards, advantages) are gathered and the main
  process writes them to ``groups.jsonl`` (training/groups.py: the group view's record).
* a reward fault (training/rewards.py ``RewardError``: a reward raised, returned a non-finite value or the
  wrong count) costs the prompt's group, not the run: its advantages are 0 and its loss times 0 (the
  replay still runs, so DDP's reduction sees every process), and the prompt is listed like a bad sample
  (training/bad_samples.py: ``problems.jsonl``, ``dropped``, reason ``reward``), counted toward
  ``--max-bad-samples``. A group whose rewards are all equal has advantage 0 (``group_advantages``) and
  is counted by ``frac_reward_zero_std``.

Left out: several prompts per micro-batch (--batch-size 1; use --grad-accum), ``num_iterations`` > 1,
``importance_sampling_level="sequence"``, the other trl loss types (bnpo, cispo, sapo, luspo, vespo),
vLLM. Several processes (DDP, FSDP2) keep each group on one process, so its advantages are the
group's (tests/test_grpo_ddp.py, tests/test_preference_fsdp.py).
"""

from __future__ import annotations

from collections import defaultdict

import torch

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.processor import load_processor
from omni_bench.core.stages import stage
from omni_bench.core.tokens import token_ids
from omni_bench.training.config import GRPOSettings
from omni_bench.training.distributed import in_forward
from omni_bench.training.dpo import disable_dropout, reference_policy
from omni_bench.training.groups import append_group, gather_groups, group_record
from omni_bench.training.preference_batch import last_reply_labels
from omni_bench.training.rewards import RewardError, resolve_rewards, rewards_stats
from omni_bench.training.rollout import banned_token_ids, replay, rollout

__all__ = ["GRPO_METRICS", "reward_task", "grpo_step", "group_advantages", "grpo_loss", "PromptDataset",
           "PromptCollator", "prompt_data", "prompt_seed", "make_grpo_trainer_class"]

GRPO_METRICS = ("reward", "reward_std", "frac_reward_zero_std", "completions/mean_length",
                "completions/clipped_ratio", "kl", "clip_ratio", "entropy", "format_failure_rate", "degenerate_rate",
                "parity/checked", "parity/position_ids_equal", "parity/max_logprob_diff")


# --------------------------------------------------------------------------- rewards


def reward_task(task: str | None) -> str:
    """The rewards' task (training/rewards.py) of a run's ``--task``: dense captioning reads events, else a span."""
    return "dense" if task in ("dense", "captioning") else "grounding"


# --------------------------------------------------------------------------- advantages and loss


def group_advantages(rewards: torch.Tensor, num_generations: int, scale_rewards: str = "group"):
    """trl's advantages of rewards [B x G] (groups contiguous): ``(advantages, std_rewards)``.

    >>> advantages, std = group_advantages(torch.tensor([1.0, 0.0, 0.5, 0.5]), 2)
    >>> [round(float(a), 3) for a in advantages], [round(float(s), 3) for s in std]
    ([0.707, -0.707, 0.0, 0.0], [0.707, 0.707, 0.0, 0.0])
    """
    grouped = rewards.view(-1, num_generations)
    mean = grouped.mean(1).repeat_interleave(num_generations)
    if scale_rewards == "batch":
        std = rewards.std().expand_as(rewards) if rewards.numel() > 1 else torch.zeros_like(rewards)
    else:  # group, and none (its std only says which groups have none)
        std = grouped.std(1).repeat_interleave(num_generations)
    advantages = rewards - mean
    if scale_rewards != "none":
        advantages = advantages / (std + 1e-4)
    return advantages, std


def grpo_loss(per_token_logps: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, settings: GRPOSettings, *,
              old_per_token_logps: torch.Tensor | None = None, ref_per_token_logps: torch.Tensor | None = None,
              num_items: float | None = None):
    """trl 1.16's GRPO loss of one micro-batch and its statistics ``(loss, {"kl", "clip_ratio", ...})``.

    ``per_token_logps`` / ``old_per_token_logps`` / ``ref_per_token_logps``: [N, C]; ``advantages``: [N];
    ``mask``: [N, C] the completion tokens counted; ``num_items``: dapo's normaliser (the completion
    tokens of the whole generation batch; default ``mask.sum()``).
    """
    old = per_token_logps.detach() if old_per_token_logps is None else old_per_token_logps
    mask = mask.to(per_token_logps.dtype)
    epsilon_high = settings.epsilon if settings.epsilon_high is None else settings.epsilon_high
    coef_1 = torch.exp(per_token_logps - old)
    coef_2 = torch.clamp(coef_1, 1 - settings.epsilon, 1 + epsilon_high)
    adv = advantages[:, None]
    per_token_loss = -torch.min(coef_1 * adv, coef_2 * adv)
    stats = {}
    if settings.grpo_beta != 0.0:
        delta = ref_per_token_logps - per_token_logps
        per_token_kl = torch.exp(delta) - delta - 1
        per_token_loss = per_token_loss + settings.grpo_beta * per_token_kl
        stats["kl"] = float((per_token_kl.detach() * mask).sum() / mask.sum().clamp(min=1.0))
    kind = settings.grpo_loss_type
    if kind == "grpo":
        loss = ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif kind == "dr_grpo":
        loss = (per_token_loss * mask).sum() / (per_token_loss.size(0) * settings.max_completion_length)
    elif kind == "dapo":
        loss = (per_token_loss * mask).sum() / torch.as_tensor(mask.sum() if num_items is None else num_items,
                                                               dtype=mask.dtype).clamp(min=1.0)
    else:
        raise ValueError(f"unknown loss_type {kind!r}")
    low = (coef_1 < 1 - settings.epsilon) & (adv < 0)
    high = (coef_1 > 1 + epsilon_high) & (adv > 0)
    stats["clip_ratio"] = float(((low | high).to(mask.dtype) * mask).sum() / mask.sum().clamp(min=1.0))
    return loss, stats


# --------------------------------------------------------------------------- prompts


class PromptDataset(torch.utils.data.Dataset):
    """The records' samples cut to their prompt (the media as SFT processes it, the text up to the final
    reply's ``<|im_start|>assistant\\n``); the final reply is the reward's target."""

    def __init__(self, sft):
        self.sft = sft
        self.ids = token_ids(sft.processor)
        self.dropped = sft.dropped

    def __len__(self) -> int:
        return len(self.sft)

    def __getitem__(self, index: int) -> dict:
        item = dict(self.sft[index])
        labels = last_reply_labels(item["input_ids"], self.ids)
        start = int((labels != -100).nonzero()[0, 0]) if (labels != -100).any() else len(labels)
        for key in ("input_ids", "labels", "attention_mask", "mm_token_type_ids"):
            if key in item and item[key] is not None:
                item[key] = item[key][:start]
        plan = self.sft.planned[index]
        item["target"] = plan.record.conversations[-1][1]
        item["record"] = str(plan.record.id)
        item["duration"] = plan.record.duration or (plan.info.duration if plan.info is not None else None)
        asked = [text for role, text in plan.record.conversations[:-1] if role == "human"]
        item["meta"] = {"video": plan.video, "question": asked[-1] if asked else ""}  # groups.jsonl's (groups.py)
        return item


class PromptCollator:
    """One prompt per micro-batch: the SFT collator's batch plus ``targets`` and ``durations``."""

    def __init__(self, collator):
        self.collator = collator

    def __call__(self, items):
        if len(items) != 1:
            raise OmniBenchError("--method grpo takes one prompt per micro-batch (its G completions are the batch): "
                                 "use --batch-size 1 and --grad-accum N", reason="bad-settings")
        extra = {"targets": [it["target"] for it in items], "durations": [it["duration"] for it in items],
                 "records": [it.get("record") for it in items], "meta": [it.get("meta") for it in items]}
        batch = self.collator([{k: v for k, v in it.items() if k not in ("target", "duration", "record", "meta")}
                               for it in items])
        batch.update(extra)
        return batch


def prompt_data(config, data_path):
    """``(PromptDataset, PromptCollator)`` of a run's records through the one record gate (as SFT reads them)."""
    from omni_bench.data.dataset import OmniCollator, OmniSFTDataset

    if config.packing or config.pack_dataset or config.batch_size != 1:
        raise OmniBenchError("--method grpo samples G completions of one prompt per micro-batch: --batch-size 1 "
                             "(use --grad-accum N), no --packing / --pack-dataset", reason="bad-settings")
    stage("train", f"loading the {config.model or config.profile} processor (transformers)...", config.progress)
    processor = load_processor(config.model or config.profile)
    settings = config.layout_settings()
    records = config.dataset.read()
    stage("train", f"read {len(records)} records from {data_path}; planning the prompts...", config.progress)
    sft = OmniSFTDataset(records, media_root=config.media_root, settings=settings, processor=processor,
                         max_total_tokens=config.max_total_tokens)
    if len(sft) == 0:
        reasons = "; ".join(f"{d.source}: {d.reason}" for d in sft.dropped[:3])
        raise OmniBenchError(f"{data_path}: no record makes a prompt ({reasons})", source=str(data_path),
                             reason="no-samples")
    return PromptDataset(sft), PromptCollator(OmniCollator(processor, settings=settings))


# --------------------------------------------------------------------------- one step and the Trainer


def grpo_step(model, batch: dict, settings: GRPOSettings, processor, *, reference_model=None, generator=None,
              shared: bool = True, task: str = "grounding"):
    """Rollout, rewards, advantages, (reference), replay and trl's loss of one prompt:
    ``(loss, metrics, rollout, completion texts)``. ``shared=False``: the duplicated path (G prompt rows,
    the towers and the prefill per row), what ``bench grpo`` compares against."""
    ids = token_ids(processor)
    tokenizer = processor.tokenizer
    was_training = model.training
    model.eval()  # generation with a cache (gradient checkpointing turns the cache off in training mode)
    try:
        done = in_forward(model, batch["input_ids"], lambda: rollout(
            model, batch, num_generations=settings.num_generations,
            max_completion_length=settings.max_completion_length, temperature=settings.temperature,
            top_p=settings.top_p, end_ids=(ids.im_end, tokenizer.eos_token_id), banned=banned_token_ids(ids),
            pad_id=ids.pad, generator=generator, shared=shared), whole=True)  # FSDP: lengths differ by process
    finally:
        model.train(was_training)
    G = settings.num_generations
    texts = tokenizer.batch_decode(done.completion_ids.masked_fill(done.completion_mask == 0, ids.pad),
                                   skip_special_tokens=True)
    targets, durations = batch["targets"] * G, batch["durations"] * G
    task = reward_task(task)
    functions = resolve_rewards(settings.reward_funcs)
    fault = None
    try:
        per_reward = {f.reward_name: torch.tensor(f(texts, targets, durations, task=task), dtype=torch.float32)
                      for f in functions}
    except RewardError as exc:  # the group is skipped: zero advantages, the loss times 0 (the replay still runs,
        fault = exc  # so DDP's reduction sees every process)
        per_reward = {f.reward_name: torch.zeros(len(texts)) for f in functions}
    total = torch.stack(list(per_reward.values())).sum(0)
    advantages, std = group_advantages(total, G, settings.scale_rewards)
    mask = done.completion_mask.clone()
    if settings.mask_truncated_completions:
        mask = mask * (~done.truncated).long()[:, None]
    reference = None
    if settings.grpo_beta != 0.0:
        reference_model = model if reference_model is None else reference_model
        with torch.no_grad(), reference_policy(reference_model):
            reference, _ = in_forward(reference_model, batch["input_ids"], lambda: replay(
                reference_model, batch, done, temperature=settings.temperature, shared=shared))
    def policy():
        return replay(model, batch, done, temperature=settings.temperature, audit=True, shared=shared)

    logps, parity = in_forward(model, batch["input_ids"], policy)  # DDP, FSDP: through the forward (grads reduced)
    loss, stats = grpo_loss(logps, advantages.to(logps.device), mask.to(logps.device), settings,
                            ref_per_token_logps=reference)
    if fault is not None:
        loss = loss * 0.0  # no update from this group (the KL term included)
    valid = done.completion_mask.float()
    metrics = {"reward": float(total.mean()), "reward_std": float(total.std()),
               **{f"rewards/{name}/mean": float(values.mean()) for name, values in per_reward.items()},
               "frac_reward_zero_std": float(torch.isclose(std, torch.zeros_like(std)).float().mean()),
               "completions/mean_length": float(valid.sum(1).mean()),
               "completions/clipped_ratio": float(done.truncated.float().mean()),
               "entropy": float((done.entropy * valid).sum() / valid.sum().clamp(min=1)), **stats,
               **rewards_stats(texts, targets, durations, task=task),
               "parity/checked": parity.checked, "parity/position_ids_equal": float(parity.position_ids_equal),
               "parity/max_logprob_diff": parity.max_logprob_diff, "reward_faults": float(fault is not None)}
    if fault is not None:
        metrics["fault"] = fault  # taken out by the caller (not a number)
    metrics["group"] = {"rewards": {k: v.tolist() for k, v in per_reward.items()},  # taken out by the caller:
                        "advantages": advantages.tolist(), "task": task}  # groups.jsonl (training/groups.py)
    return loss, metrics, done, texts


def prompt_seed(seed: int, step: int, index: int) -> int:
    """The sampling seed of the ``index``-th prompt of optimizer step ``step`` (counted over all processes)."""
    return ((seed * 1_000_003 + step) * 1_000_003 + index) % 2**63


def make_grpo_trainer_class(base):
    """``base`` (omni_bench's Trainer subclass) with the GRPO step: ``compute_loss`` runs :func:`grpo_step`;
    ``log`` adds the window's means of the GRPO metrics (trl's names)."""

    class GRPOTrainer(base):
        def __init__(self, *args, grpo: GRPOSettings | None = None, processor=None, task: str = "grounding",
                     **kwargs):
            super().__init__(*args, **kwargs)
            disable_dropout(self.model)  # trl's disable_dropout: rollout and replay see one network
            self.grpo = grpo or GRPOSettings()
            self.processor, self.task = processor, task
            self.model_accepts_loss_kwargs = False
            self.grpo_metrics = defaultdict(list)
            self.parity = {"checked": 0, "position_ids_equal": True, "max_logprob_diff": 0.0}
            self.micro = (None, 0)  # (the step, micro-batches this process ran in it): the prompt's index

        def prompt_generator(self, training: bool, device) -> torch.Generator:
            """The sampling generator of this micro-batch's prompt, seeded by (seed, step, the prompt's index
            in the step's global batch): process r's k-th micro-batch holds prompt k x world + r (accelerate's
            sharding), so the completions do not depend on how the prompts are spread over processes."""
            key = (self.state.global_step, training)
            k = self.micro[1] if self.micro[0] == key else 0
            self.micro = (key, k + 1)
            index = k * self.args.world_size + self.args.process_index
            return torch.Generator(device).manual_seed(prompt_seed(self.args.seed, key[0], index))

        def record_group(self, model, inputs, group: dict, done, texts, fault) -> None:
            """At a logging step, every process's group of this micro-batch is gathered (a collective: every
            process calls this at each micro-batch) and the main process appends them to groups.jsonl
            (training/groups.py), by their index in the step's global batch."""
            step = self.state.global_step + 1
            if not (model.training and step % max(self.args.logging_steps, 1) == 0):
                return
            meta = (inputs.get("meta") or [None])[0] or {}
            groups = gather_groups(group_record(
                step=step, index=(self.micro[1] - 1) * self.args.world_size + self.args.process_index,
                record=(inputs.get("records") or [None])[0], video=meta.get("video"),
                question=meta.get("question", ""), duration=inputs["durations"][0],
                task=group["task"], target=inputs["targets"][0], completions=texts,
                rewards=group["rewards"], advantages=group["advantages"],
                lengths=done.completion_mask.sum(1).tolist(), truncated=done.truncated.tolist(),
                scale_rewards=self.grpo.scale_rewards, fault=None if fault is None else str(fault)))
            if self.args.process_index == 0:
                for each in groups:
                    append_group(self.args.output_dir, each)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            generator = self.prompt_generator(model.training, inputs["input_ids"].device)
            loss, metrics, done, texts = grpo_step(model, inputs, self.grpo, self.processor,
                                               reference_model=self.accelerator.unwrap_model(model),
                                               generator=generator, task=self.task)
            fault = metrics.pop("fault", None)
            self.record_group(model, inputs, metrics.pop("group"), done, texts, fault)
            if fault is not None and model.training:  # the prompt's group is skipped and listed as a bad sample
                record = (inputs.get("records") or [None])[0]
                report = getattr(self.train_dataset, "record_fault", None)
                if report is not None:
                    report(record or "?", fault, int(self.state.global_step) + 1)
            if model.training and not loss.requires_grad:
                raise OmniBenchError("the GRPO loss does not require grad: no trainable parameter is reached "
                                     "(check --lora-targets)", reason="no-grad")
            names = [k for k in metrics if not k.startswith("parity/")]  # the processes' means (one prompt each)
            means = self.accelerator.gather(torch.tensor([[float(metrics[k]) for k in names]],
                                                         device=loss.device)).mean(0)
            metrics.update(zip(names, means.tolist(), strict=True))
            for key, value in metrics.items():
                self.grpo_metrics[key].append(float(value))
            self.parity["checked"] += int(metrics["parity/checked"])
            self.parity["position_ids_equal"] &= bool(metrics["parity/position_ids_equal"])
            self.parity["max_logprob_diff"] = max(self.parity["max_logprob_diff"], metrics["parity/max_logprob_diff"])
            return (loss, done) if return_outputs else loss

        def log(self, logs, start_time=None):
            if self.grpo_metrics and "loss" in logs:
                logs.update({key: sum(v) / len(v) for key, v in self.grpo_metrics.items()})
                self.grpo_metrics.clear()
            return super().log(logs, start_time)

    return GRPOTrainer
