"""Exact stream lengths from demuxed packets, nothing decoded.

A container's duration fields are not what a decoder delivers: AAC and MP3 carry encoder
delay and padding, Opus a pre-skip, Matroska rounds block times to milliseconds, MP4
edit lists trim the start. :func:`count_packets` reads every packet of the video and audio
streams once (demuxing only, no decoding) and derives:

* video frames: the number of non-empty video packets (one coded picture each), which is
  what decord and PyAV decode - never the header's estimate;
* audio samples at the track's own rate, as FFmpeg's decoder outputs them: the samples
  each packet codes (the codec's fixed frame size for AAC / MP3 / AC-3; the TOC byte for
  Opus; the frame header for FLAC; FFmpeg's Vorbis parser, less the first packet, which
  only primes the decoder; bytes / (sample size x channels) for PCM), minus the samples
  the demuxer tells the decoder to skip or discard (``AV_PKT_DATA_SKIP_SAMPLES`` side data:
  Opus pre-skip, MP4 edit-list priming, Matroska DiscardPadding).

:func:`resampled_length` maps that count to what FFmpeg's resampler (the one
:func:`~omni_bench.core.media.read_audio` uses) produces at 16 kHz. The resampler's output
length is periodic in the input length (``in_rate / gcd`` input samples give
``out_rate / gcd`` output samples), so it is measured once per rate on a few thousand
samples of silence and extended exactly.

A codec none of the rules covers falls back to packet timestamps and reports how far off
that can be (``uncertainty``, in samples); the callers print it as "±N".
"""

from __future__ import annotations

import functools
import math
import struct
from dataclasses import dataclass

__all__ = ["PacketCount", "count_packets", "resampled_length", "flac_block_size", "opus_packet_samples"]

# codecs whose packets each code a fixed number of samples, FFmpeg's frame_size
_FIXED_FRAME = ("aac", "mp3", "mp3float", "mp2", "mp2float", "ac3", "eac3", "ac3_fixed", "mp1")


@dataclass(frozen=True)
class PacketCount:
    """What one demux pass over a file's first video and first audio stream found."""

    video_frames: int  # non-empty video packets
    video_seconds: float  # from the first video packet's start to the last one's end
    audio_samples: int | None  # samples the decoder outputs at audio_rate (None: no audio stream)
    audio_rate: int | None  # the audio stream's sample rate, Hz
    uncertainty: int = 0  # +- samples at audio_rate (0: exact)
    rule: str = ""  # which rule gave the audio count
    video_stamps: tuple = ()  # each video packet's presentation time, seconds from the first, in order


def opus_packet_samples(data: bytes) -> int:
    """Samples (at 48 kHz) one Opus packet codes, from its TOC byte (RFC 6716 section 3.1).

    >>> opus_packet_samples(bytes([0xFC, 0x00]))  # CELT 20 ms, one frame
    960
    >>> opus_packet_samples(bytes([0x03, 0x83]))  # SILK 10 ms, code 3, three frames
    1440
    """
    toc = data[0]
    config = toc >> 3
    if config < 12:  # SILK: 10, 20, 40, 60 ms
        per_frame = (480, 960, 1920, 2880)[config & 3]
    elif config < 16:  # hybrid: 10, 20 ms
        per_frame = (480, 960)[config & 1]
    else:  # CELT: 2.5, 5, 10, 20 ms
        per_frame = (120, 240, 480, 960)[config & 3]
    code = toc & 3
    frames = 1 if code == 0 else 2 if code in (1, 2) else (data[1] & 0x3F if len(data) > 1 else 0)
    return per_frame * frames


def flac_block_size(data: bytes) -> int:
    """Samples per channel one FLAC frame codes, from its header (block-size code and, for codes
    6 and 7, the size stored after the UTF-8 coded frame number).

    >>> flac_block_size(bytes([0xFF, 0xF8, 0xC9, 0x08, 0x00]))  # code 12: 256 << 4
    4096
    """
    code = data[2] >> 4
    if code == 1:
        return 192
    if 2 <= code <= 5:
        return 576 << (code - 2)
    if code >= 8:
        return 256 << (code - 8)
    lead = data[4]
    length = 1
    if lead >= 0x80:  # UTF-8 style: as many bytes as leading one bits
        length = 8 - (lead ^ 0xFF).bit_length()
    at = 4 + length
    if code == 6:
        return data[at] + 1
    if code == 7:
        return (data[at] << 8 | data[at + 1]) + 1
    raise ValueError(f"FLAC frame header with reserved block-size code {code}")


def _skipped(packet) -> int:
    if not packet.has_sidedata("skip_samples"):
        return 0
    start, end = struct.unpack("<II", bytes(packet.get_sidedata("skip_samples"))[:8])
    return start + end


class _AudioCounter:
    """Adds up one audio stream's packets by the rule its codec allows."""

    def __init__(self, stream):
        import av

        context = stream.codec_context
        self.name, self.rate = context.name, int(context.sample_rate)
        self.time_base = stream.time_base
        self.total = self.skip = self.first = self.packets = 0
        self.first_pts = self.last_pts = None
        self.largest = self.last_duration = 0
        self.parser = None
        self.bytes_per_frame = 0
        if self.name.startswith("pcm_") and context.format is not None:
            self.rule = "pcm"
            self.bytes_per_frame = context.format.bytes * max(1, context.channels)
        elif self.name in _FIXED_FRAME and context.frame_size:
            self.rule, self.fixed = "frame_size", int(context.frame_size)
        elif self.name in ("opus", "flac"):
            self.rule = self.name
        elif self.name == "vorbis":
            self.rule = "vorbis"
            self.parser = av.CodecContext.create("vorbis", "r")
            self.parser.extradata = context.extradata
        else:
            self.rule = "timestamps"

    def add(self, packet) -> None:
        data = bytes(packet)
        if self.rule == "pcm":
            samples = len(data) // self.bytes_per_frame
        elif self.rule == "frame_size":
            samples = self.fixed
        elif self.rule == "opus":
            samples = opus_packet_samples(data)
        elif self.rule == "flac":
            samples = flac_block_size(data)
        elif self.rule == "vorbis":
            samples = sum(int(p.duration or 0) for p in self.parser.parse(data))
        else:
            samples = 0
        if self.packets == 0:
            self.first = samples
        self.packets += 1
        self.total += samples
        self.skip += _skipped(packet)
        if packet.pts is not None and self.rule == "timestamps":
            if self.first_pts is not None:
                self.largest = max(self.largest, int(packet.pts - self.last_pts))  # the widest packet spacing
            self.first_pts = packet.pts if self.first_pts is None else min(self.first_pts, packet.pts)
            self.last_pts, self.last_duration = packet.pts, int(packet.duration or 0)
            self.largest = max(self.largest, self.last_duration)

    def result(self) -> tuple[int, int, str]:
        """(samples, +- samples, rule)."""
        if self.rule != "timestamps":
            total = self.total - (self.first if self.rule == "vorbis" else 0)  # Vorbis' first packet decodes to 0
            return max(0, total - self.skip), 0, self.rule
        if self.first_pts is None:
            return 0, 0, self.rule
        # the last packet's length is its duration when the container gives one, else the widest spacing;
        # either way the decoded end lies within one packet (plus a timestamp step at each end) of it
        last = self.last_duration or self.largest
        seconds = float((self.last_pts + last - self.first_pts) * self.time_base)
        step = float(self.time_base) * (max(1, self.largest) + 2)
        return max(0, int(round(seconds * self.rate)) - self.skip), int(math.ceil(step * self.rate)), self.rule


def count_packets(container, video, audio) -> PacketCount:
    """One demux pass over ``video`` (a PyAV stream) and ``audio`` (a stream or None)."""
    counter = _AudioCounter(audio) if audio is not None else None
    frames, first, end, stamps = 0, None, None, []
    streams = [s for s in (video, audio) if s is not None]
    for packet in container.demux(streams):
        if packet.size == 0:
            continue  # the demuxer's end-of-stream marker
        if packet.stream.index == video.index:
            frames += 1
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is not None:
                stamps.append(stamp)
                first = stamp if first is None else min(first, stamp)
                end = stamp + (packet.duration or 0) if end is None else max(end, stamp + (packet.duration or 0))
        else:
            counter.add(packet)
    seconds = float((end - first) * video.time_base) if first is not None else 0.0
    times = tuple(float((stamp - first) * video.time_base) for stamp in sorted(stamps))
    if counter is None:
        return PacketCount(frames, seconds, None, None, video_stamps=times)
    samples, uncertainty, rule = counter.result()
    return PacketCount(frames, seconds, samples, counter.rate, uncertainty, rule, times)


@functools.lru_cache(maxsize=256)
def _measured(samples: int, rate: int, target: int) -> int:
    """Output length of FFmpeg's resampler (as read_audio runs it) for ``samples`` of silence."""
    import av
    import numpy as np

    resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.float32), format="fltp", layout="mono")
    frame.sample_rate, frame.pts = rate, 0
    out = sum(o.samples for o in resampler.resample(frame))
    return out + sum(o.samples for o in resampler.resample(None))


def resampled_length(samples: int, rate: int, target: int = 16000) -> int:
    """Samples FFmpeg's resampler makes of ``samples`` at ``rate`` Hz, resampled to ``target`` Hz.

    Exact: every ``rate / g`` more input samples (``g = gcd(rate, target)``) give exactly
    ``target / g`` more output samples once past the filter's start-up, so the length is
    measured on a reference input of the same residue (a few thousand samples) and shifted.

    >>> resampled_length(498330, 44100), resampled_length(499712, 44100), resampled_length(160000, 16000)
    (180800, 181302, 160000)
    """
    samples, rate = int(samples), int(rate)
    if samples <= 0:
        return 0
    g = math.gcd(rate, target)
    period_in, period_out = rate // g, target // g
    base = max(8, -(-8192 // period_in))  # reference inputs of at least 8192 samples
    periods = samples // period_in
    if periods <= base:
        return _measured(samples, rate, target)
    reference = samples - (periods - base) * period_in
    return _measured(reference, rate, target) + (periods - base) * period_out
