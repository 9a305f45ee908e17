"""The interface every model family implements (see :mod:`omni_bench.families`), and what the
families share: the tiny models' widths and the alignment reports' tolerance and summary line."""

from __future__ import annotations

from dataclasses import dataclass

from omni_bench.core import arith
from omni_bench.core.errors import OmniBenchError

__all__ = ["Family", "whisper_feature_extractor", "TINY", "DRIFT_TOLERANCE", "drift_summary", "tolerance_words"]

# Small dimensions shared by the tiny models (head_dim 16; mrope sections sum to 8).
TINY = dict(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, vision_hidden=32, vision_depth=2,
            audio_d_model=32, audio_layers=2)
DRIFT_TOLERANCE = 2.0  # seconds a chunk's (a grid step's) video may start away from its audio and count as aligned


def tolerance_words(tolerance: float) -> str:
    """The tolerance in plain words, for the report."""
    return (f"aligned means every chunk's video starts within {tolerance:g} s of that chunk's audio: the frames "
            f"the model reads next to each stretch of sound were filmed at most {tolerance:g} s away from it")


def drift_summary(verdict: str, drift: float, where: str, tolerance: float) -> str:
    """The alignment report's one line: ``misaligned: max drift +7.20 s at chunk 3 (tolerance 2.00 s)``."""
    return f"{verdict}: max drift {drift:+.2f} s at {where} (tolerance {tolerance:.2f} s)"


@dataclass(frozen=True)
class Family:
    """The rules of one family of checkpoints; subclasses implement the methods."""

    key: str  # the Profile.family value, e.g. "omni"
    title: str  # how messages name it, e.g. "Qwen2.5-Omni"
    default_profile: str  # the profile whose arithmetic a checkpoint of this family uses
    processor_classes: tuple[str, ...]  # transformers processor class names
    model_types: tuple[str, ...]  # config.json model_type values of its checkpoints
    has_audio: bool  # a video's own audio track is interleaved with its frames
    second_per_grid_key: str  # the processor output holding seconds per temporal grid step
    chunk_alignment: bool = True  # the Qwen2.5 per-chunk alignment report applies (layout.alignment)
    audio_token_seconds: float = 0.04  # real seconds one audio token covers (Qwen2.5-Omni: 4 mel frames of 10 ms)
    packing: bool = False  # sequence packing covers it (omni_bench.data.packing): packed_positions is written

    def build_processor(self, profile, *, image_processor, video_processor, tokenizer, chat_template):
        """transformers' processor of this family from its parts."""
        raise NotImplementedError

    def tiny_config(self, profile, *, text: dict, vision: dict, hidden: int):
        """The transformers config of a tiny model (text and vision sub-configs given)."""
        raise NotImplementedError

    def tiny_model_class(self):
        """The transformers class the tiny model of this family is."""
        raise NotImplementedError

    def load_checkpoint(self, path: str, model_type: str, dtype):
        """The trainable model of a checkpoint directory."""
        raise NotImplementedError

    def processor_kwargs(self, settings, *, frames_count: int, processor_fps: float, audio, **context) -> dict:
        """What this family's processor call adds to omni_bench's common keywords.

        ``settings`` is a :class:`~omni_bench.layout.settings.ResolvedSettings`; ``context``
        may hold ``indices`` (the sampled frame indices) and ``native_fps``; the result
        has a ``"videos_kwargs"`` entry merged into the common one and top-level keywords.
        """
        raise NotImplementedError

    def chunking(self, settings) -> dict:
        """The VIDEO/AUDIO chunking values a layout of this family records (empty: none)."""
        raise NotImplementedError

    # The planner's per-family arithmetic. The defaults are the Qwen2.5 rules; a family whose
    # processor differs (Qwen3-VL, Qwen3-Omni) overrides them.

    def video_processor(self, profile, common: dict):
        """The video processor built offline for a profile (``common``: patching, mean, std)."""
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

        return Qwen2VLVideoProcessor(
            size={"shortest_edge": profile.video_min_pixels, "longest_edge": profile.video_max_pixels}, **common)

    def resized_size(self, info, settings, frames: int) -> tuple[int, int]:
        """(h, w) the video processor resizes ``info``'s frames to (no explicit resize)."""
        return arith.video_resize(info.height, info.width, min_pixels=settings.min_pixels,
                                  max_pixels=settings.max_pixels, factor=settings.profile.factor)

    def mel_frames(self, samples: int, profile) -> int:
        """Valid mel frames of ``samples`` 16 kHz samples (the feature extractor's cap applies)."""
        return arith.mel_frames(samples, hop_length=profile.hop_length, max_frames=profile.nb_max_frames)

    def feature_frames(self, mel: int, profile) -> int:
        """Frames of the ``input_features`` tensor for ``mel`` valid ones (padded to 300 s here)."""
        return profile.nb_max_frames

    def audio_tokens(self, mel: int, profile) -> int:
        """Audio tokens the encoder makes of ``mel`` mel frames."""
        return arith.audio_tokens(mel)

    def vision_runs(self, mp) -> tuple[tuple[str, int], ...]:
        """The VIDEO/AUDIO runs inside the vision span of a :class:`~omni_bench.layout.plan.MediaPlan`."""
        if not mp.use_audio:
            return (("VIDEO", mp.video_tokens),)
        return tuple(arith.interleave_runs(
            mp.grid, mp.second_per_grid, mp.audio_tokens, seconds_per_chunk=mp.seconds_per_chunk,
            position_id_per_seconds=mp.position_id_per_seconds, merge_size=mp.profile.merge_size))

    def alignment(self, layout, *, search=None):
        """The real-time alignment report of a layout (``str()``: the report block; None: none applies).

        ``search(layout, tolerance) -> Fix | None``: the checked fix's search, for a family whose fix
        is found by planning candidates (Qwen2.5's, :func:`omni_bench.layout.alignment_fix.fix_for`).
        Default: none (Qwen3-VL: time is in the timestamp text). ValueError: the layout has no timing.
        """
        return None

    def timestamps(self, mp) -> tuple[float, ...]:
        """Seconds written as text before each grid step (empty: the family writes none)."""
        return ()

    def lora_targets(self, default: tuple[str, ...]) -> tuple[str, ...]:
        """The LoRA targets ``omni-bench train`` uses when none are given (all seven projections)."""
        return tuple(default)

    def span_tokens(self, mp) -> int:
        """Tokens the placeholder expands to, without a tokenizer: media tokens plus the audio pair."""
        return mp.video_tokens + mp.audio_tokens + (2 if mp.use_audio else 0)

    def written_timestamps(self, input_ids, tokenizer, ids) -> tuple[float, ...]:
        """The timestamps a processor's ``input_ids`` spell out before its grid steps (empty: none)."""
        return ()

    def expansion(self, mp, ids, tokenizer) -> list[int]:
        """The token ids the template's one video placeholder becomes."""
        body: list[int] = []
        for kind, count in self.vision_runs(mp):
            body.extend([ids.video if kind == "VIDEO" else ids.audio] * count)
        return [ids.audio_bos, *body, ids.audio_eos] if mp.use_audio else body

    def packed_positions(self, item: dict, ids, rope):
        """[3, L] rope ids of one dataset item alone, as the model's ``get_rope_index`` gives them.

        ``item``: an :class:`~omni_bench.data.dataset.OmniSFTDataset` item (``input_ids`` and the
        processor's grids, seconds per grid and audio masks); ``ids``: its
        :class:`~omni_bench.core.tokens.TokenIds`; ``rope``: the model's values
        (:class:`~omni_bench.data.packing.RopeConfig`). Packing (:mod:`omni_bench.data.packing`) calls
        it per sample; a family it does not cover refuses in one line.
        """
        raise OmniBenchError(f"packing does not cover {self.title} (its rope positions are not rebuilt per "
                             "sample)", source=self.title, reason="unsupported")

    def idle_tower_inputs(self, config, kind: str, *, device, dtype) -> dict:
        """The smallest input of one tower, as keywords of the model's ``get_<kind>_features``: zeros.

        ``config``: the model's config (``vision_config``, ``audio_config``); ``kind``: "image",
        "video" or "audio". Vision: one grid step of ``merge x merge`` patches (one merged token),
        ``[merge**2, channels * temporal_patch_size * patch_size**2]``; audio: ``2 * n_window`` mel
        frames, one window of the encoder, ``[1, mel_bins, frames]``. Used by
        :mod:`omni_bench.training.towers` so every process runs every tower on a distributed run.
        """
        import torch

        if kind == "audio":
            audio = config.audio_config
            frames = 2 * audio.n_window
            return {"input_features": torch.zeros(1, audio.num_mel_bins, frames, device=device, dtype=dtype),
                    "feature_attention_mask": torch.ones(1, frames, device=device, dtype=torch.long)}
        vision = config.vision_config
        merge = vision.spatial_merge_size
        width = vision.in_channels * vision.temporal_patch_size * vision.patch_size**2
        pixels = torch.zeros(merge * merge, width, device=device, dtype=dtype)
        grid = torch.tensor([[1, merge, merge]], device=device, dtype=torch.long)
        if kind == "image":
            return {"pixel_values": pixels, "image_grid_thw": grid}
        return {"pixel_values_videos": pixels, "video_grid_thw": grid}


def whisper_feature_extractor(profile):
    """The Whisper feature extractor of an Omni checkpoint's audio front-end (the profile's values)."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(
        feature_size=profile.mel_bins, sampling_rate=profile.sampling_rate, hop_length=profile.hop_length,
        chunk_length=profile.chunk_length, n_fft=profile.n_fft, padding_value=0.0, return_attention_mask=True,
        dither=0.0,
    )
