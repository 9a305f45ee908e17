"""Qwen2.5-Omni: the thinker (text out), its own audio track interleaved with the frames (TMRoPE)."""

from __future__ import annotations

from dataclasses import dataclass

from omni_bench.core import arith
from omni_bench.families import qwen2_5_alignment
from omni_bench.families.base import TINY, Family, whisper_feature_extractor

__all__ = ["QWEN2_5_OMNI"]


@dataclass(frozen=True)
class _Qwen25Omni(Family):
    def build_processor(self, profile, *, image_processor, video_processor, tokenizer, chat_template):
        from transformers import Qwen2_5OmniProcessor

        feature_extractor = whisper_feature_extractor(profile)
        return Qwen2_5OmniProcessor(image_processor=image_processor, video_processor=video_processor,
                                    feature_extractor=feature_extractor, tokenizer=tokenizer,
                                    chat_template=chat_template)

    def tiny_config(self, profile, *, text: dict, vision: dict, hidden: int):
        from transformers import Qwen2_5OmniThinkerConfig

        audio = dict(num_mel_bins=profile.mel_bins, encoder_layers=TINY["audio_layers"], encoder_attention_heads=2,
                     encoder_ffn_dim=64, d_model=TINY["audio_d_model"], output_dim=hidden,
                     max_source_positions=1500, n_window=100)
        tokens = profile.special_tokens
        return Qwen2_5OmniThinkerConfig(
            audio_config=audio, vision_config=vision, text_config=text,
            audio_token_index=tokens["<|AUDIO|>"], image_token_index=tokens["<|IMAGE|>"],
            video_token_index=tokens["<|VIDEO|>"], audio_start_token_id=tokens["<|audio_bos|>"],
            audio_end_token_id=tokens["<|audio_eos|>"], vision_start_token_id=tokens["<|vision_bos|>"],
            position_id_per_seconds=int(profile.position_id_per_seconds),
            seconds_per_chunk=int(profile.seconds_per_chunk), user_token_id=profile.user_token_id,
        )

    def tiny_model_class(self):
        from transformers import Qwen2_5OmniThinkerForConditionalGeneration

        return Qwen2_5OmniThinkerForConditionalGeneration

    def load_checkpoint(self, path: str, model_type: str, dtype):
        import transformers

        if model_type == "qwen2_5_omni":  # the full Omni model: the thinker only (no talker, no token2wav)
            full = transformers.Qwen2_5OmniForConditionalGeneration
            return full.from_pretrained(path, dtype=dtype, enable_audio_output=False).thinker
        return transformers.Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(path, dtype=dtype)

    def processor_kwargs(self, settings, *, frames_count: int, processor_fps: float, audio,
                         **_) -> dict:
        # the Omni processor reads videos_kwargs["fps"]; it interleaves with the chunk settings
        kwargs: dict = {"videos_kwargs": {}, "seconds_per_chunk": float(settings.seconds_per_chunk),
                        "position_id_per_seconds": settings.position_id_per_seconds}
        if audio is not None:
            kwargs.update(audio=[audio], audio_from_video_indices=[0], load_audio_from_video=True)
        return kwargs

    def alignment(self, layout, *, search=None):
        # Qwen2.5's per-chunk report (its rows are grid steps when no audio is interleaved)
        return qwen2_5_alignment.alignment(layout, search=search)

    def packed_positions(self, item: dict, ids, rope):
        # TMRoPE from the item's own grids, seconds per grid and audio lengths (the model's chunking)
        seconds = item["video_second_per_grid"].tolist() if "video_second_per_grid" in item else []
        audio = [arith.audio_tokens(int(n)) for n in item["feature_attention_mask"].sum(-1)] \
            if "feature_attention_mask" in item else []
        grids = item["video_grid_thw"].tolist() if "video_grid_thw" in item else []
        return qwen2_5_alignment.omni_positions(item["input_ids"].numpy(), ids, grids, seconds, audio, rope=rope)

    def chunking(self, settings) -> dict:
        return {"seconds_per_chunk": float(settings.seconds_per_chunk),
                "position_id_per_seconds": float(settings.position_id_per_seconds)}


QWEN2_5_OMNI = _Qwen25Omni(
    key="omni", title="Qwen2.5-Omni", default_profile="qwen2.5-omni-7b",
    processor_classes=("Qwen2_5OmniProcessor",), model_types=("qwen2_5_omni_thinker", "qwen2_5_omni"),
    has_audio=True, second_per_grid_key="video_second_per_grid", packing=True,
)
