"""GRPO's rollout: one encode and one prefill per group, G completions sampled from the expanded cache,
and the replay that scores them with exactly the inputs generation had.

A GRPO step samples ``G`` completions of one prompt. trl repeats the prompt G times (the processor,
the towers and the prefill run G times); Time-R1 repeats ``pixel_values_videos``. Here, for a prompt
batch of one row (:class:`~omni_bench.data.dataset.OmniCollator`'s output, the prompt ending with
``<|im_start|>assistant\\n``):

* :func:`rollout` runs the frozen towers once (:func:`~omni_bench.training.preference_batch.encode_media`),
  prefills the one prompt row with ``use_cache=True``, repeats the KV cache G times
  (``batch_repeat_interleave``) and samples the G continuations token by token over the model's own
  forward. The position ids the decoder received are read where it receives them (a hook on the text
  decoder), for the prefill (the model's ``get_rope_index``: TMRoPE with audio in video, Qwen2.5-VL's
  seconds per grid ...) and for every decoded token (the prompt's last position + 1 + k on every axis,
  passed explicitly). Media placeholders and vision / audio start-end tokens get logits ``-inf`` before
  sampling, so they are never sampled. ``shared=False`` is the duplicated path (G prompt rows, each with
  its own media, G tower passes and G prefills), the reference the tests and ``bench grpo`` compare to.
* :func:`replay` scores the G rows ``prompt + completion`` with prefix sharing: the prompt row runs
  through the decoder once (the tower outputs reused), keeping each layer's keys and values with their
  graph, and the G completions run as one batch attending to them; so the prompt's forward, and its
  backward, run once per group, not G times (exact: a completion token sees the same keys and values
  as in its full row; log-probs and LoRA gradients equal the G full rows', tested). It returns the
  per-token log-probs of the completions from hidden states in chunks
  (:mod:`omni_bench.training.logprobs`), logits divided by the temperature as trl does. The position
  ids fed to both passes are the model's own for the full rows (its ``get_rope_index``, read at the text
  decoder's input without running it); they are checked against the rollout's (:class:`Parity`):
  ``position_ids_equal`` and ``max_logprob_diff`` between the rollout's and the replay's log-probs of
  the sampled tokens. Under gradient checkpointing the decoder layers keep the replay's two caches (both
  idempotent, so a layer's recompute in backward neither stores twice nor reads its own states).

Left out: top-k and min-p sampling, repetition penalty, several prompts in one prefill (one prompt per
micro-batch; use --grad-accum), vLLM.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch

from omni_bench.layout.labels import IGNORE_INDEX
from omni_bench.training.logprobs import DEFAULT_LOGPROB_CHUNK, token_logprobs
from omni_bench.training.preference_batch import MediaEncodings, encode_media, model_parts
from omni_bench.training.prefix import decoder_forward, positions_seen, prefix_then_rows, row_positions

__all__ = ["Rollout", "Parity", "rollout", "replay", "group_batch", "banned_token_ids", "tower_counter"]


@dataclass
class Rollout:
    """G completions of one prompt and what generation saw."""

    prompt_length: int
    completion_ids: torch.Tensor  # [G, C] (pad after the end token)
    completion_mask: torch.Tensor  # [G, C] 1 up to and including the end token
    logps: torch.Tensor  # [G, C] the rollout's log-probs of the sampled tokens (temperature-scaled logits)
    entropy: torch.Tensor  # [G, C] the entropy of each sampling distribution (temperature-scaled)
    truncated: torch.Tensor  # [G] bool: no end token within max_completion_length
    position_ids: torch.Tensor  # [axes, G, P + C] (or [G, P + C]) the decoder's position ids
    encodings: MediaEncodings | None = None  # the towers' outputs for the one prompt
    prefill_tokens: int = 0  # prompt tokens run through the decoder in prefill
    counts: dict = field(default_factory=dict)  # tower forwards seen while it ran


@dataclass
class Parity:
    """The rollout = replay audit: what the training forward saw against what generation saw."""

    checked: int  # completion tokens compared
    position_ids_equal: bool
    max_logprob_diff: float

    def to_dict(self) -> dict:
        return {"checked": self.checked, "position_ids_equal": self.position_ids_equal,
                "max_logprob_diff": self.max_logprob_diff}


def banned_token_ids(ids) -> list[int]:
    """Media placeholders and vision / audio start-end tokens: never sampled (a replay would place media there)."""
    return sorted({t for t in (ids.video, ids.image, ids.audio, ids.vision_bos, ids.vision_eos, ids.audio_bos,
                               ids.audio_eos) if t is not None})


@contextlib.contextmanager
def tower_counter(model):
    """Counts the videos and audios the towers encode while it lasts: ``{"vision": n, "audio": n}`` (a tower
    call on G stacked copies counts G: its grid / its audio lengths have G rows)."""
    _, inner = model_parts(model)
    counts, handles = {"vision": 0, "audio": 0}, []
    for key, name, arg in (("vision", "visual", "grid_thw"), ("audio", "audio_tower", "feature_lens")):
        tower = getattr(inner, name, None)
        if tower is not None:
            def hook(module, args, kwargs, key=key, arg=arg):
                rows = kwargs.get(arg, args[1] if len(args) > 1 else None)
                counts[key] += 1 if rows is None else int(rows.shape[0])

            handles.append(tower.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        yield counts
    finally:
        for handle in handles:
            handle.remove()


def _repeat(encodings: MediaEncodings, times: int) -> MediaEncodings:
    """One prompt's tower outputs repeated for ``times`` rows (tensor views and concatenation, no tower pass)."""
    out = MediaEncodings(videos=encodings.videos, audios=encodings.audios)
    if encodings.video is not None:
        video = type(encodings.video)(**encodings.video)
        video.pooler_output = tuple(encodings.video.pooler_output) * times
        if getattr(video, "deepstack_features", None) is not None:
            video.deepstack_features = [tuple(layer) * times for layer in encodings.video.deepstack_features]
        out.video = video
    if encodings.audio is not None:
        audio = type(encodings.audio)(**encodings.audio)
        audio.last_hidden_state = encodings.audio.last_hidden_state.repeat(times, 1)
        out.audio = audio
    return out


def group_batch(batch: dict, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
    """The one-prompt ``batch`` as ``rows`` rows of ``input_ids`` (each prompt's media entries repeated)."""
    rows = dict(batch)
    rows.update(input_ids=input_ids, attention_mask=attention_mask, pairs=1)
    if batch.get("mm_token_type_ids") is not None:  # Qwen3-VL: the prompt's types, then text (0)
        types = batch["mm_token_type_ids"][:1]
        extra = input_ids.shape[1] - types.shape[1]
        rows["mm_token_type_ids"] = torch.cat([types, types.new_zeros(1, extra)], 1).expand(input_ids.shape[0], -1)
    return rows


def _sample(logits: torch.Tensor, banned: list[int], top_p: float, generator) -> torch.Tensor:
    logits = logits.clone()
    logits[:, banned] = float("-inf")
    if top_p < 1.0:  # nucleus: keep the smallest set of tokens whose probability reaches top_p
        ordered, index = logits.sort(-1, descending=True)
        cumulative = ordered.softmax(-1).cumsum(-1)
        drop = cumulative - ordered.softmax(-1) >= top_p
        logits = logits.scatter(-1, index, ordered.masked_fill(drop, float("-inf")))
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)


@torch.no_grad()
def rollout(model, batch: dict, *, num_generations: int, max_completion_length: int, temperature: float = 1.0,
            top_p: float = 1.0, end_ids=(), banned=(), pad_id: int = 0, generator=None,
            shared: bool = True) -> Rollout:
    """G completions of the one-row prompt ``batch`` (see the module docstring)."""
    base, inner = model_parts(model)
    head = base.get_output_embeddings()
    G = num_generations
    prompt = batch["input_ids"]
    if prompt.shape[0] != 1:
        raise ValueError("rollout takes one prompt row")
    P = prompt.shape[1]
    seen: list = []
    with tower_counter(model) as counts, positions_seen(inner, seen):
        encodings = None
        if shared:
            has_media = batch.get("pixel_values_videos") is not None or batch.get("input_features") is not None
            encodings = encode_media(model, {**batch, "pairs": 1}) if has_media else None
            out = decoder_forward(model, {**batch, "pairs": 1}, encodings, shared=True, use_cache=True)
            cache = out.past_key_values
            cache.batch_repeat_interleave(G)
            last = out.last_hidden_state[:, -1].expand(G, -1)
            prompt_positions = seen[-1].expand(*seen[-1].shape[:-2], G, P) if seen[-1] is not None else None
            prefill_tokens = P
        else:
            rows = group_batch(batch, prompt.expand(G, -1), batch["attention_mask"].expand(G, -1))
            out = decoder_forward(model, rows, None, shared=False, use_cache=True)
            cache, last = out.past_key_values, out.last_hidden_state[:, -1]
            prompt_positions = seen[-1]
            prefill_tokens = G * P
        if prompt_positions is None:  # a text model: positions are 0..P-1
            prompt_positions = torch.arange(P, device=prompt.device).expand(G, P)
        banned = list(banned)
        end = torch.tensor(sorted({t for t in end_ids if t is not None}), dtype=torch.long, device=prompt.device)
        tokens, logps, entropies, alive_masks, positions = [], [], [], [], [prompt_positions]
        alive = torch.ones(G, dtype=torch.bool, device=prompt.device)
        attention = torch.ones(G, P, dtype=torch.long, device=prompt.device)
        for step in range(max_completion_length):
            logits = head(last).float() / temperature
            log_probs = logits.log_softmax(-1)
            token = _sample(logits, banned, top_p, generator)
            token = torch.where(alive, token, torch.full_like(token, pad_id))
            tokens.append(token)
            logps.append(log_probs.gather(1, token[:, None]).squeeze(1))
            entropies.append(-(log_probs.exp() * log_probs).nan_to_num().sum(-1))
            alive_masks.append(alive.clone())
            alive = alive & ~torch.isin(token, end)
            if not alive.any() or step == max_completion_length - 1:
                break
            attention = torch.cat([attention, alive_masks[-1].long()[:, None]], 1)
            position = prompt_positions[..., -1:] + 1 + step
            positions.append(position)
            mm = {} if batch.get("mm_token_type_ids") is None else {
                "mm_token_type_ids": torch.zeros(G, 1, dtype=torch.long, device=prompt.device)}
            out = inner(input_ids=token[:, None], attention_mask=attention, position_ids=position,
                        past_key_values=cache, use_cache=True, **mm)
            cache, last = out.past_key_values, out.last_hidden_state[:, -1]
    completion_ids = torch.stack(tokens, 1)
    mask = torch.stack(alive_masks, 1).long()
    C = completion_ids.shape[1]
    if len(positions) < C + 1:  # the last sampled token's position (it was never fed back)
        positions.append(prompt_positions[..., -1:] + C)
    return Rollout(prompt_length=P, completion_ids=completion_ids, completion_mask=mask,
                   logps=torch.stack(logps, 1) * mask, entropy=torch.stack(entropies, 1),
                   truncated=alive, position_ids=torch.cat(positions, -1), encodings=encodings,
                   prefill_tokens=prefill_tokens, counts=dict(counts))


def replay_rows(batch: dict, done: Rollout) -> dict:
    """The G rows ``prompt + completion`` of a rollout (the prompt's media entries repeated), labels on the
    completion tokens."""
    G = done.completion_ids.shape[0]
    prompt = batch["input_ids"].expand(G, -1)
    input_ids = torch.cat([prompt, done.completion_ids], 1)
    attention = torch.cat([batch["attention_mask"].expand(G, -1), done.completion_mask], 1)
    rows = group_batch(batch, input_ids, attention)
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[:, done.prompt_length:] = done.completion_ids.masked_fill(done.completion_mask == 0, IGNORE_INDEX)
    rows["labels"] = labels
    return rows


def _prefix_shared_hidden(model, batch: dict, done: Rollout, positions) -> torch.Tensor:
    """The last hidden states [G, C, H] that predict the G completions' tokens, the prompt run once.

    The prompt row goes through the decoder once (its media from the rollout's tower outputs, its
    position ids the full rows' prompt part), keeping each layer's keys and values with their graph; the
    G completions then run as one batch attending to those (expanded to G rows) with the full rows'
    completion position ids. Exact: a completion token attends to the same keys and values as in the full
    row. Backward goes through the prompt pass once, not G times (LoRA on the text model shapes the
    prompt's keys and values)."""
    G = done.completion_ids.shape[0]
    P = done.prompt_length
    head_positions = None if positions is None else positions[..., :1, :P]
    tail_positions = None if positions is None else positions[..., P:]
    attention = torch.cat([batch["attention_mask"].expand(G, -1), done.completion_mask], 1)
    prompt, tail = prefix_then_rows(model, {**batch, "pairs": 1}, done.encodings, head_positions,
                                    {"input_ids": done.completion_ids, "attention_mask": attention,
                                     "position_ids": tail_positions})
    first = prompt[:, -1:].expand(G, -1, -1)  # the prompt's last token predicts token 0
    return torch.cat([first, tail[:, :-1]], 1)


def replay(model, batch: dict, done: Rollout, *, temperature: float = 1.0, shared: bool = True,
           chunk_size: int | None = None, audit: bool = False):
    """``(per-token log-probs [G, C], Parity or None)`` of the rollout's completions under ``model`` as it
    stands (a graph when grad is enabled). The model computes the full rows' position ids itself; with
    ``audit`` they and the log-probs are compared to the rollout's.

    ``shared`` (with the rollout's tower outputs, or a prompt without media): the prompt's decoder pass
    runs once and the G completions attend to its keys and values (:func:`_prefix_shared_hidden`);
    otherwise the duplicated path, the G full rows each with its own media."""
    base, inner = model_parts(model)
    rows = replay_rows(batch, done)
    G = rows["input_ids"].shape[0]
    P, C = done.prompt_length, done.completion_ids.shape[1]
    head = base.get_output_embeddings()
    chunk_size = chunk_size or DEFAULT_LOGPROB_CHUNK
    has_media = batch.get("pixel_values_videos") is not None or batch.get("input_features") is not None
    if shared and (done.encodings is not None or not has_media):
        encodings = None if done.encodings is None else _repeat(done.encodings, G)
        replayed = row_positions(model, rows, encodings)
        hidden = _prefix_shared_hidden(model, batch, done, replayed)
        labels = torch.cat([torch.full_like(rows["labels"][:, :1], IGNORE_INDEX), rows["labels"][:, P:]], 1)
        logps = token_logprobs(hidden, lambda h: head(h) / temperature, labels, chunk_size=chunk_size)
    else:
        seen: list = []
        with positions_seen(inner, seen):
            hidden = decoder_forward(model, rows, None, shared=False, use_cache=False).last_hidden_state
        replayed = seen[-1]
        per_token = token_logprobs(hidden, lambda h: head(h) / temperature, rows["labels"], chunk_size=chunk_size)
        logps = per_token[:, P - 1:P - 1 + C]
    if not audit:
        return logps, None
    mask = rows["attention_mask"].bool()
    if replayed is None:
        replayed = torch.arange(mask.shape[1], device=mask.device).expand(G, -1)
    equal = bool((replayed == done.position_ids)[..., mask].all()) if replayed.shape == done.position_ids.shape \
        else False
    valid = done.completion_mask.bool()
    diff = (logps.detach() - done.logps)[valid].abs()
    return logps, Parity(checked=int(valid.sum()), position_ids_equal=equal,
                         max_logprob_diff=float(diff.max()) if diff.numel() else 0.0)
