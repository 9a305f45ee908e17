"""Qwen3-Omni (the MoE thinker): the video's audio interleaved token by token in time order.

The rules, as transformers 5.23 implements them (``models/qwen3_omni_moe``):

* ``Qwen3OmniMoeProcessor.replace_video_with_audio_token``: every video token of grid step
  ``k`` sits at time ``k * video_second_per_grid * position_id_per_seconds`` (13 ids per
  second by default, ``Qwen3OmniMoeProcessor.position_id_per_seconds``), audio token ``i`` at
  ``i``; one merge, a video token first when its time is ``<=`` the audio token's, wrapped in
  ``<|audio_start|>`` ... ``<|audio_end|>`` (no 2-second chunks);
* ``video_second_per_grid = temporal_patch_size / fps`` with ``fps`` from ``videos_kwargs``,
  1.0 when none is passed (``Qwen3OmniMoeProcessor._process_videos``);
* audio tokens ``_get_feat_extract_output_lengths(mel, n_window=50)``: 13 per full window of
  100 mel frames plus three stride-2 halvings of the rest (``(((r - 1) // 2 + 1 - 1) // 2 + 1
  - 1) // 2 + 1``), about 13 per second;
* the audio is padded to the longest in the batch, not to 300 s, and not truncated
  (``audio_kwargs`` padding=True, truncation=False): one clip's mel frames are
  ``samples // 160`` (the STFT's last frame dropped), its features that long.

Its alignment report (``Family.alignment``; :mod:`omni_bench.families.qwen3_alignment` is its old
home and re-exports it) says when the grid steps really happen, against the audio merged just
before each one. Qwen3-Omni merges a video's tokens with its audio's one by one (above): grid
step ``k`` is placed after every audio token whose position id is below
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
each put through :func:`token_interleave_runs` (the processor's merge) and measured with the
same step walk; the one that drifts least is recommended. For the
LongVALE notebook's 50 frames: ``--processor-fps 0.19078``, 4.98 s of drift down to 0.09 s (the fps is
written with the fewest digits that give the same merge and temporal ids: 0.19078025229715 unrounded).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from omni_bench.core import arith
from omni_bench.families.base import DRIFT_TOLERANCE, TINY, Family, drift_summary, whisper_feature_extractor

__all__ = ["QWEN3_OMNI", "qwen3_omni_audio_tokens", "token_interleave_runs", "StepTiming", "StepFix",
           "StepAlignment", "step_alignment", "render_steps", "AUDIO_TOKENS_PER_SECOND"]


AUDIO_TOKENS_PER_SECOND = 13  # the encoder's output per 100 mel frames (1 s): qwen3_omni_audio_tokens


def qwen3_omni_audio_tokens(mel: int, n_window: int = 50) -> int:
    """Audio tokens of ``mel`` mel frames (Qwen3-Omni's encoder arithmetic, see module docstring).

    >>> qwen3_omni_audio_tokens(100), qwen3_omni_audio_tokens(25689)
    (13, 3340)
    """
    window = 2 * n_window
    rest = mel % window
    conv = (rest - 1) // 2 + 1
    return ((conv - 1) // 2 + 1 - 1) // 2 + 1 + (mel // window) * 13


def token_interleave_runs(grid: tuple[int, int, int], seconds_per_grid: float, audio_tokens: int, *,
                          position_id_per_seconds: float, merge_size: int = 2) -> list[tuple[str, int]]:
    """The VIDEO/AUDIO runs of Qwen3-Omni's token-by-token merge (video first on equal times).

    Grid step ``k``'s tokens share the time ``k * seconds_per_grid * position_id_per_seconds``
    (computed in that order, in float64, as the processor does); the audio tokens with an
    index below it come before them.

    >>> token_interleave_runs((2, 4, 4), 2.0, 30, position_id_per_seconds=13)
    [('VIDEO', 4), ('AUDIO', 26), ('VIDEO', 4), ('AUDIO', 4)]
    """
    t, h, w = grid
    per_step = (h // merge_size) * (w // merge_size)
    runs: list[tuple[str, int]] = []
    placed = 0
    for k in range(t):
        before = min(audio_tokens, math.ceil(k * seconds_per_grid * position_id_per_seconds))
        if before > placed:
            runs.append(("AUDIO", before - placed))
            placed = before
        runs.append(("VIDEO", per_step))
    if audio_tokens > placed:
        runs.append(("AUDIO", audio_tokens - placed))
    merged: list[tuple[str, int]] = []
    for kind, count in runs:
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + count)
        elif count:
            merged.append((kind, count))
    return merged


@dataclass(frozen=True)
class _Qwen3Omni(Family):
    def build_processor(self, profile, *, image_processor, video_processor, tokenizer, chat_template):
        from transformers import Qwen3OmniMoeProcessor

        feature_extractor = whisper_feature_extractor(profile)
        return Qwen3OmniMoeProcessor(image_processor=image_processor, video_processor=video_processor,
                                     feature_extractor=feature_extractor, tokenizer=tokenizer,
                                     chat_template=chat_template)

    def tiny_config(self, profile, *, text: dict, vision: dict, hidden: int):
        from transformers import Qwen3OmniMoeThinkerConfig

        extra = profile.extra
        text = {**text, "head_dim": text["hidden_size"] // text["num_attention_heads"], "num_experts": 4,
                "num_experts_per_tok": 2, "moe_intermediate_size": 32, "decoder_sparse_step": 1}
        text["rope_parameters"] = {**text["rope_parameters"], "mrope_interleaved": True, "interleaved": True}
        audio = dict(num_mel_bins=profile.mel_bins, encoder_layers=TINY["audio_layers"], encoder_attention_heads=2,
                     encoder_ffn_dim=64, d_model=TINY["audio_d_model"], output_dim=hidden, max_source_positions=1500,
                     n_window=extra["n_window"], n_window_infer=800, conv_chunksize=500, downsample_hidden_size=16)
        vision = dict(depth=TINY["vision_depth"], hidden_size=TINY["vision_hidden"], intermediate_size=64,
                      num_heads=2, patch_size=profile.patch_size, spatial_merge_size=profile.merge_size,
                      temporal_patch_size=profile.temporal_patch_size, out_hidden_size=hidden,
                      num_position_embeddings=64, deepstack_visual_indexes=[0])
        tokens = profile.special_tokens
        return Qwen3OmniMoeThinkerConfig(
            audio_config=audio, vision_config=vision, text_config=text, audio_token_id=tokens["<|audio_pad|>"],
            image_token_id=tokens["<|image_pad|>"], video_token_id=tokens["<|video_pad|>"],
            audio_start_token_id=tokens["<|audio_start|>"], vision_start_token_id=tokens["<|vision_start|>"],
            position_id_per_seconds=int(profile.position_id_per_seconds), user_token_id=profile.user_token_id,
        )

    def tiny_model_class(self):
        from transformers import Qwen3OmniMoeThinkerForConditionalGeneration

        return Qwen3OmniMoeThinkerForConditionalGeneration

    def load_checkpoint(self, path: str, model_type: str, dtype):
        import transformers

        if model_type == "qwen3_omni_moe":  # the full model: the thinker only (no talker, no code2wav)
            full = transformers.Qwen3OmniMoeForConditionalGeneration
            return full.from_pretrained(path, dtype=dtype, enable_audio_output=False).thinker
        return transformers.Qwen3OmniMoeThinkerForConditionalGeneration.from_pretrained(path, dtype=dtype)

    def processor_kwargs(self, settings, *, frames_count: int, processor_fps: float, audio, **_) -> dict:
        # the processor reads videos_kwargs["fps"] (1.0 when absent) for video_second_per_grid
        kwargs: dict = {"videos_kwargs": {}, "position_id_per_seconds": settings.position_id_per_seconds,
                        "n_window": settings.profile.extra["n_window"]}
        if audio is not None:
            kwargs.update(audio=[audio], audio_from_video_indices=[0], load_audio_from_video=True)
        return kwargs

    def chunking(self, settings) -> dict:
        return {"position_id_per_seconds": float(settings.position_id_per_seconds)}

    def lora_targets(self, default: tuple[str, ...]) -> tuple[str, ...]:
        # the MoE block's experts are fused 3-D parameters (no nn.Linear for peft to wrap) and its
        # router is left frozen: the adapter goes on the attention projections only
        return tuple(t for t in default if t in ("q_proj", "k_proj", "v_proj", "o_proj"))

    def alignment(self, layout, *, search=None):
        # no 2 s chunks: each grid step's frames against the audio merged before it (its fix is
        # checked on the merge itself, no search to hand in)
        return step_alignment(layout)

    def mel_frames(self, samples: int, profile) -> int:
        return int(samples) // profile.hop_length  # padded to the clip itself, never truncated

    def feature_frames(self, mel: int, profile) -> int:
        return mel

    def audio_tokens(self, mel: int, profile) -> int:
        return qwen3_omni_audio_tokens(mel, profile.extra["n_window"])

    def vision_runs(self, mp) -> tuple[tuple[str, int], ...]:
        if not mp.use_audio:
            return (("VIDEO", mp.video_tokens),)
        return tuple(token_interleave_runs(mp.grid, mp.second_per_grid, mp.audio_tokens,
                                           position_id_per_seconds=mp.position_id_per_seconds,
                                           merge_size=mp.profile.merge_size))


QWEN3_OMNI = _Qwen3Omni(
    key="qwen3-omni", title="Qwen3-Omni", default_profile="qwen3-omni-30b-a3b",
    processor_classes=("Qwen3OmniMoeProcessor",), model_types=("qwen3_omni_moe_thinker", "qwen3_omni_moe"),
    has_audio=True, second_per_grid_key="video_second_per_grid",
    chunk_alignment=False,  # no 2 s chunks: step_alignment
    audio_token_seconds=1 / AUDIO_TOKENS_PER_SECOND,  # 13 tokens per second of audio
)




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
    pips = s.position_id_per_seconds or 13.0

    def merged(fps: float) -> tuple:  # the processor's merge and each grid step's whole temporal position
        runs = token_interleave_runs(grid, patch / fps, s.audio_tokens, merge_size=merge, position_id_per_seconds=pips)
        return runs, tuple(int(k * (patch / fps) * pips) for k in range(grid[0]))

    def drift_of(fps: float) -> float:
        return _worst(_steps(merged(fps)[0], s.tokens_per_grid, times, patch / fps))[0]

    measured = [(drift_of(fps), fps) for fps in candidates]
    if not measured:
        return StepFix(s.processor_fps, worst, "no frame times to derive an fps from: nothing checked")
    drift, fps = min(measured)
    # the fewest digits that make the same merge and temporal ids (0.19078, not 0.19078025229715), drift re-measured
    reference = merged(fps)
    fps = arith.shortest_decimal(fps, lambda value: merged(value) == reference)
    drift = drift_of(fps)
    flags = ("--processor-fps", repr(float(fps)))
    line = (f"grid steps are {real:.2f} s apart but the processor assumes {assumed:.2f} s: pass "
            f"{' '.join(flags)} (max drift {drift:.2f} s with it, checked on the merge)")
    if drift > tolerance:
        line += (f"; still over {tolerance:g} s with the sampled fps and with one over the frame spacing "
                 f"(audio ends at {s.audio_tokens / AUDIO_TOKENS_PER_SECOND:.2f} s)")
    return StepFix(fps, drift, line, flags)
