"""What decoding costs: only the sampled frames versus every frame, with decord and PyAV.

Six ways to get the same sampled frames out of a video file:

=================  ============================================================================
``decord-sampled`` decord ``get_batch(sampled)`` (what qwen-vl-utils and ``read_frames`` do)
``decord-all``     decord ``get_batch(every frame)``, then pick the sampled ones
``decord-iterate`` decord frame by frame over the whole video, keeping the sampled ones
``pyav-seek``      PyAV seeking to the key frame before each run of indices (``read_frames``
                   with ``backend="pyav"``)
``pyav-all``       PyAV decodes every frame to an array, stacks them, then picks
``pyav-scan``      PyAV decodes every frame, converts only the sampled ones (LLaMA-Factory's
                   ``if frame_idx in sample_indices`` loop)
=================  ============================================================================

:func:`measure_decode` runs one variant in a fresh Python process
(``python -m omni_bench.bench.decode``) so that its peak resident memory (``ru_maxrss``) is its
own. The child imports decord and PyAV first, then times opening the file plus decoding, and
reports that wall time, the CPU time it took (user + system, all threads: robust when the
machine is shared), its resident memory before decoding and its peak, and a hash of the
frames it returned so that variants can be checked against each other.

Not covered: GPU decoding, torchcodec, threads beyond one decoder thread (decord
``num_threads=1`` as ``read_frames`` uses), the processor's resize.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from omni_bench.core.machine import describe_machine
from omni_bench.core.media import read_frames

__all__ = ["VARIANTS", "DecodeCost", "measure_decode", "decode_once", "summarise", "decode_variant",
           "machine_info"]

VARIANTS = ("decord-sampled", "decord-all", "decord-iterate", "pyav-seek", "pyav-all", "pyav-scan")


@dataclass(frozen=True)
class DecodeCost:
    """One variant decoding one set of indices, over repeated fresh processes."""

    variant: str  # one of VARIANTS
    sampled: int  # number of indices asked for
    seconds: float  # median wall time of open + decode, seconds
    cpu_seconds: float  # median CPU time (user + system, all threads) of open + decode, seconds
    seconds_runs: tuple[float, ...]  # wall time of every repeat
    cpu_seconds_runs: tuple[float, ...]  # CPU time of every repeat
    peak_rss_mb: float  # the child's peak resident memory (ru_maxrss), MiB, max over repeats
    baseline_rss_mb: float  # resident memory just before decoding (imports done), MiB
    frames_hash: str  # sha256 of the returned uint8 frames [T, H, W, 3] (first 16 hex digits)
    shape: tuple[int, ...]  # shape of the returned frames

    @property
    def extra_mb(self) -> float:
        """Peak memory the decode added over the baseline, MiB."""
        return self.peak_rss_mb - self.baseline_rss_mb

    def to_dict(self) -> dict:
        out = asdict(self)
        out["extra_mb"] = round(self.extra_mb, 1)
        return out


def _rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def decode_variant(variant: str, path: str, indices: list[int]) -> np.ndarray:
    """Decode ``indices`` of ``path`` the way ``variant`` does; return frames [T, H, W, 3] uint8."""
    if variant == "decord-sampled":
        return read_frames(path, indices, backend="decord")
    if variant == "pyav-seek":
        return read_frames(path, indices, backend="pyav")
    if variant.startswith("decord"):
        import decord

        reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
        if variant == "decord-all":
            every = reader.get_batch(list(range(len(reader)))).asnumpy()
            return every[indices]
        if variant == "decord-iterate":
            wanted, kept = set(indices), {}
            for i in range(len(reader)):
                frame = reader.next().asnumpy()
                if i in wanted:
                    kept[i] = frame
            return np.stack([kept[i] for i in indices])
    if variant.startswith("pyav"):
        import av

        with av.open(path) as container:
            stream = container.streams.video[0]
            if variant == "pyav-all":
                every = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(stream)])
                return every[indices]
            if variant == "pyav-scan":
                wanted, kept = set(indices), {}
                for i, frame in enumerate(container.decode(stream)):
                    if i in wanted:
                        kept[i] = frame.to_ndarray(format="rgb24")
                return np.stack([kept[i] for i in indices])
    raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")


def _child(variant: str, path: str, indices_file: str) -> None:
    with open(indices_file) as handle:
        indices = json.load(handle)
    import av  # noqa: F401 - imports are part of the baseline, not of the decode
    import decord  # noqa: F401

    baseline = _rss_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    frames = decode_variant(variant, path, indices)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    peak = after.ru_maxrss / 1024  # Linux: KiB
    digest = hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()[:16]
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak, "baseline_rss_mb": baseline,
                      "hash": digest, "shape": list(frames.shape)}))


def decode_once(path: str, indices_file: str, variant: str, *, python: str = sys.executable) -> dict:
    """Run ``variant`` once in a fresh process on the JSON list of indices in ``indices_file``."""
    done = subprocess.run([python, "-m", "omni_bench.bench.decode", variant, str(path), indices_file],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(variant: str, sampled: int, runs: list[dict]) -> DecodeCost:
    """Median times, max peak memory and the (checked) frames hash of several runs."""
    if len({run["hash"] for run in runs}) != 1:
        raise RuntimeError(f"{variant}: repeats returned different frames")
    return DecodeCost(variant, sampled, statistics.median(r["seconds"] for r in runs),
                      statistics.median(r["cpu_seconds"] for r in runs),
                      tuple(round(r["seconds"], 4) for r in runs), tuple(round(r["cpu_seconds"], 4) for r in runs),
                      max(r["peak_rss_mb"] for r in runs), min(r["baseline_rss_mb"] for r in runs), runs[0]["hash"],
                      tuple(runs[0]["shape"]))


def measure_decode(path: str, indices, variant: str, *, repeats: int = 3, workdir: str | None = None,
                   python: str = sys.executable) -> DecodeCost:
    """Run ``variant`` on ``indices`` in ``repeats`` fresh subprocesses and summarise."""
    import tempfile

    indices = [int(i) for i in indices]
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        indices_file = os.path.join(folder, "indices.json")
        with open(indices_file, "w") as handle:
            json.dump(indices, handle)
        runs = [decode_once(path, indices_file, variant, python=python) for _ in range(repeats)]
    return summarise(variant, len(indices), runs)


def machine_info() -> dict:
    """CPU model, cores, Python and decoder versions, for the results file."""
    return describe_machine("av", "decord", "numpy")


if __name__ == "__main__":
    _child(*sys.argv[1:4])
