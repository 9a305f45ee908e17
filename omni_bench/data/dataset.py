"""Training input: a torch ``Dataset`` of processor outputs with labels, and its collator.

:class:`OmniSFTDataset` turns :class:`~omni_bench.data.records.Record` s into what the Omni
thinker's ``forward`` takes. At construction every record passes the one record gate
(:class:`~omni_bench.data.validation.Gate`, the very check ``validate`` makes: the video probed
and planned, its first and last sampled frames and its audio track checked): the multi-turn
:class:`~omni_bench.data.samples.Sample` is fitted to ``max_total_tokens`` (None: the model's
context) and records that cannot make a sample (missing or unreadable video, no audio track when
audio is asked for, bad roles, an unresolved time token, a timestamp outside the video, over
budget...) are listed in ``dataset.dropped`` with validate's reason and message.
``dataset[i]`` then takes the media road (:mod:`omni_bench.layout.road`, as ``inspect`` and
``eval run`` do): it decodes exactly the planned frames and the video's own audio, calls
transformers' processor the way omni_bench always does (the fps actually sampled, audio from
the video) and adds labels on the expanded ids.

Item (one sample, ``L`` tokens; video keys absent for text-only records, audio keys absent
without audio)::

    input_ids [L], attention_mask [L], labels [L]  (int64; labels -100 off the replies)
    pixel_values_videos [patches, 1176], video_grid_thw [1, 3], video_second_per_grid [1]
    input_features [1, 128, 30000], feature_attention_mask [1, 30000]

:class:`OmniCollator` pads and concatenates items for transformers' ``Trainer``: input ids
with the pad token, attention mask with 0, labels with -100, on the right (training) or
the left (batched generation: the prompts' ends line up); media tensors are concatenated
along dim 0 in batch order (that is how the thinker consumes them: videos and audios are
matched to placeholders in order); ``use_audio_in_video=True`` is set when the items carry
their video's audio, so the forward computes TMRoPE position ids for the interleave. Mixing
items with and without audio in one batch is refused (the forward takes one flag per batch).
``collator.layouts(batch)`` gives the :class:`~omni_bench.layout.token_layout.TokenLayout` of each row.

Qwen2.5-VL processors work too (items keep the VL processor's keys, e.g.
``second_per_grid_ts``; no audio). Left out: images and several videos per record (planned
as "unsupported"), pre-extracted features. ``OmniCollator(..., packing=True)`` packs a batch's
items into rows (:mod:`omni_bench.data.packing`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.utils.data import Dataset

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.problems import Problem
from omni_bench.core.processor import load_processor, resolve_profile
from omni_bench.core.tokens import token_ids
from omni_bench.data.validation import Gate
from omni_bench.layout.arith import DEFAULT_FPS
from omni_bench.layout.labels import IGNORE_INDEX, assistant_labels
from omni_bench.layout.processor_call import layout_from_output
from omni_bench.layout.road import decode_media, process
from omni_bench.layout.settings import LayoutSettings
from omni_bench.layout.token_layout import LayoutStats, build_layout

__all__ = ["OmniSFTDataset", "OmniCollator", "PlannedSample"]

# Keys concatenated along dim 0 by the collator, in the order the forward consumes them.
_CAT_KEYS = ("pixel_values_videos", "video_grid_thw", "video_second_per_grid", "second_per_grid_ts",
             "pixel_values", "image_grid_thw", "input_features", "feature_attention_mask")


@dataclass(frozen=True)
class PlannedSample:
    """One dataset item before decoding: the record, its media and the fitted sample."""

    record: object  # the Record
    video: str | None  # resolved video path (None: text-only)
    info: object | None  # the video's VideoInfo (probe), None for text-only
    sample: object  # the Sample fitted to the budget from metadata
    media: object | None = None  # the video's MediaPlan (omni_bench.layout.road.plan_media), None for text-only


class OmniSFTDataset(Dataset):
    """Records -> processor outputs with labels, one multi-turn sample per video.

    >>> ds = OmniSFTDataset(load_records("data/longvale_sft.json"), media_root="data",
    ...                     settings=LayoutSettings(frames=4), max_total_tokens=4096)  # doctest: +SKIP
    >>> ds[0]["input_ids"].shape, len(ds.dropped)                                         # doctest: +SKIP

    records: :class:`~omni_bench.data.records.Record` s (see :func:`~omni_bench.data.records.load_records`).
    media_root: folder the records' media paths are relative to.
    settings: frame sampling, sizes, chunking, ``use_audio`` and the ``system`` prompt
        (``prompt`` / ``answer`` are not used: the text comes from the records).
    processor: transformers' processor (default: ``load_processor(settings.profile)``).
    max_total_tokens: budget for input + label tokens (None: the model's context, as ``validate``).
    """

    def __init__(self, records: Sequence, *, media_root: str | os.PathLike = ".",
                 settings: LayoutSettings | None = None, processor=None, max_total_tokens: int | None = None):
        self.settings = settings or LayoutSettings()
        self.processor = processor or load_processor(self.settings.profile)
        self.resolved = self.settings.resolve(resolve_profile(self.processor))
        self.profile = self.resolved.profile
        self.media_root = media_root
        self.gate = Gate(media_root=media_root, settings=self.settings, processor=self.processor,
                         max_total_tokens=max_total_tokens)
        self.max_total_tokens = self.gate.max_total_tokens  # None given: the model's context, as validate
        self.use_audio = self.resolved.use_audio
        self._last_decode = None  # (what was decoded, MediaInputs): a video asked several questions decodes once
        self.planned: list[PlannedSample] = []  # the samples items are made from
        self.dropped: list[Problem] = []  # records that make no sample, with the reason
        for record in records:
            try:
                self.planned.append(self._plan(record))
            except OmniBenchError as exc:
                self.dropped.append(Problem.from_error(record.id, exc))

    def _plan(self, record) -> PlannedSample:
        """The record through the one record gate (omni_bench.data.validation.Gate), as validate checks it."""
        checked = self.gate.check(record)
        if not checked.videos:
            return PlannedSample(checked.record, None, None, checked.sample)
        return PlannedSample(checked.record, checked.videos[0], checked.infos[0], checked.sample, checked.plans[0])

    def __len__(self) -> int:
        return len(self.planned)

    def sample(self, index: int):
        """The fitted :class:`~omni_bench.data.samples.Sample` of item ``index`` (metadata only)."""
        return self.planned[index].sample

    def _process(self, index: int):
        """Decode the planned media, fit exactly, run the processor (the media road's stages 3-4).

        Returns (output dict, labels, frame indices, processor fps)."""
        plan = self.planned[index]
        sample, media = plan.sample, None
        if plan.media is not None:
            media = self._decoded(plan)
            exact = (media.plan.span_tokens,)
            if exact != sample.media_tokens:  # the decoded audio differs from the container's length
                sample = self.gate.fit(plan.record, exact)
        text = self.processor.apply_chat_template(sample.messages(), tokenize=False)
        out = dict(process(text, media, self.processor))
        labels = assistant_labels(out["input_ids"][0].numpy(), token_ids(self.processor))
        if len(labels) != sample.input_tokens or int((labels != IGNORE_INDEX).sum()) != sample.label_tokens:
            raise RuntimeError(f"{plan.record.id}: counted {sample.input_tokens}/{sample.label_tokens} input/label "
                               f"tokens but the processor gave {len(labels)}/{int((labels != IGNORE_INDEX).sum())}")
        if media is None:
            return out, labels, (), None
        return out, labels, list(media.indices), media.processor_fps

    def _decoded(self, plan):
        """The planned media decoded (stage 3 of the road); the last decode is kept, so consecutive items of one
        video (an evaluation's questions about it) decode it once."""
        key = (plan.video, plan.media.frame_indices, plan.media.resized_hw, plan.media.use_audio)
        if self._last_decode is None or self._last_decode[0] != key:
            self._last_decode = None  # the previous video's frames go before the next are decoded
            self._last_decode = (key, decode_media(plan.media, self.resolved))
        return self._last_decode[1]

    def forget_decode(self) -> None:
        """Drop the kept decode: the next item decodes its media again (the benchmarks time one per step)."""
        self._last_decode = None

    def __getitem__(self, index: int) -> dict:
        out, labels, _, _ = self._process(index)
        item = {"input_ids": out["input_ids"][0], "attention_mask": out["attention_mask"][0],
                "labels": torch.from_numpy(labels)}
        if "mm_token_type_ids" in out:  # Qwen3-VL: the per-token modality its rope reads
            item["mm_token_type_ids"] = torch.as_tensor(out["mm_token_type_ids"][0])
        for key in _CAT_KEYS:
            if key in out and out[key] is not None:
                value = out[key]
                item[key] = value if torch.is_tensor(value) else torch.as_tensor(value)
        return item

    def layout(self, index: int):
        """The :class:`~omni_bench.layout.token_layout.TokenLayout` of item ``index``
        (the "Omni Batch Debug" report)."""
        plan = self.planned[index]
        out, labels, indices, fps = self._process(index)
        if plan.video is None:
            stats = LayoutStats(input_ids_shape=tuple(out["input_ids"].shape),
                                attention_mask_shape=tuple(out["attention_mask"].shape),
                                labels_shape=tuple(out["input_ids"].shape),
                                label_tokens=int((labels != IGNORE_INDEX).sum()))
            return build_layout(out["input_ids"][0].numpy(), labels, self.processor.tokenizer,
                                token_ids(self.processor), stats, source="processor", profile=self.settings.profile,
                                media=None, notes=[])
        return layout_from_output(out, self.processor, self.resolved, info=plan.info, indices=indices,
                                  processor_fps=fps, use_audio=self.use_audio, source="processor")


def _trim_audio(batch: dict) -> None:
    # cut the audio features to the longest valid mel length in the batch (the thinker reads only those)
    longest = int(batch["feature_attention_mask"].sum(-1).max())
    batch["input_features"] = batch["input_features"][..., :longest].contiguous()
    batch["feature_attention_mask"] = batch["feature_attention_mask"][:, :longest].contiguous()


class OmniCollator:
    """Pad and concatenate :class:`OmniSFTDataset` items into a batch for the Omni thinker.

    >>> collator = OmniCollator(processor)                      # doctest: +SKIP
    >>> batch = collator([dataset[0], dataset[1]])              # doctest: +SKIP
    >>> model(**batch).loss                                     # doctest: +SKIP

    processor: the processor the items came from (pad id, layouts).
    padding_side: "right" (training: the default) or "left" (batched generation).
    trim_audio: cut ``input_features`` / ``feature_attention_mask`` to the longest valid
        mel length in the batch instead of the processor's 30,000 frames. The thinker only
        reads the valid frames (``feature_attention_mask``), so the forward is the same and
        a 15 MB-per-item tensor shrinks to what is used.
    settings: chunking settings used by :meth:`layouts` (default: ``LayoutSettings()``).
    packing: concatenate the items into rows of at most ``max_total_tokens`` (first-fit
        decreasing) with transformers' packed ``position_ids [4, rows, L]``
        (:mod:`omni_bench.data.packing`); ``rope`` gives the model's rope values (default: the
        processor's profile). Train on such batches through :mod:`omni_bench.training.packed`.
    """

    def __init__(self, processor, padding_side: str = "right", *, trim_audio: bool = True,
                 settings: LayoutSettings | None = None, packing: bool = False,
                 max_total_tokens: int | None = None, rope=None):
        if padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
        self.processor = processor
        self.padding_side = padding_side
        self.trim_audio = trim_audio
        self.settings = settings or LayoutSettings()
        self.pad_id = token_ids(processor).pad
        self.packing = packing
        self.max_total_tokens = max_total_tokens
        self.rope = rope
        self.last_rows: list[list[int]] = []  # packing: the item indices of each row of the last batch
        if packing and rope is None:
            from omni_bench.data.packing import RopeConfig

            self.rope = RopeConfig.of_profile(self._resolved().profile)

    def _resolved(self):
        return self.settings.resolve(resolve_profile(self.processor))

    def _pad(self, rows, value: int):
        length = max(len(r) for r in rows)
        out = torch.full((len(rows), length), value, dtype=rows[0].dtype)
        for i, row in enumerate(rows):
            if self.padding_side == "right":
                out[i, :len(row)] = row
            else:
                out[i, length - len(row):] = row
        return out

    def __call__(self, items: Sequence[dict]) -> dict:
        if not items:
            raise ValueError("an empty batch")
        if self.packing:
            return self._packed(items)
        batch = {"input_ids": self._pad([it["input_ids"] for it in items], self.pad_id),
                 "attention_mask": self._pad([it["attention_mask"] for it in items], 0),
                 "labels": self._pad([it["labels"] for it in items], IGNORE_INDEX)}
        if all("mm_token_type_ids" in it for it in items):
            batch["mm_token_type_ids"] = self._pad([it["mm_token_type_ids"] for it in items], 0)
        with_audio = [("input_features" in it) for it in items]
        with_video = [("pixel_values_videos" in it) for it in items]
        if any(with_audio) and not all(with_audio):
            raise ValueError("a batch mixes items with and without audio; the Omni forward takes one "
                             "use_audio_in_video flag per batch (group items by audio, or use --no-audio)")
        for key in _CAT_KEYS:
            values = [it[key] for it in items if key in it]
            if values:
                batch[key] = torch.cat(values, dim=0)
        if "input_features" in batch and self.trim_audio:
            _trim_audio(batch)
        if self._resolved().family.has_audio:  # TMRoPE needs to know whether the audio is interleaved
            batch["use_audio_in_video"] = all(with_audio) and all(with_video)
        return batch

    def _packed(self, items: Sequence[dict]) -> dict:
        from omni_bench.data.packing import pack_items

        with_audio = [("input_features" in it) for it in items]
        if any(with_audio) and not all(with_audio):
            raise ValueError("a batch mixes items with and without audio; the Omni forward takes one "
                             "use_audio_in_video flag per batch (group items by audio, or use --no-audio)")
        self.last_rows = []
        batch = pack_items(items, ids=token_ids(self.processor), rope=self.rope, capacity=self.max_total_tokens,
                           pad_id=self.pad_id, cat_keys=_CAT_KEYS, rows_out=self.last_rows)
        if "input_features" in batch and self.trim_audio:
            _trim_audio(batch)
        if self._resolved().family.has_audio:
            batch["use_audio_in_video"] = all(with_audio) and all("pixel_values_videos" in it for it in items)
        return batch

    def layouts(self, batch: dict) -> list:
        """The :class:`~omni_bench.layout.token_layout.TokenLayout` of every row of a batch made by this collator."""
        ids = token_ids(self.processor)
        resolved = self._resolved()
        profile = resolved.profile
        use_audio = bool(batch.get("use_audio_in_video", False))
        grids = batch.get("video_grid_thw")
        video_at = patch_at = audio_at = 0
        out_layouts = []
        for row in range(batch["input_ids"].shape[0]):
            keep = batch["attention_mask"][row].bool()
            input_ids = batch["input_ids"][row][keep]
            labels = batch["labels"][row][keep].numpy()
            arr = input_ids.numpy()
            videos = int(np.isin(arr[np.flatnonzero(arr == ids.vision_bos)[:, None] + 1],
                                 [ids.video] + ([ids.audio_bos] if ids.audio_bos is not None else [])).sum()) \
                if (arr == ids.vision_bos).any() else 0
            if videos == 0 or grids is None:
                stats = LayoutStats(input_ids_shape=(1, len(arr)), attention_mask_shape=(1, len(arr)),
                                    labels_shape=(1, len(arr)), label_tokens=int((labels != IGNORE_INDEX).sum()))
                out_layouts.append(build_layout(arr, labels, self.processor.tokenizer, ids, stats, source="batch",
                                                profile=self.settings.profile, media=None, notes=[]))
                continue
            row_grids = grids[video_at:video_at + videos]
            patches = int(row_grids.prod(-1).sum())
            out = {"input_ids": input_ids[None], "attention_mask": batch["attention_mask"][row][keep][None],
                   "video_grid_thw": row_grids,
                   "pixel_values_videos": batch["pixel_values_videos"][patch_at:patch_at + patches]}
            if use_audio:
                out["input_features"] = batch["input_features"][audio_at:audio_at + videos]
                out["feature_attention_mask"] = batch["feature_attention_mask"][audio_at:audio_at + videos]
                audio_at += videos
            key = resolved.family.second_per_grid_key
            second = float(batch[key][video_at]) if key in batch else None
            fps = profile.temporal_patch_size / second if second else (resolved.processor_fps or DEFAULT_FPS)
            video_at += videos
            patch_at += patches
            layout = layout_from_output(out, self.processor, resolved, info=None, indices=(),
                                        processor_fps=fps, use_audio=use_audio, source="batch")
            # A batch does not carry the sampled fps; the report needs one, so show the fps the processor got.
            stats = replace(layout.stats, sampled_fps=fps)
            notes = (*layout.notes, "from a batch: 'fps sampled' is the fps handed to the processor")
            out_layouts.append(replace(layout, stats=stats, notes=notes))
        return out_layouts
