"""Numbers a user gives — flags, ``--config`` files, metadata and annotation records — checked once.

A number is refused where it is parsed when it is not a number (``"ten"``, ``true``), not finite
(``nan``, ``inf``) or outside its field's range (:data:`FIELD_BOUNDS`, one table for every settings
dataclass and flag that shares a field name), with the bound in the message::

    --fps must be a finite number > 0, got nan

:func:`check_number` checks one value; :func:`check_fields` every bounded field of a settings
dataclass (``LayoutSettings``, ``TrainConfig``, ``EvalConfig``) and the min/max pairs
(:data:`ORDERED`). Not covered: bounds that depend on a profile (a ``--min-pixels`` above the
profile's default maximum is the resize arithmetic's business).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

from omni_bench.core.errors import OmniBenchError

__all__ = ["Bound", "FIELD_BOUNDS", "ORDERED", "check_number", "check_fields", "check_ints", "flag_name"]


@dataclass(frozen=True)
class Bound:
    """The closed or open interval a field's values must lie in (None: unbounded on that side).

    >>> Bound(0, low_open=True).text(), Bound(1).text(), Bound(0, 1, high_open=True).text()
    ('> 0', '>= 1', 'in [0, 1)')
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the low end itself is refused
    high_open: bool = False  # the high end itself is refused

    def holds(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def text(self) -> str:
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return "any"


POSITIVE = Bound(0, low_open=True)
AT_LEAST_ONE = Bound(1)
NON_NEGATIVE = Bound(0)

# Every bounded numeric field or flag, by name; the settings dataclasses share these names.
FIELD_BOUNDS: dict[str, Bound] = {
    # sampling, sizes, chunks (LayoutSettings, TrainConfig, EvalConfig)
    "frames": AT_LEAST_ONE, "fps": POSITIVE, "min_frames": AT_LEAST_ONE, "max_frames": AT_LEAST_ONE,
    "min_pixels": AT_LEAST_ONE, "max_pixels": AT_LEAST_ONE, "seconds_per_chunk": POSITIVE,
    "position_id_per_seconds": POSITIVE, "processor_fps": POSITIVE, "max_total_tokens": AT_LEAST_ONE,
    "audio_max_seconds": AT_LEAST_ONE,
    # video metadata (plan, samplers, budget metadata records)
    "duration": POSITIVE, "width": AT_LEAST_ONE, "height": AT_LEAST_ONE, "native_fps": POSITIVE,
    "total_frames": AT_LEAST_ONE, "audio_seconds": NON_NEGATIVE,
    # training (TrainConfig)
    "max_steps": AT_LEAST_ONE, "learning_rate": POSITIVE, "warmup_steps": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE, "max_grad_norm": NON_NEGATIVE, "batch_size": AT_LEAST_ONE,
    "grad_accum": AT_LEAST_ONE, "lora_r": AT_LEAST_ONE, "lora_alpha": POSITIVE,
    "lora_dropout": Bound(0, 1, high_open=True), "loss_chunk_size": AT_LEAST_ONE, "logging_steps": AT_LEAST_ONE,
    "save_steps": AT_LEAST_ONE, "save_total_limit": AT_LEAST_ONE, "seed": NON_NEGATIVE,
    "num_workers": NON_NEGATIVE, "max_bad_samples": NON_NEGATIVE,
    # preference tuning (TrainConfig's preference part: trl's DPOConfig names)
    "beta": POSITIVE, "label_smoothing": Bound(0, 1, high_open=True),
    # GRPO (TrainConfig's grpo part: trl's GRPOConfig names)
    "num_generations": Bound(2), "temperature": POSITIVE, "top_p": Bound(0, 1, low_open=True),
    "max_completion_length": AT_LEAST_ONE, "grpo_beta": NON_NEGATIVE, "epsilon": POSITIVE, "epsilon_high": POSITIVE,
    # evaluation (EvalConfig, eval score)
    "limit": NON_NEGATIVE, "max_new_tokens": AT_LEAST_ONE, "examples": NON_NEGATIVE,
    # benchmarks (bench loss / step)
    "tokens": AT_LEAST_ONE, "hidden": AT_LEAST_ONE, "vocab": AT_LEAST_ONE, "chunk_size": AT_LEAST_ONE,
    "repeats": AT_LEAST_ONE, "layers": AT_LEAST_ONE, "steps": AT_LEAST_ONE,
    "samples": AT_LEAST_ONE, "capacity": AT_LEAST_ONE,  # bench packing
}

# (smaller, larger) field pairs: when both are given the first may not exceed the second.
ORDERED = (("min_frames", "max_frames"), ("min_pixels", "max_pixels"))


def flag_name(name: str) -> str:
    """``"max_steps" -> "--max-steps"``."""
    return f"--{name.replace('_', '-')}"


def check_number(value, what: str, bound: Bound | None = None, *, integer: bool = False,
                 source: str | None = None):
    """``value`` if it is a finite number (an int when ``integer``) within ``bound``, else OmniBenchError.

    ``what`` names the input in the message (a flag, ``"clip.json#3: duration"``).

    >>> check_number(2.5, "--fps", POSITIVE)
    2.5
    >>> check_number(float("nan"), "--fps", POSITIVE)
    Traceback (most recent call last):
    omni_bench.core.errors.OmniBenchError: --fps must be a finite number > 0, got nan
    >>> check_number("ten", "--max-steps", AT_LEAST_ONE, integer=True)
    Traceback (most recent call last):
    omni_bench.core.errors.OmniBenchError: --max-steps must be a whole number >= 1, got 'ten'
    """
    kind = "a whole number" if integer else "a finite number"
    expected = f"{kind} {bound.text()}" if bound is not None and bound.text() != "any" else kind
    ok_type = isinstance(value, numbers.Integral if integer else numbers.Real) and not isinstance(value, bool)
    if integer and isinstance(value, float) and value.is_integer():
        ok_type, value = True, int(value)  # 100.0 from a JSON file is 100
    if not ok_type or not math.isfinite(value) or (bound is not None and not bound.holds(value)):
        shown = repr(value) if isinstance(value, str) else value
        raise OmniBenchError(f"{what} must be {expected}, got {shown}", source=source, reason="bad-number")
    return value


def check_ints(**values) -> None:
    """Check whole-number arguments of a public function by their :data:`FIELD_BOUNDS` names (None: unset).

    >>> check_ints(tokens=0)
    Traceback (most recent call last):
    omni_bench.core.errors.OmniBenchError: --tokens must be a whole number >= 1, got 0
    """
    for name, value in values.items():
        if value is not None:
            check_number(value, flag_name(name), FIELD_BOUNDS[name], integer=True)


def check_fields(obj, *, label=flag_name) -> None:
    """Check every field of the settings dataclass ``obj`` that :data:`FIELD_BOUNDS` bounds (None: unset),
    and the :data:`ORDERED` pairs; ``label(name)`` names a field in the message (default: its flag)."""
    hints = {f.name: f.type for f in dataclasses.fields(obj)}
    for name, hint in hints.items():
        value = getattr(obj, name)
        if name in FIELD_BOUNDS and value is not None:
            check_number(value, label(name), FIELD_BOUNDS[name], integer="int" in str(hint))
    for low, high in ORDERED:
        if low in hints and high in hints:
            small, large = getattr(obj, low), getattr(obj, high)
            if small is not None and large is not None and small > large:
                raise OmniBenchError(f"{label(low)} ({small}) is above {label(high)} ({large})",
                                     reason="bad-settings")
