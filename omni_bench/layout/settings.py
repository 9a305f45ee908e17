"""The settings ``inspect`` and ``plan`` share, one dataclass, one CLI flag per field."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from omni_bench.core.errors import OmniBenchError

__all__ = ["LayoutSettings", "parse_resize", "add_sampling_flags"]


@dataclass(frozen=True)
class LayoutSettings:
    """How a sample is sampled, resized, chunked and prompted (CLI flags map 1:1)."""

    profile: str = "qwen2.5-omni-7b"  # --profile NAME, or --model PATH (a checkpoint directory)
    frames: int | None = None  # --frames N: sample N frames (rounded to the temporal patch, like qwen-vl-utils)
    fps: float | None = None  # --fps F: sample F frames per second (2.0 when neither is given)
    min_frames: int = 4  # --min-frames: lower bound of fps sampling
    max_frames: int = 768  # --max-frames: upper bound of fps sampling
    min_pixels: int | None = None  # --min-pixels: size.shortest_edge per frame (None: profile's 128*28*28)
    max_pixels: int | None = None  # --max-pixels: size.longest_edge per frame (None: profile's 768*28*28)
    resize: tuple[int, int] | None = None  # --resize HxW: explicit frame size (multiples of 28), no dynamic resize
    seconds_per_chunk: float | None = None  # --seconds-per-chunk (None: profile's 2.0)
    position_id_per_seconds: float | None = None  # --position-id-per-seconds (None: profile's 25)
    processor_fps: float | None = None  # --processor-fps: fps handed to the processor (None: the sampled fps)
    use_audio: bool = True  # --no-audio turns it off: audio comes from the video's own track
    prompt: str = "Describe the video."  # --prompt: the user's text after the video
    answer: str | None = "A moving white bar crosses a colour gradient while a tone plays."  # --answer
    system: str | None = None  # --system: system prompt (None: the chat template's default)

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


def add_sampling_flags(parser, *, defaults: bool = True) -> None:
    """The command-line flags of the sampling, frame-size and chunk fields of
    :class:`LayoutSettings`, shared by ``omni-bench inspect / plan / budget / validate / train``.

    ``defaults=False`` leaves every flag at None ("not given"), for ``train``, where the
    flags given override a ``--config`` file.
    """
    base = LayoutSettings()
    sampling = parser.add_mutually_exclusive_group()
    sampling.add_argument("--frames", type=int, help="sample N frames (qwen-vl-utils nframes)")
    sampling.add_argument("--fps", type=float, help="sample F frames per second (default 2.0)")
    parser.add_argument("--min-frames", type=int, default=base.min_frames if defaults else None,
                        help=f"lower bound of fps sampling (default {base.min_frames})")
    parser.add_argument("--max-frames", type=int, default=base.max_frames if defaults else None,
                        help=f"upper bound of fps sampling (default {base.max_frames})")
    parser.add_argument("--min-pixels", type=int, help="per-frame size.shortest_edge (pixels)")
    parser.add_argument("--max-pixels", type=int, help="per-frame size.longest_edge (pixels)")
    parser.add_argument("--resize", help="explicit frame size HxW, e.g. 224x224 (multiples of 28)")
    parser.add_argument("--seconds-per-chunk", type=float, help="VIDEO/AUDIO interleave chunk (default 2)")
    parser.add_argument("--position-id-per-seconds", type=float, help="temporal ids per second (default 25)")
    parser.add_argument("--processor-fps", type=float,
                        help="fps handed to the processor (default: the fps actually sampled)")
