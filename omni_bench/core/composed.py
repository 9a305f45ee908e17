"""Settings composed of parts, as ``HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))``
composes dataclasses: a config *holds* its parts instead of copying their fields.

:func:`composed` decorates a frozen dataclass some of whose fields are themselves settings
dataclasses (its *parts*, e.g. ``TrainConfig.layout: LayoutSettings``). Every field of a part
keeps its own name in one flat namespace, the names a flag, a keyword and a ``config.json``
key use:

* ``Config(frames=4, max_steps=2)`` puts ``frames`` into the part that defines it
  (``Config(layout=LayoutSettings(frames=4), max_steps=2)`` is the same config);
  ``config.replace(frames=8)`` too;
* ``config.frames`` reads ``config.layout.frames``;
* :func:`flat_dict` is ``{flat name: value}`` (a run's ``config.json``), :func:`from_flat`
  reads it back (or a nested dict, a part as a JSON object).

A part's fields the config does not use are named in the part field's metadata,
``field(default_factory=LayoutSettings, metadata={"unused": ("prompt", "answer")})``: they get
no flag, and setting one is refused, so nothing given is silently dropped. ``metadata={"flags":
{"data": "--annotations ANN: ..."}}`` gives a part's field another flag in this config (its
comment form, :mod:`omni_bench.cli.flags`); the flag's name is also a keyword for the field.

Left out: positional construction (keywords only), parts nested in parts.
"""

from __future__ import annotations

import dataclasses
import functools
import typing

from omni_bench.core.errors import OmniBenchError

__all__ = ["composed", "parts", "flat_names", "flat_dict", "from_flat", "unused_fields", "flag_overrides"]


def parts(cls) -> dict[str, type]:
    """``{field name: part dataclass}`` of a composed config class (its fields that are dataclasses)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)
            if isinstance(hints[f.name], type) and dataclasses.is_dataclass(hints[f.name])}


def unused_fields(cls, part: str) -> tuple[str, ...]:
    """The fields of part ``part`` that ``cls`` does not use (no flag; setting one is refused)."""
    return tuple(next(f for f in dataclasses.fields(cls) if f.name == part).metadata.get("unused", ()))


def flag_overrides(cls, part: str) -> dict[str, str]:
    """``{field: comment}``: the part's fields whose flag this config names otherwise."""
    return dict(next(f for f in dataclasses.fields(cls) if f.name == part).metadata.get("flags", {}))


@functools.cache
def flat_names(cls) -> dict[str, tuple[str, ...]]:
    """``{flat name: path}``: ``"max_steps": ("max_steps",)``, ``"frames": ("layout", "frames")``.

    The config's own fields first; two parts that define the same field name (neither the config)
    are a design error, raised here. A renamed flag's name is a second key for its field.
    """
    own = {f.name: (f.name,) for f in dataclasses.fields(cls) if f.name not in parts(cls)}
    names = dict(own)
    for part, part_cls in parts(cls).items():
        for f in dataclasses.fields(part_cls):
            if f.name in own:
                continue  # the config's own field of that name wins (EvalConfig.task is the scoring task)
            if f.name in names:
                raise TypeError(f"{cls.__name__}: field {f.name!r} is in parts {names[f.name][0]!r} and {part!r}")
            names[f.name] = (part, f.name)
        for name, comment in flag_overrides(cls, part).items():
            alias = comment.split()[0].lstrip("-").replace("-", "_")
            if alias != name:
                names[alias] = (part, name)
    return names


def _part_default(cls, part: str):
    field = next(f for f in dataclasses.fields(cls) if f.name == part)
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _nest(cls, values: dict) -> dict:
    """Keyword arguments for the dataclass ``__init__``: flat names folded into their parts."""
    names = flat_names(cls)
    own, changes = {}, {part: {} for part in parts(cls)}
    for key, value in values.items():
        path = names.get(key)
        if path is None and key in parts(cls):
            path = (key,)
        if path is None:
            raise OmniBenchError(f"unknown {cls.__name__} setting: {key}", reason="bad-settings")
        if len(path) == 1:
            own[key] = value
        else:
            changes[path[0]][path[1]] = value
    for part, part_cls in parts(cls).items():
        given = own.get(part)
        if isinstance(given, dict):  # a part as a JSON object
            given = part_cls(**given)
        base = given if given is not None else cls._part_base(part, own)
        if changes[part]:  # the part's own replace where it has one (LayoutSettings: frames and fps exclude)
            change = getattr(base, "replace", functools.partial(dataclasses.replace, base))
            base = change(**changes[part])
        own[part] = base
    return own


def composed(cls):
    """Class decorator for a frozen settings dataclass holding parts (see the module docstring)."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, **values):
        init(self, **_nest(type(self), values))

    def __getattr__(self, name: str):
        path = flat_names(type(self)).get(name) if not name.startswith("__") else None
        if path is None or len(path) == 1:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(getattr(self, path[0]), path[1])

    def _check_unused(self):
        for part in parts(type(self)):
            held, default = getattr(self, part), _part_default(type(self), part)
            for name in unused_fields(type(self), part):
                if getattr(held, name) != getattr(default, name):
                    raise OmniBenchError(f"--{name.replace('_', '-')} is not a {type(self).__name__} setting "
                                         f"({type(self).__name__} does not use it)", reason="bad-settings")

    if not hasattr(cls, "_part_base"):
        cls._part_base = classmethod(lambda klass, part, own: _part_default(klass, part))
    cls.__init__ = __init__
    cls.__getattr__ = __getattr__
    cls._check_unused = _check_unused
    flat_names(cls)  # a name clash between parts is an error at import
    return cls


def flat_dict(config) -> dict:
    """``{flat name: value}`` of every field the config uses, parts flattened, in field order.

    >>> from omni_bench.training.config import TrainConfig
    >>> config = TrainConfig(tiny=True, data="d.json", frames=8)
    >>> config.layout.frames, config.frames, flat_dict(config)["frames"], "prompt" in flat_dict(config)
    (8, 8, 8, False)
    """
    cls = type(config)
    out = {}
    for f in dataclasses.fields(cls):
        if f.name in parts(cls):
            skip = set(unused_fields(cls, f.name))
            out.update({k: v for k, v in dataclasses.asdict(getattr(config, f.name)).items()
                        if k not in skip and flat_names(cls).get(k) == (f.name, k)})
        else:
            value = getattr(config, f.name)
            out[f.name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
    return out


def from_flat(cls, data: dict):
    """A config from a flat dict (a ``config.json``), or one whose parts are nested objects."""
    return cls(**data)
