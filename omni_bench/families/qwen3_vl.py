"""Qwen3-VL: frames only, a text timestamp before every temporal grid step, a volume pixel budget.

The rules, as transformers 5.23 implements them (``models/qwen3_vl``):

* ``Qwen3VLProcessor.replace_video_token`` expands the template's one ``<|video_pad|>`` into,
  per temporal grid step, the text ``<{t:.1f} seconds>`` then ``<|vision_start|>``, the
  step's ``h*w/4`` video tokens and ``<|vision_end|>``; so the template's own
  ``<|vision_start|>`` / ``<|vision_end|>`` wrap the whole run;
* ``Qwen3VLProcessor._calculate_timestamps``: the sampled frame indices padded to a multiple
  of ``temporal_patch_size`` with the last index, each divided by the video's native fps
  (``VideoMetadata.fps``; 24 when unknown), averaged over the first and last frame of each
  step;
* ``video_processing_qwen3_vl.smart_resize``: sides rounded to multiples of 32 (patch 16 x
  merge 2) under a budget over ``frames * h * w`` (``size.longest_edge`` / ``shortest_edge``
  of the whole volume, not per frame);
* positions: ``Qwen3VLModel.get_rope_index`` gives every grid step its own temporal id run
  (time lives in the timestamp text, not in the rope), driven by ``mm_token_type_ids``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from omni_bench.families.base import TINY, Family

__all__ = ["QWEN3_VL", "grid_timestamps", "timestamp_text", "timestamp_tokens", "volume_resize"]


def grid_timestamps(indices, native_fps: float, temporal_patch_size: int = 2) -> list[float]:
    """Seconds the processor writes before each grid step (see module docstring).

    >>> grid_timestamps([0, 12, 25, 37], 25.0)
    [0.24, 1.24]
    """
    fps = 24.0 if native_fps is None else float(native_fps)
    frames = [int(i) for i in indices]
    if frames and len(frames) % temporal_patch_size:
        frames += [frames[-1]] * (temporal_patch_size - len(frames) % temporal_patch_size)
    times = [i / fps for i in frames]
    return [(times[k] + times[k + temporal_patch_size - 1]) / 2 for k in range(0, len(times), temporal_patch_size)]


def timestamp_text(seconds: float) -> str:
    """``timestamp_text(0.24) -> '<0.2 seconds>'`` (one decimal, as the processor formats it)."""
    return f"<{seconds:.1f} seconds>"


def timestamp_tokens(seconds: float) -> int:
    """Qwen tokens of :func:`timestamp_text`: "<", one per digit, ".", " seconds", ">".

    >>> timestamp_tokens(0.24), timestamp_tokens(128.0)
    (6, 8)
    """
    return 4 + sum(c.isdigit() for c in f"{seconds:.1f}")


def volume_resize(frames: int, height: int, width: int, *, min_pixels: int, max_pixels: int, factor: int = 32,
                  temporal_factor: int = 2) -> tuple[int, int]:
    """(h, w) of Qwen3-VL's video resize: a pixel budget over the whole ``frames * h * w`` volume.

    Written from ``transformers.models.qwen3_vl.video_processing_qwen3_vl.smart_resize``
    (5.23); ``tests/test_qwen3_vl.py`` checks it against that function.

    >>> volume_resize(8, 360, 640, min_pixels=4096, max_pixels=25165824)
    (352, 640)
    """
    if frames < temporal_factor:
        raise ValueError(f"{frames} frames: fewer than the temporal patch ({temporal_factor})")
    if height < factor or width < factor:
        scale = max(factor / height, factor / width)
        height, width = int(height * scale), int(width * scale)
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio {max(height, width) / min(height, width):g} is over 200")
    h_bar, w_bar = round(height / factor) * factor, round(width / factor) * factor
    t_bar = round(frames / temporal_factor) * temporal_factor
    if t_bar * h_bar * w_bar > max_pixels:
        beta = math.sqrt(frames * height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif t_bar * h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (frames * height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


@dataclass(frozen=True)
class _Qwen3VL(Family):
    def video_processor(self, profile, common: dict):
        from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

        extra = profile.extra
        return Qwen3VLVideoProcessor(
            size={"shortest_edge": profile.video_min_pixels, "longest_edge": profile.video_max_pixels},
            fps=extra["fps"], min_frames=extra["min_frames"], max_frames=extra["max_frames"], **common)

    def build_processor(self, profile, *, image_processor, video_processor, tokenizer, chat_template):
        from transformers import Qwen3VLProcessor

        return Qwen3VLProcessor(image_processor=image_processor, video_processor=video_processor,
                                tokenizer=tokenizer, chat_template=chat_template)

    def tiny_config(self, profile, *, text: dict, vision: dict, hidden: int):
        from transformers import Qwen3VLConfig

        tokens = profile.special_tokens
        text = {**text, "head_dim": text["hidden_size"] // text["num_attention_heads"]}
        text["rope_parameters"] = {**text["rope_parameters"], "mrope_interleaved": True}
        vision = dict(depth=TINY["vision_depth"], hidden_size=TINY["vision_hidden"], intermediate_size=64,
                      num_heads=2, patch_size=profile.patch_size, spatial_merge_size=profile.merge_size,
                      temporal_patch_size=profile.temporal_patch_size, out_hidden_size=hidden,
                      num_position_embeddings=64, deepstack_visual_indexes=[0])
        return Qwen3VLConfig(text_config=text, vision_config=vision, image_token_id=tokens["<|image_pad|>"],
                             video_token_id=tokens["<|video_pad|>"],
                             vision_start_token_id=tokens["<|vision_start|>"],
                             vision_end_token_id=tokens["<|vision_end|>"],
                             tie_word_embeddings=profile.tie_word_embeddings)

    def tiny_model_class(self):
        from transformers import Qwen3VLForConditionalGeneration

        return Qwen3VLForConditionalGeneration

    def load_checkpoint(self, path: str, model_type: str, dtype):
        from transformers import Qwen3VLForConditionalGeneration

        return Qwen3VLForConditionalGeneration.from_pretrained(path, dtype=dtype)

    def processor_kwargs(self, settings, *, frames_count: int, processor_fps: float, audio,
                         indices=None, native_fps: float | None = None) -> dict:
        # The timestamps come from the metadata's frame indices and native fps; without them
        # (frames given without their video) the processor's own rule applies: indices
        # 0..n-1 at processor_fps.
        from transformers.video_utils import VideoMetadata

        chosen = list(range(frames_count)) if indices is None else [int(i) for i in indices]
        fps = float(processor_fps if native_fps is None else native_fps)
        metadata = VideoMetadata(total_num_frames=frames_count, fps=fps, frames_indices=chosen)
        return {"videos_kwargs": {"video_metadata": [metadata]}}

    def chunking(self, settings) -> dict:
        return {}

    def resized_size(self, info, settings, frames: int) -> tuple[int, int]:
        p = settings.profile
        return volume_resize(frames, info.height, info.width, min_pixels=settings.min_pixels,
                             max_pixels=settings.max_pixels, factor=p.factor, temporal_factor=p.temporal_patch_size)

    def timestamps(self, mp) -> tuple[float, ...]:
        return tuple(grid_timestamps(mp.frame_indices, mp.info.native_fps, mp.profile.temporal_patch_size))

    def vision_runs(self, mp) -> tuple[tuple[str, int], ...]:
        _, h, w = mp.grid
        return tuple(("VIDEO", h * w // mp.profile.merge_size ** 2) for _ in range(mp.grid[0]))

    def span_tokens(self, mp) -> int:
        _, h, w = mp.grid
        per_step = h * w // mp.profile.merge_size ** 2 + 2  # the step's tokens and its vision pair
        return sum(timestamp_tokens(t) + per_step for t in self.timestamps(mp))

    def written_timestamps(self, input_ids, tokenizer, ids) -> tuple[float, ...]:
        text = tokenizer.decode([int(t) for t in input_ids], skip_special_tokens=False)
        return tuple(float(x) for x in _WRITTEN.findall(text))

    def expansion(self, mp, ids, tokenizer) -> list[int]:
        _, h, w = mp.grid
        step = [ids.vision_bos, *[ids.video] * (h * w // mp.profile.merge_size ** 2), ids.vision_eos]
        body: list[int] = []
        for seconds in self.timestamps(mp):
            body += [*_text_ids(tokenizer, timestamp_text(seconds)), *step]
        return body


_WRITTEN = re.compile(r"<(\d+\.\d) seconds><\|vision_start\|>")


def _text_ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


QWEN3_VL = _Qwen3VL(
    key="qwen3-vl", title="Qwen3-VL", default_profile="qwen3-vl-8b", processor_classes=("Qwen3VLProcessor",),
    model_types=("qwen3_vl",), has_audio=False, second_per_grid_key="video_second_per_grid",
    chunk_alignment=False,  # no 2 s chunks: time is in the timestamp text
)
