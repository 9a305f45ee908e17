"""Content checks a reviewer would make of one record and its video, beyond the format.

* :func:`check_content`: what the loaders noted while reading (``Record.defects``): a broken JSON
  Lines line ("bad-line"), a turn value that is not a string ("turn-value"), a duration that is not
  a finite number > 0 ("duration"), a time that is not a finite number ("time-value"), an interval
  that ends before it starts ("interval"), timestamps and sentences that do not pair up ("events").
* :func:`check_tracks`: audio and video tracks whose lengths differ by more than
  :data:`TRACK_TOLERANCE` ("track-lengths": a 10 s video with a 3 s audio track, or the reverse).
* :func:`check_silence`: an audio track whose every sample is zero ("silent-audio"; decodes the track).

Each raises :class:`~omni_bench.core.errors.OmniBenchError` naming the record or the file, so
``validate`` lists it as a problem and goes on; the dataset drops such a record with its reason.
Not covered: near-silence (a hiss is not zero), audio and video out of sync within equal lengths.
"""

from __future__ import annotations

from omni_bench.core.errors import OmniBenchError

__all__ = ["check_content", "check_tracks", "check_silence", "TRACK_TOLERANCE"]

# audio and video lengths may differ by this share of the video (or 1 s, whichever is more): encoder
# delay and padding are a few hundredths of a second
TRACK_TOLERANCE = 0.1


def check_content(record) -> None:
    """Raise the first of ``record.defects`` (counting the others), naming the record."""
    defects = getattr(record, "defects", ())
    if defects:
        reason, message = defects[0]
        more = f" (and {len(defects) - 1} more)" if len(defects) > 1 else ""
        raise OmniBenchError(f"{record.id}: {message}{more}", source=record.id, reason=reason)


def check_tracks(info) -> None:
    """Refuse a video whose audio track is much shorter or longer than its video track.

    >>> from omni_bench.core.media import VideoInfo
    >>> check_tracks(VideoInfo("a.mp4", 10.0, 100, 10.0, 64, 64, True, 9.98))  # padding: fine
    >>> check_tracks(VideoInfo("a.mp4", 10.0, 100, 10.0, 64, 64, True, 3.0))
    Traceback (most recent call last):
    omni_bench.core.errors.OmniBenchError: a.mp4: the audio track is 3 s but the video 10 s (they may differ by 1 s)
    """
    if not info.has_audio or info.audio_seconds is None:
        return
    allowed = max(1.0, TRACK_TOLERANCE * info.duration)
    if abs(info.audio_seconds - info.duration) > allowed:
        raise OmniBenchError(f"{info.path}: the audio track is {info.audio_seconds:g} s but the video "
                             f"{info.duration:g} s (they may differ by {allowed:g} s)", source=info.path,
                             reason="track-lengths")


def check_silence(path: str) -> None:
    """Refuse a video whose audio track decodes to zeros only. Decoding stops at the first frame with
    a non-zero sample, so only a silent track is decoded to its end."""
    import av
    import numpy as np

    try:
        with av.open(path) as container:
            samples = 0
            for frame in container.decode(container.streams.audio[0]):
                if np.any(frame.to_ndarray()):
                    return
                samples += frame.samples
    except (av.error.FFmpegError, IndexError) as exc:
        raise OmniBenchError(f"{path}: cannot decode the audio track ({exc})", source=path,
                             reason="corrupt") from None
    raise OmniBenchError(f"{path}: the audio track is silent (all {samples} samples are zero); with "
                         "--no-audio the video is used alone", source=path, reason="silent-audio")
