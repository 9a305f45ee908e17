"""The words of a training record, written once: media tags, time tokens and their messages.

Every reader (:mod:`omni_bench.data.records`, :mod:`omni_bench.data.formats`,
:mod:`omni_bench.data.preference`) and the one record gate (:mod:`omni_bench.data.validation`)
take the tags and the messages from here, so ``validate``, training and evaluation say the same
thing about the same record.

* ``<video>``, ``<image>``, ``<audio>``: where a medium stands in a human turn (LLaMA-Factory's,
  ms-swift's and Qwen-VL's convention); :data:`TAG` finds any of them.
* ``<s0>``, ``<e0>``, ...: LongVALE's time tokens, a start / end per event, given in seconds by
  the record's ``meta.token`` (:data:`TIME_TOKEN`).

>>> TAG.findall("<video><audio>\\nWhat is said?")
['<video>', '<audio>']
>>> str(tag_count_error("v1", "<video>", 2, 1))
'v1: 2 <video> tag(s) but 1 video(s)'
"""

from __future__ import annotations

import re

from omni_bench.core.errors import OmniBenchError

__all__ = ["VIDEO_TAG", "IMAGE_TAG", "AUDIO_TAG", "TAGS", "TAG", "TIME_TOKEN", "KIND",
           "tag_count_error", "time_token_error", "timestamps_error", "unsupported_media_error"]

VIDEO_TAG = "<video>"
IMAGE_TAG = "<image>"
AUDIO_TAG = "<audio>"
TAGS = (VIDEO_TAG, IMAGE_TAG, AUDIO_TAG)
TAG = re.compile(r"(<video>|<image>|<audio>)")  # a capturing group: re.split keeps the tags
TIME_TOKEN = re.compile(r"<[se]\d+>")  # LongVALE's <s0> / <e0> time tokens
KIND = {VIDEO_TAG: "video", IMAGE_TAG: "image", AUDIO_TAG: "audio"}  # the medium each tag stands for


def tag_count_error(rid: str, tag: str, tags: int, media: int) -> OmniBenchError:
    """The one message for tags that do not match the record's media list."""
    return OmniBenchError(f"{rid}: {tags} {tag} tag(s) but {media} {KIND[tag]}(s)", source=rid, reason="tag-count")


def time_token_error(rid: str, tokens) -> OmniBenchError:
    """The one message for ``<s3>``-style tokens with no value in ``meta.token`` (they would train as text).

    >>> str(time_token_error("v1", ("<s3>",)))
    'v1: time token(s) <s3> have no value in meta.token (it would be trained as the literal text)'
    """
    return OmniBenchError(f"{rid}: time token(s) {', '.join(tokens)} have no value in meta.token (it would be "
                          "trained as the literal text)", source=rid, reason="time-token")


def timestamps_error(rid: str, seconds: float | None, duration: float | None) -> OmniBenchError:
    """The one message for a time outside the video (``seconds``), or times with no duration (None)."""
    if seconds is None or duration is None:
        return OmniBenchError(f"{rid}: timestamps but no duration to check them against", source=rid,
                              reason="timestamps")
    return OmniBenchError(f"{rid}: timestamp {seconds:g} s is outside the video's duration (0 to {duration:g} s)",
                          source=rid, reason="timestamps")


def unsupported_media_error(rid: str, what: str) -> OmniBenchError:
    """The one message for media the training dataset does not take (validate refuses it the same way)."""
    return OmniBenchError(f"{rid}: {what} are not trained (one video per record, its audio from the video's own "
                          "track); split the record or leave that medium out", source=rid, reason="unsupported")
