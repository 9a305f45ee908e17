"""The one exception type a user's input can cause.

Everything a user can get wrong (a missing file, a corrupt or truncated video, a video
without an audio track when audio is asked for, mismatched ``<video>`` tags, an over-long
sample) raises :class:`OmniBenchError` with a one-line message that names the input and,
where there is one, the fix. The CLI prints that line and exits with status 2; it never
shows a traceback for these. Programming errors stay ordinary Python exceptions.
"""

from __future__ import annotations

__all__ = ["OmniBenchError"]


class OmniBenchError(Exception):
    """A user-caused problem with one input, described in one line.

    >>> str(OmniBenchError("clip.mp4: no audio track; pass --no-audio", source="clip.mp4"))
    'clip.mp4: no audio track; pass --no-audio'
    """

    def __init__(self, message: str, *, source: str | None = None, reason: str | None = None):
        super().__init__(message.splitlines()[0] if message else message)
        self.source = source  # the file or record the problem is about
        self.reason = reason  # a short machine-friendly tag, e.g. "missing", "no-audio"
