"""Packed batches equal unpadded training: rope ids, isolation, loss and LoRA gradients (tiny Omni and VL).

The references: the model's own ``get_rope_index`` on each sample alone, the padded batch
of :class:`OmniCollator` (itself checked against per-sample losses in test_dataset.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from omni_bench import LayoutSettings, tiny_model
from omni_bench.data.dataset import OmniCollator, OmniSFTDataset
from omni_bench.data.packing import RopeConfig, pack_rows, packing_stats
from omni_bench.data.records import load_longvale_sft
from omni_bench.layout.labels import IGNORE_INDEX
from omni_bench.training.packed import block_diagonal_mask, packed_model_inputs

DATA = Path(__file__).resolve().parent.parent / "data"
PROFILES = ("qwen2.5-omni-7b", "qwen2.5-vl-7b")


@pytest.fixture(scope="module", params=PROFILES)
def case(request, omni_processor, vl_processor):
    """(profile, processor, items of the 3 bundled records, tiny model)."""
    profile = request.param
    processor = omni_processor if "omni" in profile else vl_processor
    dataset = OmniSFTDataset(load_longvale_sft(DATA / "longvale_sft.json"), media_root=DATA,
                             settings=LayoutSettings(profile=profile, frames=4, resize=(56, 56)),
                             processor=processor, max_total_tokens=4096)
    items = [dataset[i] for i in range(len(dataset))]
    return profile, processor, items, tiny_model(profile)


def _own_rope_index(model, processor, item):
    one = OmniCollator(processor)([item])
    if "video_second_per_grid" in one:  # Omni: audio in video, seconds per grid, audio lengths
        positions, _ = model.model.get_rope_index(one["input_ids"], None, one["video_grid_thw"], one["attention_mask"],
                                                  True, one["feature_attention_mask"].sum(-1),
                                                  one["video_second_per_grid"])
    else:
        positions, _ = model.model.get_rope_index(one["input_ids"], one["mm_token_type_ids"], None,
                                                  one["video_grid_thw"], one["second_per_grid_ts"],
                                                  one["attention_mask"])
    return positions[:, 0]


def _two_rows(items) -> int:
    """A row capacity one token short of the whole batch: first-fit decreasing makes two rows."""
    return sum(len(it["input_ids"]) for it in items) - 1


def _spans(collator, items):
    """(row, start, end, item index) of every sample in the last packed batch."""
    out = []
    for r, row in enumerate(collator.last_rows):
        at = 0
        for i in row:
            n = len(items[i]["input_ids"])
            out.append((r, at, at + n, i))
            at += n
    return out


def test_first_fit_decreasing_rows():
    lengths = [324, 415, 237, 90, 600, 12]
    rows = pack_rows(lengths, 700)
    assert sorted(i for row in rows for i in row) == list(range(6))
    assert all(sum(lengths[i] for i in row) <= 700 for row in rows)
    assert rows == [[4, 3], [1, 2, 5], [0]]  # 600, 415, 324 open rows; 237 joins 415, 90 joins 600, 12 joins 415
    assert pack_rows([5, 3, 8, 2, 4], None) == [[0, 1, 2, 3, 4]]
    assert pack_rows([9, 9], 4) == [[0], [1]]  # too long: a row of its own


@pytest.mark.parametrize("rows", ["one row", "two rows"])
def test_packed_positions_equal_each_samples_own_get_rope_index(case, rows):
    profile, processor, items, model = case
    capacity = _two_rows(items) if rows == "two rows" else None
    collator = OmniCollator(processor, packing=True, max_total_tokens=capacity, rope=RopeConfig.of_model(model))
    batch = collator(items)
    assert batch["position_ids"].shape[0] == 4 and batch["position_ids"].shape[1] == len(collator.last_rows)
    if capacity:
        assert len(collator.last_rows) == 2 and batch["input_ids"].shape[1] <= capacity
    for r, lo, hi, i in _spans(collator, items):
        own = _own_rope_index(model, processor, items[i])
        assert torch.equal(batch["position_ids"][1:, r, lo:hi], own), (profile, i)
        assert torch.equal(batch["position_ids"][0, r, lo:hi], torch.arange(hi - lo))
        assert torch.equal(batch["input_ids"][r, lo:hi], items[i]["input_ids"])
        assert batch["labels"][r, lo] == IGNORE_INDEX
        assert torch.equal(batch["labels"][r, lo + 1:hi], items[i]["labels"][1:])
    order = [i for row in collator.last_rows for i in row]
    assert torch.equal(batch["video_grid_thw"], torch.cat([items[i]["video_grid_thw"] for i in order]))
    assert torch.equal(batch["pixel_values_videos"], torch.cat([items[i]["pixel_values_videos"] for i in order]))
    if "omni" in profile:
        assert batch["use_audio_in_video"] is True
        lengths = torch.stack([items[i]["feature_attention_mask"][0].sum() for i in order])
        assert torch.equal(batch["feature_attention_mask"].sum(-1), lengths)


def test_the_mask_transformers_builds_is_block_diagonal(case):
    from transformers.masking_utils import create_causal_mask

    _, processor, items, model = case
    batch = OmniCollator(processor, packing=True, max_total_tokens=_two_rows(items))(items)
    assert batch["input_ids"].shape[0] == 2
    text_model = model.model.language_model
    embeds = torch.zeros(*batch["input_ids"].shape, 8)
    mask = create_causal_mask(config=text_model.config, inputs_embeds=embeds, attention_mask=None,
                              past_key_values=None, position_ids=batch["position_ids"][0])
    assert torch.equal(mask, block_diagonal_mask(batch["position_ids"][0]))


def _logits(model, batch):
    with torch.no_grad():
        return model(**{k: v for k, v in packed_model_inputs(batch).items() if k != "labels"}).logits


def test_changing_one_sample_leaves_the_others_logits_bit_identical(case):
    _, processor, items, model = case
    collator = OmniCollator(processor, packing=True)
    batch = collator(items)
    before = _logits(model, batch)
    spans = _spans(collator, items)
    changed = spans[1][3]  # the middle sample: one before it, one after it in the row
    edited = [dict(it) for it in items]
    ids = edited[changed]["input_ids"].clone()
    text = (edited[changed]["labels"] != IGNORE_INDEX).nonzero().flatten()
    ids[text] = (ids[text] + 7) % 151643  # other text tokens, same length, media untouched
    edited[changed]["input_ids"] = ids
    after = _logits(model, collator(edited))
    for row, a, b, i in spans:
        if i == changed:
            assert not torch.equal(before[row, a:b], after[row, a:b])
        else:
            assert torch.equal(before[row, a:b], after[row, a:b]), i
    # the control: with the mask kept (a plain causal mask over the row) the next sample sees the change
    with torch.no_grad():
        leak = dict(collator(edited), use_cache=False)
        leak.pop("labels")
        leaked = model(**leak).logits
    r2, a2, b2, _ = spans[2]
    assert not torch.equal(before[r2, a2:b2], leaked[r2, a2:b2])


def _lora_model(profile):
    from omni_bench.training.prepare import adapt_model

    model = adapt_model(tiny_model(profile), gradient_checkpointing=False, lora_dropout=0.0, loss_backend="chunked")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:  # B starts at zero: give A a gradient too
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
    return model


def _loss_and_grads(model, batch):
    model.zero_grad()
    loss = model(**packed_model_inputs(batch)).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.slow
def test_packed_loss_and_lora_gradients_equal_the_padded_batch(case):
    profile, processor, items, _ = case
    model = _lora_model(profile)
    padded_loss, padded = _loss_and_grads(model, OmniCollator(processor)(items))
    for capacity in (None, _two_rows(items)):
        loss, grads = _loss_and_grads(model, OmniCollator(processor, packing=True, max_total_tokens=capacity)(items))
        assert abs(float(loss) - float(padded_loss)) <= 1e-5 * abs(float(padded_loss))
        assert grads.keys() == padded.keys() and len(grads) == 2 * 2 * 7
        for name, grad in grads.items():
            scale = float(padded[name].abs().max())
            assert scale > 0, name
            assert float((grad - padded[name]).abs().max()) <= 1e-5 * scale, name


def test_packing_stats_counts_padding():
    stats = packing_stats([100, 10, 10, 80], 128, 4)
    assert stats["tokens"] == 200
    assert stats["padded"]["slots"] == 400 and stats["padded"]["padding_fraction"] == 0.5
    assert stats["packed"]["rows"] == 2 and stats["packed"]["slots"] == 2 * 120  # rows 100+10+10 and 80
    assert stats["packed"]["padding_fraction"] == pytest.approx(1 - 200 / 240)


def test_docstring_examples():
    import doctest

    from omni_bench.data import packing
    from omni_bench.training import packed

    for module in (packing, packed):
        assert doctest.testmod(module).failed == 0


def test_dataset_level_packing_sees_every_sample_once_per_epoch(case):
    from torch.utils.data import DataLoader

    from omni_bench.data.packing import PackedBatchSampler

    _, processor, items, model = case
    lengths = [len(it["input_ids"]) for it in items]
    capacity = max(lengths) + min(lengths)
    sampler = PackedBatchSampler(lengths * 4, capacity, seed=1)  # 12 samples: the 3 items, 4 times each
    epochs = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        report = sampler.report()
        assert report["every_sample_once"] and report["samples"] == 12 and report["over_capacity"] == 0
        assert report["fill_fraction"] == pytest.approx(sum(lengths) * 4 / (report["rows"] * capacity))
        assert report["padding_fraction"] == 0.0  # one row per batch: nothing to pad
        rows = sampler.rows()
        assert all(sum((lengths * 4)[i] for i in row) <= capacity for row in rows)
        epochs.append(rows)
    assert epochs[0] != epochs[1]  # reshuffled per epoch
    # a DataLoader over the dataset's items: one packed row per batch, rope ids as before
    loader = DataLoader(items * 4, batch_sampler=sampler,
                        collate_fn=OmniCollator(processor, packing=True, max_total_tokens=capacity,
                                                rope=RopeConfig.of_model(model)))
    seen = 0
    for batch, row in zip(loader, sampler.rows()):
        assert batch["input_ids"].shape == (1, sum((lengths * 4)[i] for i in row))
        seen += len(row)
    assert seen == 12
