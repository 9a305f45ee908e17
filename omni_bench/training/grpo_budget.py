"""``budget``'s GRPO view: the tokens and memory of one ``train --method grpo`` step, from metadata alone.

One GRPO step on one prompt (training/grpo.py, training/rollout.py) encodes the prompt's media once,
prefills the prompt once, repeats the KV cache G times and samples G completions of at most
``max_completion_length`` (C) tokens, then replays the G rows ``prompt + completion`` with gradients
and takes the completions' log-probs in chunks. :func:`grpo_step_budget` counts, per prompt:

``prompt_tokens``      P: the prompt up to ``<|im_start|>assistant\\n``, counted by ``budget`` from the
                       headers (the real processor's count: tests/test_grpo_budget.py);
``completion_tokens``  G x C, at most (the sampling stops at the end token);
``replay_tokens``      G x (P + C), the rows the training forward runs;

and the bytes of what the step holds at its peak, in the model's dtype (``dtype_bytes``, 2: bfloat16),
d below, with the profile's text widths (L layers, H hidden, I MLP, kv heads x head dim, V vocabulary)
and its towers' widths (:data:`TOWER_WIDTHS`):

``towers``     the vision tower's live tensors of one block over the prompt's patches (VIDEO tokens x
               merge_size^2) and the audio tower's over its frames (2 x AUDIO tokens), each
               ``positions x (width x 6 + MLP x 3) x d``, **once per group** (eval/memory.py's rule);
``prefill``    the decoder's live tensors of one layer over the one prompt row: ``P x (7H + 3I) x d``;
``kv_cache``   the prefill's cache expanded to G rows and grown by the C sampled tokens, plus the one-row
               cache while it is repeated: ``L x 2 x kv x head_dim x (G x (P + C) + P) x d``;
``sampling``   one decoding step's float32 logits, log-softmax and softmax of the G rows: ``3 x G x V x 4``;
``replay``     the training forward over the G rows with gradient checkpointing (the default): each
               layer's input kept for backward plus one layer's live tensors being recomputed:
               ``G x (P + C) x (L x H + 7H + 3I) x d``;
``logprobs``   one chunk of the completions' logits (training/logprobs.py, at most
               ``DEFAULT_LOGPROB_CHUNK`` rows of the G x C labelled ones) in the model's dtype and its
               float32 log-softmax and gradient: ``min(chunk, G x C) x V x (d + 8)``.

``memory`` is their sum. Not counted: the weights, the LoRA weights and their optimizer state, the
reference pass (``--grpo-beta`` > 0: a no-grad replay, smaller than the policy's), the decoded frames
and pixel values (``eval run``'s memory plan counts those), the attention scores (fused kernels do not
hold L x L), allocator slack. It is an estimate for planning, not a measurement; the duplicated path
(trl's, G prompt rows) would hold G x the towers' and the prefill's share. The widths of the towers
(:data:`TOWER_WIDTHS`) are the released checkpoints' ``vision_config`` / ``audio_config``, written here
by hand (the profiles hold the text model's only); Qwen3-Omni's MoE MLP is counted as one expert's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import numpy as np

from omni_bench.core.profiles import Profile, get_profile
from omni_bench.eval.memory import ModelShape
from omni_bench.layout.budget import budget
from omni_bench.layout.settings import LayoutSettings

__all__ = ["TOWER_WIDTHS", "GRPOStepBudget", "profile_shape", "reply_tokens", "grpo_step_budget"]

# family -> (vision width, vision MLP, audio width, audio MLP) of the released checkpoints' configs
# (vision_config hidden_size / intermediate_size, audio_config d_model / encoder_ffn_dim; 0: no tower)
TOWER_WIDTHS = {"omni": (1280, 3420, 1280, 5120), "vl": (1280, 3420, 0, 0),
                "qwen3-vl": (1152, 4304, 0, 0), "qwen3-omni": (1152, 4304, 1280, 5120)}
PARTS = ("towers", "prefill", "kv_cache", "sampling", "replay", "logprobs")


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
    """Tokens and bytes of one GRPO step per prompt (int64 arrays of shape [prompts]; see the module docstring)."""

    num_generations: int  # G
    max_completion_length: int  # C
    prompt_tokens: np.ndarray  # P per prompt
    parts: dict[str, np.ndarray]  # part name -> bytes per prompt, in PARTS order
    shape: ModelShape = field(repr=False)  # the widths the bytes were computed with
    logprob_chunk: int = 256  # rows of logits built at once in the replay's log-probs
    sources: tuple[str, ...] = ()  # one name per prompt

    @property
    def completion_tokens(self) -> int:
        return self.num_generations * self.max_completion_length

    @property
    def replay_tokens(self) -> np.ndarray:
        return self.num_generations * (self.prompt_tokens + self.max_completion_length)

    @property
    def memory(self) -> np.ndarray:
        return sum(self.parts.values())

    def to_dict(self, *, per_sample: bool = False) -> dict:
        """The step's figures for the largest prompt and the spread over prompts (bytes in GiB); with
        ``per_sample`` each prompt's tokens and bytes as well."""
        worst = int(np.argmax(self.memory)) if len(self.prompt_tokens) else None
        out = {"method": "grpo", "num_generations": self.num_generations,
               "max_completion_length": self.max_completion_length, "prompts": len(self.prompt_tokens),
               "dtype_bytes": self.shape.dtype_bytes, "logprob_chunk": self.logprob_chunk,
               "completion_tokens": self.completion_tokens}
        if worst is not None:
            out.update({
                "prompt_tokens": {"min": int(self.prompt_tokens.min()), "max": int(self.prompt_tokens.max()),
                                  "mean": float(self.prompt_tokens.mean())},
                "replay_tokens_max": int(self.replay_tokens.max()),
                "largest": {"source": self.sources[worst] if self.sources else None,
                            "prompt_tokens": int(self.prompt_tokens[worst]),
                            "memory_gib": float(self.memory[worst]) / 2**30,
                            "parts_gib": {k: float(v[worst]) / 2**30 for k, v in self.parts.items()}},
            })
        if per_sample:
            out.update(prompt_tokens_per_sample=self.prompt_tokens.tolist(), memory_per_sample=self.memory.tolist())
        return json.loads(json.dumps(out))

    def __str__(self) -> str:
        G, C = self.num_generations, self.max_completion_length
        if not len(self.prompt_tokens):
            return f"GRPO step (G = {G}, C = {C}): no prompt budgeted"
        worst = int(np.argmax(self.memory))
        P = int(self.prompt_tokens[worst])
        parts = ", ".join(f"{k} {float(v[worst]) / 2**30:.2f}" for k, v in self.parts.items())
        name = f" ({self.sources[worst]})" if self.sources else ""
        return "\n".join([
            f"GRPO step, G = {G} completions of at most C = {C} tokens, one prompt per micro-batch:",
            f"  prompt tokens {int(self.prompt_tokens.min()):,}-{int(self.prompt_tokens.max()):,} "
            f"(mean {float(self.prompt_tokens.mean()):,.0f}) over {len(self.prompt_tokens)} prompts; "
            f"completion tokens at most G x C = {G * C:,}; replay rows G x (P + C) up to "
            f"{int(self.replay_tokens.max()):,} tokens",
            f"  largest step{name}: P = {P:,}, about {float(self.memory[worst]) / 2**30:.2f} GiB "
            f"({self.shape.dtype_bytes}-byte values; GiB: {parts})",
            "  towers and prefill once per group; not counted: weights, optimizer state, the reference pass, "
            "decoded frames (docs/planner.md)"])


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


def grpo_step_budget(prompt_tokens, video_tokens, audio_tokens, shape: ModelShape, *, num_generations: int,
                     max_completion_length: int, merge_size: int = 2, logprob_chunk: int | None = None,
                     sources=()) -> GRPOStepBudget:
    """The step budget of prompts of ``prompt_tokens`` tokens (of which ``video_tokens`` / ``audio_tokens``
    are media), arrays of shape [prompts]; bytes per the module docstring's formulas."""
    if logprob_chunk is None:
        from omni_bench.training.logprobs import DEFAULT_LOGPROB_CHUNK  # loads torch: only for its constant

        logprob_chunk = DEFAULT_LOGPROB_CHUNK
    P = np.asarray(prompt_tokens, dtype=np.int64)
    G, C, s = int(num_generations), int(max_completion_length), shape
    d, H, M, L, V = s.dtype_bytes, s.hidden, s.intermediate, s.layers, s.vocab
    patches = np.asarray(video_tokens, dtype=np.int64) * merge_size**2
    audio_positions = 2 * np.asarray(audio_tokens, dtype=np.int64)
    layer = 7 * H + 3 * M  # one decoder layer's live tensors per token, in values
    rows = min(logprob_chunk, G * C)
    parts = {
        "towers": (patches * (6 * s.vision_hidden + 3 * s.vision_intermediate)
                   + audio_positions * (6 * s.audio_hidden + 3 * s.audio_intermediate)) * d,
        "prefill": P * layer * d,
        "kv_cache": L * 2 * s.kv_heads * s.head_dim * (G * (P + C) + P) * d,
        "sampling": np.full_like(P, 3 * G * V * 4),
        "replay": G * (P + C) * (L * H + layer) * d,
        "logprobs": np.full_like(P, rows * V * (d + 8)),
    }
    return GRPOStepBudget(G, C, P, parts, shape, logprob_chunk, tuple(str(x) for x in sources))
