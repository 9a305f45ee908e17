"""Real media written by ffmpeg, for tests that must hold on files the project did not write itself.

``make_clip(ClipSpec("mkv", "libx264", "libmp3lame", seconds=29.9, fps="30"), folder)`` runs
ffmpeg's ``testsrc2`` video and ``sine`` audio sources (or, with ``speech=True``, speech-like audio from
``tests/speech_audio.py``) through a real encoder and muxer and returns the file. Clips are cached by
their spec under ``folder``, so a test session writes each once.

What ffmpeg adds that our own writer never does: encoder delay and padding on AAC / MP3 / Opus /
Vorbis, B-frames and edit lists in MP4 / MOV, Matroska block timestamps rounded to milliseconds,
AVI's index, variable frame rates (``vfr=True`` drops frames unevenly, so frame durations differ).

ffmpeg comes from the system (``scripts/setup.sh`` installs Debian's package where it can);
without it, :data:`requires_ffmpeg` skips the test and says why.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest
from speech_audio import write_speech_wav

FFMPEG = shutil.which("ffmpeg")
requires_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (scripts/setup.sh installs it)")

# the audio encoders each container takes here, and ffmpeg's name for each
AUDIO_CODECS = {"aac": "aac", "mp3": "libmp3lame", "opus": "libopus", "vorbis": "libvorbis", "flac": "flac",
                "pcm": "pcm_s16le", "alac": "alac"}
VIDEO_CODECS = {"h264": "libx264", "hevc": "libx265", "vp9": "libvpx-vp9", "vp8": "libvpx", "mpeg4": "mpeg4",
                "mjpeg": "mjpeg"}


@dataclass(frozen=True)
class ClipSpec:
    """One ffmpeg-written clip; every field is one ffmpeg choice."""

    container: str = "mkv"  # file suffix: mkv, mp4, webm, mov, avi, ...
    video: str = "h264"  # key of VIDEO_CODECS
    audio: str | None = "aac"  # key of AUDIO_CODECS, or None for no audio track
    seconds: float = 3.3  # video duration (ffmpeg -t)
    fps: str = "30"  # frame rate as ffmpeg takes it: "30", "30000/1001", "24000/1001"
    width: int = 160  # frame width, pixels
    height: int = 96  # frame height, pixels
    sample_rate: int = 44100  # audio sample rate, Hz
    audio_seconds: float | None = None  # audio duration when it differs from the video's
    vfr: bool = False  # drop frames unevenly (every 3rd and 5th) and keep the timestamps: variable frame rate
    silent: bool = False  # an all-zero audio track instead of a tone
    speech: bool = False  # speech-like audio (tests/speech_audio.py: voiced syllables and pauses) instead of a tone

    @property
    def name(self) -> str:
        fps = str(self.fps).replace("/", "_")
        extra = "".join(["_vfr" if self.vfr else "", "_silent" if self.silent else "", "_speech" if self.speech else "",
                         f"_a{self.audio_seconds:g}" if self.audio_seconds is not None else ""])
        return (f"{self.video}_{self.audio or 'noaudio'}_{self.seconds:g}s_{fps}fps_{self.width}x{self.height}"
                f"_{self.sample_rate}{extra}.{self.container}")

    @property
    def native_fps(self) -> float:
        return float(Fraction(self.fps))


def ffmpeg_command(spec: ClipSpec, out: Path) -> list[str]:
    """The ffmpeg command line that writes ``spec`` to ``out``."""
    cmd = [FFMPEG or "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc2=size={spec.width}x{spec.height}:rate={spec.fps}:duration={spec.seconds}"]
    if spec.audio is not None:
        seconds = spec.seconds if spec.audio_seconds is None else spec.audio_seconds
        source = (f"anullsrc=r={spec.sample_rate}:cl=mono" if spec.silent
                  else f"sine=frequency=440:sample_rate={spec.sample_rate}")
        cmd += (["-t", str(seconds), "-i", str(speech_wav(spec, out))] if spec.speech
                else ["-t", str(seconds), "-f", "lavfi", "-i", source])
    video_filter = "select='not(eq(mod(n\\,3)\\,1))*not(eq(mod(n\\,5)\\,2))'" if spec.vfr else None
    if video_filter:
        cmd += ["-vf", video_filter, "-fps_mode", "vfr"]
    cmd += ["-c:v", VIDEO_CODECS[spec.video], "-pix_fmt", "yuvj420p" if spec.video == "mjpeg" else "yuv420p"]
    if spec.video == "hevc":
        cmd += ["-x265-params", "log-level=error"]
    if spec.audio is not None:
        cmd += ["-c:a", AUDIO_CODECS[spec.audio], "-ac", "1"]
    cmd += ["-map", "0:v"] + (["-map", "1:a"] if spec.audio is not None else [])
    return [*cmd, str(out)]


def speech_wav(spec: ClipSpec, out: Path) -> Path:
    """The speech-like WAV a ``speech`` clip's audio is encoded from, beside ``out``."""
    seconds = spec.seconds if spec.audio_seconds is None else spec.audio_seconds
    return out.parent / f"speech_{seconds:g}s_{spec.sample_rate}.wav"


def make_clip(spec: ClipSpec, folder: str | Path) -> Path:
    """Write ``spec`` with ffmpeg under ``folder`` (once: the file is reused) and return its path."""
    if FFMPEG is None:
        pytest.skip("ffmpeg is not installed (scripts/setup.sh installs it)")
    out = Path(folder) / spec.name
    if not out.exists():
        if spec.speech and spec.audio is not None:
            seconds = spec.seconds if spec.audio_seconds is None else spec.audio_seconds
            write_speech_wav(speech_wav(spec, out), seconds, spec.sample_rate)
        partial = out.with_name("partial_" + out.name)
        done = subprocess.run(ffmpeg_command(spec, partial), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg failed for {spec.name}: {done.stderr.strip()[-400:]}")
        partial.rename(out)
    return out


@pytest.fixture(scope="session")
def ffmpeg_dir(tmp_path_factory) -> Path:
    """One folder per test session for ffmpeg-written clips."""
    return tmp_path_factory.mktemp("ffmpeg_clips")
