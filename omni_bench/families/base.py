"""The interface every model family implements (see :mod:`omni_bench.families`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Family"]


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

    def processor_kwargs(self, settings, *, frames_count: int, processor_fps: float, audio) -> dict:
        """What this family's processor call adds to omni_bench's common keywords.

        ``settings`` is a :class:`~omni_bench.layout.settings.ResolvedSettings`; the result
        has a ``"videos_kwargs"`` entry merged into the common one and top-level keywords.
        """
        raise NotImplementedError

    def chunking(self, settings) -> dict:
        """The VIDEO/AUDIO chunking values a layout of this family records (empty: none)."""
        raise NotImplementedError
