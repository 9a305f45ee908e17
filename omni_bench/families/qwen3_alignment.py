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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["StepTiming", "StepAlignment", "step_alignment", "AUDIO_TOKENS_PER_SECOND"]

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
class StepAlignment:
    steps: tuple[StepTiming, ...]
    max_drift: float  # largest |drift|
    tolerance: float
    aligned: bool  # every |drift| within the tolerance

    def to_dict(self) -> dict:
        return {"steps": [asdict(s) for s in self.steps], "max_drift": self.max_drift, "tolerance": self.tolerance,
                "aligned": self.aligned}


def step_alignment(layout, *, tolerance: float = DRIFT_TOLERANCE) -> StepAlignment:
    """Per grid step of a Qwen3-Omni layout with its audio: frame time vs the audio before it."""
    s = layout.stats
    if not s.use_audio_in_video or not s.video_grid_thw or not s.frame_times:
        raise ValueError("step_alignment needs a Qwen3-Omni layout of a video with its audio and its frame times")
    per_step = s.tokens_per_grid
    steps, audio, video, k = [], 0, 0, 0
    times = list(s.frame_times) + [s.frame_times[-1]] * (len(s.frame_times) % 2)
    for kind, count in layout.vision_runs:
        if kind == "AUDIO":
            audio += count
            continue
        for _ in range(count // per_step):
            start, end = times[2 * k], times[2 * k + 1]
            audio_end = audio / AUDIO_TOKENS_PER_SECOND
            steps.append(StepTiming(k, start, end, k * s.second_per_grid, audio, audio_end, start - audio_end))
            k += 1
        video += count
    worst = max((abs(t.drift) for t in steps), default=0.0)
    return StepAlignment(tuple(steps), worst, tolerance, worst <= tolerance)
