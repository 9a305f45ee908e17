"""Preference pairs as training batches: the media decoded, processed and encoded once per pair.

A preference pair is one prompt (a video, its audio, the human turns) and two replies, ``chosen`` and
``rejected``. trl's ``DPOTrainer`` and LLaMA-Factory build two rows that each carry the full media
(trl's collator doubles the images; LLaMA-Factory processes every row's video on its own). Here:

* :class:`PreferenceDataset` plans each pair from metadata (the video probed, never decoded; the
  pair dropped with its reason when either side is over ``max_total_tokens``: truncation never cuts
  media), then per item decodes the frames and the audio and runs transformers' processor **once**,
  on the chosen conversation (:class:`~omni_bench.data.dataset.OmniSFTDataset` does that part). The
  rejected row is the chosen row's expanded prompt followed by the rejected reply's tokens
  (:func:`splice_reply`): the two texts are tokenised without media, and they share every token up to
  the point where the replies differ, which lies after the last media placeholder. Labels: the
  final reply and its ``<|im_end|>`` only (earlier assistant turns of a multi-turn prompt are context).
* :class:`PreferenceCollator` stacks ``B`` pairs as rows ``[chosen_1..chosen_B, rejected_1..rejected_B]``
  (trl's order) and keeps each pair's media tensors once.
* :func:`encode_media` runs the frozen towers once per pair (``MediaEncodings.videos`` counts the
  videos they saw) and :func:`pair_hidden_states` runs the decoder over the 2B rows with those
  features placed in both rows of a pair: the vision features through the model's own
  ``mm_encoder_outputs`` argument, the audio features through its ``get_audio_features`` (answered
  from the encodings while the call lasts). Everything else is the model's own forward: the
  placeholder masks, and the position ids from its ``get_rope_index`` over the rows with each pair's
  grid, seconds per grid and audio lengths repeated (Qwen2.5-Omni TMRoPE with audio in video,
  Qwen2.5-VL, Qwen3-VL, Qwen3-Omni). ``shared=False`` is the duplicated path (each row with its own
  copy of the media, the towers run per row), kept as the reference the tests and ``omni-bench bench
  dpo`` compare against.

GRPO reuses the same pieces with ``order`` = each prompt repeated G times.

Left out: images (the records' ``images`` are refused, as in SFT), several videos per pair, packing
several pairs into one row, sharing the prompt's decoder pass (prefix caching) between the two rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch.utils.data import Dataset

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.problems import Problem
from omni_bench.core.tokens import token_ids
from omni_bench.data.dataset import OmniCollator, OmniSFTDataset
from omni_bench.data.samples import build_sample
from omni_bench.layout.labels import IGNORE_INDEX, assistant_spans

__all__ = ["PreferenceDataset", "PreferenceCollator", "splice_reply", "last_reply_labels", "model_parts",
           "MediaEncodings", "encode_media", "pair_model_inputs", "pair_hidden_states", "PER_VIDEO_KEYS"]

# Keys that hold one entry per video / audio: repeated for each row that shows it (the rope reads them).
PER_VIDEO_KEYS = ("video_grid_thw", "video_second_per_grid", "second_per_grid_ts", "feature_attention_mask")
_MEDIA_KEYS = ("pixel_values_videos", "video_grid_thw", "video_second_per_grid", "second_per_grid_ts",
               "input_features", "feature_attention_mask")


# --------------------------------------------------------------------------- ids and labels


def splice_reply(expanded: Sequence[int], chosen: Sequence[int], rejected: Sequence[int]) -> list[int]:
    """The rejected row's expanded ids: the chosen row's expanded prompt, then the rejected reply.

    ``expanded``: the processor's ids of the chosen conversation (media placeholders expanded);
    ``chosen`` / ``rejected``: the tokenizer's ids of the two conversations' texts, unexpanded. They
    agree up to where the replies differ; the expansion must lie before that point.

    >>> splice_reply([1, 9, 9, 9, 2, 5], [1, 9, 2, 5], [1, 9, 2, 6, 7])  # 9: a placeholder expanded x3
    [1, 9, 9, 9, 2, 6, 7]
    """
    same = 0
    while same < min(len(chosen), len(rejected)) and chosen[same] == rejected[same]:
        same += 1
    extra = len(expanded) - len(chosen)
    if extra < 0 or list(expanded[extra + same:]) != list(chosen[same:]):
        raise ValueError("the chosen and rejected conversations differ before the media: not a shared prompt")
    return list(expanded[:extra + same]) + list(rejected[same:])


def last_reply_labels(input_ids, ids) -> torch.Tensor:
    """Labels of the final assistant reply (and its ``<|im_end|>``) only; -100 elsewhere."""
    arr = torch.as_tensor(input_ids)
    labels = torch.full(arr.shape, IGNORE_INDEX, dtype=torch.long)
    spans = assistant_spans(arr.numpy(), ids)
    if spans:
        start, end = spans[-1]
        labels[start:end] = arr[start:end]
    return labels


# --------------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class _PlannedPair:
    index: int  # the chosen record's index in the SFT dataset
    pair: object  # the omni_bench.data.preference.PreferencePair
    tokens: tuple[int, int]  # (chosen, rejected) input + label tokens, from metadata


class PreferenceDataset(Dataset):
    """Pairs -> one processor output per pair with the chosen and rejected rows (see the module docstring).

    ``pairs``: :class:`omni_bench.data.preference.PreferencePair` s as ``read_pairs`` gives them (media
    paths resolved).

    Item: ``chosen_input_ids`` / ``rejected_input_ids`` [L_c] / [L_r], ``chosen_labels`` /
    ``rejected_labels`` (the final reply only), the media tensors of the pair once
    (``pixel_values_videos``, ``video_grid_thw`` [1, 3], ``input_features`` ...), and Qwen3-VL's
    ``chosen_mm_token_type_ids`` / ``rejected_mm_token_type_ids``.
    """

    def __init__(self, pairs: Sequence, *, settings=None, processor=None, max_total_tokens: int | None = None):
        # each chosen record under its position as id, to find its pair again after the planning
        records = [replace(pair.record("chosen"), id=str(position)) for position, pair in enumerate(pairs)]
        # the pairs' media are resolved already (read_pairs); no budget here: a pair is whole or dropped
        self.sft = OmniSFTDataset(records, media_root=".", settings=settings, processor=processor)
        self.processor, self.settings = self.sft.processor, self.sft.settings
        self.ids = token_ids(self.processor)
        self.max_total_tokens = max_total_tokens
        self.dropped: list[Problem] = [replace(d, source=pairs[int(d.source)].id) for d in self.sft.dropped]
        self.planned: list[_PlannedPair] = []
        for index, planned in enumerate(self.sft.planned):
            pair = pairs[int(planned.record.id)]
            chosen = self.sft.sample(index)
            try:
                rejected = build_sample(pair.record("rejected"), self.processor, chosen.media_tokens,
                                        system=self.settings.system)
                tokens = (chosen.total_tokens, rejected.total_tokens)
                if max_total_tokens is not None and max(tokens) > max_total_tokens:
                    raise OmniBenchError(
                        f"{pair.id}: {max(tokens)} tokens (input + labels) > --max-total-tokens {max_total_tokens}; "
                        "a pair is never cut (the media would be): raise the budget or use fewer frames",
                        source=pair.id, reason="over-budget")
            except OmniBenchError as exc:
                self.dropped.append(Problem.from_error(pair.id, exc))  # the gate (read_pairs) checks it too
                continue
            self.planned.append(_PlannedPair(index, pair, tokens))

    def __len__(self) -> int:
        return len(self.planned)

    def _unexpanded(self, sample) -> list[int]:
        text = self.processor.apply_chat_template(sample.messages(self.settings.system), tokenize=False)
        return list(self.processor.tokenizer(text)["input_ids"])

    def __getitem__(self, index: int) -> dict:
        plan = self.planned[index]
        item = self.sft[plan.index]  # the media decoded and processed once, on the chosen conversation
        chosen_sample = self.sft.sample(plan.index)
        rejected_sample = build_sample(plan.pair.record("rejected"), self.processor,
                                       chosen_sample.media_tokens, system=self.settings.system)
        expanded = item.pop("input_ids").tolist()
        rejected = splice_reply(expanded, self._unexpanded(chosen_sample), self._unexpanded(rejected_sample))
        out = {"chosen_input_ids": torch.tensor(expanded), "rejected_input_ids": torch.tensor(rejected)}
        out["chosen_labels"] = last_reply_labels(out["chosen_input_ids"], self.ids)
        out["rejected_labels"] = last_reply_labels(out["rejected_input_ids"], self.ids)
        item.pop("attention_mask"), item.pop("labels")
        types = item.pop("mm_token_type_ids", None)
        if types is not None:  # Qwen3-VL: the shared prompt's token types, then text (0)
            prefix = _common_prefix(expanded, rejected)
            out["chosen_mm_token_type_ids"] = types
            out["rejected_mm_token_type_ids"] = torch.cat([types[:prefix], types.new_zeros(len(rejected) - prefix)])
        out.update(item)  # the media tensors, once
        out["pair_index"] = index  # where its precomputed reference log-probs are (precompute_ref_log_probs)
        return out


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    same = 0
    while same < min(len(a), len(b)) and a[same] == b[same]:
        same += 1
    return same


# --------------------------------------------------------------------------- collator


class PreferenceCollator:
    """``B`` items -> rows ``[chosen_1..chosen_B, rejected_1..rejected_B]`` padded on the right, the media
    once per pair, ``pairs`` = B. The chosen rows and the media go through
    :class:`~omni_bench.data.dataset.OmniCollator` (its padding, media order, audio trimming and
    ``use_audio_in_video``); the rejected rows are padded beside them.

    >>> batch = PreferenceCollator(processor)([dataset[0]])  # doctest: +SKIP
    >>> batch["input_ids"].shape[0], batch["pairs"]          # doctest: +SKIP
    (2, 1)
    """

    def __init__(self, processor, settings=None):
        self.collator = OmniCollator(processor, settings=settings)

    def __call__(self, items: Sequence[dict]) -> dict:
        from torch.nn.functional import pad
        from torch.nn.utils.rnn import pad_sequence

        if not items:
            raise ValueError("an empty batch")
        rows = []
        for it in items:
            row = {"input_ids": it["chosen_input_ids"], "labels": it["chosen_labels"],
                   "attention_mask": torch.ones(len(it["chosen_input_ids"]), dtype=torch.long),
                   **{key: it[key] for key in _MEDIA_KEYS if key in it}}
            if "chosen_mm_token_type_ids" in it:
                row["mm_token_type_ids"] = it["chosen_mm_token_type_ids"]
            rows.append(row)
        frames = max((row["input_features"].shape[-1] for row in rows if "input_features" in row), default=0)
        for row in rows:  # Qwen3-Omni's mel features are as long as each audio: padded to the longest (mask 0)
            if "input_features" in row and row["input_features"].shape[-1] < frames:
                short = frames - row["input_features"].shape[-1]
                row["input_features"] = pad(row["input_features"], (0, short))
                row["feature_attention_mask"] = pad(row["feature_attention_mask"], (0, short))
        batch = self.collator(rows)  # the chosen rows and every pair's media, once
        rejected = {"input_ids": ([it["rejected_input_ids"] for it in items], self.collator.pad_id),
                    "labels": ([it["rejected_labels"] for it in items], IGNORE_INDEX),
                    "attention_mask": ([torch.ones(len(it["rejected_input_ids"]), dtype=torch.long)
                                        for it in items], 0)}
        if "mm_token_type_ids" in batch:
            rejected["mm_token_type_ids"] = ([it["rejected_mm_token_type_ids"] for it in items], 0)
        for key, (values, fill) in rejected.items():
            lower = pad_sequence(values, batch_first=True, padding_value=fill)
            upper = batch[key]
            length = max(upper.shape[1], lower.shape[1])
            batch[key] = torch.cat([pad(upper, (0, length - upper.shape[1]), value=fill),
                                    pad(lower, (0, length - lower.shape[1]), value=fill)])
        batch["pairs"] = len(items)
        if all("pair_index" in it for it in items):
            batch["pair_index"] = torch.tensor([it["pair_index"] for it in items])
        return batch


# --------------------------------------------------------------------------- the shared-media forward


@dataclass
class MediaEncodings:
    """The towers' outputs for the unique media of a batch, repeated for the rows that show them."""

    video: object | None = None  # the model's get_video_features output, per-video entries in row order
    audio: object | None = None  # the model's get_audio_features output, rows' audio tokens in row order
    videos: int = 0  # videos the vision tower encoded
    audios: int = 0  # audios the audio tower encoded


def model_parts(model):
    """``(transformers model, the multimodal or text model under its LM head)``, a peft / DDP wrapper
    looked through."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        model = model.module
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base, base.model


def _order(batch: dict) -> list[int]:
    pairs = int(batch["pairs"])
    return list(range(pairs)) * (batch["input_ids"].shape[0] // pairs)


def _split_patches(pixels: torch.Tensor, grid: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.split(pixels, grid.prod(-1).tolist()))


def encode_media(model, batch: dict) -> MediaEncodings:
    """Run the frozen towers once on the batch's unique media and repeat the outputs for its rows."""
    _, inner = model_parts(model)
    order = _order(batch)
    found = MediaEncodings()
    if batch.get("pixel_values_videos") is not None:
        out = inner.get_video_features(batch["pixel_values_videos"], batch["video_grid_thw"], return_dict=True)
        out.pooler_output = tuple(out.pooler_output[i] for i in order)
        if getattr(out, "deepstack_features", None) is not None:  # Qwen3: per layer, per video
            out.deepstack_features = [tuple(layer[i] for i in order) for layer in out.deepstack_features]
        found.video, found.videos = out, int(batch["video_grid_thw"].shape[0])
    if batch.get("input_features") is not None:
        out = inner.get_audio_features(batch["input_features"], batch["feature_attention_mask"], return_dict=True)
        pairs = int(batch["pairs"])
        counts = (batch["input_ids"][:pairs] == inner.config.audio_token_id).sum(-1).tolist()
        parts = torch.split(out.last_hidden_state, counts)
        out.last_hidden_state = torch.cat([parts[i] for i in order])
        found.audio, found.audios = out, pairs
    return found


def pair_model_inputs(batch: dict, *, shared: bool = True) -> dict:
    """The keywords of the multimodal model's forward for the batch's rows.

    ``shared``: each pair's per-video entries (grid, seconds per grid, audio mask) repeated for its rows,
    no pixels (the features come from :func:`encode_media`). ``shared=False``: the duplicated path,
    every row with its own copy of the pixels and mel features, as trl and LLaMA-Factory build them.
    """
    order = _order(batch)
    inputs = {key: batch[key] for key in ("input_ids", "attention_mask", "mm_token_type_ids") if key in batch}
    if batch.get("pixel_values_videos") is not None and "use_audio_in_video" in batch:
        inputs["use_audio_in_video"] = batch["use_audio_in_video"]
    for key in PER_VIDEO_KEYS:
        if batch.get(key) is not None:
            inputs[key] = batch[key][order]
    if not shared:
        if batch.get("pixel_values_videos") is not None:
            patches = _split_patches(batch["pixel_values_videos"], batch["video_grid_thw"])
            inputs["pixel_values_videos"] = torch.cat([patches[i] for i in order])
        if batch.get("input_features") is not None:
            inputs["input_features"] = batch["input_features"][order]
    elif batch.get("input_features") is not None:
        inputs["input_features"] = batch["input_features"]  # read by nobody: get_audio_features is answered
    return inputs


@contextlib.contextmanager
def _answered_audio(inner, encodings: MediaEncodings):
    """While it lasts, ``inner.get_audio_features`` returns the encodings' audio output."""
    if encodings.audio is None:
        yield
        return
    previous = inner.__dict__.get("get_audio_features")
    inner.get_audio_features = lambda *args, **kwargs: encodings.audio
    try:
        yield
    finally:
        if previous is None:
            del inner.get_audio_features
        else:
            inner.get_audio_features = previous


def pair_hidden_states(model, batch: dict, *, encodings: MediaEncodings | None = None,
                       shared: bool = True) -> torch.Tensor:
    """The last hidden states [rows, T, H] of the batch's rows.

    ``shared`` (default): the media features of :func:`encode_media` (computed here when not given)
    placed in both rows of each pair; ``shared=False``: the duplicated path, the towers run per row.
    """
    _, inner = model_parts(model)
    inputs = pair_model_inputs(batch, shared=shared)
    has_media = batch.get("pixel_values_videos") is not None or batch.get("input_features") is not None
    if not shared or not has_media:
        return inner(**inputs, use_cache=False).last_hidden_state
    if encodings is None:
        encodings = encode_media(model, batch)
    if encodings.video is not None:
        inputs["mm_encoder_outputs"] = {"video": encodings.video}
    with _answered_audio(inner, encodings):
        return inner(**inputs, use_cache=False).last_hidden_state
