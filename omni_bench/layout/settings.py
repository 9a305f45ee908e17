"""The settings ``inspect`` and ``plan`` share, one dataclass; ``omni_bench.cli.flags`` makes one CLI flag
per field, its help being the field's comment."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.numbers import check_fields
from omni_bench.core.profiles import DEFAULT_PROFILE, Profile, get_profile
from omni_bench.families import family_of
from omni_bench.layout.arith import DEFAULT_FPS

__all__ = ["LayoutSettings", "ResolvedSettings", "parse_resize", "SAMPLING_RULES"]

SAMPLING_RULES = ("qwen-vl-utils", "fps")  # --sampling values (omni_bench.layout.frames.sample_indices)


@dataclass(frozen=True)
class LayoutSettings:
    """How a sample is sampled, resized, chunked and prompted (CLI flags map 1:1)."""

    # Each comment is the help of the field's command-line flag, "--flag METAVAR: what it is"; comment lines
    # indented under a field continue its help.
    profile: str = DEFAULT_PROFILE  # --profile NAME: built-in processor profile (for --tiny, the tiny model's shape)
    frames: int | None = None  # --frames N: sample N frames per video
        # (rounded to the temporal patch, as qwen-vl-utils' nframes)
    fps: float | None = None  # --fps F: sample F frames per second of video
        # (2.0 when neither --frames nor --fps is given)
    min_frames: int = 4  # --min-frames N: fewest frames fps sampling may take
    max_frames: int = 768  # --max-frames N: most frames fps sampling may take
    sampling: str = "qwen-vl-utils"  # --sampling RULE: which frames: "qwen-vl-utils" (N frames spread
        # from the first to the last frame, linspace) or "fps" (exactly --fps frames per second from frame 0)
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
    audio_max_seconds: int | None = None  # --audio-max-seconds S: seconds of audio the feature extractor
        # keeps, its max_length (None: the profile's, 300 for Qwen2.5-Omni; audio past it is dropped, and said)
    prompt: str = "Describe the video."  # --prompt TEXT: the user's text after the video
    answer: str | None = None  # --answer TEXT: the assistant's reply, whose tokens are labelled
        # (None: no reply, the sample ends with the generation prompt and nothing is labelled; the report says so)
    system: str | None = None  # --system TEXT: the system prompt (None: the chat template's default)

    def __post_init__(self):
        if self.frames is not None and self.fps is not None:
            raise OmniBenchError("pass either --frames or --fps, not both", reason="bad-settings")
        if self.resize is not None and (self.min_pixels is not None or self.max_pixels is not None):
            raise OmniBenchError("pass either --resize or --min-pixels/--max-pixels, not both",
                                 reason="bad-settings")
        if self.sampling not in SAMPLING_RULES:
            raise OmniBenchError(f"--sampling must be one of {', '.join(SAMPLING_RULES)}, got {self.sampling!r}",
                                 reason="bad-settings")
        if self.sampling == "fps" and self.frames is not None:
            raise OmniBenchError("--sampling fps takes --fps, not --frames", reason="bad-settings")
        check_fields(self)  # finite, whole where an int, in range, min <= max (omni_bench.core.numbers)

    def replace(self, **changes) -> LayoutSettings:
        """A copy with ``changes``; one way of sampling replaces the other (``frames`` given clears ``fps``,
        ``fps`` clears ``frames``), as a flag given over a ``--config`` file or a training run's settings does.

        >>> LayoutSettings(frames=4).replace(fps=1.0).frames is None
        True
        """
        for one, other in (("frames", "fps"), ("fps", "frames")):
            if changes.get(one) is not None and other not in changes:
                changes[other] = None
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    def resolve(self, profile: Profile | None = None) -> ResolvedSettings:
        """These settings with every value the profile decides filled in (see :class:`ResolvedSettings`).

        ``profile`` defaults to ``self.profile`` looked up by name (pass it for a checkpoint
        directory, e.g. from :func:`~omni_bench.core.processor.resolve_profile`).

        >>> r = LayoutSettings(max_pixels=64 * 28 * 28, use_audio=True).resolve()
        >>> r.fps, r.min_pixels, r.max_pixels, r.seconds_per_chunk, r.position_id_per_seconds
        (2.0, 100352, 50176, 2.0, 25)
        >>> LayoutSettings(profile="qwen2.5-vl-7b").resolve().use_audio
        False
        """
        profile = profile or get_profile(self.profile)
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "profile"}
        values.update(
            fps=self.fps if self.frames is not None else (self.fps or DEFAULT_FPS),
            min_pixels=self.min_pixels or profile.video_min_pixels,
            max_pixels=self.max_pixels or profile.video_max_pixels,
            seconds_per_chunk=self.seconds_per_chunk or profile.seconds_per_chunk,
            position_id_per_seconds=self.position_id_per_seconds or profile.position_id_per_seconds,
            use_audio=bool(self.use_audio and family_of(profile).has_audio),
        )
        if self.audio_max_seconds is not None:  # the feature extractor's cap: every count follows from it
            profile = replace(profile, chunk_length=int(self.audio_max_seconds))
        return ResolvedSettings(profile=profile, settings=self, **values)


@dataclass(frozen=True)
class ResolvedSettings:
    """:class:`LayoutSettings` resolved against a profile once: no None left that the profile decides.

    ``fps`` is :data:`~omni_bench.layout.arith.DEFAULT_FPS` when neither frames nor fps was
    given (None when frames were); pixels and chunking come from the profile when unset;
    ``use_audio`` is False for a family without audio. ``processor_fps`` stays None when
    unset: it is the fps actually sampled, known once the video is. ``settings`` keeps what
    was asked for (its ``profile`` is the name or checkpoint path).
    """

    profile: Profile  # the profile whose arithmetic applies
    settings: LayoutSettings  # the settings as given
    frames: int | None
    fps: float | None
    min_frames: int
    max_frames: int
    min_pixels: int
    max_pixels: int
    resize: tuple[int, int] | None
    seconds_per_chunk: float
    position_id_per_seconds: float
    processor_fps: float | None
    use_audio: bool
    audio_max_seconds: int | None  # the profile's chunk_length is this already (None: unchanged)
    prompt: str
    answer: str | None
    system: str | None
    sampling: str = "qwen-vl-utils"  # which frames (see LayoutSettings.sampling)

    @property
    def family(self):
        """The rules of the profile's model family (:mod:`omni_bench.families`)."""
        return family_of(self.profile)


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

