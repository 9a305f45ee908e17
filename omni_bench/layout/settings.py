"""The settings ``inspect`` and ``plan`` share, one dataclass; ``omni_bench.cli.flags`` makes one CLI flag
per field, its help being the field's comment."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from omni_bench.core.errors import OmniBenchError

__all__ = ["LayoutSettings", "parse_resize"]


@dataclass(frozen=True)
class LayoutSettings:
    """How a sample is sampled, resized, chunked and prompted (CLI flags map 1:1)."""

    # Each comment is the help of the field's command-line flag, "--flag METAVAR: what it is"; comment lines
    # indented under a field continue its help.
    profile: str = "qwen2.5-omni-7b"  # --profile NAME: built-in processor profile
    frames: int | None = None  # --frames N: sample N frames per video
        # (rounded to the temporal patch, as qwen-vl-utils' nframes)
    fps: float | None = None  # --fps F: sample F frames per second of video
        # (2.0 when neither --frames nor --fps is given)
    min_frames: int = 4  # --min-frames N: fewest frames fps sampling may take
    max_frames: int = 768  # --max-frames N: most frames fps sampling may take
    min_pixels: int | None = None  # --min-pixels N: lower bound of each frame's pixel AREA (height x width)
        # after resizing, the processor's size.shortest_edge (None: the profile's, 128*28*28 = 100352)
    max_pixels: int | None = None  # --max-pixels N: upper bound of each frame's pixel AREA (height x width)
        # after resizing, the processor's size.longest_edge (None: the profile's, 768*28*28 = 602112)
    resize: tuple[int, int] | None = None  # --resize HxW: every frame resized to exactly H x W pixels
        # (multiples of 28) instead of the processor's area-bounded resize
    seconds_per_chunk: float | None = None  # --seconds-per-chunk S: seconds of video per VIDEO/AUDIO
        # interleave chunk (None: the profile's, 2.0)
    position_id_per_seconds: float | None = None  # --position-id-per-seconds N: temporal position ids per
        # second of video, TMRoPE (None: the profile's, 25)
    processor_fps: float | None = None  # --processor-fps F: the frame rate handed to the processor with the
        # frames (None: the fps actually sampled)
    use_audio: bool = True  # --no-audio: ignore the video's audio track (no AUDIO tokens)
    prompt: str = "Describe the video."  # --prompt TEXT: the user's text after the video
    answer: str | None = "A moving white bar crosses a colour gradient while a tone plays."  # --answer TEXT:
        # the assistant's reply, whose tokens are labelled (default: a caption of the bundled synthetic clips)
    system: str | None = None  # --system TEXT: the system prompt (None: the chat template's default)

    def __post_init__(self):
        if self.frames is not None and self.fps is not None:
            raise OmniBenchError("pass either --frames or --fps, not both", reason="bad-settings")
        if self.resize is not None and (self.min_pixels is not None or self.max_pixels is not None):
            raise OmniBenchError("pass either --resize or --min-pixels/--max-pixels, not both",
                                 reason="bad-settings")
        for name in ("frames", "fps", "processor_fps", "seconds_per_chunk", "position_id_per_seconds"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise OmniBenchError(f"--{name.replace('_', '-')} must be positive, got {value}",
                                     reason="bad-settings")

    def replace(self, **changes) -> LayoutSettings:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_resize(text: str | None) -> tuple[int, int] | None:
    """``"224x224" -> (224, 224)``; raises OmniBenchError for anything else."""
    if text is None:
        return None
    try:
        height, width = (int(part) for part in text.lower().replace("*", "x").split("x"))
    except ValueError:
        raise OmniBenchError(f"--resize expects HxW such as 224x224, got {text!r}", reason="bad-settings") \
            from None
    if height <= 0 or width <= 0:
        raise OmniBenchError(f"--resize sides must be positive, got {text!r}", reason="bad-settings")
    return height, width

