"""What every benchmark shares: one shape, one memory probe, one subprocess worker.

The shape a benchmark module follows (``omni_bench.bench.<name>``)::

    @dataclass(frozen=True)
    class LossBench:                   # the config: every field a flag, its comment the help
        tokens: int = 4096             # N: rows of hidden states
        ...

    def run(config) -> BenchResult     # measures, returns data (never prints)

    BenchResult.to_markdown()          # the table benchmarks/results/<name>.md keeps
    BenchResult.to_dict()              # what --json prints and <name>.json keeps

Each configuration measured runs in its own fresh process through :func:`run_worker`
(``python -m omni_bench.bench.<name> _worker SPEC``; the worker prints one JSON line), so one
backend's peak, allocator state or imports never show in another's figures; inside it,
:class:`PeakRSS` (or ``torch.cuda.max_memory_allocated`` on CUDA) is the memory probe.

Peak memory on CPU is the resident set size: the kernel's high-water mark (``VmHWM``, reset
through ``/proc/self/clear_refs`` just before the run) where the kernel allows that reset,
together with a background thread sampling ``/proc/self/statm`` every millisecond; the larger
of the two counts. Linux only (``/proc``).

``loss``, ``step``, ``packing`` and ``decode`` follow this shape (``LossBench``, ``StepBench``,
``PackingBench``, ``DecodeBench``); their earlier result dicts stay whole in
:attr:`BenchResult.summary` (what ``--json`` printed before, keys unchanged) and their text reports
in :attr:`BenchResult.text`. ``omni-bench bench <name>`` builds its flags from the config
(:func:`omni_bench.cli.flags.add_field_flags`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.media import write_clip
from omni_bench.core.processor import cache_dir

__all__ = ["BenchResult", "PeakRSS", "TensorPeak", "rss_bytes", "run_worker", "markdown_table", "resolve_device",
           "long_clip"]

MIB = 2**20
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- memory probe


def rss_bytes() -> int:
    """Current resident set size of this process, from /proc/self/statm."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_hwm() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM); False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _hwm_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakRSS:
    """Peak RSS in bytes between :meth:`start` and :meth:`stop` (see the module docstring)."""

    def __init__(self, interval_s: float = 0.001) -> None:
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._hwm_valid = False

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval_s)

    def start(self) -> None:
        self._hwm_valid = _reset_hwm()
        self.peak = rss_bytes()
        self._thread.start()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        if self._hwm_valid:
            self.peak = max(self.peak, _hwm_bytes())
        return self.peak


class TensorPeak:
    """The most bytes of CPU tensors held at once inside ``with TensorPeak() as probe:`` above those alive when it
    started (``probe.peak``): torch's profiler with ``profile_memory`` records each CPU allocation and free, and
    their running sum's maximum is the peak. Unlike :class:`PeakRSS` it counts only what torch allocates (not the
    allocator's retained pages, thread arenas, numpy arrays or the interpreter), so the same step gives the same
    figure on any machine and kernel path: what a tensor-by-tensor estimate is compared against."""

    def __init__(self) -> None:
        self.peak = 0
        self._profile = None

    def __enter__(self) -> TensorPeak:
        from torch.profiler import ProfilerActivity, profile

        self._profile = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
        self._profile.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._profile.__exit__(*exc)
        events = [e for e in self._profile.profiler.kineto_results.events() if e.name() == "[memory]"
                  and e.device_type().name == "CPU"]
        held = 0
        for event in sorted(events, key=lambda e: e.start_ns()):
            held += event.nbytes()
            self.peak = max(self.peak, held)


# --------------------------------------------------------------------------- subprocess worker


def run_worker(module: str, args: list[str], *, label: str) -> dict:
    """Run ``python -m MODULE ARGS...`` in a fresh process with this project importable, and
    return the JSON object on its last stdout line. A failure raises RuntimeError naming
    ``label``, with the end of the worker's stderr."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{label} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- result


def markdown_table(columns: tuple[str, ...], rows: list[dict]) -> str:
    """``markdown_table(("backend", "peak_mib"), [{"backend": "naive", "peak_mib": 12.5}])`` ->
    ``"| backend | peak_mib |\\n|---|---:|\\n| naive | 12.5 |"`` (numbers right-aligned, None as -)."""
    def cell(value) -> str:
        return "-" if value is None else f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) \
            else str(value)

    numeric = [all(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) for r in rows if
                   r.get(c) is not None) and any(r.get(c) is not None for r in rows) for c in columns]
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
    body = ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


@dataclass(frozen=True)
class BenchResult:
    """What a benchmark's ``run(config)`` returns: the config, one row per measured case, the machine."""

    name: str  # the benchmark ("loss", "step", ...)
    config: dict  # the config it ran with (dataclasses.asdict of the config)
    columns: tuple[str, ...]  # the row keys shown in the Markdown table, in order
    rows: list[dict]  # one dict per measured case
    notes: tuple[str, ...] = field(default=())  # lines under the table (the checked property, caveats)
    summary: dict = field(default_factory=dict)  # further top-level keys of to_dict (a benchmark's figures)
    text: str = ""  # the benchmark's own text report (str() of the result); the Markdown form when empty

    def to_dict(self) -> dict:
        return {"name": self.name, "config": self.config, "rows": self.rows, "notes": list(self.notes),
                **self.summary}

    def to_markdown(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in self.config.items())
        parts = [f"### {self.name}", "", settings, "", markdown_table(self.columns, self.rows)]
        if self.notes:
            parts += ["", *self.notes]
        return "\n".join(parts) + "\n"

    def __str__(self) -> str:
        return self.text or self.to_markdown()


def resolve_device(name: str) -> str:
    """``"auto"`` -> ``"cuda"`` where a CUDA device is present, else ``"cpu"``; ``"cuda"`` without one is
    refused in one line."""
    import torch

    if name.startswith("cuda") and not torch.cuda.is_available():
        raise OmniBenchError("--device cuda: no CUDA device is available here; pass --device cpu",
                             reason="bad-settings")
    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def long_clip(seconds: float, seed: int = 0) -> str:
    """The preference / RL benches' LongVALE-like clip (160x112 at 10 fps, with its audio track), written once
    into the cache folder and shared by ``bench dpo`` and ``bench grpo``."""
    path = cache_dir() / "bench" / f"dpo_{seconds:g}s_seed{seed}.mkv"
    if not path.is_file():
        write_clip(path, seconds=seconds, fps=10.0, width=160, height=112, seed=seed)
    return str(path)
