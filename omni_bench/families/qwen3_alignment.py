"""When Qwen3-Omni's grid steps really happen, against the audio merged just before each one.

Qwen3-Omni merges a video's tokens with its audio's one by one (:mod:`omni_bench.families.qwen3_omni`):
grid step ``k`` is placed after every audio token whose position id is below
``k * second_per_grid * position_id_per_seconds``. The audio encoder makes 13 tokens per
second of audio (13 per 100 mel frames), so the audio placed before step ``k`` ends at
``audio_before / 13`` real seconds, while the step's frames were sampled at their own real
times (the layout's ``frame_times``). :func:`step_alignment` reads the audio placed before
every step off the layout's runs (the processor's ids, or the planner's) and reports, per
step, the real start of its frames, the end of the audio before it, and their drift.

With the sampled fps handed to the processor (omni_bench's default) and 13 ids per second,
every drift is below one grid step; with another fps (the LongVALE notebook's stock
``fps=2`` for 50 frames over 256.89 s) the audio runs ahead of the frames.

The result is the report's ``[Alignment]`` block for Qwen3-Omni (``Family.alignment``; ``str()``,
``to_dict()`` for ``--json``, ``summary`` and ``recommendation.line`` for the verdict findings and
the inspector's banner). Its fix is checked: the sampled fps and one over the frame spacing are
each put through :func:`~omni_bench.families.qwen3_omni.token_interleave_runs` (the processor's
merge) and measured with the same step walk; the one that drifts least is recommended. For the
LongVALE notebook's 50 frames: ``--processor-fps 0.19078025229715``, 4.98 s of drift down to 0.09 s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from omni_bench.layout.alignment_fix import drift_summary

__all__ = ["StepTiming", "StepFix", "StepAlignment", "step_alignment", "render_steps", "AUDIO_TOKENS_PER_SECOND"]

AUDIO_TOKENS_PER_SECOND = 13  # the encoder's output per 100 mel frames (1 s): qwen3_omni_audio_tokens
DRIFT_TOLERANCE = 2.0  # seconds, as the Qwen2.5 alignment report's


@dataclass(frozen=True)
class StepTiming:
    step: int  # grid step number
    frames_start: float  # real seconds of the step's first frame
    frames_end: float  # ... of its last frame
    claimed: float  # the seconds its position ids say: step * second_per_grid
    audio_before: int  # audio tokens merged before the step
    audio_end: float  # real seconds where that audio ends: audio_before / 13
    drift: float  # frames_start - audio_end


@dataclass(frozen=True)
class StepFix:
    """The processor fps that lines Qwen3-Omni's grid steps up with their audio, checked on the merge."""

    processor_fps: float  # the fps to hand the processor (the current one when nothing changes)
    max_drift: float  # largest |drift| of the merge made with that fps (token_interleave_runs), seconds
    line: str  # one sentence for the report
    flags: tuple[str, ...] = ()  # the exact inspect / plan flags (): nothing to change

    def __str__(self) -> str:
        return self.line


@dataclass(frozen=True)
class StepAlignment:
    """Per grid step: its frames' real start against the audio merged before it. ``str()`` is the report block."""

    steps: tuple[StepTiming, ...]
    max_drift: float  # largest |drift|
    tolerance: float
    aligned: bool  # every |drift| within the tolerance
    worst_step: int | None = None  # the step where max_drift occurs
    processor_fps: float | None = None  # fps the processor was told
    sampled_fps: float | None = None  # frames / duration
    frame_spacing: float | None = None  # mean seconds between the sampled frames
    recommendation: StepFix | None = None

    @property
    def verdict(self) -> str:
        return "aligned" if self.aligned else "misaligned"

    @property
    def chunks(self) -> tuple:
        """No 2 s chunks in Qwen3-Omni's merge (the chunk timeline draws nothing)."""
        return ()

    @property
    def summary(self) -> str:
        """One line: verdict, worst drift, tolerance."""
        if self.worst_step is None:
            return f"{self.verdict}: no grid step to align"
        return drift_summary(self.verdict, self.steps[self.worst_step].drift, f"grid step {self.worst_step}",
                             self.tolerance)

    def to_dict(self) -> dict:
        """The --json object under "alignment" (``"kind": "steps"``; Qwen2.5's has chunks)."""
        rec = self.recommendation
        return {"kind": "steps", "verdict": self.verdict, "aligned": self.aligned, "max_drift": self.max_drift,
                "worst_step": self.worst_step, "tolerance": self.tolerance, "tolerance_words": tolerance_words(
                    self.tolerance), "audio_tokens_per_second": AUDIO_TOKENS_PER_SECOND,
                "processor_fps": self.processor_fps, "sampled_fps": self.sampled_fps,
                "frame_spacing": self.frame_spacing,
                "recommendation": None if rec is None else {"processor_fps": rec.processor_fps, "max_drift":
                                                            rec.max_drift, "flags": list(rec.flags), "line": rec.line},
                "steps": [asdict(s) for s in self.steps]}

    def __str__(self) -> str:
        return render_steps(self)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


def tolerance_words(tolerance: float) -> str:
    """The tolerance in plain words, for the report."""
    return (f"aligned means every grid step's frames start within {tolerance:g} s of the end of the audio merged "
            f"before them: the model reads each frame next to sound filmed at most {tolerance:g} s away from it")


def render_steps(a: StepAlignment, *, max_rows: int = 12) -> str:
    """The text form, in the Qwen2.5 chunk report's style: verdict, fix, one row per grid step."""
    lines = ["[Alignment]", a.summary, f"({tolerance_words(a.tolerance)})"]
    if a.recommendation is not None:
        lines.append(f"fix: {a.recommendation.line}")
    told = f"{a.processor_fps:.4g}" if a.processor_fps else "-"
    sampled = f"{a.sampled_fps:.4g}" if a.sampled_fps else "-"
    spacing = f"; frames {a.frame_spacing:.4g} s apart" if a.frame_spacing else ""
    lines.append(f"token-by-token merge: {len(a.steps)} grid steps, audio at {AUDIO_TOKENS_PER_SECOND} tokens per "
                 f"second; processor told {told} fps, sampled {sampled} fps{spacing}")
    lines.append(" step  frames s         claimed s  AUDIO before  audio s   drift s")
    hidden = len(a.steps) - max_rows + 1 if len(a.steps) > max_rows else 0  # long tables: head, "...", last two
    for t in a.steps:
        if hidden and t.step == max_rows - 3:
            lines.append(f"  ... {hidden} more grid steps ...")
        if not hidden or not max_rows - 3 <= t.step < len(a.steps) - 2:
            lines.append(f"{t.step:5d}  {t.frames_start:7.2f}-{t.frames_end:<7.2f}  {t.claimed:9.2f}  "
                         f"{t.audio_before:12d}  {t.audio_end:7.2f}  {t.drift:+8.2f}")
    return "\n".join(lines)


def _steps(runs, per_step: int, times: list[float], second_per_grid: float) -> list[StepTiming]:
    # walk the VIDEO/AUDIO runs: each grid step's frames against the audio tokens placed before it
    steps, audio, k = [], 0, 0
    for kind, count in runs:
        if kind == "AUDIO":
            audio += count
            continue
        for _ in range(count // per_step):
            start, end = times[2 * k], times[2 * k + 1]
            audio_end = audio / AUDIO_TOKENS_PER_SECOND
            steps.append(StepTiming(k, start, end, k * second_per_grid, audio, audio_end, start - audio_end))
            k += 1
    return steps


def _worst(steps) -> tuple[float, int | None]:
    return max(((abs(t.drift), t.step) for t in steps), default=(0.0, None))


def step_alignment(layout, *, tolerance: float = DRIFT_TOLERANCE) -> StepAlignment:
    """Per grid step of a Qwen3-Omni layout with its audio: frame time vs the audio before it, and the fix."""
    s = layout.stats
    if not s.use_audio_in_video or not s.video_grid_thw or not s.frame_times:
        raise ValueError("step_alignment needs a Qwen3-Omni layout of a video with its audio and its frame times")
    times = list(s.frame_times) + [s.frame_times[-1]] * (len(s.frame_times) % 2)
    steps = _steps(layout.vision_runs, s.tokens_per_grid, times, s.second_per_grid)
    worst, at = _worst(steps)
    spacing = (s.frame_times[-1] - s.frame_times[0]) / (len(s.frame_times) - 1) if len(s.frame_times) > 1 else None
    aligned = worst <= tolerance
    fix = _fix(layout, times, spacing, worst, aligned, tolerance)
    return StepAlignment(tuple(steps), worst, tolerance, aligned, at, s.processor_fps, s.sampled_fps, spacing, fix)


def _fix(layout, times: list[float], spacing: float | None, worst: float, aligned: bool, tolerance: float) -> StepFix:
    """The processor fps to pass: the sampled fps or one over the frame spacing, whichever drifts least.

    Each candidate's merge is rebuilt with :func:`token_interleave_runs` (the processor's rule, in
    float64) and measured with the same step walk, so the drift it promises is checked.
    """
    from omni_bench.families.qwen3_omni import token_interleave_runs

    s = layout.stats
    patch = max(1, round(s.second_per_grid * s.processor_fps))  # temporal_patch_size
    assumed = patch / s.processor_fps
    real = patch * spacing if spacing else patch / (s.sampled_fps or s.processor_fps)  # seconds per step
    if aligned:
        return StepFix(s.processor_fps, worst, f"grid steps {real:.2f} s apart, the processor assumes "
                                              f"{assumed:.2f} s: nothing to change")
    grid = tuple(s.video_grid_thw[0])
    merge = round((grid[1] * grid[2] / s.tokens_per_grid) ** 0.5)
    candidates = [f for f in (s.sampled_fps, 1 / spacing if spacing else None) if f]
    measured = []
    for fps in candidates:
        runs = token_interleave_runs(grid, patch / fps, s.audio_tokens, merge_size=merge,
                                     position_id_per_seconds=s.position_id_per_seconds or 13.0)
        measured.append((_worst(_steps(runs, s.tokens_per_grid, times, patch / fps))[0], fps))
    if not measured:
        return StepFix(s.processor_fps, worst, "no frame times to derive an fps from: nothing checked")
    drift, fps = min(measured)
    flags = ("--processor-fps", repr(float(fps)))
    line = (f"grid steps are {real:.2f} s apart but the processor assumes {assumed:.2f} s: pass "
            f"{' '.join(flags)} (max drift {drift:.2f} s with it, checked on the merge)")
    if drift > tolerance:
        line += (f"; still over {tolerance:g} s with the sampled fps and with one over the frame spacing "
                 f"(audio ends at {s.audio_tokens / AUDIO_TOKENS_PER_SECOND:.2f} s)")
    return StepFix(fps, drift, line, flags)
