"""The packed attention path: what a packed batch (:mod:`omni_bench.data.packing`) hands the forward.

transformers 5.23's Qwen2.5-Omni and Qwen2.5-VL text models take packed ``position_ids [4, rows, L]``
(row 0 the text position, restarting at 0 for every sample) *with no attention mask*:

* SDPA / eager (CPU): ``create_causal_mask`` sees ``attention_mask=None`` and the text
  positions, finds the samples (``find_packed_sequence_indices``: a new sample wherever the
  position does not count up by one) and builds a block-diagonal causal mask -
  :func:`block_diagonal_mask` is that mask written out, for checking;
* flash-attention 2 (CUDA, where ``flash_attn`` is installed): the decoder layers get the text
  positions and ``_flash_attention_forward`` calls the varlen kernel with ``cu_seqlens`` cut
  at the restarts. It only does so for one row, so :func:`packed_model_inputs` flattens several
  rows into one (padding dropped) under flash-attention.

A batch that still carried its ``attention_mask``, or a forward with a KV cache (``use_cache``,
the default outside training), silently gets a plain causal mask over the whole row - every
sample attending to the ones before it - so :func:`packed_model_inputs` drops the mask (the
Trainer has counted tokens with it by then) and sets ``use_cache=False``. :func:`attention_implementation`
picks "flash_attention_2" where it can run, else "sdpa".
"""

from __future__ import annotations

import importlib.util

import torch

__all__ = ["is_packed", "packed_model_inputs", "block_diagonal_mask", "attention_implementation"]


def is_packed(inputs: dict) -> bool:
    """Whether ``inputs`` is a packed batch (``position_ids`` with the text row on top)."""
    positions = inputs.get("position_ids")
    return positions is not None and positions.ndim == 3 and positions.shape[0] == 4


def attention_implementation() -> str:
    """"flash_attention_2" on CUDA with ``flash_attn`` installed, else "sdpa"."""
    if torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def _uses_flash(model) -> bool:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "flash" in str(getattr(base.config, "_attn_implementation", "") or "")


def _flattened(inputs: dict) -> dict:
    # rows -> one row without padding, for flash-attention's varlen path (it reads one row only)
    keep = inputs["attention_mask"].reshape(-1).bool()
    out = dict(inputs)
    for key in ("input_ids", "labels", "mm_token_type_ids"):
        if key in out:
            out[key] = out[key].reshape(-1)[keep][None]
    out["position_ids"] = inputs["position_ids"].reshape(4, -1)[:, keep][:, None]
    return out


def packed_model_inputs(inputs: dict, model=None) -> dict:
    """The forward's arguments for a packed batch: no ``attention_mask`` and no cache (so transformers
    builds the block-diagonal mask or the varlen cuts from the text positions); one row under
    flash-attention.
    Anything that is not a packed batch is returned unchanged."""
    if not is_packed(inputs):
        return inputs
    if model is not None and _uses_flash(model) and inputs["position_ids"].shape[1] > 1:
        inputs = _flattened(inputs)
    # use_cache=False: with a cache transformers skips the packed-sequence detection (causal mask over the row)
    return {**{k: v for k, v in inputs.items() if k != "attention_mask"}, "use_cache": False}


def block_diagonal_mask(text_positions: torch.Tensor) -> torch.Tensor:
    """bool [rows, 1, L, L]: query i sees key j when both lie in one sample and j <= i.

    ``text_positions`` [rows, L] restart at 0 for every sample (row 0 of packed ``position_ids``).
    >>> block_diagonal_mask(torch.tensor([[0, 1, 0, 1, 2]]))[0, 0].int().tolist()
    [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 1, 1, 1]]
    """
    starts = torch.ones_like(text_positions, dtype=torch.bool)
    starts[:, 1:] = text_positions[:, 1:] - text_positions[:, :-1] != 1
    segment = starts.long().cumsum(-1)
    length = text_positions.shape[-1]
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    return ((segment[:, :, None] == segment[:, None, :]) & causal)[:, None]
