"""The GRPO loss is trl 1.16's: trl's own ``GRPOTrainer._compute_loss`` beside :func:`grpo_loss`.

On fixed completions (masks with padding), advantages, old and reference log-probs, for loss_type grpo /
dapo / dr_grpo, beta 0 and 0.04, advantages scaled by group or not: the loss, its gradient with respect
to the policy's per-token log-probs, the KL and the clip ratio equal trl's. trl's method is called for
real, on a trainer object holding just the attributes it reads (its model forward is answered with the
fixed log-probs: the forward itself is :mod:`omni_bench.training.rollout`'s replay, tested in
test_grpo_rollout.py).
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")

from omni_bench.training.config import GRPOSettings  # noqa: E402
from omni_bench.training.grpo import group_advantages, grpo_loss  # noqa: E402

pytestmark = pytest.mark.slow  # imports trl and accelerate

G, C = 4, 6


def _trl_trainer(settings: GRPOSettings, logps: torch.Tensor):
    from accelerate import Accelerator
    from trl import GRPOTrainer

    trainer = object.__new__(GRPOTrainer)
    epsilon_high = settings.epsilon if settings.epsilon_high is None else settings.epsilon_high
    values = dict(top_entropy_quantile=1.0, aux_loss_enabled=False, off_policy_mask_threshold=None,
                  importance_sampling_level="token", beta=settings.grpo_beta, loss_type=settings.grpo_loss_type,
                  epsilon_low=settings.epsilon, epsilon_high=epsilon_high, model=SimpleNamespace(training=True),
                  current_gradient_accumulation_steps=1, max_completion_length=settings.max_completion_length,
                  accelerator=Accelerator(cpu=True), use_vllm=False, vllm_importance_sampling_correction=False,
                  _entropy_bonus_enabled=False, _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
                  args=SimpleNamespace(use_bias_correction_kl=False, delta=None, steps_per_generation=1))
    for key, value in values.items():
        object.__setattr__(trainer, key, value)
    # the model's forward, answered with the fixed policy log-probs (and their entropies)
    trainer._get_per_token_logps_and_entropies = lambda *a, **k: (logps * 1.0, torch.ones_like(logps), None)
    return trainer


def _fixed(seed: int):
    gen = torch.Generator().manual_seed(seed)
    old = -torch.rand(G, C, generator=gen) * 3
    policy = old + 0.3 * torch.randn(G, C, generator=gen)  # ratios on both sides of the clip range
    ref = old + 0.2 * torch.randn(G, C, generator=gen)
    mask = torch.ones(G, C, dtype=torch.long)
    mask[1, 4:] = 0  # an early end token
    mask[3, 2:] = 0
    rewards = torch.tensor([1.0, 0.2, 0.0, 0.7])
    return policy, old, ref, mask, rewards


@pytest.mark.parametrize("loss_type", ["grpo", "dapo", "dr_grpo"])
@pytest.mark.parametrize("scale_rewards", ["group", "none"])
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_loss_and_gradient_equal_trl(loss_type, scale_rewards, beta):
    settings = GRPOSettings(num_generations=G, grpo_loss_type=loss_type, scale_rewards=scale_rewards, grpo_beta=beta,
                            max_completion_length=C, epsilon_high=0.28)
    policy, old, ref, mask, rewards = _fixed(0)
    advantages, _ = group_advantages(rewards, G, scale_rewards)

    theirs_logps = policy.clone().requires_grad_(True)
    trainer = _trl_trainer(settings, theirs_logps)
    inputs = {"prompt_ids": torch.zeros(G, 1, dtype=torch.long), "prompt_mask": torch.ones(G, 1, dtype=torch.long),
              "completion_ids": torch.zeros(G, C, dtype=torch.long), "completion_mask": mask,
              "advantages": advantages, "old_per_token_logps": old, "ref_per_token_logps": ref,
              "num_items_in_batch": mask.sum()}
    theirs = trainer._compute_loss(None, inputs)
    theirs.backward()

    ours_logps = policy.clone().requires_grad_(True)
    ours, stats = grpo_loss(ours_logps, advantages, mask, settings, old_per_token_logps=old,
                            ref_per_token_logps=ref if beta else None)
    ours.backward()

    assert abs(float(ours.detach()) - float(theirs.detach())) <= 1e-6
    torch.testing.assert_close(ours_logps.grad, theirs_logps.grad, rtol=0, atol=1e-7)
    assert float(ours_logps.grad.abs().sum()) > 0  # the loss reaches the policy
    metrics = trainer._metrics["train"]
    assert stats["clip_ratio"] == pytest.approx(metrics["clip_ratio/region_mean"][0], abs=1e-6)
    assert stats["clip_ratio"] > 0  # the fixed ratios are clipped somewhere
    if beta:
        assert stats["kl"] == pytest.approx(metrics["kl"][0], abs=1e-6)


def test_ratio_one_at_the_step():
    """The old policy is the sampler (one optimisation per generation): the ratio is 1, nothing is clipped."""
    settings = GRPOSettings(num_generations=G, max_completion_length=C)
    policy, _, _, mask, rewards = _fixed(1)
    advantages, _ = group_advantages(rewards, G)
    logps = policy.clone().requires_grad_(True)
    loss, stats = grpo_loss(logps, advantages, mask, settings)
    loss.backward()
    assert stats["clip_ratio"] == 0.0
    # d loss / d logp = -advantage / tokens (dapo): the policy-gradient direction
    expected = -advantages[:, None] * mask / mask.sum()
    torch.testing.assert_close(logps.grad, expected)


def test_advantages_group_and_batch():
    rewards = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.3, 0.9, 0.1, 0.5])
    group, std = group_advantages(rewards, 4, "group")
    first = rewards[:4]
    torch.testing.assert_close(group[:4], (first - first.mean()) / (first.std() + 1e-4))
    assert std[0] == pytest.approx(float(first.std()))
    batch, _ = group_advantages(rewards, 4, "batch")
    second = rewards[4:]
    torch.testing.assert_close(batch[4:], (second - second.mean()) / (rewards.std() + 1e-4))
    none, _ = group_advantages(rewards, 4, "none")
    torch.testing.assert_close(none[:4], first - first.mean())
    same, std = group_advantages(torch.ones(4), 4)
    assert float(same.abs().max()) == 0.0 and float(std[0]) == 0.0  # frac_reward_zero_std's case
