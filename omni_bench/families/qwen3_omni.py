"""Qwen3-Omni (the MoE thinker): the video's audio interleaved token by token in time order.

The rules, as transformers 5.23 implements them (``models/qwen3_omni_moe``):

* ``Qwen3OmniMoeProcessor.replace_video_with_audio_token``: every video token of grid step
  ``k`` sits at time ``k * video_second_per_grid * position_id_per_seconds`` (13 ids per
  second by default, ``Qwen3OmniMoeProcessor.position_id_per_seconds``), audio token ``i`` at
  ``i``; one merge, a video token first when its time is ``<=`` the audio token's, wrapped in
  ``<|audio_start|>`` ... ``<|audio_end|>`` (no 2-second chunks);
* ``video_second_per_grid = temporal_patch_size / fps`` with ``fps`` from ``videos_kwargs``,
  1.0 when none is passed (``Qwen3OmniMoeProcessor._process_videos``);
* audio tokens ``_get_feat_extract_output_lengths(mel, n_window=50)``: 13 per full window of
  100 mel frames plus three stride-2 halvings of the rest (``(((r - 1) // 2 + 1 - 1) // 2 + 1
  - 1) // 2 + 1``), about 13 per second;
* the audio is padded to the longest in the batch, not to 300 s, and not truncated
  (``audio_kwargs`` padding=True, truncation=False): one clip's mel frames are
  ``samples // 160`` (the STFT's last frame dropped), its features that long.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from omni_bench.families.base import Family, whisper_feature_extractor

__all__ = ["QWEN3_OMNI", "qwen3_omni_audio_tokens", "token_interleave_runs"]


def qwen3_omni_audio_tokens(mel: int, n_window: int = 50) -> int:
    """Audio tokens of ``mel`` mel frames (Qwen3-Omni's encoder arithmetic, see module docstring).

    >>> qwen3_omni_audio_tokens(100), qwen3_omni_audio_tokens(25689)
    (13, 3340)
    """
    window = 2 * n_window
    rest = mel % window
    conv = (rest - 1) // 2 + 1
    return ((conv - 1) // 2 + 1 - 1) // 2 + 1 + (mel // window) * 13


def token_interleave_runs(grid: tuple[int, int, int], seconds_per_grid: float, audio_tokens: int, *,
                          position_id_per_seconds: float, merge_size: int = 2) -> list[tuple[str, int]]:
    """The VIDEO/AUDIO runs of Qwen3-Omni's token-by-token merge (video first on equal times).

    Grid step ``k``'s tokens share the time ``k * seconds_per_grid * position_id_per_seconds``
    (computed in that order, in float64, as the processor does); the audio tokens with an
    index below it come before them.

    >>> token_interleave_runs((2, 4, 4), 2.0, 30, position_id_per_seconds=13)
    [('VIDEO', 4), ('AUDIO', 26), ('VIDEO', 4), ('AUDIO', 4)]
    """
    t, h, w = grid
    per_step = (h // merge_size) * (w // merge_size)
    runs: list[tuple[str, int]] = []
    placed = 0
    for k in range(t):
        before = min(audio_tokens, math.ceil(k * seconds_per_grid * position_id_per_seconds))
        if before > placed:
            runs.append(("AUDIO", before - placed))
            placed = before
        runs.append(("VIDEO", per_step))
    if audio_tokens > placed:
        runs.append(("AUDIO", audio_tokens - placed))
    merged: list[tuple[str, int]] = []
    for kind, count in runs:
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + count)
        elif count:
            merged.append((kind, count))
    return merged


@dataclass(frozen=True)
class _Qwen3Omni(Family):
    def build_processor(self, profile, *, image_processor, video_processor, tokenizer, chat_template):
        from transformers import Qwen3OmniMoeProcessor

        feature_extractor = whisper_feature_extractor(profile)
        return Qwen3OmniMoeProcessor(image_processor=image_processor, video_processor=video_processor,
                                     feature_extractor=feature_extractor, tokenizer=tokenizer,
                                     chat_template=chat_template)

    def tiny_config(self, profile, *, text: dict, vision: dict, hidden: int):
        from transformers import Qwen3OmniMoeThinkerConfig

        from omni_bench.core.models import TINY

        extra = profile.extra
        text = {**text, "head_dim": text["hidden_size"] // text["num_attention_heads"], "num_experts": 4,
                "num_experts_per_tok": 2, "moe_intermediate_size": 32, "decoder_sparse_step": 1}
        text["rope_parameters"] = {**text["rope_parameters"], "mrope_interleaved": True, "interleaved": True}
        audio = dict(num_mel_bins=profile.mel_bins, encoder_layers=TINY["audio_layers"], encoder_attention_heads=2,
                     encoder_ffn_dim=64, d_model=TINY["audio_d_model"], output_dim=hidden, max_source_positions=1500,
                     n_window=extra["n_window"], n_window_infer=800, conv_chunksize=500, downsample_hidden_size=16)
        vision = dict(depth=TINY["vision_depth"], hidden_size=TINY["vision_hidden"], intermediate_size=64,
                      num_heads=2, patch_size=profile.patch_size, spatial_merge_size=profile.merge_size,
                      temporal_patch_size=profile.temporal_patch_size, out_hidden_size=hidden,
                      num_position_embeddings=64, deepstack_visual_indexes=[0])
        tokens = profile.special_tokens
        return Qwen3OmniMoeThinkerConfig(
            audio_config=audio, vision_config=vision, text_config=text, audio_token_id=tokens["<|audio_pad|>"],
            image_token_id=tokens["<|image_pad|>"], video_token_id=tokens["<|video_pad|>"],
            audio_start_token_id=tokens["<|audio_start|>"], vision_start_token_id=tokens["<|vision_start|>"],
            position_id_per_seconds=int(profile.position_id_per_seconds), user_token_id=profile.user_token_id,
        )

    def tiny_model_class(self):
        from transformers import Qwen3OmniMoeThinkerForConditionalGeneration

        return Qwen3OmniMoeThinkerForConditionalGeneration

    def load_checkpoint(self, path: str, model_type: str, dtype):
        import transformers

        if model_type == "qwen3_omni_moe":  # the full model: the thinker only (no talker, no code2wav)
            full = transformers.Qwen3OmniMoeForConditionalGeneration
            return full.from_pretrained(path, dtype=dtype, enable_audio_output=False).thinker
        return transformers.Qwen3OmniMoeThinkerForConditionalGeneration.from_pretrained(path, dtype=dtype)

    def processor_kwargs(self, settings, *, frames_count: int, processor_fps: float, audio, **_) -> dict:
        # the processor reads videos_kwargs["fps"] (1.0 when absent) for video_second_per_grid
        kwargs: dict = {"videos_kwargs": {}, "position_id_per_seconds": settings.position_id_per_seconds,
                        "n_window": settings.profile.extra["n_window"]}
        if audio is not None:
            kwargs.update(audio=[audio], audio_from_video_indices=[0], load_audio_from_video=True)
        return kwargs

    def chunking(self, settings) -> dict:
        return {"position_id_per_seconds": float(settings.position_id_per_seconds)}

    def lora_targets(self, default: tuple[str, ...]) -> tuple[str, ...]:
        # the MoE block's experts are fused 3-D parameters (no nn.Linear for peft to wrap) and its
        # router is left frozen: the adapter goes on the attention projections only
        return tuple(t for t in default if t in ("q_proj", "k_proj", "v_proj", "o_proj"))

    def alignment(self, layout):
        # no 2 s chunks: each grid step's frames against the audio merged before it
        from omni_bench.families.qwen3_alignment import step_alignment

        return step_alignment(layout)

    def mel_frames(self, samples: int, profile) -> int:
        return int(samples) // profile.hop_length  # padded to the clip itself, never truncated

    def feature_frames(self, mel: int, profile) -> int:
        return mel

    def audio_tokens(self, mel: int, profile) -> int:
        return qwen3_omni_audio_tokens(mel, profile.extra["n_window"])

    def vision_runs(self, mp) -> tuple[tuple[str, int], ...]:
        if not mp.use_audio:
            return (("VIDEO", mp.video_tokens),)
        return tuple(token_interleave_runs(mp.grid, mp.second_per_grid, mp.audio_tokens,
                                           position_id_per_seconds=mp.position_id_per_seconds,
                                           merge_size=mp.profile.merge_size))


QWEN3_OMNI = _Qwen3Omni(
    key="qwen3-omni", title="Qwen3-Omni", default_profile="qwen3-omni-30b-a3b",
    processor_classes=("Qwen3OmniMoeProcessor",), model_types=("qwen3_omni_moe_thinker", "qwen3_omni_moe"),
    has_audio=True, second_per_grid_key="video_second_per_grid",
    chunk_alignment=False,  # no 2 s chunks: qwen3_alignment.step_alignment
)
