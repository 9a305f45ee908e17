"""``budget``'s GRPO view: the tokens and memory of one ``train --method grpo`` step, from metadata alone.

One GRPO step on one prompt (training/grpo.py, training/rollout.py) encodes the prompt's media once,
prefills the prompt once, repeats the KV cache G times and samples G completions of at most
``max_completion_length`` (C) tokens, then replays the G rows ``prompt + completion`` with gradients
and takes the completions' log-probs in chunks. :func:`grpo_step_budget` gives, per prompt:

``prompt_tokens``      P: the prompt up to ``<|im_start|>assistant\\n``, counted by ``budget`` from the
                       headers: a video's sample without a reply, or a training record's sample less its
                       final reply's tokens (:func:`reply_tokens`; earlier turns stay in the prompt, as
                       the trainer's ``PromptDataset`` cuts it). Equal to the real processor's count
                       (tests/test_grpo_budget.py);
``completion_tokens``  G x C, at most (the sampling stops at the end token);
``replay_tokens``      G x (P + C), the rows the training forward runs;
``memory``             bytes at the step's peak: ``train --method grpo``'s own pre-flight estimate,
                       :func:`omni_bench.eval.memory.estimate_rollout` (the larger of the rollout - the
                       media, the towers and the prefill once per group, the KV cache of one prefill
                       expanded to G rows and grown by C tokens, the sampled logits of G rows - and the
                       replay - each layer's input kept under gradient checkpointing, one layer
                       recomputed, the padded rows' mask, one chunk of the log-probs' logits), for an
                       :class:`~omni_bench.eval.memory.ItemCost` made from the budget's counts and the
                       :class:`~omni_bench.eval.memory.ModelShape` a profile describes (:func:`profile_shape`).

From metadata, the item's patches are its VIDEO tokens x merge_size^2 (exact) and its mel frames 4 x its
AUDIO tokens (within 3 frames of the header's); its decoded frames are not counted (the budget keeps no
frame sizes). Not counted either (estimate_rollout's rules): the weights, the LoRA gradients and optimizer
state, the reference pass (no grad, before the policy's), allocator slack. The towers' widths
(:data:`TOWER_WIDTHS`) are the released checkpoints' ``vision_config`` / ``audio_config``, written here by
hand (the profiles hold the text model's only); Qwen3-Omni's MoE MLP counts as one expert's. The figure
is an estimate for planning, in the model's dtype (2 bytes: bfloat16 by default).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np

from omni_bench.core.profiles import Profile, get_profile
from omni_bench.eval.memory import BatchEstimate, ItemCost, ModelShape, estimate_rollout
from omni_bench.families import family_of
from omni_bench.layout.budget import budget
from omni_bench.layout.settings import LayoutSettings

__all__ = ["TOWER_WIDTHS", "GRPOStepBudget", "profile_shape", "reply_tokens", "grpo_step_budget"]

# family -> (vision width, vision MLP, audio width, audio MLP) of the released checkpoints' configs
# (vision_config hidden_size / intermediate_size, audio_config d_model / encoder_ffn_dim; 0: no tower)
TOWER_WIDTHS = {"omni": (1280, 3420, 1280, 5120), "vl": (1280, 3420, 0, 0),
                "qwen3-vl": (1152, 4304, 0, 0), "qwen3-omni": (1152, 4304, 1280, 5120)}


def profile_shape(profile: Profile | str, *, dtype_bytes: int = 2) -> ModelShape:
    """The model shape a profile describes (text widths from the profile, towers from :data:`TOWER_WIDTHS`).

    >>> s = profile_shape("qwen2.5-omni-7b")
    >>> s.layers, s.kv_heads, s.head_dim, s.hidden, s.vocab, s.vision_hidden, s.audio_hidden
    (28, 4, 128, 3584, 152064, 1280, 1280)
    """
    p = get_profile(profile) if isinstance(profile, str) else profile
    head_dim = int(p.extra.get("head_dim") or p.hidden_size // p.num_attention_heads)
    vision, vision_mlp, audio, audio_mlp = TOWER_WIDTHS.get(p.family, (0, 0, 0, 0))
    return ModelShape(layers=p.num_hidden_layers, kv_heads=p.num_key_value_heads, head_dim=head_dim,
                      hidden=p.hidden_size, intermediate=p.intermediate_size, vocab=p.vocab_size,
                      dtype_bytes=dtype_bytes, full_logits=False, vision_hidden=vision,
                      vision_intermediate=vision_mlp, audio_hidden=audio, audio_intermediate=audio_mlp)


@dataclass(frozen=True)
class GRPOStepBudget:
    """Tokens and bytes of one GRPO step per prompt (see the module docstring)."""

    num_generations: int  # G
    max_completion_length: int  # C
    prompt_tokens: np.ndarray  # P per prompt, int64 [prompts]
    estimates: tuple[BatchEstimate, ...]  # estimate_rollout's per prompt: its parts and total
    dtype_bytes: int = 2  # bytes per value of the model's dtype
    sources: tuple[str, ...] = ()  # one name per prompt

    @property
    def completion_tokens(self) -> int:
        return self.num_generations * self.max_completion_length

    @property
    def replay_tokens(self) -> np.ndarray:
        return self.num_generations * (self.prompt_tokens + self.max_completion_length)

    @property
    def memory(self) -> np.ndarray:
        """Bytes at the step's peak per prompt, int64 [prompts]."""
        return np.array([e.total for e in self.estimates], dtype=np.int64)

    def to_dict(self, *, per_sample: bool = False) -> dict:
        """The step's figures for the largest prompt and the spread over prompts (bytes in GiB); with
        ``per_sample`` each prompt's tokens and bytes as well."""
        out = {"method": "grpo", "num_generations": self.num_generations,
               "max_completion_length": self.max_completion_length, "prompts": len(self.prompt_tokens),
               "dtype_bytes": self.dtype_bytes, "completion_tokens": self.completion_tokens}
        if len(self.prompt_tokens):
            worst = int(np.argmax(self.memory))
            out.update({
                "prompt_tokens": {"min": int(self.prompt_tokens.min()), "max": int(self.prompt_tokens.max()),
                                  "mean": float(self.prompt_tokens.mean())},
                "replay_tokens_max": int(self.replay_tokens.max()),
                "largest": {"source": self.sources[worst] if self.sources else None,
                            "prompt_tokens": int(self.prompt_tokens[worst]),
                            "memory_gib": float(self.memory[worst]) / 2**30,
                            "parts_gib": {k: v / 2**30 for k, v in self.estimates[worst].parts}},
            })
        if per_sample:
            out.update(prompt_tokens_per_sample=self.prompt_tokens.tolist(), memory_per_sample=self.memory.tolist())
        return json.loads(json.dumps(out))

    def __str__(self) -> str:
        G, C = self.num_generations, self.max_completion_length
        if not len(self.prompt_tokens):
            return f"GRPO step (G = {G}, C = {C}): no prompt budgeted"
        worst = int(np.argmax(self.memory))
        name = f" ({self.sources[worst]})" if self.sources else ""
        return "\n".join([
            f"GRPO step, G = {G} completions of at most C = {C} tokens, one prompt per micro-batch:",
            f"  prompt tokens {int(self.prompt_tokens.min()):,}-{int(self.prompt_tokens.max()):,} "
            f"(mean {float(self.prompt_tokens.mean()):,.0f}) over {len(self.prompt_tokens)} prompts; "
            f"completion tokens at most G x C = {G * C:,}; replay rows G x (P + C) up to "
            f"{int(self.replay_tokens.max()):,} tokens",
            f"  largest step{name}: P = {int(self.prompt_tokens[worst]):,}, about {self.estimates[worst]} "
            f"({self.dtype_bytes}-byte values; train's pre-flight estimate, eval/memory.py estimate_rollout)",
            "  media, towers and prefill once per group; not counted: weights, optimizer state, decoded frames "
            "(docs/planner.md)"])


def reply_tokens(replies, settings: LayoutSettings) -> np.ndarray:
    """Tokens each reply adds at a sample's end: the reply, its ``<|im_end|>`` and what the chat template
    writes after it, counted as ``budget`` counts (the sample with the reply minus the sample without).
    A record's GRPO prompt is its sample's ``input_ids`` less its final reply's (training/grpo.py
    ``PromptDataset``).

    >>> reply_tokens(["From 40 to 60."], LayoutSettings()).tolist()  # 9 tokens, <|im_end|> and a newline
    [11]
    """
    probe = replace(settings, frames=4, fps=None, resize=(56, 56), use_audio=False, answer=None)
    meta = {"duration": 8.0, "width": 64, "height": 64, "native_fps": 25.0, "has_audio": False}
    without = int(budget([meta], probe).total_tokens[0])
    replies = list(replies)
    if not replies:
        return np.zeros(0, dtype=np.int64)
    return budget([{**meta, "answer": r} for r in replies], probe).total_tokens - without


def grpo_step_budget(prompt_tokens, video_tokens, audio_tokens, profile: Profile | str, *, num_generations: int,
                     max_completion_length: int, dtype_bytes: int = 2, sources=()) -> GRPOStepBudget:
    """The step budget of prompts of ``prompt_tokens`` tokens, of which ``video_tokens`` / ``audio_tokens``
    are media (arrays of shape [prompts]), for a profile's model: :func:`~omni_bench.eval.memory.estimate_rollout`
    of each (see the module docstring)."""
    p = get_profile(profile) if isinstance(profile, str) else profile
    shape, family = profile_shape(p, dtype_bytes=dtype_bytes), family_of(p)
    P = np.asarray(prompt_tokens, dtype=np.int64)
    names = [str(x) for x in sources] or [f"prompt {i}" for i in range(len(P))]
    estimates = []
    for name, tokens, video, audio in zip(names, P.tolist(), np.asarray(video_tokens).tolist(),
                                          np.asarray(audio_tokens).tolist(), strict=True):
        mel = 4 * int(audio)  # the encoder's 4 mel frames a token
        item = ItemCost(name, int(tokens), patches=int(video) * p.merge_size**2, mel_bins=p.mel_bins, mel_frames=mel,
                        feature_frames=int(family.feature_frames(mel, p)) if mel else 0)
        estimates.append(estimate_rollout(item, shape, int(num_generations), int(max_completion_length)))
    return GRPOStepBudget(int(num_generations), int(max_completion_length), P, tuple(estimates), dtype_bytes,
                          tuple(str(x) for x in sources))
