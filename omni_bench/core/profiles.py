"""The real settings of the models omni_bench knows by name.

A :class:`Profile` holds what the processor and the tiny model need to behave like the
released checkpoint: patching, pixel defaults, the audio front-end, the chunking of
VIDEO/AUDIO interleave, the special tokens at their real ids and the text model's
dimensions. Values come from the released ``preprocessor_config.json``,
``tokenizer_config.json`` and ``config.json`` of each checkpoint, and from the defaults of
transformers' ``Qwen2_5OmniProcessor`` (which overrides the video pixel range at call
time). The Qwen3-VL and Qwen3-Omni profiles are defined (with their sources) in
:mod:`omni_bench.core.qwen3_profiles` and registered here. Not covered: Qwen2-VL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Profile", "PROFILES", "DEFAULT_PROFILE", "get_profile", "OMNI_SPECIAL_TOKENS", "VL_SPECIAL_TOKENS"]

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

    @property
    def has_audio(self) -> bool:
        """A video's own audio track is interleaved with its frames (the family's rule)."""
        from omni_bench.families import family_of

        return family_of(self).has_audio


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

# Qwen3-VL 2B/4B/8B, Qwen3-Omni-30B-A3B: that module adds them to PROFILES (it needs Profile above)
import omni_bench.core.qwen3_profiles  # noqa: E402, F401


def get_profile(name: str) -> Profile:
    """Look a profile up by name (case-insensitive); raise OmniBenchError listing the known ones."""
    from omni_bench.core.errors import OmniBenchError

    key = name.lower().strip()
    if key not in PROFILES:
        raise OmniBenchError(
            f"unknown profile {name!r}; known: {', '.join(PROFILES)} (or pass a checkpoint directory)",
            source=name, reason="unknown-profile",
        )
    return PROFILES[key]
