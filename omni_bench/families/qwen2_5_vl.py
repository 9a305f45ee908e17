"""Qwen2.5-VL: frames only (no audio), MRoPE with absolute time from second_per_grid_ts."""

from __future__ import annotations

from dataclasses import dataclass

from omni_bench.families.base import Family

__all__ = ["QWEN2_5_VL"]


@dataclass(frozen=True)
class _Qwen25VL(Family):
    def build_processor(self, profile, *, image_processor, video_processor, tokenizer, chat_template):
        from transformers import Qwen2_5_VLProcessor

        return Qwen2_5_VLProcessor(image_processor=image_processor, video_processor=video_processor,
                                   tokenizer=tokenizer, chat_template=chat_template)

    def tiny_config(self, profile, *, text: dict, vision: dict, hidden: int):
        from transformers import Qwen2_5_VLConfig

        from omni_bench.core.models import TINY

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

    def chunking(self, settings) -> dict:
        return {}


QWEN2_5_VL = _Qwen25VL(
    key="vl", title="Qwen2.5-VL", default_profile="qwen2.5-vl-7b",
    processor_classes=("Qwen2_5_VLProcessor",), model_types=("qwen2_5_vl",), has_audio=False,
    second_per_grid_key="second_per_grid_ts",
)
