"""The media once per pair: a pair's two rows share one decode, one processor call and one tower pass,
and give the log-probs and position ids that each sequence gets on its own.

References, on the tiny model of each family (Qwen2.5-Omni with audio in video, Qwen2.5-VL, Qwen3-VL,
Qwen3-Omni): each sequence (chosen and rejected, the rejected one processed by the processor itself,
not spliced) run alone through the model's own forward, whose position ids are its ``get_rope_index``;
and the duplicated path (every row with its own copy of the media, as trl and LLaMA-Factory build it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from omni_bench import tiny_model
from omni_bench.core.processor import load_processor
from omni_bench.core.tokens import token_ids
from omni_bench.data.dataset import OmniCollator, OmniSFTDataset
from omni_bench.data.preference import PreferencePair
from omni_bench.layout.settings import LayoutSettings
from omni_bench.training.dpo import pair_logprobs
from omni_bench.training.logprobs import sequence_logprobs
from omni_bench.training.preference_batch import (
    PreferenceCollator,
    PreferenceDataset,
    encode_media,
    last_reply_labels,
    pair_hidden_states,
)
from omni_bench.training.prepare import adapt_model

pytestmark = pytest.mark.slow  # four tiny models, the bundled clips decoded

CLIPS = Path(__file__).resolve().parent.parent / "data" / "clips"
PROFILES = ["qwen2.5-omni-7b", "qwen2.5-vl-7b", "qwen3-vl-2b", "qwen3-omni-30b-a3b"]


def _pairs(audio: bool):
    ask = "<video>\nAt which time interval can we see the white bar cross the middle of the frame?"
    return [PreferencePair(0, "street", (("human", ask),), "From 40 to 60.", "From 00 to 99, the whole clip.",
                           videos=(str(CLIPS / "street_market.mkv"),), use_audio_in_video=audio),
            PreferencePair(1, "kitchen", (("human", "<video>\nWhat is heard?"), ("gpt", "A voice."),
                                          ("human", "And then?")), "A kettle.", "Silence.",
                           videos=(str(CLIPS / "kitchen_talk.mkv"),), use_audio_in_video=audio)]


@pytest.fixture(scope="module", params=PROFILES)
def case(request):
    profile = request.param
    processor = load_processor(profile)
    settings = LayoutSettings(profile=profile, frames=4, resize=(56, 56))
    pairs = _pairs(settings.resolve().use_audio)
    dataset = PreferenceDataset(pairs, settings=settings, processor=processor)
    model = tiny_model(profile).float()
    return profile, processor, settings, pairs, dataset, model


def _positions_seen(model, run):
    """The position ids the decoder received during ``run()``."""
    seen = []
    handle = model.model.language_model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["position_ids"]), with_kwargs=True)
    try:
        out = run()
    finally:
        handle.remove()
    return out, seen[-1]


def _video_encodes(model, run) -> tuple[object, int]:
    """``run()`` and the videos the vision tower encoded meanwhile."""
    count = [0]
    visual = model.model.visual
    handle = visual.register_forward_pre_hook(lambda m, args, kwargs: count.__setitem__(
        0, count[0] + int(kwargs.get("grid_thw", args[1] if len(args) > 1 else None).shape[0])), with_kwargs=True)
    try:
        return run(), count[0]
    finally:
        handle.remove()


def test_pair_dataset_keeps_both_pairs(case):
    _, _, _, pairs, dataset, _ = case
    assert len(dataset) == len(pairs) and not dataset.dropped


def test_rejected_row_equals_the_processors_own(case):
    """The spliced rejected row is the processor's ids of the rejected conversation, labels on its last reply."""
    _, processor, settings, pairs, dataset, _ = case
    own = OmniSFTDataset([p.record("rejected") for p in pairs], media_root=".", settings=settings,
                         processor=processor)
    for i in range(len(pairs)):
        item = dataset[i]
        assert item["rejected_input_ids"].tolist() == own[i]["input_ids"].tolist()
        labels = item["rejected_labels"]
        assert labels.tolist() == last_reply_labels(own[i]["input_ids"], token_ids(processor)).tolist()
        reply = processor.tokenizer.decode(item["rejected_input_ids"][labels != -100])
        assert reply == pairs[i].rejected + "<|im_end|>"  # the final reply only, not the earlier "A voice."


def test_pair_logprobs_and_positions_equal_each_sequence_alone(case):
    profile, processor, _, _, dataset, model = case
    batch = PreferenceCollator(processor)([dataset[0], dataset[1]])
    head = model.get_output_embeddings()
    with torch.no_grad():
        (hidden, positions), videos = _video_encodes(
            model, lambda: _positions_seen(model, lambda: pair_hidden_states(model, batch)))
        shared, _ = sequence_logprobs(hidden, head, batch["labels"])
        duplicated_hidden, duplicated_videos = _video_encodes(model, lambda: pair_hidden_states(model, batch,
                                                                                               shared=False))
        duplicated, _ = sequence_logprobs(duplicated_hidden, head, batch["labels"])
    assert videos == 2 and duplicated_videos == 4  # once per pair, against once per row
    assert (shared - duplicated).abs().max() <= 1e-5
    rows = [dataset[0]["chosen_input_ids"], dataset[1]["chosen_input_ids"], dataset[0]["rejected_input_ids"],
            dataset[1]["rejected_input_ids"]]
    items = [dataset.sft[0], dataset.sft[1]]  # the chosen sequences' own processor outputs (the media)
    for row, ids in enumerate(rows):
        item = dict(items[row % 2], input_ids=ids, attention_mask=torch.ones_like(ids),
                    labels=last_reply_labels(ids, token_ids(processor)))
        if "mm_token_type_ids" in item:
            item["mm_token_type_ids"] = batch["mm_token_type_ids"][row, :len(ids)]
        one = OmniCollator(processor)([item])
        labels = one.pop("labels")
        with torch.no_grad():
            out, alone = _positions_seen(model, lambda one=one: model.model(**one, use_cache=False))
            logps, _ = sequence_logprobs(out.last_hidden_state, head, labels)
        assert torch.equal(positions[:, row, :len(ids)], alone[:, 0]), (profile, row)
        assert abs(float(logps[0]) - float(shared[row])) <= 1e-5, (profile, row)


def test_media_encoded_once_per_pair(case):
    _, processor, _, _, dataset, model = case
    batch = PreferenceCollator(processor)([dataset[0], dataset[1]])
    with torch.no_grad():
        encodings = encode_media(model, batch)
    assert encodings.videos == 2
    assert encodings.audios == (2 if batch.get("input_features") is not None else 0)
    assert batch["pixel_values_videos"].shape[0] == int(batch["video_grid_thw"].prod(-1).sum())  # not doubled


def test_each_pairs_prompt_runs_through_the_decoder_once(case):
    """pair_logprobs (ours): each pair's shared prefix (the prompt with its media) through the decoder once and
    the rows' own tokens attending to its keys and values; the summed log-probs and every LoRA gradient equal
    the duplicated path's full rows (two pairs of different prompt lengths, gradient checkpointing on)."""
    profile, processor, _, _, dataset, _ = case
    model = adapt_model(tiny_model(profile).float(), lora_r=4, lora_alpha=8, lora_dropout=0.0,
                        lora_targets=("q_proj", "k_proj", "v_proj", "o_proj"))  # Qwen3-Omni: MoE experts
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.3)  # an adapter far from zero: it shapes the prompt's keys and values
    model.train()
    batch = PreferenceCollator(processor)([dataset[0], dataset[1]])
    layer = model.get_base_model().model.language_model.layers[0]
    found = {}
    for shared in (True, False):
        tokens = []
        handle = layer.register_forward_pre_hook(lambda module, args, tokens=tokens: tokens.append(
            args[0].shape[:2].numel()))
        try:
            logps, _ = pair_logprobs(model, batch, shared=shared)
        finally:
            handle.remove()
        model.zero_grad()
        (logps.chosen.sum() - 0.5 * logps.rejected.sum()).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        found[shared] = torch.cat([logps.chosen, logps.rejected]).detach(), grads, sum(tokens)
    (ours, ours_grads, ours_tokens), (dup, dup_grads, dup_tokens) = found[True], found[False]
    assert (ours - dup).abs().max() <= 1e-5, profile
    assert set(ours_grads) == set(dup_grads) and any("k_proj.lora_B" in n for n in ours_grads)
    for name, grad in dup_grads.items():
        torch.testing.assert_close(ours_grads[name], grad, rtol=1e-4, atol=1e-5 * float(grad.abs().max()))
    ids, lengths = batch["input_ids"], batch["attention_mask"].sum(1)
    prompts = [int((ids[i, :n] == ids[i + 2, :n]).long().cumprod(0).sum()) for i, n in
               enumerate(torch.minimum(lengths[:2], lengths[2:]).sub(1).tolist())]
    assert prompts[0] != prompts[1]  # the two pairs' prompts differ in length
    own = max(int(lengths[r]) - prompts[r % 2] for r in range(4))
    assert ours_tokens == 2 * max(prompts) + 4 * own and dup_tokens == ids.numel()  # a prompt once, not per row
