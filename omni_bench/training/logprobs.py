"""Log-probabilities of the reply tokens only, from hidden states in chunks: never the N x V logits.

Preference tuning (DPO) and reinforcement learning (GRPO) score a *reply* under the policy and the
reference: the sum of ``log p(token_t | tokens < t)`` over the reply's tokens. A LongVALE prompt is
thousands of video and audio tokens and the reply a few dozen, so computing ``hidden @ W.T`` for the
whole sequence (what ``model(...).logits`` does) builds an N x V tensor (8,093 tokens x 151,936 =
4.6 GiB in float32 for the LongVALE notebook's sample) to keep a handful of rows. Here only the rows
that predict a labelled token are taken from the last hidden states, and their logits are built
``chunk_size`` rows at a time; each chunk is recomputed in backward (activation checkpointing), so at
most one chunk's ``[chunk, V]`` logits exist at any time, forward or backward. The idea is the fused
loss's (:mod:`omni_bench.training.fused`), turned from a mean over tokens into a sum per sequence.

Semantics: ``labels`` are aligned with ``hidden`` as a causal LM's labels are (position ``t``'s hidden
state predicts ``labels[t + 1]``; -100 is ignored), so a sequence's sum is trl's
``per_token_logps.sum(1)`` over its completion mask shifted by one. Logits are computed in the hidden
states' dtype and the log-softmax in float32.

Left out: temperature scaling, entropies and per-token statistics beyond the log-probs (trl logs
``entropy`` and ``logits/*``; omni_bench does not).
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from omni_bench.layout.labels import IGNORE_INDEX

__all__ = ["DEFAULT_LOGPROB_CHUNK", "label_positions", "token_logprobs", "sequence_logprobs"]

DEFAULT_LOGPROB_CHUNK = 256  # rows of logits built at once (256 x 151,936 float32 = 148 MiB)


def label_positions(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``(row, position, target)`` of every labelled token, as the hidden states predict them.

    ``labels``: [B, T]. Position ``t`` predicts ``labels[:, t + 1]``, so the positions are the
    labelled ones minus one.

    >>> label_positions(torch.tensor([[-100, -100, 5, 6]]))
    (tensor([0, 0]), tensor([1, 2]), tensor([5, 6]))
    """
    shifted = labels[:, 1:]
    rows, cols = (shifted != IGNORE_INDEX).nonzero(as_tuple=True)
    return rows, cols, shifted[rows, cols]


def _chunk_logprobs(h: torch.Tensor, head, targets: torch.Tensor) -> torch.Tensor:
    logits = head(h).float()
    return logits.log_softmax(-1).gather(1, targets[:, None]).squeeze(1)


def token_logprobs(hidden: torch.Tensor, head, labels: torch.Tensor, *,
                   chunk_size: int = DEFAULT_LOGPROB_CHUNK) -> torch.Tensor:
    """Per-token log-probs of the labelled tokens, [B, T - 1] (0 where ``labels[:, 1:]`` is -100).

    ``hidden``: the last hidden states [B, T, H]; ``head``: the LM head, a module (or any callable)
    taking [N, H] to logits [N, V] (``model.get_output_embeddings()``, so a head trained with
    ``--train-modules lm_head`` is read as peft switches it); ``labels``: [B, T]. Differentiable;
    only ``chunk_size`` rows of logits exist at a time, in forward and in backward.
    """
    rows, cols, targets = label_positions(labels.to(hidden.device))
    picked = hidden[rows, cols]  # [M, H]
    parts = []
    for start in range(0, picked.shape[0], chunk_size):
        h = picked[start:start + chunk_size]
        t = targets[start:start + chunk_size]
        if torch.is_grad_enabled():
            parts.append(checkpoint(_chunk_logprobs, h, head, t, use_reentrant=False))
        else:
            parts.append(_chunk_logprobs(h, head, t))
    values = torch.cat(parts) if parts else hidden.new_zeros(0, dtype=torch.float32)
    out = torch.zeros(labels.shape[0], labels.shape[1] - 1, dtype=torch.float32, device=hidden.device)
    return out.index_put((rows, cols), values)


def sequence_logprobs(hidden: torch.Tensor, head, labels: torch.Tensor, *,
                      chunk_size: int = DEFAULT_LOGPROB_CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """Each sequence's summed log-prob of its labelled tokens and how many there are: ([B], [B]).

    >>> logps, tokens = sequence_logprobs(hidden, model.get_output_embeddings(), labels)  # doctest: +SKIP
    """
    per_token = token_logprobs(hidden, head, labels, chunk_size=chunk_size)
    tokens = (labels[:, 1:] != IGNORE_INDEX).sum(1).to(hidden.device)
    return per_token.sum(1), tokens
