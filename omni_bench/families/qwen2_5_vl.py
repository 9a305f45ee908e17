"""Qwen2.5-VL: frames only (no audio), MRoPE with absolute time from second_per_grid_ts.

Its 3-D rope positions, under transformers 5.23's rule and under Qwen's training code's: both
rules give text one position per token (the same in all three rows) and give a video
token of temporal grid step ``k``, merged row ``i`` and column ``j`` the positions
``start + (int(k * second_per_grid * tokens_per_second), i, j)``, computed in float32 and
truncated, where ``start`` is the position right after the preceding text. An image is a
video of one step (temporal 0). They differ in where the text AFTER a video resumes:

* ``"transformers"`` (5.23's ``Qwen2_5_VLModel.get_rope_index``): at ``start + max(h, w) / 2``
  (merged rows / columns), whatever the video's temporal extent;
* ``"training"`` (qwen-vl-finetune's ``rope2d.get_rope_index_25``, the rule the checkpoints
  were fine-tuned with): at one past the video's largest position in any row.

When a video's temporal ids run past ``max(h, w) / 2`` - any clip longer than a few seconds
per grid step - transformers' following text reuses positions the video already holds:
:func:`rope_report` counts them per video (``reused``) and in all (``overlap``). A 16-frame,
79 s, 640x360 clip planned for Qwen2.5-VL-7B (grid 8 x 26 x 46, 9.875 s per grid step, 2 ids
per second) has its last step at ``start + 138``; 5.23 resumes the text at ``start + 23``, the
training code at ``start + 139``: 116 positions reused.

Not covered: Qwen2-VL (no absolute time), layouts whose videos were handed over with
different fps (one ``second_per_grid`` per layout), images inside a :class:`TokenLayout`
(``vl_rope_index`` takes them).

(:mod:`omni_bench.layout.rope` is this rope's old home and re-exports it.) Its chunk alignment
report is Qwen2.5's (:mod:`omni_bench.families.qwen2_5_alignment`).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np

from omni_bench.core.profiles import PROFILES
from omni_bench.families import qwen2_5_alignment
from omni_bench.families.base import TINY, Family

__all__ = ["QWEN2_5_VL", "RULES", "VideoRope", "RopeReport", "vl_rope_index", "vl_rope_positions", "rope_report"]


@dataclass(frozen=True)
class _Qwen25VL(Family):
    def build_processor(self, profile, *, image_processor, video_processor, tokenizer, chat_template):
        from transformers import Qwen2_5_VLProcessor

        return Qwen2_5_VLProcessor(image_processor=image_processor, video_processor=video_processor,
                                   tokenizer=tokenizer, chat_template=chat_template)

    def tiny_config(self, profile, *, text: dict, vision: dict, hidden: int):
        from transformers import Qwen2_5_VLConfig

        tokens = profile.special_tokens
        return Qwen2_5_VLConfig(
            text_config=text, vision_config={**vision, "hidden_size": TINY["vision_hidden"]},
            image_token_id=tokens["<|image_pad|>"], video_token_id=tokens["<|video_pad|>"],
            vision_start_token_id=tokens["<|vision_start|>"], vision_end_token_id=tokens["<|vision_end|>"],
            tie_word_embeddings=False,
        )

    def tiny_model_class(self):
        from transformers import Qwen2_5_VLForConditionalGeneration

        return Qwen2_5_VLForConditionalGeneration

    def load_checkpoint(self, path: str, model_type: str, dtype):
        from transformers import Qwen2_5_VLForConditionalGeneration

        return Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=dtype)

    def processor_kwargs(self, settings, *, frames_count: int, processor_fps: float, audio,
                         **_) -> dict:
        # Qwen2.5-VL's processor ignores videos_kwargs["fps"]: it takes second_per_grid_ts from
        # the video metadata's sampled fps (24 when there is none). Metadata with fps=F and no
        # frame indices makes its sampled fps exactly F.
        from transformers.video_utils import VideoMetadata

        metadata = VideoMetadata(total_num_frames=frames_count, fps=float(processor_fps))
        return {"videos_kwargs": {"video_metadata": [metadata]}}

    def alignment(self, layout, *, search=None):
        # Qwen2.5's per-chunk report (its rows are grid steps when no audio is interleaved)
        return qwen2_5_alignment.alignment(layout, search=search)

    def packed_positions(self, item: dict, ids, rope):
        # transformers 5.23's MRoPE from the item's grids and second_per_grid_ts
        seconds = item["second_per_grid_ts"].tolist() if "second_per_grid_ts" in item else None
        grids = item["video_grid_thw"].tolist() if "video_grid_thw" in item else []
        return vl_rope_index(item["input_ids"].numpy(), image_token=ids.image, video_token=ids.video,
                             video_grid_thw=grids, second_per_grid_ts=seconds,
                             tokens_per_second=rope.tokens_per_second, merge_size=rope.merge_size)

    def chunking(self, settings) -> dict:
        return {}


QWEN2_5_VL = _Qwen25VL(
    key="vl", title="Qwen2.5-VL", default_profile="qwen2.5-vl-7b",
    processor_classes=("Qwen2_5_VLProcessor",), model_types=("qwen2_5_vl",), has_audio=False,
    second_per_grid_key="second_per_grid_ts", packing=True,
)


RULES = {
    "transformers": "transformers 5.23 get_rope_index: text after a video resumes at its start + max(h, w) / 2",
    "training": "Qwen's training code (qwen-vl-finetune get_rope_index_25): text after a video resumes "
                "one past the video's largest position",
}


@dataclass(frozen=True)
class VideoRope:
    """Where one video's positions start and end, and where each rule resumes the text after it."""

    index: int  # video number in the sequence
    start: int  # position of its first token (all three rows)
    temporal_max: int  # largest temporal position it holds
    largest: int  # largest position in any row
    next_transformers: int  # first position of the following text under 5.23's rule
    next_training: int  # ... under the training code's rule (largest + 1)
    reused: int  # positions in [next_transformers, largest] that 5.23's following text reuses


@dataclass(frozen=True)
class RopeReport:
    """Both rules and the overlap of a VL layout. ``str()`` is the report block, ``to_dict()`` the JSON."""

    tokens_per_second: float  # temporal ids per second (the checkpoint's vision_config value)
    videos: tuple[VideoRope, ...]
    rule: str = "transformers"  # the rule the layout's model applies

    @property
    def overlap(self) -> int:
        """Positions transformers' rule lets text reuse, over all videos."""
        return sum(v.reused for v in self.videos)

    def to_dict(self) -> dict:
        return {"rules": dict(RULES), "tokens_per_second": self.tokens_per_second, "overlap": self.overlap,
                "videos": [asdict(v) for v in self.videos]}

    def __str__(self) -> str:
        lines = ["[Rope]", f"transformers 5.23: {RULES['transformers'].split(': ', 1)[1]}",
                 f"training code:     {RULES['training'].split(': ', 1)[1]}"]
        for v in self.videos:
            lines.append(f"video {v.index}: positions {v.start}..{v.largest} (temporal up to {v.temporal_max}); "
                         f"next text at {v.next_transformers} (5.23) vs {v.next_training} (training): "
                         f"{v.reused} position(s) reused")
        lines.append(f"overlap: {self.overlap} position(s) the text after a video shares with the video in 5.23"
                     + ("" if self.overlap else " (none)"))
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


def _media_block(start: int, grid, interval, merge_size: int) -> np.ndarray:
    # positions [3, t*h*w] of one image / video: temporal int(k * interval) in float32, rows, columns
    t, h, w = (int(x) for x in grid)
    lh, lw = h // merge_size, w // merge_size
    if interval is None:  # an image, or integer arithmetic
        steps = np.zeros(t, dtype=np.int64)
    else:
        steps = (np.arange(t, dtype=np.float32) * np.float32(interval)).astype(np.int64)
    block = np.stack([np.repeat(steps, lh * lw), np.tile(np.repeat(np.arange(lh), lw), t),
                      np.tile(np.arange(lw), t * lh)])
    return block + start


def _runs(input_ids: np.ndarray, image_token: int, video_token: int) -> list[tuple[int, int, int]]:
    # (kind, start, end) of maximal runs: 0 text, 1 image tokens, 2 video tokens
    kinds = np.where(input_ids == image_token, 1, np.where(input_ids == video_token, 2, 0))
    edges = np.flatnonzero(np.diff(kinds)) + 1
    bounds = [0, *edges.tolist(), len(kinds)]
    return [(int(kinds[a]), a, b) for a, b in itertools.pairwise(bounds) if b > a]


def vl_rope_index(input_ids, *, image_token: int, video_token: int, image_grid_thw=(), video_grid_thw=(),
                  second_per_grid_ts=None, tokens_per_second: float = 2, merge_size: int = 2,
                  rule: str = "transformers", videos_out: list | None = None) -> np.ndarray:
    """The [3, seq] positions of one sequence under ``rule`` ("transformers" or "training").

    ``second_per_grid_ts``: seconds per temporal grid step of each video (None: 1 s each, as
    5.23 assumes). ``videos_out``, if given, receives one :class:`VideoRope` per video.
    >>> ids = [1, 7, 7, 7, 7, 7, 7, 7, 7, 2, 3]          # text, a 2x(2x2 merged) video, text
    >>> vl_rope_index(ids, image_token=6, video_token=7, video_grid_thw=[(2, 4, 4)],
    ...               second_per_grid_ts=[5.0])[0].tolist()
    [0, 1, 1, 1, 1, 11, 11, 11, 11, 3, 4]
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    arr = np.asarray(input_ids, dtype=np.int64)
    grids = {1: iter(image_grid_thw), 2: iter(video_grid_thw)}
    spg = iter(second_per_grid_ts) if second_per_grid_ts is not None else None
    pieces, pos, video_index = [], 0, 0
    for kind, lo, hi in _runs(arr, image_token, video_token):
        if kind == 0:
            pieces.append(np.broadcast_to(np.arange(hi - lo) + pos, (3, hi - lo)))
            pos += hi - lo
            continue
        try:
            grid = next(grids[kind])
        except StopIteration:
            raise ValueError(f"more {'image' if kind == 1 else 'video'} spans than grids") from None
        interval = None
        if kind == 2:
            seconds = next(spg) if spg is not None else 1.0  # 5.23 assumes 1 s per grid step without it
            interval = np.float32(tokens_per_second) * np.float32(seconds)
        block = _media_block(pos, grid, interval, merge_size)
        if block.shape[1] != hi - lo:
            raise ValueError(f"a span of {hi - lo} media tokens does not match grid {tuple(grid)}")
        pieces.append(block)
        resume_transformers = pos + max(int(grid[1]), int(grid[2])) // merge_size
        largest = int(block.max())
        nxt = resume_transformers if rule == "transformers" else largest + 1
        if kind == 2 and videos_out is not None:
            videos_out.append(VideoRope(video_index, pos, int(block[0].max()), largest, resume_transformers,
                                        largest + 1, max(0, largest + 1 - resume_transformers)))
        video_index += kind == 2
        pos = nxt
    return np.concatenate(pieces, axis=1) if pieces else np.zeros((3, 0), dtype=np.int64)


def _tokens_per_second(layout) -> float:
    profile = PROFILES.get(str(layout.profile).lower())
    return float(profile.tokens_per_second) if profile is not None else 2.0


def vl_rope_positions(layout, *, rule: str = "transformers", tokens_per_second: float | None = None,
                      videos_out: list | None = None) -> np.ndarray:
    """:func:`vl_rope_index` of a Qwen2.5-VL :class:`~omni_bench.layout.token_layout.TokenLayout`.

    ``tokens_per_second`` defaults to the layout's profile (2 for the released checkpoints).
    """
    ids = layout.extra.get("token_ids")
    if ids is None or ids.audio is not None:
        raise ValueError("vl_rope_positions covers Qwen2.5-VL layouts; this layout is not one")
    s = layout.stats
    grids = s.video_grid_thw
    merge = int(round(np.sqrt(grids[0][1] * grids[0][2] // s.tokens_per_grid))) if grids and s.tokens_per_grid else 2
    spg = [s.second_per_grid] * len(grids) if s.second_per_grid else None
    tps = _tokens_per_second(layout) if tokens_per_second is None else tokens_per_second
    return vl_rope_index(layout.input_ids, image_token=ids.image, video_token=ids.video, video_grid_thw=grids,
                         second_per_grid_ts=spg, tokens_per_second=tps, merge_size=merge, rule=rule,
                         videos_out=videos_out)


def rope_report(layout, *, tokens_per_second: float | None = None) -> RopeReport | None:
    """Both rules and the overlap for a VL layout with a video (None for any other layout)."""
    ids = layout.extra.get("token_ids")
    if ids is None or ids.audio is not None or not layout.stats.video_grid_thw:
        return None
    profile = PROFILES.get(str(layout.profile).lower())
    if profile is not None and profile.family != "vl":  # Qwen3-VL: its own rule (qwen3_rope)
        return None
    videos: list[VideoRope] = []
    tps = _tokens_per_second(layout) if tokens_per_second is None else tokens_per_second
    vl_rope_positions(layout, tokens_per_second=tps, videos_out=videos)
    return RopeReport(float(tps), tuple(videos))
