"""Sequence packing: several samples in one row, each attending only to itself.

transformers 5.23's packed-sequence contract for Qwen2.5-Omni and Qwen2.5-VL (their text
models read it in ``forward``): ``position_ids`` of shape ``[4, rows, L]`` and no
``attention_mask``. Row 0 is the *text* position, restarting at 0 for every sample - masking_utils'
``find_packed_sequence_indices`` cuts the row where it does not count up by one and builds a
block-diagonal causal mask (SDPA, eager), and flash-attention takes the same cuts as varlen
``cu_seqlens``. Rows 1-3 are each sample's own rope ids, exactly as the model's
``get_rope_index`` computes them for that sample alone: TMRoPE with the video's audio
interleaved (second per grid, audio lengths, the model's ``seconds_per_chunk``) for Omni
(:func:`omni_positions`), 5.23's MRoPE for VL (:func:`omni_bench.families.qwen2_5_vl.vl_rope_index`):
each family's own rule (``Family.packed_positions``), asked by :func:`sample_positions`.

:func:`~omni_bench.layout.budget_packing.pack_rows` places samples into rows of at most ``capacity`` tokens, first-fit
decreasing; :func:`pack_items` builds the batch: ids, labels (every sample's first label is
-100, so no target crosses a sample boundary after the causal shift), media tensors
concatenated in the order the samples appear in the rows, ``position_ids`` and
``attention_mask`` (1 on sample tokens; the packed forward drops it, see
:mod:`omni_bench.training.packed`, and the Trainer counts tokens with it).

Dataset-level packing: :class:`PackedBatchSampler` packs the whole dataset's planned lengths
(metadata only) into full rows, first-fit decreasing, every sample once per epoch; hand it to a
``DataLoader`` with ``OmniCollator(packing=True, max_total_tokens=capacity)``.

Left out: images, standalone audio, Qwen3-VL / Qwen3-Omni (their rope reads ``mm_token_type_ids``
or token-by-token interleaves; refused), sliding-window layers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from omni_bench.core.errors import OmniBenchError
from omni_bench.families import FAMILIES, family_of, family_of_model_type
from omni_bench.families.qwen2_5_alignment import omni_positions
from omni_bench.layout.budget_packing import pack_rows
from omni_bench.layout.labels import IGNORE_INDEX

__all__ = ["RopeConfig", "pack_rows", "omni_positions", "sample_positions", "pack_items", "packing_stats",
           "PackedBatchSampler", "format_packing_report"]


@dataclass(frozen=True)
class RopeConfig:
    """The model values a sample's rope ids depend on (the MODEL's config, not the processor's)."""

    family: str  # the family's key ("omni" or "vl": the families packing covers, Family.packing)
    merge_size: int = 2  # vision_config.spatial_merge_size
    position_id_per_seconds: float = 25  # Omni: temporal ids per second
    seconds_per_chunk: float = 2  # Omni: the model's VIDEO/AUDIO chunk (get_rope_index re-chunks with it)
    tokens_per_second: float = 2  # VL: vision_config.tokens_per_second

    @classmethod
    def of_model(cls, model) -> RopeConfig:
        """The values of a transformers (or peft-wrapped) Qwen2.5-Omni thinker / Qwen2.5-VL model."""
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        config = base.config
        vision = config.vision_config
        family = family_of_model_type(config.model_type)
        if not family.packing:
            raise OmniBenchError(f"packing does not cover {family.title}", source=config.model_type,
                                 reason="unsupported")
        if family.has_audio:  # the model's own chunking of the interleaved audio
            return cls(family.key, int(vision.spatial_merge_size), config.position_id_per_seconds,
                       config.seconds_per_chunk)
        return cls(family.key, int(vision.spatial_merge_size), tokens_per_second=vision.tokens_per_second)

    @classmethod
    def of_profile(cls, profile) -> RopeConfig:
        """The values a checkpoint of ``profile`` is configured with (the tiny models use them too)."""
        if not family_of(profile).packing:
            covered = " and ".join(f.title for f in FAMILIES.values() if f.packing)
            raise OmniBenchError(f"{profile.name}: packing covers {covered}, not the {profile.family} family",
                                 source=profile.name, reason="unsupported")
        return cls(profile.family, int(profile.merge_size), profile.position_id_per_seconds,
                   profile.seconds_per_chunk, profile.tokens_per_second)


def sample_positions(item: dict, ids, rope: RopeConfig) -> np.ndarray:
    """[3, L] rope ids of one :class:`~omni_bench.data.dataset.OmniSFTDataset` item, as ``get_rope_index``
    (the family's rule: :meth:`omni_bench.families.base.Family.packed_positions`)."""
    return family_of(rope.family).packed_positions(item, ids, rope)


def _row(items: list[dict], positions: list[np.ndarray], length: int, pad_id: int) -> dict:
    # one packed row: samples back to back, then padding (its own segment: text position from 0)
    used = sum(len(it["input_ids"]) for it in items)
    pad = length - used
    ids = torch.cat([*(it["input_ids"] for it in items), torch.full((pad,), pad_id, dtype=torch.long)])
    labels = []
    for it in items:
        row_labels = it["labels"].clone()
        row_labels[0] = IGNORE_INDEX  # the previous sample's last token never predicts this one
        labels.append(row_labels)
    labels = torch.cat([*labels, torch.full((pad,), IGNORE_INDEX, dtype=torch.long)])
    text = np.concatenate([np.arange(len(it["input_ids"])) for it in items] + [np.arange(pad)])
    rope = np.concatenate([*positions, np.broadcast_to(np.arange(pad), (3, pad))], axis=1)
    position_ids = torch.from_numpy(np.concatenate([text[None], rope]).astype(np.int64))
    mask = torch.cat([torch.ones(used, dtype=torch.long), torch.zeros(pad, dtype=torch.long)])
    out = {"input_ids": ids, "labels": labels, "attention_mask": mask, "position_ids": position_ids}
    if all("mm_token_type_ids" in it for it in items):
        out["mm_token_type_ids"] = torch.cat([*(it["mm_token_type_ids"] for it in items),
                                              torch.zeros(pad, dtype=items[0]["mm_token_type_ids"].dtype)])
    return out


def pack_items(items: Sequence[dict], *, ids, rope: RopeConfig, capacity: int | None, pad_id: int,
               cat_keys: Sequence[str], rows_out: list | None = None) -> dict:
    """A packed batch of dataset items: ``position_ids [4, rows, L]``, rows of at most ``capacity``.

    Media tensors (``cat_keys``) are concatenated in the order the items appear in the rows,
    as the forward consumes them; ``rows_out``, if given, receives the item indices of each row.
    """
    rows = pack_rows([len(it["input_ids"]) for it in items], capacity)
    length = max(sum(len(items[i]["input_ids"]) for i in row) for row in rows)
    built = [_row([items[i] for i in row], [sample_positions(items[i], ids, rope) for i in row], length, pad_id)
             for row in rows]
    batch = {key: torch.stack([b[key] for b in built]) for key in built[0] if key != "position_ids"}
    batch["position_ids"] = torch.stack([b["position_ids"] for b in built], dim=1)
    order = [i for row in rows for i in row]
    for key in cat_keys:
        values = [items[i][key] for i in order if key in items[i]]
        if values:
            batch[key] = torch.cat(values, dim=0)
    if rows_out is not None:
        rows_out.extend(list(row) for row in rows)
    return batch


def packing_stats(lengths: Sequence[int], capacity: int | None, batch_size: int) -> dict:
    """Padding of ``lengths`` taken ``batch_size`` at a time, padded vs packed into rows of ``capacity``.

    Padded: each batch is ``batch_size`` x its longest sample. Packed: each batch is
    rows x its longest row. Returns token counts and padding fractions of both.
    >>> packing_stats([10, 2, 6, 6], 12, 4)["packed"]["padding_fraction"]  # rows 10+2 and 6+6
    0.0
    """
    real = int(sum(lengths))
    padded = packed = 0
    rows_total = 0
    for lo in range(0, len(lengths), batch_size):
        chunk = list(lengths[lo:lo + batch_size])
        padded += len(chunk) * max(chunk)
        rows = pack_rows(chunk, capacity)
        packed += len(rows) * max(sum(chunk[i] for i in row) for row in rows)
        rows_total += len(rows)
    return {"tokens": real,
            "padded": {"slots": padded, "padding_fraction": 1 - real / padded if padded else 0.0},
            "packed": {"slots": packed, "rows": rows_total, "padding_fraction": 1 - real / packed if packed else 0.0}}


class PackedBatchSampler:
    """Micro-batches of dataset indices whose samples fill rows of ``capacity`` tokens, packed across the dataset.

    ``lengths``: every sample's token count (``[ds.sample(i).input_tokens for i in range(len(ds))]``
    for an :class:`~omni_bench.data.dataset.OmniSFTDataset`: known from planning, nothing
    decoded). Each epoch shuffles the samples (``seed + epoch``), packs them first-fit
    decreasing into rows, shuffles the rows and yields them ``rows_per_batch`` at a time; every
    sample is in exactly one row per epoch (:meth:`report` says so, with the fill and padding).
    A batch lists its samples in the epoch's shuffled order, so the collator's own first-fit
    decreasing (``OmniCollator(packing=True, max_total_tokens=capacity)``) rebuilds exactly these
    rows from them. ``set_epoch`` as for ``DistributedSampler``.
    >>> list(PackedBatchSampler([5, 3, 8, 2, 4], 10, shuffle=False))
    [[2, 3], [0, 4], [1]]
    >>> list(PackedBatchSampler([5, 3, 8, 2, 4], 10, rows_per_batch=2, shuffle=False))
    [[0, 2, 3, 4], [1]]
    """

    def __init__(self, lengths: Sequence[int], capacity: int, *, rows_per_batch: int = 1, shuffle: bool = True,
                 seed: int = 0):
        self.lengths = [int(n) for n in lengths]
        self.capacity, self.rows_per_batch = int(capacity), int(rows_per_batch)
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _epoch(self) -> tuple[list[int], list[list[int]]]:
        # (this epoch's sample order, its rows of dataset indices in the order they are trained)
        order = list(range(len(self.lengths)))
        rng = np.random.default_rng(self.seed + self.epoch)
        if self.shuffle:
            rng.shuffle(order)
        rows = [[order[i] for i in row] for row in pack_rows([self.lengths[i] for i in order], self.capacity)]
        if self.shuffle:
            rows = [rows[i] for i in rng.permutation(len(rows))]
        return order, rows

    def rows(self) -> list[list[int]]:
        """This epoch's rows of dataset indices, in training order."""
        return self._epoch()[1]

    def batches(self) -> list[list[list[int]]]:
        """This epoch's micro-batches, each ``rows_per_batch`` rows (the last may hold fewer)."""
        rows = self.rows()
        return [rows[lo:lo + self.rows_per_batch] for lo in range(0, len(rows), self.rows_per_batch)]

    def __iter__(self):
        order, rows = self._epoch()
        rank = {index: position for position, index in enumerate(order)}
        for lo in range(0, len(rows), self.rows_per_batch):
            yield sorted((i for row in rows[lo:lo + self.rows_per_batch] for i in row), key=rank.__getitem__)

    def __len__(self) -> int:
        return math.ceil(len(self.rows()) / self.rows_per_batch)

    def report(self) -> dict:
        """Rows, samples seen (each once), samples per row, fill of the rows' ``capacity`` and padding.

        ``fill_fraction``: sample tokens / (rows x capacity). ``padding_fraction``: the slots a batch
        holds that are padding (a batch pads its rows to its longest row). ``padded_padding_fraction``:
        the same samples in the same order, ``rows_per_batch`` per batch, each padded to the batch's longest.
        """
        order, rows = self._epoch()
        seen = sorted(i for row in rows for i in row)
        tokens = sum(self.lengths)
        row_tokens = [sum(self.lengths[i] for i in row) for row in rows]
        k = self.rows_per_batch
        slots = sum(len(row_tokens[lo:lo + k]) * max(row_tokens[lo:lo + k]) for lo in range(0, len(rows), k))
        padded = packing_stats([self.lengths[i] for i in order], None, k)["padded"]["slots"] if order else 0
        per_row = [len(row) for row in rows]
        return {"rows": len(rows), "batches": len(self), "rows_per_batch": k, "samples": len(seen),
                "every_sample_once": seen == list(range(len(self.lengths))), "tokens": tokens,
                "capacity": self.capacity,
                "fill_fraction": tokens / (len(rows) * self.capacity) if rows else 0.0,
                "padding_fraction": 1 - tokens / slots if slots else 0.0,
                "padded_padding_fraction": 1 - tokens / padded if padded else 0.0,
                "samples_per_row": {"mean": len(seen) / len(rows) if rows else 0.0, "min": min(per_row, default=0),
                                    "max": max(per_row, default=0)},
                "over_capacity": sum(n > self.capacity for n in self.lengths)}


def format_packing_report(report: dict) -> str:
    """One line for :meth:`PackedBatchSampler.report` (the training run's stage line).

    >>> print(format_packing_report(PackedBatchSampler([5, 3, 8, 2, 4], 10, shuffle=False).report()))
    ... # doctest: +NORMALIZE_WHITESPACE
    dataset packing: 5 samples in 3 rows of <= 10 tokens (1.67 per row, at most 2), each once;
    fill 73.3%, padding 0.0% (padded batches: 0.0%)
    """
    r = report
    return (f"dataset packing: {r['samples']} samples in {r['rows']} row{'s' * (r['rows'] != 1)} of <= "
            f"{r['capacity']:,} tokens "
            f"({r['samples_per_row']['mean']:.2f} per row, at most {r['samples_per_row']['max']}), "
            f"{'each once' if r['every_sample_once'] else 'NOT each once'}; fill {100 * r['fill_fraction']:.1f}%, "
            f"padding {100 * r['padding_fraction']:.1f}% (padded batches: {100 * r['padded_padding_fraction']:.1f}%)"
            + (f"; {r['over_capacity']} longer than a row" if r["over_capacity"] else ""))
