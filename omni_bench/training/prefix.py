"""A prefix shared by several rows runs through the text decoder once, exactly.

GRPO's replay (G completions of one prompt) and DPO's pairs (a chosen and a rejected reply to one
prompt) score rows that begin with the same tokens: the prompt with its video and audio, thousands
of tokens, then a short reply. Run as full rows, the decoder does the prompt's work once per row,
forward and backward. Here the shared prefix runs once, each layer's keys and values kept with their
graph (:class:`PrefixLayer`, idempotent so gradient checkpointing's recompute keeps it), and the
rows' own tokens run as one batch attending to them (:class:`SharedPrefixLayer`), with the position
ids the model computes for the full rows (:func:`row_positions`: TMRoPE with audio in video, seconds
per grid, Qwen3's timestamps). A token attends to the same keys and values as in its full row, so the
log-probs and the gradients equal the full rows' up to float32 summation order (tested in
``tests/test_grpo_rollout.py`` and ``tests/test_dpo_pairs.py``).

Why not transformers' own prefix caching: ``generate``'s caches are written under ``no_grad`` and
dropped under gradient checkpointing; training needs the prefix's graph.
"""

from __future__ import annotations

import contextlib

import torch
from transformers.cache_utils import Cache, DynamicLayer
from transformers.modeling_layers import GradientCheckpointingLayer

from omni_bench.training.preference_batch import (
    MediaEncodings,
    _answered_audio,
    _order,
    model_parts,
    pair_model_inputs,
)

__all__ = ["StopAtDecoder", "positions_seen", "decoder_forward", "row_positions", "PrefixLayer",
           "SharedPrefixLayer", "cache_under_checkpointing", "prefix_then_rows", "pair_prefix_hidden"]


class StopAtDecoder(Exception):
    """Raised at the text decoder's input by :func:`positions_seen` with ``stop`` once it has read the
    position ids."""


@contextlib.contextmanager
def positions_seen(inner, seen: list, *, stop: bool = False):
    """Appends the position ids the text decoder receives to ``seen`` while it lasts; ``stop``: then
    raises :class:`StopAtDecoder`, so the decoder does not run."""
    decoder = getattr(inner, "language_model", None) or inner

    def hook(module, args, kwargs):
        seen.append(kwargs.get("position_ids"))
        if stop:
            raise StopAtDecoder

    handle = decoder.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def decoder_forward(model, batch: dict, encodings: MediaEncodings | None, *, shared: bool, **kwargs):
    """The multimodal model's forward over ``batch``'s rows, the media from ``encodings`` when shared."""
    _, inner = model_parts(model)
    inputs = pair_model_inputs(batch, shared=shared)
    inputs.update(kwargs)
    if not shared or encodings is None:
        return inner(**inputs)
    if encodings.video is not None:
        inputs["mm_encoder_outputs"] = {"video": encodings.video}
    with _answered_audio(inner, encodings):
        return inner(**inputs)


def row_positions(model, rows: dict, encodings: MediaEncodings | None):
    """The position ids the model computes itself for ``rows`` (its ``get_rope_index`` over the full rows:
    TMRoPE with audio in video, seconds per grid ...), read at the text decoder's input; the decoder does
    not run. None where the model leaves them to the decoder (a text model: 0..T-1)."""
    _, inner = model_parts(model)
    seen: list = []
    with torch.no_grad(), contextlib.suppress(StopAtDecoder), positions_seen(inner, seen, stop=True):
        decoder_forward(model, rows, encodings, shared=encodings is not None, use_cache=False)
    return seen[0] if seen else None


class PrefixLayer(DynamicLayer):
    """One decoder layer's cache in the prefix's pass: keeps the first keys and values it is given and
    returns what it is given. Idempotent, so a gradient-checkpointed layer's recompute in backward (given the
    same states again) neither stores twice nor sees the stored states."""

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.keys, self.values = key_states, value_states
        return key_states, value_states


class SharedPrefixLayer(DynamicLayer):
    """One decoder layer's cache in the pass after the prefix: the prefix's keys and values (with their graph;
    one row expanded to every row, or one per row) before the rows' own; stores nothing (idempotent under
    checkpointing as well)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        super().__init__()
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True
        self.keys, self.values = keys, values

    def update(self, key_states, value_states, *args, **kwargs):
        rows = key_states.shape[0]
        keys, values = self.keys, self.values
        if keys.shape[0] != rows:
            keys, values = keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1)
        return torch.cat([keys, key_states], -2), torch.cat([values, value_states], -2)


@contextlib.contextmanager
def cache_under_checkpointing(inner):
    """While it lasts, gradient-checkpointed decoder layers keep the cache they are given (transformers drops
    it, as a writing cache would be updated twice by the recompute; the prefix caches above are idempotent)."""
    decoder = getattr(inner, "language_model", None) or inner
    layers = [m for m in decoder.modules() if isinstance(m, GradientCheckpointingLayer)
              and "_can_checkpoint_with_cache" not in m.__dict__]
    for layer in layers:
        layer._can_checkpoint_with_cache = True
    try:
        yield
    finally:
        for layer in layers:
            del layer._can_checkpoint_with_cache


def prefix_then_rows(model, head: dict, encodings: MediaEncodings | None, head_positions, rows: dict, *,
                     index: torch.Tensor | None = None):
    """``(prefix hidden, rows hidden)``: the prefix rows ``head`` (a batch with its media, from ``encodings``
    when given) through the decoder once, each layer's keys and values kept with their graph, then
    ``rows`` (``input_ids``, ``attention_mask`` over prefix + own tokens, ``position_ids``: text tokens only)
    attending to them. Row r reads prefix row ``index[r]`` (None: the one prefix row, for every row)."""
    _, inner = model_parts(model)
    cache = Cache(layer_class_to_replicate=PrefixLayer)
    with cache_under_checkpointing(inner):
        # use_cache False: our caches are read and filled all the same (the layers use any cache given), and
        # transformers would turn a True off under gradient checkpointing with a warning
        out = decoder_forward(model, head, encodings, shared=encodings is not None, use_cache=False,
                              past_key_values=cache, position_ids=head_positions)
        kept = Cache(layers=[SharedPrefixLayer(*((layer.keys, layer.values) if index is None else
                                                 (layer.keys[index], layer.values[index])))
                             for layer in cache.layers])
        mm = {} if head.get("mm_token_type_ids") is None else {  # Qwen3-VL: the rows' own tokens are text
            "mm_token_type_ids": torch.zeros_like(rows["input_ids"])}
        tail = inner(**rows, past_key_values=kept, use_cache=False, **mm).last_hidden_state
    return out.last_hidden_state, tail


def _pair_prefixes(ids: torch.Tensor, lengths: list[int], order: list[int]) -> list[int]:
    """Each pair's shared prefix: the tokens its rows have in common from the start, leaving every row at
    least one token of its own."""
    found = []
    for pair in range(max(order) + 1):
        members = [r for r, of in enumerate(order) if of == pair]
        n = min(lengths[r] for r in members) - 1
        same = torch.ones(max(n, 0), dtype=torch.bool, device=ids.device)
        for r in members[1:]:
            same &= ids[r, :n] == ids[members[0], :n]
        found.append(int(same.long().cumprod(0).sum()))
    return found


def _first_rows(encodings: MediaEncodings | None, pairs: int, audio_tokens: int) -> MediaEncodings | None:
    """The tower outputs of each pair's first row (``encode_media`` repeats them for every row of a pair, in
    row order): its first ``pairs`` videos and the first ``audio_tokens`` audio features."""
    if encodings is None:
        return None
    out = MediaEncodings(videos=encodings.videos, audios=encodings.audios)
    if encodings.video is not None:
        video = type(encodings.video)(**encodings.video)
        video.pooler_output = tuple(encodings.video.pooler_output[:pairs])
        if getattr(video, "deepstack_features", None) is not None:
            video.deepstack_features = [tuple(layer[:pairs]) for layer in encodings.video.deepstack_features]
        out.video = video
    if encodings.audio is not None:
        audio = type(encodings.audio)(**encodings.audio)
        audio.last_hidden_state = encodings.audio.last_hidden_state[:audio_tokens]
        out.audio = audio
    return out


def pair_prefix_hidden(model, batch: dict, encodings: MediaEncodings | None) -> torch.Tensor | None:
    """The last hidden states ``[rows, T, H]`` of a batch of pairs (rows ``chosen_1..B, rejected_1..B``,
    right-padded), each pair's shared prefix (its prompt, media included) run through the decoder once.

    ``encodings``: :func:`~omni_bench.training.preference_batch.encode_media`'s tower outputs (None: no
    media). Positions past a row's end hold zeros (their labels are ignored). None when a pair shares no
    prefix (the caller runs the full rows)."""
    _, inner = model_parts(model)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    pairs, (rows, length) = int(batch["pairs"]), ids.shape
    order, lengths = _order(batch), mask.sum(1).tolist()
    prefixes = _pair_prefixes(ids, lengths, order)
    if min(prefixes) < 1:
        return None
    positions = row_positions(model, batch, encodings)  # [axes, rows, T] / [rows, T], or None (a text model)
    if positions is None:
        positions = torch.arange(length, device=ids.device).expand(rows, -1)
    longest = max(prefixes)
    span = torch.arange(longest, device=ids.device)
    head_mask = (span[None, :] < torch.tensor(prefixes, device=ids.device)[:, None]).long()
    head = {**batch, "input_ids": ids[:pairs, :longest], "attention_mask": head_mask}
    if batch.get("mm_token_type_ids") is not None:
        head["mm_token_type_ids"] = batch["mm_token_type_ids"][:pairs, :longest]
    audio_id = getattr(inner.config, "audio_token_id", None)
    first = _first_rows(encodings, pairs, 0 if audio_id is None else int((ids[:pairs] == audio_id).sum()))
    own = max(lengths[r] - prefixes[order[r]] for r in range(rows))
    padded = torch.nn.functional.pad(positions, (0, own))
    tail_ids = ids.new_zeros(rows, own)
    tail_mask = mask.new_zeros(rows, own)
    tail_positions = []
    for r in range(rows):
        start, n = prefixes[order[r]], lengths[r] - prefixes[order[r]]
        tail_ids[r, :n] = ids[r, start:start + n]
        tail_mask[r, :n] = 1
        tail_positions.append(padded[..., r, start:start + own])
    tail_positions = torch.stack(tail_positions, -2)
    index = torch.tensor(order, device=ids.device)
    tail = {"input_ids": tail_ids, "attention_mask": torch.cat([head_mask[index], tail_mask], 1),
            "position_ids": tail_positions}
    prompt, tail = prefix_then_rows(model, head, first, positions[..., :pairs, :longest], tail,
                                    index=None if pairs == 1 else index)
    hidden = []
    for r in range(rows):
        start = prefixes[order[r]]
        row = torch.cat([prompt[order[r], :start], tail[r, :length - start]])
        hidden.append(torch.nn.functional.pad(row, (0, 0, 0, length - row.shape[0])))
    return torch.stack(hidden)
