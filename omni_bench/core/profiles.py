"""The real settings of the models omni_bench knows by name.

A :class:`Profile` holds what the processor and the tiny model need to behave like the
released checkpoint: patching, pixel defaults, the audio front-end, the chunking of
VIDEO/AUDIO interleave, the special tokens at their real ids and the text model's
dimensions. Values come from the released ``preprocessor_config.json``,
``tokenizer_config.json`` and ``config.json`` of each checkpoint, and from the defaults of
transformers' ``Qwen2_5OmniProcessor`` (which overrides the video pixel range at call
time). The Qwen3-VL and Qwen3-Omni profiles follow, with their sources
(:mod:`omni_bench.core.qwen3_profiles` is their old home and re-exports them). A profile
names its family by key (``family``); the family's rules (:mod:`omni_bench.families`) stand
on this module, never the other way round. Not covered: Qwen2-VL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omni_bench.core.errors import OmniBenchError

__all__ = ["Profile", "PROFILES", "DEFAULT_PROFILE", "get_profile", "OMNI_SPECIAL_TOKENS", "VL_SPECIAL_TOKENS",
           "QWEN3_PROFILES", "QWEN3_VL_SPECIAL_TOKENS", "QWEN3_OMNI_SPECIAL_TOKENS"]

# Special tokens that follow the 151,643 BPE ranks of the Qwen2 vocabulary, at their real ids.
_COMMON_HEAD = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}
_COMMON_TAIL = {
    "<tool_call>": 151657,
    "</tool_call>": 151658,
    "<|fim_prefix|>": 151659,
    "<|fim_middle|>": 151660,
    "<|fim_suffix|>": 151661,
    "<|fim_pad|>": 151662,
    "<|repo_name|>": 151663,
    "<|file_sep|>": 151664,
}
OMNI_SPECIAL_TOKENS: dict[str, int] = {
    **_COMMON_HEAD,
    "<|AUDIO|>": 151646,
    "<|audio_bos|>": 151647,
    "<|audio_eos|>": 151648,
    "<|box_end|>": 151649,
    "<|quad_start|>": 151650,
    "<|quad_end|>": 151651,
    "<|vision_bos|>": 151652,
    "<|vision_eos|>": 151653,
    "<|vision_pad|>": 151654,
    "<|IMAGE|>": 151655,
    "<|VIDEO|>": 151656,
    **_COMMON_TAIL,
}
VL_SPECIAL_TOKENS: dict[str, int] = {
    **_COMMON_HEAD,
    "<|object_ref_start|>": 151646,
    "<|object_ref_end|>": 151647,
    "<|box_start|>": 151648,
    "<|box_end|>": 151649,
    "<|quad_start|>": 151650,
    "<|quad_end|>": 151651,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|vision_pad|>": 151654,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
    **_COMMON_TAIL,
}
# Named roles of special tokens, as the tokenizer exposes them (``tokenizer.video_token``...).
_OMNI_NAMED = {
    "image_token": "<|IMAGE|>",
    "video_token": "<|VIDEO|>",
    "audio_token": "<|AUDIO|>",
    "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
    "audio_bos_token": "<|audio_bos|>",
    "audio_eos_token": "<|audio_eos|>",
}
_VL_NAMED = {
    "image_token": "<|image_pad|>",
    "video_token": "<|video_pad|>",
    "vision_bos_token": "<|vision_start|>",
    "vision_eos_token": "<|vision_end|>",
}


@dataclass(frozen=True)
class Profile:
    """Settings of one released checkpoint (see module docstring for the sources)."""

    name: str  # the profile name users pass, e.g. "qwen2.5-omni-7b"
    family: str  # "omni" or "vl"
    template: str  # chat template file under omni_bench/templates
    special_tokens: dict[str, int]  # token -> id, ids 151643..151664
    named_tokens: dict[str, str]  # tokenizer attribute -> token, e.g. video_token -> <|VIDEO|>
    patch_size: int = 14  # ViT patch side in pixels
    temporal_patch_size: int = 2  # frames per temporal patch
    merge_size: int = 2  # spatial merge of patches into one LLM token (2x2)
    image_min_pixels: int = 56 * 56  # image processor min_pixels (3136)
    image_max_pixels: int = 28 * 28 * 16384  # image processor max_pixels (12845056)
    video_min_pixels: int = 128 * 28 * 28  # video size.shortest_edge (pixels per frame)
    video_max_pixels: int = 768 * 28 * 28  # video size.longest_edge (pixels per frame)
    image_mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP
    image_std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)  # OpenAI CLIP
    mel_bins: int = 128  # WhisperFeatureExtractor feature_size
    sampling_rate: int = 16000  # audio samples per second
    hop_length: int = 160  # samples per mel frame (10 ms)
    n_fft: int = 400  # STFT window
    chunk_length: int = 300  # seconds of audio the feature extractor pads / truncates to
    seconds_per_chunk: float = 2.0  # VIDEO/AUDIO interleave chunk, seconds
    position_id_per_seconds: float = 25  # temporal position ids per second (TMRoPE)
    # config.json values the model's positions depend on. Sources: the released config.json of
    # Qwen/Qwen2.5-VL-7B-Instruct and -3B-Instruct (vision_config.tokens_per_second 2,
    # rope_scaling.mrope_section [16, 24, 24], rope_theta 1e6, max_position_embeddings 128000,
    # tie_word_embeddings false / true for 3B) and Qwen/Qwen2.5-Omni-7B / -3B (thinker_config:
    # position_id_per_seconds 25, seconds_per_chunk 2, user_token_id 872, text_config
    # max_position_embeddings 32768, the same mrope_section and rope_theta).
    tokens_per_second: int = 2  # VL vision_config.tokens_per_second: temporal ids per second (transformers' default: 4)
    mrope_section: tuple[int, int, int] = (16, 24, 24)  # rope dims (t, h, w) of a 128-wide head, halved
    rope_theta: float = 1000000.0  # text rope base
    max_position_embeddings: int = 32768  # text_config.max_position_embeddings
    tie_word_embeddings: bool = False  # LM head shares the embedding matrix
    user_token_id: int = 872  # Omni thinker_config.user_token_id (BPE "user")
    default_system: str = ""  # the chat template's default system prompt
    vocab_size: int = 152064  # rows of the embedding / LM head (config.json)
    hidden_size: int = 3584  # text model width (config.json)
    num_hidden_layers: int = 28  # text model depth
    num_attention_heads: int = 28
    num_key_value_heads: int = 4
    intermediate_size: int = 18944
    extra: dict[str, object] = field(default_factory=dict)  # anything model-specific

    @property
    def factor(self) -> int:
        """Side of one LLM token in pixels: patch_size * merge_size (28)."""
        return self.patch_size * self.merge_size

    @property
    def nb_max_frames(self) -> int:
        """Mel frames the feature extractor keeps at most (chunk_length s / 10 ms = 30000)."""
        return self.chunk_length * self.sampling_rate // self.hop_length


_OMNI_SYSTEM = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of "
    "perceiving auditory and visual inputs, as well as generating text and speech."
)
_VL_SYSTEM = "You are a helpful assistant."

DEFAULT_PROFILE = "qwen2.5-omni-7b"  # the profile a command or function uses when none is named

PROFILES: dict[str, Profile] = {
    "qwen2.5-omni-7b": Profile(
        name="qwen2.5-omni-7b", family="omni", template="qwen2_5_omni.jinja",
        special_tokens=OMNI_SPECIAL_TOKENS, named_tokens=_OMNI_NAMED, default_system=_OMNI_SYSTEM,
        vocab_size=152064, hidden_size=3584, num_hidden_layers=28, num_attention_heads=28,
        num_key_value_heads=4, intermediate_size=18944,
    ),
    "qwen2.5-omni-3b": Profile(
        name="qwen2.5-omni-3b", family="omni", template="qwen2_5_omni.jinja",
        special_tokens=OMNI_SPECIAL_TOKENS, named_tokens=_OMNI_NAMED, default_system=_OMNI_SYSTEM,
        vocab_size=151936, hidden_size=2048, num_hidden_layers=36, num_attention_heads=16,
        num_key_value_heads=2, intermediate_size=11008,
    ),
    "qwen2.5-vl-7b": Profile(
        name="qwen2.5-vl-7b", family="vl", template="qwen2_5_vl.jinja",
        special_tokens=VL_SPECIAL_TOKENS, named_tokens=_VL_NAMED, default_system=_VL_SYSTEM,
        vocab_size=152064, hidden_size=3584, num_hidden_layers=28, num_attention_heads=28,
        num_key_value_heads=4, intermediate_size=18944, max_position_embeddings=128000,
    ),
    "qwen2.5-vl-3b": Profile(
        name="qwen2.5-vl-3b", family="vl", template="qwen2_5_vl.jinja",
        special_tokens=VL_SPECIAL_TOKENS, named_tokens=_VL_NAMED, default_system=_VL_SYSTEM,
        vocab_size=151936, hidden_size=2048, num_hidden_layers=36, num_attention_heads=16,
        num_key_value_heads=2, intermediate_size=11008, max_position_embeddings=128000, tie_word_embeddings=True,
    ),
}

# Qwen3-VL 2B/4B/8B, Qwen3-Omni-30B-A3B.
# The Qwen3-VL and Qwen3-Omni checkpoints omni_bench knows by name (registered into PROFILES).
#
# Sources, each value checked against public copies of the released files:
#
# * special tokens: the Qwen3 vocabulary appends 151643-151668 (Qwen2's 151643-151664 plus
#   ``<tool_response>`` 151665, ``</tool_response>`` 151666, ``<think>`` 151667,
#   ``</think>`` 151668; Qwen/Qwen3-VL-8B-Instruct tokenizer_config.json); Qwen3-Omni adds
#   ``<|audio_start|>`` 151669, ``<|audio_end|>`` 151670, ``<tts_pad>`` 151671,
#   ``<tts_text_bos>`` 151672, ``<tts_text_eod>`` 151673, ``<tts_text_bos_single>`` 151674 and
#   ``<|audio_pad|>`` 151675 (Qwen/Qwen3-Omni-30B-A3B-Instruct tokenizer_config.json as quoted in
#   public test fixtures; its config.json: audio_token_id 151675, audio_start/end_token_id
#   151669/151670, tts_pad/bos/eos 151671/151672/151673);
# * Qwen3-VL processors: preprocessor_config.json ``size`` {shortest_edge 65536, longest_edge
#   16777216}, video_preprocessor_config.json ``size`` {shortest_edge 4096, longest_edge 25165824}
#   (a budget over the whole video volume: Qwen3VLVideoProcessor.resize), patch 16, merge 2,
#   temporal patch 2, mean/std 0.5, fps 2, min_frames 4, max_frames 768 (identical for 2B/4B/8B);
# * Qwen3-VL config.json text_config: 2B 2048 wide / 28 layers / 16 heads / 8 kv / 6144 MLP,
#   tied embeddings; 4B 2560 / 36 / 32 / 8 / 9728, tied; 8B 4096 / 36 / 32 / 8 / 12288, untied;
#   all head_dim 128, vocab 151936, rope_theta 5e6, mrope_section [24, 20, 20] interleaved,
#   max_position_embeddings 262144;
# * Qwen3-Omni-30B-A3B-Instruct: preprocessor_config.json (WhisperFeatureExtractor 128 mels,
#   hop 160, n_fft 400, 16 kHz; Qwen2VLImageProcessor patch 16, min_pixels 3136, max_pixels
#   12845056, mean/std 0.5); the processor's call-time video size 128*32*32 .. 768*32*32 and
#   position_id_per_seconds 13 (transformers 5.23 Qwen3OmniMoeProcessor); thinker_config:
#   position_id_per_seconds 13, seconds_per_chunk 2, user_token_id 872, text_config 2048 wide,
#   48 layers, 32 heads, 4 kv, head_dim 128, 128 experts (8 per token, moe_intermediate_size 768),
#   vocab 152064, rope_theta 1e6, mrope_section [24, 20, 20] interleaved, max_position_embeddings
#   65536, untied; audio_config n_window 50. Qwen3-VL-8B-Thinking (``qwen3-vl-8b-thinking``) ships
#   the 8B's processor files with another chat template; Qwen3-Omni's Thinking checkpoint is not
#   built (docs/qwen3.md).

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
_QWEN3_VL_NAMED = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
             "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>"}
_QWEN3_OMNI_NAMED = {**_QWEN3_VL_NAMED, "audio_token": "<|audio_pad|>", "audio_bos_token": "<|audio_start|>",
               "audio_eos_token": "<|audio_end|>"}
_HALF_GREY = (0.5, 0.5, 0.5)


def _vl(name: str, template: str = "qwen3_vl.jinja", **dims) -> Profile:
    return Profile(
        name=name, family="qwen3-vl", template=template, special_tokens=QWEN3_VL_SPECIAL_TOKENS,
        named_tokens=_QWEN3_VL_NAMED, patch_size=16, image_min_pixels=65536, image_max_pixels=16777216,
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
        special_tokens=QWEN3_OMNI_SPECIAL_TOKENS, named_tokens=_QWEN3_OMNI_NAMED, patch_size=16,
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


def get_profile(name: str) -> Profile:
    """Look a profile up by name (case-insensitive); raise OmniBenchError listing the known ones."""
    key = name.lower().strip()
    if key not in PROFILES:
        raise OmniBenchError(
            f"unknown profile {name!r}; known: {', '.join(PROFILES)} (or pass a checkpoint directory)",
            source=name, reason="unknown-profile",
        )
    return PROFILES[key]
