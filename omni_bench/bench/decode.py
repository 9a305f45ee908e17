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

:func:`measure_decode` runs one variant in a fresh Python process (the one subprocess worker of
:mod:`omni_bench.bench.base`, ``python -m omni_bench.bench.decode _worker ...``) so that its memory is
its own. The child imports decord and PyAV first, then times opening the file plus decoding, and
reports that wall time, the CPU time it took (user + system, all threads: robust when the
machine is shared), its resident memory before decoding and its peak during the decode (the one
memory probe, :class:`omni_bench.bench.base.PeakRSS`), and a hash of the frames it returned so that
variants can be checked against each other.

The shape (:mod:`omni_bench.bench.base`): :class:`DecodeBench` is the study's config (each field a
flag of ``omni-bench bench decode`` and ``benchmarks/bench_decode.py``), :func:`run` writes the
synthetic clip, samples it with qwen-vl-utils' rule for each ``frames`` request, runs every variant
``repeats`` times round-robin and returns a :class:`~omni_bench.bench.base.BenchResult` (one row per
sample count and variant; ``summary`` holds ``clip``, ``repeats``, ``frames_agree`` and ``cases``, the
form ``benchmarks/results/decode_cost.json`` keeps).

Not covered: GPU decoding, torchcodec, threads beyond one decoder thread (decord
``num_threads=1`` as ``read_frames`` uses), the processor's resize.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from omni_bench.bench.base import MIB, BenchResult, PeakRSS, markdown_table, rss_bytes, run_worker
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.machine import describe_machine
from omni_bench.core.media import read_frames, write_clip
from omni_bench.core.numbers import check_ints
from omni_bench.sampling.samplers import sample_qwen_vl_utils

__all__ = ["VARIANTS", "DecodeBench", "run", "DecodeCost", "measure_decode", "decode_once", "summarise",
           "decode_variant", "machine_info"]

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
    peak_rss_mb: float  # the child's peak resident memory during the decode (PeakRSS), MiB, max over repeats
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


def _child(variant: str, path: str, indices_file: str) -> dict:
    with open(indices_file) as handle:
        indices = json.load(handle)
    import av  # noqa: F401 - imports are part of the baseline, not of the decode
    import decord  # noqa: F401

    baseline = rss_bytes()
    probe = PeakRSS()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    probe.start()
    start = time.perf_counter()
    frames = decode_variant(variant, path, indices)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    peak = probe.stop()
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    digest = hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()[:16]
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak / MIB, "baseline_rss_mb": baseline / MIB,
            "hash": digest, "shape": list(frames.shape)}


def decode_once(path: str, indices_file: str, variant: str) -> dict:
    """Run ``variant`` once in a fresh process on the JSON list of indices in ``indices_file``."""
    return run_worker("omni_bench.bench.decode", ["_worker", variant, str(path), indices_file],
                      label=f"decode variant {variant!r}")


def summarise(variant: str, sampled: int, runs: list[dict]) -> DecodeCost:
    """Median times, max peak memory and the (checked) frames hash of several runs."""
    if len({run["hash"] for run in runs}) != 1:
        raise RuntimeError(f"{variant}: repeats returned different frames")
    return DecodeCost(variant, sampled, statistics.median(r["seconds"] for r in runs),
                      statistics.median(r["cpu_seconds"] for r in runs),
                      tuple(round(r["seconds"], 4) for r in runs), tuple(round(r["cpu_seconds"], 4) for r in runs),
                      max(r["peak_rss_mb"] for r in runs), min(r["baseline_rss_mb"] for r in runs), runs[0]["hash"],
                      tuple(runs[0]["shape"]))


def measure_decode(path: str, indices, variant: str, *, repeats: int = 3, workdir: str | None = None) -> DecodeCost:
    """Run ``variant`` on ``indices`` in ``repeats`` fresh subprocesses and summarise."""
    indices = [int(i) for i in indices]
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        indices_file = os.path.join(folder, "indices.json")
        with open(indices_file, "w") as handle:
            json.dump(indices, handle)
        runs = [decode_once(path, indices_file, variant) for _ in range(repeats)]
    return summarise(variant, len(indices), runs)


def machine_info() -> dict:
    """CPU model, cores, Python and decoder versions, for the results file."""
    return describe_machine("av", "decord", "numpy")


@dataclass(frozen=True)
class DecodeBench:
    """``omni-bench bench decode``'s settings (and ``benchmarks/bench_decode.py``'s)."""

    seconds: float = 240.0  # length of the synthetic clip
    fps: float = 25.0  # frame rate of the synthetic clip
    width: int = 320  # frame width of the clip in pixels
    height: int = 180  # frame height of the clip in pixels
    frames: tuple[str, ...] = ("16", "64", "fps2")  # --frames A,B: sample counts, integers (nframes) or fpsF
        # (qwen-vl-utils fps=F)
    repeats: int = 3  # subprocess runs per variant (median time)
    variants: tuple[str, ...] = VARIANTS  # --variants A,B: which ways to decode


_DECODE_COLUMNS = ("frames", "variant", "seconds", "cpu_seconds", "peak_rss_mb", "extra_mb", "time_ratio",
                   "cpu_ratio", "extra_ratio")


def _sample(request: str, total: int, fps: float) -> tuple[str, list[int]]:
    if request.startswith("fps"):
        rate = float(request[3:])
        return f"qwen-vl-utils fps={rate:g}", list(sample_qwen_vl_utils(total, fps, fps=rate).indices)
    return f"qwen-vl-utils nframes={int(request)}", list(sample_qwen_vl_utils(total, fps, nframes=int(request)).indices)


def _case(label: str, variants, runs: dict, sampled: int) -> dict:
    results = [summarise(variant, sampled, runs[variant]).to_dict() for variant in variants]
    base = {r["variant"]: r for r in results}
    for row in results:  # against the sampled-only variant of the same backend
        ref = base.get("decord-sampled" if row["variant"].startswith("decord") else "pyav-seek", row)
        row["time_ratio"] = row["seconds"] / ref["seconds"]
        row["cpu_ratio"] = row["cpu_seconds"] / ref["cpu_seconds"]
        row["extra_ratio"] = row["extra_mb"] / max(ref["extra_mb"], 1e-9)
    return {"request": label, "frames": sampled, "results": results}


def run(config: DecodeBench = DecodeBench()) -> BenchResult:
    """The decode study on a synthetic clip (module docstring); a line per variant on stderr as it goes."""
    check_ints(width=config.width, height=config.height, repeats=config.repeats)
    unknown = [v for v in config.variants if v not in VARIANTS]
    if unknown:
        raise OmniBenchError(f"--variants: unknown {', '.join(unknown)}; known: {', '.join(VARIANTS)}",
                             reason="bad-settings")
    with tempfile.TemporaryDirectory(prefix="omni_bench_decode_") as folder:
        path = str(Path(folder) / "long.mkv")
        info = write_clip(path, seconds=config.seconds, fps=config.fps, width=config.width, height=config.height,
                          audio=False)
        print(f"clip: {info.total_frames} frames, {info.duration:g} s, {info.width}x{info.height}", file=sys.stderr,
              flush=True)
        cases, hashes = [], set()
        for request in config.frames:
            label, indices = _sample(request, info.total_frames, info.native_fps)
            indices_file = str(Path(folder) / f"indices_{len(indices)}.json")
            Path(indices_file).write_text(json.dumps(indices))
            runs = {variant: [] for variant in config.variants}
            for _ in range(config.repeats):  # round-robin: a busy spell hits the variants alike
                for variant in config.variants:
                    runs[variant].append(decode_once(path, indices_file, variant))
            case = _case(label, config.variants, runs, len(indices))
            for row in case["results"]:
                print(f"  {len(indices):>4} frames  {row['variant']:<15} wall {row['seconds']:7.3f} s  "
                      f"cpu {row['cpu_seconds']:7.3f} s  peak {row['peak_rss_mb']:7.1f} MiB  "
                      f"extra {row['extra_mb']:7.1f} MiB", file=sys.stderr, flush=True)
                hashes.add(row["frames_hash"] + str(len(indices)))
            cases.append(case)
    summary = {"clip": {"seconds": config.seconds, "fps": config.fps, "width": config.width,
                        "height": config.height, "total_frames": info.total_frames},
               "repeats": config.repeats, "frames_agree": len(hashes) == len(cases), "memory_probe": "PeakRSS",
               "cases": cases}
    rows = [{"frames": case["frames"], **{k: row[k] for k in _DECODE_COLUMNS[1:]}}
            for case in cases for row in case["results"]]
    rows = [{k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()} for row in rows]
    notes = ("every variant returned the same frames" if summary["frames_agree"] else
             "WARNING: variants returned different frames (frames_hash in --json)",)
    text = markdown_table(_DECODE_COLUMNS, rows) + "\n\n" + notes[0]
    return BenchResult("decode", asdict(config), _DECODE_COLUMNS, rows, notes, summary=summary, text=text)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "_worker":
        print(json.dumps(_child(*sys.argv[2:5])))
        sys.exit(0)
    print("usage: python -m omni_bench.bench.decode _worker VARIANT PATH INDICES_JSON", file=sys.stderr)
    sys.exit(2)
