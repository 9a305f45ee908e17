"""OmniSFTDataset / OmniCollator: items equal the processor's output, batches give the right loss."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from omni_bench import LayoutSettings, probe, read_audio, read_frames
from omni_bench.core.tokens import token_ids
from omni_bench.data.dataset import OmniCollator, OmniSFTDataset
from omni_bench.data.records import Record, load_longvale_sft
from omni_bench.data.samples import messages, turns_of
from omni_bench.layout.frames import resize_frames, sample_indices
from omni_bench.layout.labels import IGNORE_INDEX, audit_labels

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SETTINGS = LayoutSettings(frames=4, resize=(56, 56))


@pytest.fixture(scope="module")
def records():
    return load_longvale_sft(DATA / "longvale_sft.json")


@pytest.fixture(scope="module")
def dataset(records, omni_processor):
    return OmniSFTDataset(records, media_root=DATA, settings=SETTINGS, processor=omni_processor,
                          max_total_tokens=4096)


@pytest.fixture(scope="module")
def items(dataset):
    return [dataset[i] for i in range(len(dataset))]


def test_every_bundled_record_makes_one_sample(dataset, records):
    assert len(dataset) == len(records) == 3 and dataset.dropped == []


def test_item_equals_the_processors_output(dataset, items, records, omni_processor):
    record = records[0]
    clip = DATA / record.videos[0]
    info = probe(clip)
    indices = sample_indices(info, SETTINGS)
    frames = resize_frames(read_frames(clip, indices), (56, 56), 28)
    text = omni_processor.apply_chat_template(messages(turns_of(record.conversations)), tokenize=False)
    out = omni_processor(text=[text], videos=[frames], audio=[read_audio(clip)], audio_from_video_indices=[0],
                         load_audio_from_video=True, return_tensors="pt",
                         videos_kwargs={"fps": len(indices) / info.duration, "do_resize": False},
                         seconds_per_chunk=2.0, position_id_per_seconds=25)
    item = items[0]
    assert torch.equal(item["input_ids"], out["input_ids"][0])
    for key in ("pixel_values_videos", "video_grid_thw", "video_second_per_grid", "input_features",
                "feature_attention_mask"):
        assert torch.equal(item[key], out[key]), key
    assert float(item["video_second_per_grid"][0]) == 2 / (4 / 8.0)  # the sampled fps, not the default 2
    assert len(item["input_ids"]) == dataset.sample(0).input_tokens


def test_labels_only_on_assistant_replies(items, omni_processor, records):
    ids = token_ids(omni_processor)
    for item, record in zip(items, records):
        audit = audit_labels(item["input_ids"], item["labels"], omni_processor.tokenizer, ids)
        assert audit.ok and audit.on_media == 0 and audit.on_template == 0
        assert audit.replies == tuple(text + "<|im_end|>" for role, text in record.conversations if role == "gpt")


def test_budget_drops_earliest_turn_and_moves_the_video(records, omni_processor, dataset):
    full = dataset.sample(0)
    small = OmniSFTDataset(records[:1], media_root=DATA, settings=SETTINGS, processor=omni_processor,
                           max_total_tokens=full.total_tokens - 1)
    sample = small.sample(0)
    assert sample.dropped_turns == 1 and sample.turns[0].human.startswith("<video>\n")
    item = small[0]
    assert len(item["input_ids"]) == sample.input_tokens
    assert int((item["labels"] != IGNORE_INDEX).sum()) == sample.label_tokens
    assert sample.total_tokens <= full.total_tokens - 1
    text = omni_processor.tokenizer.decode(item["input_ids"][item["labels"] != IGNORE_INDEX])
    assert text == "A steady tone that swells and fades.<|im_end|>"


def test_unusable_records_are_dropped_with_a_reason(omni_processor, records):
    silent = Record("silent", (("human", "<video>\nHi?"), ("gpt", "Yo.")), ("clips/silent_walk.mkv",))
    missing = Record("gone", (("human", "<video>\nHi?"), ("gpt", "Yo.")), ("clips/gone.mkv",))
    too_long = records[1]
    ds = OmniSFTDataset([silent, missing, too_long, records[2]], media_root=DATA, settings=SETTINGS,
                        processor=omni_processor, max_total_tokens=300)
    assert len(ds) == 1 and ds.sample(0).id == "portrait_music"
    assert [(d.source, d.reason) for d in ds.dropped] == [("silent", "no-audio"), ("gone", "missing"),
                                                      ("kitchen_talk", "over-budget")]
    no_audio = OmniSFTDataset([silent], media_root=DATA, settings=SETTINGS.replace(use_audio=False),
                              processor=omni_processor)
    assert len(no_audio) == 1 and "input_features" not in no_audio[0]


@pytest.mark.parametrize("side", ["right", "left"])
def test_collator_pads_and_concatenates(items, omni_processor, side):
    batch = OmniCollator(omni_processor, padding_side=side)(items)
    lengths = [len(it["input_ids"]) for it in items]
    longest = max(lengths)
    assert batch["input_ids"].shape == batch["labels"].shape == (3, longest)
    for row, (item, n) in enumerate(zip(items, lengths)):
        real = slice(0, n) if side == "right" else slice(longest - n, longest)
        pad = slice(n, longest) if side == "right" else slice(0, longest - n)
        assert torch.equal(batch["input_ids"][row, real], item["input_ids"])
        assert torch.equal(batch["labels"][row, real], item["labels"])
        assert (batch["input_ids"][row, pad] == token_ids(omni_processor).pad).all()
        assert (batch["labels"][row, pad] == IGNORE_INDEX).all() and (batch["attention_mask"][row, pad] == 0).all()
    assert batch["pixel_values_videos"].shape[0] == sum(it["pixel_values_videos"].shape[0] for it in items)
    assert batch["video_grid_thw"].shape == (3, 3) and batch["video_second_per_grid"].shape == (3,)
    assert batch["input_features"].shape == (3, 128, 1200)  # trimmed to the longest valid audio (12 s)
    assert batch["use_audio_in_video"] is True


def test_collator_refuses_a_batch_mixing_audio_and_silence(items, omni_processor):
    silent = {k: v for k, v in items[0].items() if k not in ("input_features", "feature_attention_mask")}
    with pytest.raises(ValueError, match="mixes"):
        OmniCollator(omni_processor)([items[0], silent])


@pytest.mark.slow
def test_layouts_of_a_batch_equal_each_items_layout(dataset, items, omni_processor):
    collator = OmniCollator(omni_processor, settings=SETTINGS)
    layouts = collator.layouts(collator(items))
    for i, layout in enumerate(layouts):
        own = dataset.layout(i)
        assert layout.input_ids == own.input_ids and layout.labels == own.labels
        assert layout.vision_runs == own.vision_runs and layout.labelled_text == own.labelled_text
        assert layout.stats.video_grid_thw == own.stats.video_grid_thw
        assert layout.stats.audio_tokens == own.stats.audio_tokens
        assert "Omni Batch Debug" in str(layout)


@pytest.mark.slow
def test_batch_loss_equals_token_weighted_mean_of_per_sample_losses(items, omni_processor):
    from omni_bench import tiny_model

    model = tiny_model("qwen2.5-omni-7b")
    with torch.no_grad():
        right = model(**OmniCollator(omni_processor)(items)).loss
        left = model(**OmniCollator(omni_processor, padding_side="left")(items)).loss
        singles, counts = [], []
        for item in items:
            singles.append(model(**OmniCollator(omni_processor, trim_audio=False)([item])).loss)
            counts.append(int((item["labels"][1:] != IGNORE_INDEX).sum()))  # targets after the shift
    expected = sum(loss * n for loss, n in zip(singles, counts)) / sum(counts)
    assert torch.isfinite(right)
    assert abs(float(right) - float(expected)) < 1e-5
    assert abs(float(left) - float(expected)) < 1e-5


def test_qwen25_vl_items_carry_the_sampled_fps(records, vl_processor):
    from omni_bench import tiny_model

    settings = LayoutSettings(profile="qwen2.5-vl-7b", frames=4, resize=(56, 56))
    ds = OmniSFTDataset(records, media_root=DATA, settings=settings, processor=vl_processor, max_total_tokens=4096)
    items = [ds[i] for i in range(len(ds))]
    assert all("input_features" not in it for it in items)
    # 4 frames over 8 s, 12 s, 6 s: temporal_patch_size / sampled fps, not the processor's 24 fps fallback
    assert [float(it["second_per_grid_ts"][0]) for it in items] == [4.0, 6.0, 3.0]
    batch = OmniCollator(vl_processor)(items)
    assert "use_audio_in_video" not in batch
    with torch.no_grad():
        assert torch.isfinite(tiny_model("qwen2.5-vl-7b")(**batch).loss)
