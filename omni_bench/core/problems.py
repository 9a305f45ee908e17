"""One record for "this input is bad": :class:`Problem`, and one vocabulary of reason codes.

``validate``, ``budget_dataset`` and the dataset's dropped records all report an input that
cannot be used as a :class:`Problem` - the input (a file or a record id), a reason code from
:data:`REASONS` (the ``reason`` of the :class:`~omni_bench.core.errors.OmniBenchError` that
was raised) and the one-line message without the input's name in front.
"""

from __future__ import annotations

from dataclasses import dataclass

from omni_bench.core.errors import OmniBenchError

__all__ = ["Problem", "REASONS", "NO_AUDIO", "no_audio_error"]

# reason code -> what it means; every OmniBenchError carries one of these
REASONS = {
    "missing": "a file or directory that does not exist",
    "not-a-file": "a path that is not a regular file",
    "unreadable": "a file that is not a readable video, image or data file",
    "corrupt": "a video whose frames do not decode",
    "truncated": "a video that decodes to fewer frames than its container says",
    "no-frames": "a video without frames",
    "no-video": "a file without a video stream",
    "duration": "a video whose duration cannot be known",
    "no-audio": "audio is asked for but the video has no audio track",
    "empty-audio": "the audio track holds no samples",
    "sampling": "the frame sampling settings cannot be met by this video",
    "bad-size": "the frame size cannot be resized (aspect ratio above 200)",
    "image-size": "an image the image processor cannot resize (aspect ratio above 200)",
    "bad-metadata": "media metadata missing or not positive",
    "bad-format": "a data file in an unknown or wrong format",
    "bad-json": "a data file that is not valid JSON / JSONL",
    "bad-line": "a line of a JSON Lines file that is not JSON (the other lines are still read)",
    "encoding": "a text file that is not UTF-8",
    "bad-number": "a number that is not a number, not finite or out of its range",
    "turn-value": "a conversation turn whose value is not a string",
    "time-value": "a meta.token time that is not a finite number",
    "interval": "an interval that ends before it starts",
    "events": "annotation timestamps and sentences that do not pair up",
    "track-lengths": "audio and video tracks of very different lengths",
    "silent-audio": "an audio track whose every sample is zero",
    "undecodable": "a video that cannot be decoded in bounded time",
    "too-costly": "a request far beyond the model (tokens past its context, GiB of pixel values)",
    "run-locked": "a run folder another run is writing",
    "not-a-folder": "an output path that is a file",
    "bad-output": "an output file that cannot be written (its folder missing or not writable)",
    "no-context": "a model whose context length is unknown, so no default budget applies",
    "empty": "a data file without records",
    "reward": "a reward function that raises, returns a non-finite value or the wrong number of values",
    "bad-target": "a reward's target (reference reply or spans) that cannot be read as a span",
    "bad-annotations": "an annotation file whose entries lack what evaluation needs",
    "bad-log": "a training log (metrics file) that cannot be read",
    "not-a-run": "a folder that is not a training run (no config.json or metrics.jsonl)",
    "unknown-event": "an evaluation entry naming an event the annotations do not have",
    "unknown-video": "an evaluation entry naming a video the annotations do not have",
    "no-turns": "a record without a conversation",
    "roles": "turns do not alternate human, gpt, ...",
    "empty-reply": "an assistant reply that is empty",
    "same-replies": "a preference pair whose chosen and rejected replies are the same text",
    "time-token": "a time token without a value in meta.token",
    "tag-count": "<video> / <image> tags do not match the media",
    "timestamps": "a timestamp outside the video's duration",
    "over-budget": "the sample does not fit max_total_tokens",
    "zero-labels": "a sample without any label token",
    "unsupported": "an input omni_bench does not cover (images / several videos / a separate audio file)",
    "bad-settings": "settings that contradict each other or are out of range",
    "unknown-profile": "a profile name omni_bench does not know",
    "unsupported-model": "a model or processor of no known family",
    "unsupported-head": "a model whose output head the fused loss cannot wrap",
    "no-grad": "a model with nothing to train",
    "no-samples": "a training set with no usable sample",
    "no-checkpoint": "a run folder without a checkpoint",
    "disk-full": "a disk without room for the next checkpoint",
    "too-many-bad": "a training run that met more undecodable samples than --max-bad-samples",
    "run-exists": "a run folder that already holds a run",
    "resume-mismatch": "a resumed run whose configuration differs",
    "missing-dependency": "an optional package or program a feature needs is not installed",
    "invalid": "an OmniBenchError raised without a reason code",
    "error": "an unexpected exception (a bug or an unforeseen input)",
}

NO_AUDIO = "no audio track but audio is asked for (pass --no-audio to use the video alone)"


def no_audio_error(path: str) -> OmniBenchError:
    """The one error for a video without an audio track when audio is asked for."""
    return OmniBenchError(f"{path}: {NO_AUDIO}", source=path, reason="no-audio")


@dataclass(frozen=True)
class Problem:
    """Why one input (a file or a record) cannot be used.

    >>> p = Problem.from_error("clip.mp4", no_audio_error("clip.mp4"))
    >>> p.reason, str(p) == "clip.mp4: " + NO_AUDIO
    ('no-audio', True)
    """

    source: str  # the file or the record id
    reason: str  # a code of REASONS
    message: str  # one line: what is wrong and the fix, without the source in front

    def __post_init__(self):
        if self.reason not in REASONS:
            raise ValueError(f"unknown reason code {self.reason!r}; add it to omni_bench.core.problems.REASONS")

    @classmethod
    def of(cls, source, reason: str | None, message: str) -> Problem:
        source = str(source)
        if message.startswith(source + ": "):
            message = message[len(source) + 2:]
        return cls(source, reason or "invalid", message)

    @classmethod
    def from_error(cls, source, exc: OmniBenchError) -> Problem:
        return cls.of(source, exc.reason, str(exc))

    def to_dict(self) -> dict:
        return {"source": self.source, "reason": self.reason, "message": self.message}

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"
