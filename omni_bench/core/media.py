"""Decode real media into arrays: video frames with their metadata, audio at 16 kHz.

* :func:`probe` reads the container and its packets, decoding nothing: native fps, size,
  the exact frame count (video packets) and the exact number of 16 kHz samples
  :func:`read_audio` returns (:mod:`omni_bench.core.packets`: encoder delay, padding and
  skip samples included), or a stated +- where a codec does not allow it; a file whose
  packets end well before its header's duration is "truncated".
* :func:`read_frames` decodes only the requested frame indices (decord ``get_batch``;
  PyAV as a fallback, numbering frames in decode order as decord does, seeking to the
  nearest key frame before each run of indices). decord runs under a time bound
  (:data:`DECORD_SECONDS` plus :data:`DECORD_SECONDS_PER_FRAME` per frame); past it PyAV, whose loops are
  bounded, decodes instead (decord's thread cannot be stopped: it finishes in the background).
* :func:`read_audio` gives mono float32 at 16 kHz from an audio file (librosa) or from a
  video's own audio track (PyAV, resampled by FFmpeg's resampler).
* :func:`write_clip` writes a deterministic synthetic clip (a moving pattern plus a tone)
  for tests, ``data/`` and benchmarks.

Every problem a file can have (missing, not a video, corrupt, truncated, no audio track,
empty audio) raises :class:`~omni_bench.core.errors.OmniBenchError` naming the file. Not
covered: images, streaming URLs; a variable-frame-rate video's frames are counted exactly,
but its frame times are index / the container's average rate: :func:`probe` notes it (``VideoInfo.notes``,
with how far the nominal times are off the real timestamps), as it notes a header whose duration or frame
count disagrees with the stream; the sampler does not use the real timestamps yet.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.packets import count_packets, resampled_length
from omni_bench.core.problems import no_audio_error

__all__ = ["VideoInfo", "probe", "read_frames", "read_audio", "write_clip", "AUDIO_RATE", "VIDEO_SUFFIXES"]

AUDIO_RATE = 16000  # samples per second the Omni feature extractor expects
# File suffixes taken for videos (folders expanded, a video named by id only), in the order tried.
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".flv", ".wmv", ".mpg", ".mpeg", ".ts", ".mts",
                  ".m2ts", ".3gp", ".ogv")


@dataclass(frozen=True)
class VideoInfo:
    """What a container says about a video, read without decoding.

    >>> VideoInfo("a.mkv", 25.0, 250, 10.0, 320, 180, True, 10.0).seconds_per_frame
    0.04
    """

    path: str  # the file
    native_fps: float  # average frame rate of the video stream
    total_frames: int  # frames in the video stream
    duration: float  # seconds: total_frames / native_fps
    width: int  # pixels
    height: int  # pixels
    has_audio: bool  # an audio stream exists
    audio_seconds: float | None = None  # seconds of audio read_audio returns (samples / 16000), if any
    audio_uncertainty: int = 0  # +- 16 kHz samples audio_seconds may be off (0: exact from the packets)
    # what the stream and its header disagree on (a header duration off, a variable frame rate); one line each
    notes: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def seconds_per_frame(self) -> float:
        return 1.0 / self.native_fps

    def to_dict(self) -> dict:  # the metadata fields (plan(**info.to_dict()) takes them); the notes are apart
        values = asdict(self)
        del values["notes"]
        return values


def _check_file(path: str | os.PathLike) -> str:
    path = str(path)
    if not os.path.exists(path):
        raise OmniBenchError(f"{path}: file not found", source=path, reason="missing")
    if os.path.isdir(path):
        raise OmniBenchError(f"{path}: is a directory, not a media file", source=path, reason="not-a-file")
    if os.path.getsize(path) == 0:
        raise OmniBenchError(f"{path}: file is empty", source=path, reason="empty")
    try:  # permission denied is one line before any decoder (decord would print its own error first)
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise OmniBenchError(f"{path}: cannot read ({exc.strerror}); check the file's permissions", source=path,
                             reason="unreadable") from None
    return path


def _open_container(path: str):
    import av

    try:
        return av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise OmniBenchError(f"{path}: not a readable media file ({_short(exc)})", source=path,
                             reason="unreadable") from exc


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's metadata from its container without decoding frames.

    The frame count is the number of video packets and the audio length the samples
    :func:`read_audio` will return, both from one demux pass (no decoding; see
    :mod:`omni_bench.core.packets`), not the header's estimates.
    Raises OmniBenchError for a missing, unreadable or video-less file.
    """
    import av

    path = _check_file(path)
    with _open_container(path) as container:
        if not container.streams.video:
            raise OmniBenchError(f"{path}: no video stream", source=path, reason="no-video")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        audio = container.streams.audio[0] if container.streams.audio else None
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
        header, header_frames = _header_seconds(stream), int(stream.frames or 0)
        try:
            counted = count_packets(container, stream, audio)
        except (av.error.FFmpegError, ValueError, IndexError) as exc:
            raise OmniBenchError(f"{path}: cannot read the packets ({_short(exc)})", source=path,
                                 reason="corrupt") from exc
    frames = counted.video_frames
    if fps <= 0 or frames <= 0 or width <= 0:
        raise OmniBenchError(f"{path}: video stream has no frames or no frame rate", source=path,
                             reason="corrupt")
    if header is not None and counted.video_seconds < header - max(1.0, 0.05 * header):
        raise OmniBenchError(f"{path}: truncated: the header says {header:.2f} s of video but its packets end at "
                             f"{counted.video_seconds:.2f} s ({frames} frames)", source=path, reason="truncated")
    notes = _stream_notes(header, header_frames, counted, fps)
    audio_seconds, uncertainty = None, 0
    if audio is not None:
        samples = resampled_length(counted.audio_samples, counted.audio_rate, AUDIO_RATE)
        audio_seconds = samples / AUDIO_RATE
        if counted.uncertainty:
            uncertainty = resampled_length(counted.uncertainty, counted.audio_rate, AUDIO_RATE) + 1
    return VideoInfo(path, fps, frames, frames / fps, width, height, audio is not None, audio_seconds, uncertainty,
                     notes)


def _stream_notes(header: float | None, header_frames: int, counted, fps: float) -> tuple[str, ...]:
    """What :func:`probe` uses silently otherwise: a header whose duration or frame count is off from the stream
    (by more than half a second and 2 %; far longer is ``truncated``), and a variable frame rate (a frame's
    time is taken as index / the average rate: the largest gap from its real timestamp, when over 1.5 frames).
    """
    notes = []
    seconds, frames = counted.video_seconds, counted.video_frames
    if header is not None and abs(header - seconds) > max(0.5, 0.02 * seconds):
        notes.append(f"the header says {header:.2f} s of video but its packets span {seconds:.2f} s "
                     f"({frames} frames); the packets' {seconds:.2f} s are used")
    if header_frames and abs(header_frames - frames) > max(1, 0.02 * frames):
        notes.append(f"the header says {header_frames} frames but the stream holds {frames}; {frames} are used")
    stamps = counted.video_stamps
    if len(stamps) == frames and frames > 1:
        off = max(abs(stamp - i / fps) for i, stamp in enumerate(stamps))
        if off > 1.5 / fps:  # a frame's jitter is not noted (AVI's decode-order stamps of B-frames)
            notes.append(f"variable frame rate: frame times are taken as index / {fps:.3f} fps (the average rate), "
                         f"off from the real timestamps by up to {off:.3f} s")
    return tuple(notes)


def _header_seconds(stream) -> float | None:
    """What the header says the stream lasts: its own duration or Matroska's DURATION tag."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tag = (stream.metadata or {}).get("DURATION")
    if tag:
        hours, minutes, seconds = tag.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return None


def read_frames(path: str | os.PathLike, indices, *, backend: str = "auto") -> np.ndarray:
    """Decode only the given frame indices; return uint8 RGB frames [T, H, W, 3].

    backend: "decord", "pyav" or "auto" (decord, falling back to PyAV when decord is missing
    or fails). A truncated file whose frames cannot be decoded raises OmniBenchError.
    """
    path = _check_file(path)
    indices = [int(i) for i in indices]
    if not indices:
        raise OmniBenchError(f"{path}: no frames requested", source=path, reason="no-frames")
    errors = []
    if backend in ("auto", "decord"):
        try:
            return _bounded_decord(path, indices)
        except OmniBenchError:
            raise
        except Exception as exc:  # decord raises its own DECORDError and RuntimeError
            if backend == "decord":
                raise OmniBenchError(f"{path}: cannot decode frames ({_short(exc)})", source=path,
                                     reason="undecodable" if isinstance(exc, _DecordTimeout) else "corrupt") from exc
            errors.append(exc)
    return _read_pyav(path, indices)


DECORD_SECONDS = 60.0  # decord's time bound: this many seconds, plus DECORD_SECONDS_PER_FRAME per frame asked
DECORD_SECONDS_PER_FRAME = 2.0


class _DecordTimeout(Exception):
    """decord did not return within its bound (read_frames falls back to PyAV, whose loops are bounded)."""


def _bounded_decord(path: str, indices: list[int]) -> np.ndarray:
    """:func:`_read_decord` in a worker thread, waited for at most ``DECORD_SECONDS + DECORD_SECONDS_PER_FRAME *
    len(indices)`` seconds. decord is a C++ call that cannot be interrupted: past the bound the thread is left to
    finish on its own (a daemon, its result dropped) and :class:`_DecordTimeout` is raised."""
    import threading

    result: dict = {}

    def work():
        try:
            result["frames"] = _read_decord(path, indices)
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=work, name="omni_bench-decord", daemon=True)
    worker.start()
    bound = DECORD_SECONDS + DECORD_SECONDS_PER_FRAME * len(indices)
    worker.join(bound)
    if worker.is_alive():
        raise _DecordTimeout(f"decord did not return within {bound:g} s")
    if "error" in result:
        raise result["error"]
    return result["frames"]


def _read_decord(path: str, indices: list[int]) -> np.ndarray:
    import decord

    decord.logging.set_level(decord.logging.QUIET)  # problems surface as one OmniBenchError line

    reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
    if max(indices) >= len(reader):
        raise OmniBenchError(f"{path}: frame {max(indices)} requested but the video decodes to "
                             f"{len(reader)} frames (truncated?)", source=path, reason="truncated")
    return reader.get_batch(indices).asnumpy()


def _read_pyav(path: str, indices: list[int]) -> np.ndarray:
    """Frames by decode order, as decord numbers them: frame i is the i-th smallest packet
    timestamp (exact for variable frame rates too). Seeks to the key frame before each run of
    indices; where the timestamps after a seek are not the packets' (AVI), decodes in order."""
    import av

    wanted = sorted(set(indices))
    with _open_container(path) as container:
        stream = container.streams.video[0]
        try:
            order = sorted(p.pts if p.pts is not None else p.dts for p in container.demux(stream)
                           if p.size and (p.pts is not None or p.dts is not None))
            found = _seek_frames(container, stream, order, wanted)
            if found is None:
                container.seek(0, stream=stream, backward=True, any_frame=False)
                found = _frames_in_order(container.decode(stream), wanted)
        except av.error.FFmpegError as exc:
            raise OmniBenchError(f"{path}: cannot decode frames ({_short(exc)})", source=path,
                                 reason="corrupt") from exc
    missing = [i for i in wanted if i not in found]
    if missing:
        raise OmniBenchError(f"{path}: could not decode frame {missing[0]} ({len(missing)} missing; "
                             "truncated?)", source=path, reason="truncated")
    return np.stack([found[i] for i in indices])


def _frames_in_order(frames, wanted: list[int]) -> dict[int, np.ndarray]:
    found, targets = {}, set(wanted)
    for i, frame in enumerate(frames):
        if i in targets:
            found[i] = frame.to_ndarray(format="rgb24")
        if i >= wanted[-1]:
            break
    return found


def _seek_frames(container, stream, order: list, wanted: list[int]) -> dict[int, np.ndarray] | None:
    """Wanted frames by seeking; None when a decoded frame's timestamp is no packet's."""
    index_of = {pts: i for i, pts in enumerate(order)}
    far = 2 / float(stream.time_base)  # two seconds, in time-base units
    found: dict[int, np.ndarray] = {}
    position = 0
    while position < len(wanted) and wanted[position] < len(order):
        container.seek(order[wanted[position]], stream=stream, backward=True, any_frame=False)
        progressed = False
        for frame in container.decode(stream):
            index = index_of.get(frame.pts if frame.pts is not None else frame.dts)
            if index is None:
                return None
            while position < len(wanted) and wanted[position] < index:
                position += 1  # a frame the decoder never produced: fall through to error
            if position < len(wanted) and index == wanted[position]:
                found[index] = frame.to_ndarray(format="rgb24")
                position, progressed = position + 1, True
            if position >= len(wanted) or wanted[position] >= len(order):
                break
            if progressed and order[wanted[position]] - order[index] > far:
                break  # the next wanted frame is far: seek again
        else:
            break
    return found


def read_audio(path: str | os.PathLike, *, sampling_rate: int = AUDIO_RATE) -> np.ndarray:
    """Mono float32 audio at ``sampling_rate`` from an audio file or a video's audio track.

    Raises OmniBenchError when the file has no audio track or the track is empty.
    """
    path = _check_file(path)
    import av

    with _open_container(path) as container:
        if not container.streams.audio:
            raise no_audio_error(path)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sampling_rate)
        pieces = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise OmniBenchError(f"{path}: cannot decode the audio track ({_short(exc)})", source=path,
                                 reason="corrupt") from exc
    samples = np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)
    if samples.size == 0:
        raise OmniBenchError(f"{path}: the audio track is empty", source=path, reason="empty-audio")
    return samples


def write_clip(
    path: str | os.PathLike,
    *,
    seconds: float = 4.0,
    fps: float = 10.0,
    width: int = 320,
    height: int = 180,
    audio: bool = True,
    tone_hz: float = 440.0,
    seed: int = 0,
) -> VideoInfo:
    """Write a deterministic synthetic clip: a moving bar over a gradient, plus a tone.

    The container is Matroska with MPEG-4 Part 2 video (every frame decodable by decord
    and PyAV) and 16 kHz PCM audio, so the audio length is exact to the sample:
    ``round(seconds * 16000)`` samples. Returns the clip's :func:`probe`.
    """
    import av

    path = str(path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frames = int(round(seconds * fps))
    base = _gradient(width, height, seed)
    rate = _fraction(fps)
    # bitexact: no random segment UID, no muxing date, no encoder version string -> same bytes every run
    with av.open(path, mode="w", format="matroska", options={"fflags": "+bitexact"}) as container:
        video = container.add_stream("mpeg4", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.gop_size = max(1, int(round(fps)))  # a key frame every second
        video.codec_context.options = {"qscale": "4", "flags": "+bitexact"}
        sound = None
        if audio:
            sound = container.add_stream("pcm_s16le", rate=AUDIO_RATE)
            sound.layout = "mono"
        _mux_video(container, video, base, frames, rate)
        if sound is not None:
            _mux_tone(container, sound, int(round(seconds * AUDIO_RATE)), tone_hz)
    return probe(path)


def _gradient(width: int, height: int, seed: int) -> np.ndarray:
    """The clip's background: red across, green down, a seeded blue level."""
    rng = np.random.default_rng(seed)
    base = np.zeros((height, width, 3), np.uint8)
    base[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    base[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    base[..., 2] = rng.integers(0, 64, dtype=np.uint8)
    return base


def _mux_video(container, video, base: np.ndarray, frames: int, rate) -> None:
    """Encode the frames: a white bar moving across ``base`` and a red frame-counter bar on top."""
    import av

    height, width = base.shape[:2]
    bar = max(4, width // 16)
    for i in range(frames):
        image = base.copy()
        x = int((i / max(frames, 1)) * (width - bar))
        image[:, x:x + bar] = 255
        image[: height // 8, : max(1, (i % 50) * width // 50)] = (255, 0, 0)  # a frame counter bar
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = i
        frame.time_base = 1 / rate  # Fraction
        for packet in video.encode(frame):
            container.mux(packet)
    for packet in video.encode(None):
        container.mux(packet)


def _mux_tone(container, sound, total: int, tone_hz: float) -> None:
    """Encode ``total`` 16 kHz samples of a tone whose loudness swells at 0.5 Hz, 1600 samples a frame."""
    import av

    t = np.arange(total) / AUDIO_RATE
    wave = 0.3 * np.sin(2 * math.pi * tone_hz * t) * (0.6 + 0.4 * np.sin(2 * math.pi * 0.5 * t))
    pcm = (wave * 32767).astype(np.int16)
    step = 1600
    for start in range(0, total, step):
        frame = av.AudioFrame.from_ndarray(pcm[start:start + step][None, :], format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = Fraction(1, AUDIO_RATE)
        for packet in sound.encode(frame):
            container.mux(packet)
    for packet in sound.encode(None):
        container.mux(packet)


def _fraction(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)
