"""Speech-like audio made offline with numpy and scipy, for clips that should carry a voice, not a tone.

No text-to-speech engine is installed here (espeak, flite) and nothing may be downloaded, so
:func:`speech_like` builds a voiced signal the way a formant synthesiser does: a glottal pulse train
(100-180 Hz, its pitch rising and falling over each phrase) through three formant resonators whose
frequencies move from vowel to vowel (/a/ /i/ /u/ /e/ /o/, Peterson & Barney's averages), syllables
at about 4 per second with a raised-cosine loudness, noise bursts for the consonants between some of
them, and phrases of 1-3 s separated by 0.2-0.6 s of silence. It is not intelligible speech; it has
speech's pitch, formant structure, syllable rhythm and pauses, which is what a mel spectrogram and the
audio tower see of it. Seeded: the same arguments give the same samples.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410))  # F1-F3, Hz
BANDWIDTHS = (90, 110, 170)  # formant bandwidths, Hz


def _resonator(signal: np.ndarray, frequency: float, bandwidth: float, rate: int) -> np.ndarray:
    """A two-pole resonator (one formant) with unit gain at 0 Hz."""
    r = np.exp(-np.pi * bandwidth / rate)
    a1, a2 = -2 * r * np.cos(2 * np.pi * frequency / rate), r * r
    return lfilter([1 + a1 + a2], [1, a1, a2], signal)


def _syllable(rng, seconds: float, f0: np.ndarray, rate: int, phase: float) -> tuple[np.ndarray, float]:
    """One voiced syllable of ``seconds`` (a vowel, sometimes led by a consonant's noise burst) and the pulse phase."""
    n = int(seconds * rate)
    cycles = phase + np.cumsum(f0[:n] / rate)
    pulses = np.diff(np.floor(cycles), prepend=np.floor(phase)).astype(float)  # one impulse per glottal cycle
    source = lfilter([1.0], [1, -1.8, 0.81], pulses)  # -12 dB per octave: the glottal pulse's spectrum
    vowel = VOWELS[rng.integers(len(VOWELS))]
    voiced = source
    for frequency, bandwidth in zip(vowel, BANDWIDTHS):
        voiced = _resonator(voiced, frequency * rng.uniform(0.92, 1.08), bandwidth, rate)
    envelope = np.sin(np.pi * np.linspace(0, 1, n)) ** 0.6
    out = voiced / (np.abs(voiced).max() + 1e-9) * envelope
    if rng.random() < 0.5:  # a fricative or plosive onset: high-passed noise over the first 40-90 ms
        burst = min(n, int(rng.uniform(0.04, 0.09) * rate))
        noise = lfilter([1, -0.95], [1], rng.standard_normal(burst))
        out[:burst] += 0.3 * noise / (np.abs(noise).max() + 1e-9) * np.linspace(1, 0, burst)
    return out, cycles[-1] % 1.0 if n else phase


def speech_like(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """``seconds`` of speech-like audio at ``rate`` Hz, float32 in [-0.8, 0.8] (see the module docstring)."""
    rng = np.random.default_rng(seed)
    total = int(round(seconds * rate))
    out = np.zeros(total, dtype=np.float64)
    at, phase = int(rng.uniform(0.1, 0.3) * rate), 0.0
    while at < total:
        phrase = rng.uniform(1.0, 3.0)
        base = rng.uniform(100, 150)
        end = min(total, at + int(phrase * rate))
        contour = base * (1 + 0.2 * np.sin(np.pi * np.linspace(0, 1, end - at))) * np.linspace(1.05, 0.9, end - at)
        while at < end:
            length = min(end - at, int(rng.uniform(0.18, 0.32) * rate))
            if length < int(0.05 * rate):
                break
            part, phase = _syllable(rng, length / rate, contour[-(end - at):], rate, phase)
            out[at:at + len(part)] = part * rng.uniform(0.5, 1.0)
            at += len(part)
        at = end + int(rng.uniform(0.2, 0.6) * rate)  # a pause between phrases
    return (0.8 * out / (np.abs(out).max() + 1e-9)).astype(np.float32)


def write_speech_wav(path: str | Path, seconds: float, rate: int = 16000, seed: int = 0) -> Path:
    """:func:`speech_like` as a 16-bit mono WAV file at ``path`` (written once: an existing file is kept)."""
    path = Path(path)
    if not path.exists():
        samples = (speech_like(seconds, rate, seed) * 32767).astype("<i2")
        partial = path.with_name("partial_" + path.name)
        with wave.open(str(partial), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(samples.tobytes())
        partial.rename(path)
    return path
