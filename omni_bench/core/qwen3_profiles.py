"""The Qwen3-VL and Qwen3-Omni checkpoints omni_bench knows by name (registered into PROFILES).

Sources, each value checked against public copies of the released files:

* special tokens: the Qwen3 vocabulary appends 151643-151668 (Qwen2's 151643-151664 plus
  ``<tool_response>`` 151665, ``</tool_response>`` 151666, ``<think>`` 151667,
  ``</think>`` 151668; Qwen/Qwen3-VL-8B-Instruct tokenizer_config.json); Qwen3-Omni adds
  ``<|audio_start|>`` 151669, ``<|audio_end|>`` 151670, ``<tts_pad>`` 151671,
  ``<tts_text_bos>`` 151672, ``<tts_text_eod>`` 151673, ``<tts_text_bos_single>`` 151674 and
  ``<|audio_pad|>`` 151675 (Qwen/Qwen3-Omni-30B-A3B-Instruct tokenizer_config.json as quoted in
  public test fixtures; its config.json: audio_token_id 151675, audio_start/end_token_id
  151669/151670, tts_pad/bos/eos 151671/151672/151673);
* Qwen3-VL processors: preprocessor_config.json ``size`` {shortest_edge 65536, longest_edge
  16777216}, video_preprocessor_config.json ``size`` {shortest_edge 4096, longest_edge 25165824}
  (a budget over the whole video volume: Qwen3VLVideoProcessor.resize), patch 16, merge 2,
  temporal patch 2, mean/std 0.5, fps 2, min_frames 4, max_frames 768 (identical for 2B/4B/8B);
* Qwen3-VL config.json text_config: 2B 2048 wide / 28 layers / 16 heads / 8 kv / 6144 MLP,
  tied embeddings; 4B 2560 / 36 / 32 / 8 / 9728, tied; 8B 4096 / 36 / 32 / 8 / 12288, untied;
  all head_dim 128, vocab 151936, rope_theta 5e6, mrope_section [24, 20, 20] interleaved,
  max_position_embeddings 262144;
* Qwen3-Omni-30B-A3B-Instruct: preprocessor_config.json (WhisperFeatureExtractor 128 mels,
  hop 160, n_fft 400, 16 kHz; Qwen2VLImageProcessor patch 16, min_pixels 3136, max_pixels
  12845056, mean/std 0.5); the processor's call-time video size 128*32*32 .. 768*32*32 and
  position_id_per_seconds 13 (transformers 5.23 Qwen3OmniMoeProcessor); thinker_config:
  position_id_per_seconds 13, seconds_per_chunk 2, user_token_id 872, text_config 2048 wide,
  48 layers, 32 heads, 4 kv, head_dim 128, 128 experts (8 per token, moe_intermediate_size 768),
  vocab 152064, rope_theta 1e6, mrope_section [24, 20, 20] interleaved, max_position_embeddings
  65536, untied; audio_config n_window 50. Qwen3-VL-8B-Thinking (``qwen3-vl-8b-thinking``) ships
  the 8B's processor files with another chat template; Qwen3-Omni's Thinking checkpoint is not
  built (docs/qwen3.md).
"""

from __future__ import annotations

from omni_bench.core.profiles import PROFILES, Profile

__all__ = ["QWEN3_PROFILES", "QWEN3_VL_SPECIAL_TOKENS", "QWEN3_OMNI_SPECIAL_TOKENS"]

QWEN3_VL_SPECIAL_TOKENS: dict[str, int] = {
    "<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
    "<|object_ref_start|>": 151646, "<|object_ref_end|>": 151647, "<|box_start|>": 151648,
    "<|box_end|>": 151649, "<|quad_start|>": 151650, "<|quad_end|>": 151651,
    "<|vision_start|>": 151652, "<|vision_end|>": 151653, "<|vision_pad|>": 151654,
    "<|image_pad|>": 151655, "<|video_pad|>": 151656, "<tool_call>": 151657, "</tool_call>": 151658,
    "<|fim_prefix|>": 151659, "<|fim_middle|>": 151660, "<|fim_suffix|>": 151661, "<|fim_pad|>": 151662,
    "<|repo_name|>": 151663, "<|file_sep|>": 151664, "<tool_response>": 151665, "</tool_response>": 151666,
    "<think>": 151667, "</think>": 151668,
}
QWEN3_OMNI_SPECIAL_TOKENS: dict[str, int] = {
    **QWEN3_VL_SPECIAL_TOKENS,
    "<|audio_start|>": 151669, "<|audio_end|>": 151670, "<tts_pad>": 151671, "<tts_text_bos>": 151672,
    "<tts_text_eod>": 151673, "<tts_text_bos_single>": 151674, "<|audio_pad|>": 151675,
}
_VL_NAMED = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
             "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>"}
_OMNI_NAMED = {**_VL_NAMED, "audio_token": "<|audio_pad|>", "audio_bos_token": "<|audio_start|>",
               "audio_eos_token": "<|audio_end|>"}
_HALF_GREY = (0.5, 0.5, 0.5)


def _vl(name: str, template: str = "qwen3_vl.jinja", **dims) -> Profile:
    return Profile(
        name=name, family="qwen3-vl", template=template, special_tokens=QWEN3_VL_SPECIAL_TOKENS,
        named_tokens=_VL_NAMED, patch_size=16, image_min_pixels=65536, image_max_pixels=16777216,
        video_min_pixels=4096, video_max_pixels=25165824, image_mean=_HALF_GREY, image_std=_HALF_GREY,
        mrope_section=(24, 20, 20), rope_theta=5000000.0, max_position_embeddings=262144, vocab_size=151936,
        num_key_value_heads=8, extra={"mrope_interleaved": True, "head_dim": 128, "min_frames": 4,
                                      "max_frames": 768, "fps": 2.0}, **dims,
    )


QWEN3_PROFILES: dict[str, Profile] = {
    "qwen3-vl-2b": _vl("qwen3-vl-2b", hidden_size=2048, num_hidden_layers=28, num_attention_heads=16,
                       intermediate_size=6144, tie_word_embeddings=True),
    "qwen3-vl-4b": _vl("qwen3-vl-4b", hidden_size=2560, num_hidden_layers=36, num_attention_heads=32,
                       intermediate_size=9728, tie_word_embeddings=True),
    "qwen3-vl-8b": _vl("qwen3-vl-8b", hidden_size=4096, num_hidden_layers=36, num_attention_heads=32,
                       intermediate_size=12288, tie_word_embeddings=False),
    # Qwen/Qwen3-VL-8B-Thinking: the 8B's processor files and config.json text values; its chat
    # template differs (a public copy: generation prompt "<|im_start|>assistant\n<think>\n", the
    # assistant turn after the last user turn wrapped in "<think>\n...\n</think>\n\n")
    "qwen3-vl-8b-thinking": _vl("qwen3-vl-8b-thinking", hidden_size=4096, num_hidden_layers=36,
                                num_attention_heads=32, intermediate_size=12288, tie_word_embeddings=False,
                                template="qwen3_vl_thinking.jinja"),
    "qwen3-omni-30b-a3b": Profile(
        name="qwen3-omni-30b-a3b", family="qwen3-omni", template="qwen3_omni.jinja",
        special_tokens=QWEN3_OMNI_SPECIAL_TOKENS, named_tokens=_OMNI_NAMED, patch_size=16,
        image_min_pixels=3136, image_max_pixels=12845056, video_min_pixels=128 * 32 * 32,
        video_max_pixels=768 * 32 * 32, image_mean=_HALF_GREY, image_std=_HALF_GREY,
        seconds_per_chunk=2.0, position_id_per_seconds=13, mrope_section=(24, 20, 20), rope_theta=1000000.0,
        max_position_embeddings=65536, vocab_size=152064, hidden_size=2048, num_hidden_layers=48,
        num_attention_heads=32, num_key_value_heads=4, intermediate_size=768, tie_word_embeddings=False,
        extra={"mrope_interleaved": True, "head_dim": 128, "num_experts": 128, "num_experts_per_tok": 8,
               "moe_intermediate_size": 768, "n_window": 50},
    ),
}

PROFILES.update(QWEN3_PROFILES)
