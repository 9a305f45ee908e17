"""Memory of a generation batch, planned before anything is decoded.

:func:`estimate_batch` adds up, in bytes, what one ``model.generate`` call on a batch of
planned samples holds at its peak, from the plan (:mod:`omni_bench.layout.road`) and the
model's shape (:class:`ModelShape`, read off its config) alone:

``decoded``   twice the largest item's decoded frames (uint8, native size) and their float32
              copy at the processor's size (items are decoded one at a time; the dataset keeps the
              last video's decode while the next is made);
``pixels``    ``pixel_values_videos`` of every item (float32, patches x 1176), twice (the items
              and the collated batch), and once more in the model's dtype;
``audio``     the feature extractor's ``input_features`` of every item (float32, 128 mel bins x its
              padded frames), and the batch's trimmed copy;
``towers``    the vision tower's live tensors of one block over all patches (hidden x 6 +
              intermediate x 3 per patch) and the audio tower's over its frames, in the model's dtype;
``prefill``   the language model's live tensors of one layer over the padded batch
              (B x L x (hidden x 6 + intermediate x 3)) plus the input embeddings;
``mask``      a padded batch's (B > 1) dense attention mask, B x L x L x 4 bytes (measured on CPU:
              about 3.2 bytes per entry at L = 11,653; a batch of one needs none);
``kv_cache``  layers x 2 (keys, values) x kv heads x head dim x B x (L + new tokens) x dtype bytes;
``logits``    the prefill's logits: B x L x vocab in the model's dtype when the model's forward
              has no ``logits_to_keep`` (the Qwen2.5-Omni thinker computes every position's), else
              B x vocab; plus generate's float32 copy of the last position's.

Not counted: the model's weights (loaded before the budget is read, so outside it), the
attention scores (torch's fused CPU / CUDA attention does not hold L x L), allocator slack and
Python objects. The figure is an estimate, checked against measured peaks in
``docs/evaluation.md``.

:func:`memory_budget` reads the budget (``--max-memory`` such as ``"8GiB"``, else
:data:`MEMORY_SHARE` of the machine's available memory, ``/proc/meminfo`` MemAvailable or
psutil), and :func:`plan_batches` splits the items into batches of at most ``batch_size`` that
each fit it, shrinking a batch where needed (and, where one item alone does not fit because of
the prefill's logits, computing the last position's alone: :func:`last_logits_only`), or refuses
in one line naming the sample and the fix. ``eval run`` calls them, and ``omni-bench pairs`` with
``repeats`` = K (each question asked K times in one batch).

The GRPO rollout (:mod:`omni_bench.training.rollout`) prefills a prompt once and expands its KV cache
to G rows: :func:`estimate_batch` with ``rows`` = G counts the media, towers and prefill once and the
KV cache and the sampled logits G times. :func:`estimate_rollout` adds the replay that follows (the
decoder over G rows of prompt + completion with gradients, its padded mask and the log-probs'
chunk) and keeps the larger phase; :func:`check_rollout` is ``train --method grpo``'s pre-flight:
the largest prompt against the budget, or one line naming it and the fix.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, replace

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.stages import stage
from omni_bench.families import family_of

__all__ = ["ModelShape", "ItemCost", "BatchEstimate", "Batch", "estimate_batch", "memory_budget", "parse_size",
           "plan_batches", "last_logits_only", "estimate_rollout", "check_rollout", "check_grpo_memory",
           "MEMORY_SHARE"]

MEMORY_SHARE = 0.25  # the default budget: this share of the memory the machine has available
DEVICE_SHARE = 0.9  # on a CUDA device (which nothing else shares): this share of its free memory
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
          "t": 1000**4, "tb": 1000**4, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
PATCH_VALUES = 3 * 2 * 14 * 14  # values per patch of pixel_values_videos (channels x temporal x patch x patch)
SAMPLING_COPIES = 5  # float32 [rows, vocab] tensors a rollout step holds: the logits, their log-softmax, the
    # sampler's masked clone and its softmax, the entropy's product (training/rollout.py)
LOGPROB_CHUNK = 256  # rows of logits the replay's log-probs build at once (training/logprobs.py's default)


def parse_size(text: str | int | float) -> int:
    """Bytes of a size such as ``"8GiB"``, ``"512 MB"`` or ``1e9``; OmniBenchError for anything else.

    >>> parse_size("8GiB"), parse_size("1.5 GB"), parse_size(4096)
    (8589934592, 1500000000, 4096)
    """
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*", str(text).lower())
    if not match or match.group(2) not in _UNITS or float(match.group(1)) <= 0:
        raise OmniBenchError(f"--max-memory expects a size such as 8GiB, 6GB or 4096MiB, got {text!r}",
                             reason="bad-settings")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def available_memory() -> int:
    """Bytes of memory the machine has available now: /proc/meminfo MemAvailable, else psutil."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import psutil

    return int(psutil.virtual_memory().available)


def memory_budget(max_memory: str | int | None = None, device=None) -> tuple[int, str]:
    """(bytes, how it was chosen): ``max_memory`` parsed, else :data:`MEMORY_SHARE` of the available memory;
    on a CUDA ``device``, :data:`DEVICE_SHARE` of its free memory (``torch.cuda.mem_get_info``)."""
    if max_memory is not None:
        size = parse_size(max_memory)
        return size, f"--max-memory {_gib(size)}"
    if device is not None and getattr(device, "type", str(device).split(":")[0]) == "cuda":
        import torch

        free = int(torch.cuda.mem_get_info(device)[0])
        return int(free * DEVICE_SHARE), f"{DEVICE_SHARE:.0%} of the {_gib(free)} free on {device}"
    available = available_memory()
    return int(available * MEMORY_SHARE), f"{MEMORY_SHARE:.0%} of the {_gib(available)} available"


@dataclass(frozen=True)
class ModelShape:
    """What a generation batch's memory depends on in a model (read by :meth:`of_model`)."""

    layers: int
    kv_heads: int
    head_dim: int
    hidden: int
    intermediate: int
    vocab: int
    dtype_bytes: int
    full_logits: bool  # the forward computes logits for every position (no logits_to_keep)
    vision_hidden: int = 0
    vision_intermediate: int = 0
    audio_hidden: int = 0
    audio_intermediate: int = 0

    @classmethod
    def of_model(cls, model) -> ModelShape:
        import inspect

        config = model.config
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        vision = getattr(config, "vision_config", None)
        audio = getattr(config, "audio_config", None)
        heads = int(text.num_attention_heads)
        parameter = next(model.parameters())
        return cls(
            layers=int(text.num_hidden_layers), kv_heads=int(getattr(text, "num_key_value_heads", None) or heads),
            head_dim=int(getattr(text, "head_dim", None) or text.hidden_size // heads), hidden=int(text.hidden_size),
            intermediate=int(text.intermediate_size), vocab=int(text.vocab_size),
            dtype_bytes=parameter.element_size(),
            full_logits="logits_to_keep" not in inspect.signature(model.forward).parameters,
            vision_hidden=int(getattr(vision, "hidden_size", 0) or 0),
            vision_intermediate=int(getattr(vision, "intermediate_size", 0) or 0),
            audio_hidden=int(getattr(audio, "d_model", 0) or 0),
            audio_intermediate=int(getattr(audio, "encoder_ffn_dim", 0) or 0),
        )


@dataclass(frozen=True)
class ItemCost:
    """One planned sample as the estimate sees it (:meth:`of_planned` reads it off a dataset's plan)."""

    name: str  # the sample, as a refusal names it
    tokens: int  # input ids of the prompt
    patches: int = 0  # rows of pixel_values_videos (t x h x w)
    feature_frames: int = 0  # padded frames of input_features (0: no audio)
    mel_frames: int = 0  # valid mel frames
    mel_bins: int = 128
    decoded_bytes: int = 0  # decoded frames (uint8, native size) plus their float32 copy at the processor's size

    @classmethod
    def of_planned(cls, planned) -> ItemCost:
        """From a :class:`~omni_bench.data.dataset.PlannedSample` (its sample and MediaPlan)."""
        media, tokens = planned.media, int(planned.sample.input_tokens)
        if media is None:
            return cls(planned.record.id, tokens)
        t, h, w = media.grid
        profile, info = media.profile, media.info
        rh, rw = media.resized_hw
        decoded = media.frames * (info.height * info.width * 3 + rh * rw * 3 * 4)
        features = _feature_frames(media) if media.use_audio else 0
        return cls(planned.record.id, tokens, patches=t * h * w, feature_frames=features,
                   mel_frames=media.mel_frames if media.use_audio else 0, mel_bins=profile.mel_bins,
                   decoded_bytes=decoded)


def _feature_frames(media) -> int:
    return int(family_of(media.profile).feature_frames(media.mel_frames, media.profile))


@dataclass(frozen=True)
class BatchEstimate:
    """Bytes a generation batch holds at its peak, by part (see the module docstring)."""

    items: tuple[str, ...]
    parts: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(size for _, size in self.parts)

    def __str__(self) -> str:
        largest = sorted(self.parts, key=lambda part: -part[1])[:3]
        return f"{_gib(self.total)} ({', '.join(f'{name} {_gib(size)}' for name, size in largest)})"


def estimate_batch(items: list[ItemCost], shape: ModelShape, max_new_tokens: int, *, rows: int = 1) -> BatchEstimate:
    """What one ``generate`` call on ``items`` (left-padded into one batch) holds at its peak, in bytes.

    ``rows``: each item is prefilled once and its KV cache expanded to ``rows`` rows sampled together
    (the GRPO rollout, :mod:`omni_bench.training.rollout`): the media, the towers and the prefill count
    once, the KV cache and the sampled logits ``rows`` times (with :data:`SAMPLING_COPIES` float32 copies).
    """
    batch, length = len(items), max(item.tokens for item in items)
    d = shape.dtype_bytes
    patches = sum(item.patches for item in items)
    copies = 2 if rows == 1 else SAMPLING_COPIES  # generate's float32 last-position logits and scores
    logits = batch * (length if shape.full_logits else rows) * shape.vocab * d + copies * batch * rows * shape.vocab * 4
    parts = (
        *_media_parts(items, shape),
        ("towers", patches * (shape.vision_hidden * 6 + shape.vision_intermediate * 3) * d
         + sum(item.mel_frames // 2 for item in items) * (shape.audio_hidden * 6 + shape.audio_intermediate * 3) * d),
        ("prefill", _layer_bytes(shape, batch, length)),
        ("mask", _mask_bytes(batch, length)),
        ("kv_cache", _kv_bytes(shape, batch * rows, length + max_new_tokens)),
        ("logits", logits),
    )
    return BatchEstimate(tuple(item.name for item in items), parts)


def _media_parts(items: list[ItemCost], shape: ModelShape) -> tuple[tuple[str, int], ...]:
    """The decoded frames, ``pixel_values_videos`` and the audio features of a batch (see the module docstring)."""
    mel = max((item.mel_frames for item in items), default=0)
    return (
        ("decoded", 2 * max(item.decoded_bytes for item in items)),
        ("pixels", sum(item.patches for item in items) * PATCH_VALUES * (4 * 2 + shape.dtype_bytes)),
        ("audio", sum(item.mel_bins * item.feature_frames * 4 for item in items)
         + len(items) * (items[0].mel_bins * mel * 4)),
    )


def _layer_bytes(shape: ModelShape, rows: int, length: int) -> int:
    """One decoder layer's live tensors over ``rows`` x ``length`` tokens, plus the input embeddings."""
    return rows * length * (shape.hidden * 7 + shape.intermediate * 3) * shape.dtype_bytes


def _mask_bytes(rows: int, length: int) -> int:
    """A padded batch's (rows > 1) dense L x L attention mask (measured on CPU: about 3.2 bytes per entry at
    L = 11,653); a batch of one needs none."""
    return rows * length * length * 4 if rows > 1 else 0


def _kv_bytes(shape: ModelShape, rows: int, length: int) -> int:
    """layers x 2 (keys, values) x kv heads x head dim x rows x length x dtype bytes."""
    return shape.layers * 2 * shape.kv_heads * shape.head_dim * rows * length * shape.dtype_bytes


def estimate_rollout(item: ItemCost, shape: ModelShape, num_generations: int, max_completion_length: int, *,
                     gradient_checkpointing: bool = True, logprob_chunk: int = LOGPROB_CHUNK,
                     padded: bool = True) -> BatchEstimate:
    """What one GRPO step on ``item`` holds at its peak (:mod:`omni_bench.training.grpo`): the larger of

    * the rollout: :func:`estimate_batch` with ``rows`` = G, ``max_completion_length`` new tokens, the
      last position's logits only (the rollout puts the output layer on the last hidden state);
    * the replay with gradients, beside the batch's pixel and audio tensors and the towers' outputs (kept
      from the rollout): the decoder over G rows of ``tokens + max_completion_length`` - each layer's input kept
      for backward (gradient checkpointing; without it every layer's live tensors), one layer recomputed
      with its gradients, the padded rows' attention mask, the audio encodings repeated per row - and one
      chunk of the log-probs' logits (in the model's dtype, float32 and its log-softmax; measured on CPU:
      the same three [chunk, vocab] tensors at the peak of forward and of backward).

    ``padded``: the completions may end at different lengths, so the replay's rows are padded and its
    attention mask is dense (False: every completion runs to the same length, as a random tiny model's do;
    no mask is built). The reference replay (``--grpo-beta`` > 0) runs without gradients before the policy's, so it adds
    nothing to the peak; the LoRA weights' gradients and optimizer state are left out (megabytes).
    """
    G, T = num_generations, item.tokens + max_completion_length
    d, h = shape.dtype_bytes, shape.hidden
    rollout = estimate_batch([item], replace(shape, full_logits=False), max_completion_length, rows=G)
    kept = _layer_bytes(shape, G, T) if not gradient_checkpointing else G * T * h * d  # per layer, for backward
    audio_tokens = item.mel_frames // 4
    encodings = (item.patches // 4 + audio_tokens) * h * d  # the towers' outputs (2 x 2 merge; 4 mel frames a token)
    replay = BatchEstimate(rollout.items, (
        *(part for part in _media_parts([item], shape) if part[0] != "decoded"),  # the frames went with the rollout
        ("encodings", encodings + G * audio_tokens * h * d),
        ("activations", shape.layers * kept + 2 * _layer_bytes(shape, G, T)),
        ("mask", _mask_bytes(G, T) if padded else 0),
        ("logprobs", min(logprob_chunk, G * max_completion_length) * shape.vocab * (d + 4 + 4)),
    ))
    return max(rollout, replay, key=lambda estimate: estimate.total)


def check_rollout(items: list[ItemCost], shape: ModelShape, num_generations: int, max_completion_length: int,
                  budget: int, budget_text: str = "", *, gradient_checkpointing: bool = True) -> BatchEstimate:
    """The largest item's GRPO step estimate (:func:`estimate_rollout`) when it fits ``budget`` bytes; else
    OmniBenchError naming it, the estimate and the fix (``train --method grpo``'s pre-flight)."""
    estimates = [estimate_rollout(item, shape, num_generations, max_completion_length,
                                  gradient_checkpointing=gradient_checkpointing) for item in items]
    index = max(range(len(items)), key=lambda k: estimates[k].total)
    worst, item = estimates[index], items[index]
    if worst.total > budget:
        raise OmniBenchError(
            f"{item.name}: one GRPO step ({num_generations} completions of up to {max_completion_length} tokens and "
            f"their replay) needs about {worst} ({item.tokens:,} input ids), over the memory budget of "
            f"{_gib(budget)}{f' ({budget_text})' if budget_text else ''}; lower --num-generations, "
            "--max-completion-length, --fps / --frames or --max-pixels, or raise --max-memory",
            source=item.name, reason="too-costly")
    return worst


@dataclass(frozen=True)
class Batch:
    """One generation batch as planned: which items, whether only the last position gets logits, its estimate."""

    indices: list[int]
    last_logits_only: bool  # the prefill computes the last position's logits alone (see plan_batches)
    estimate: BatchEstimate


def plan_batches(items: list[ItemCost], shape: ModelShape, max_new_tokens: int, batch_size: int,
                 budget: int, budget_text: str = "", *, repeats: int = 1,
                 fix: str = "lower --fps / --frames or --max-pixels") -> list[Batch]:
    """``items`` in order in batches of at most ``batch_size``, each estimated within ``budget`` bytes.

    ``repeats``: each item is asked that many times in its batch (``omni-bench pairs``' K sampled replies
    per question: ``batch_size`` x K rows). A batch over the budget is shrunk (its last items move to
    the next batch). Where even one item is over it because the model computes logits for every prefill
    position, that batch computes the last position's alone (``last_logits_only``: generate reads no
    other; the values agree with the full computation to float rounding, ~1e-6, so batches that fit
    either way keep the full one and their answers). An item over the budget either way raises
    OmniBenchError naming it, the estimate and ``fix`` (or raising --max-memory).
    """
    ways = [(shape, False)] + ([(replace(shape, full_logits=False), True)] if shape.full_logits else [])

    def estimate(start: int, size: int, way: ModelShape) -> BatchEstimate:
        return estimate_batch([item for item in items[start:start + size] for _ in range(repeats)], way,
                              max_new_tokens)

    batches, start = [], 0
    while start < len(items):
        for way, last_only in ways:
            size = min(batch_size, len(items) - start)
            guess = estimate(start, size, way)
            while size > 1 and guess.total > budget:
                size -= 1
                guess = estimate(start, size, way)
            if guess.total <= budget:
                batches.append(Batch(list(range(start, start + size)), last_only, guess))
                start += size
                break
        else:
            item = items[start]
            rows = f" of {repeats} rows" if repeats > 1 else ""
            raise OmniBenchError(
                f"{item.name}: one generation{rows} needs about {guess} ({item.tokens:,} input ids), over the memory "
                f"budget of {_gib(budget)}{f' ({budget_text})' if budget_text else ''}; {fix}, or raise --max-memory",
                source=item.name, reason="too-costly")
    return batches


def check_grpo_memory(model, planned, settings, *, gradient_checkpointing: bool = True,
                      progress: bool = True) -> BatchEstimate:
    """``train --method grpo``'s pre-flight, before the first step: the largest of the ``planned`` prompts
    (:class:`~omni_bench.data.dataset.PlannedSample` s) through :func:`check_rollout` for ``model``'s shape and
    ``settings`` (:class:`~omni_bench.training.config.GRPOSettings`: ``num_generations``,
    ``max_completion_length``, ``max_memory``) on the model's device; a stage line with the estimate."""
    budget, chosen = memory_budget(settings.max_memory, next(model.parameters()).device)
    worst = check_rollout([ItemCost.of_planned(p) for p in planned], ModelShape.of_model(model),
                          settings.num_generations, settings.max_completion_length, budget, chosen,
                          gradient_checkpointing=gradient_checkpointing)
    stage("train", f"one GRPO step ({settings.num_generations} completions of up to {settings.max_completion_length} "
                   f"tokens) needs about {worst} for {worst.items[0]}, the largest prompt, of the {_gib(budget)} "
                   f"budget ({chosen})", progress)
    return worst


@contextlib.contextmanager
def last_logits_only(model, active: bool = True):
    """Within the block, the model's output layer sees only the last position's hidden state, so a
    prefill makes B x 1 x vocab logits instead of B x L x vocab (what ``generate`` reads)."""
    if not active:
        yield
        return
    head = model.get_output_embeddings()
    handle = head.register_forward_pre_hook(lambda module, args: (args[0][:, -1:, :], *args[1:]))
    try:
        yield
    finally:
        handle.remove()


def _gib(size: int) -> str:
    """``"2.5 GiB"``; below a tenth of a GiB in MiB (``"12 MiB"``), so a small budget does not read 0.0 GiB."""
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 / 10 else f"{size / 2**20:.0f} MiB"
