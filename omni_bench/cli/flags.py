"""Command-line flags generated from dataclass fields, their help being the fields' comments.

A settings dataclass documents each field with a trailing comment in one form,
``--flag METAVAR: what it is`` (``--no-audio: ...`` for a boolean that defaults to True), continued
on comment lines indented under the field. :func:`field_flags` reads those comments from the
class's source (``inspect.getsource`` + ``tokenize``, as transformers' HfArgumentParser reads
``metadata["help"]``); :func:`add_field_flags` adds one flag per field and :func:`field_values`
turns the parsed flags back into field values. So ``LayoutSettings`` and ``TrainConfig`` each
define their flags once, and every subcommand that takes a setting spells it the same way.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import io
import re
import textwrap
import tokenize
import types
import typing
from dataclasses import dataclass

from omni_bench.core.composed import flag_overrides, parts, unused_fields
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.numbers import FIELD_BOUNDS, check_number
from omni_bench.layout.settings import LayoutSettings, parse_resize

__all__ = ["FieldFlag", "field_flags", "add_field_flags", "field_values", "add_layout_flags", "settings_from_args",
           "add_metadata_flags", "add_json_flag", "SAMPLING_FIELDS", "number_type", "OneLineParser"]

# The LayoutSettings fields that decide sampling, frame size and chunking (inspect, plan, budget, validate, train).
SAMPLING_FIELDS = ("frames", "fps", "min_frames", "max_frames", "sampling", "min_pixels", "max_pixels", "resize",
                   "seconds_per_chunk", "position_id_per_seconds", "processor_fps")


@dataclass(frozen=True)
class FieldFlag:
    """One field's flag, as its comment describes it."""

    name: str  # the field
    flag: str  # "--max-steps", or "--no-audio" for a boolean field that defaults to True
    metavar: str | None  # "N", "HxW"; None for a switch
    help: str  # the comment after "--flag METAVAR:"
    kind: str  # "int" | "float" | "str" | "switch" | "size" (HxW) | "names" (comma-separated)
    default: object  # the field's default


_FLAG = re.compile(r"(--[a-z][a-z0-9-]*)(.*)", re.S)
_METAVARS = {"int": "N", "float": "X", "size": "HxW", "names": "A,B"}  # when the comment names none
_METAVAR = re.compile(r" ([^\s(:]+):\s*(.*)", re.S)


def _comments(cls) -> dict[str, str]:
    """Each field's comment text: the trailing comment of its line plus the indented comment lines under it."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (a frozen or compiled install): flags without help
        return {}
    lines = source.splitlines()
    comments = {tok.start[0]: (tok.start[1], tok.string.lstrip("#").strip())
                for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}
    found = {}
    for node in ast.parse(source).body[0].body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        row = node.end_lineno
        parts = [comments[row][1]] if row in comments else []
        row += 1
        while row in comments and lines[row - 1].lstrip().startswith("#") and comments[row][0] > node.col_offset:
            parts.append(comments[row][1])
            row += 1
        found[node.target.id] = " ".join(parts)
    return found


def _kind(hint) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        hint = args[0]
    if hint is bool:
        return "switch"
    if typing.get_origin(hint) is tuple:
        return "names" if typing.get_args(hint)[1:] == (Ellipsis,) else "size"
    return {int: "int", float: "float"}.get(hint, "str")


def _own_flags(cls, comments: dict[str, str] | None = None) -> dict[str, FieldFlag]:
    """``{field name: FieldFlag}`` for the fields of ``cls`` itself, from their comments."""
    comments = _comments(cls) if comments is None else comments
    hints = typing.get_type_hints(cls)
    flags = {}
    for f in dataclasses.fields(cls):
        text = comments.get(f.name, "")
        flag, rest = f"--{f.name.replace('_', '-')}", f" {text}" if text else ""
        match = _FLAG.match(text)
        if match:
            flag, rest = match.groups()
        metavar = None
        if rest.startswith(":"):
            rest = rest[1:]
        elif (named := _METAVAR.match(rest)) is not None:
            metavar, rest = named.groups()
        default = f.default if f.default is not dataclasses.MISSING else None
        kind = _kind(hints[f.name])
        if metavar is None and kind != "switch":
            metavar = _METAVARS.get(kind, "TEXT")
        flags[f.name] = FieldFlag(f.name, flag, metavar, rest.strip(), kind, default)
    return flags


@functools.cache
def field_flags(cls) -> dict[str, FieldFlag]:
    """``{field name: FieldFlag}`` for every setting of the dataclass ``cls``, from its comments.

    A composed config (:mod:`omni_bench.core.composed`) gives its own fields' flags and its parts'
    (``TrainConfig``: ``--max-steps`` from its own comment, ``--frames`` from ``LayoutSettings``'), one
    help per flag wherever the field is held; a part's fields the config does not use get none, a
    ``metadata={"flags": {...}}`` comment renames one.
    """
    held = parts(cls)
    own = {name: spec for name, spec in _own_flags(cls).items() if name not in held}
    if not held:
        return own
    flags = {}
    for f in dataclasses.fields(cls):
        if f.name not in held:
            flags[f.name] = own[f.name]
            continue
        renamed = _own_flags(held[f.name], {**_comments(held[f.name]), **flag_overrides(cls, f.name)})
        for name, spec in renamed.items():
            if name not in own and name not in unused_fields(cls, f.name):
                flags[name] = spec
    return flags


def number_type(name: str, kind: type = float):
    """An argparse ``type=`` for the number flag of field ``name``: refuses what is not a ``kind``, not
    finite, or outside the field's :data:`~omni_bench.core.numbers.FIELD_BOUNDS` range, where it is parsed.

    >>> number_type("fps")("0.5")
    0.5
    >>> number_type("fps")("nan")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: must be a finite number > 0, got nan
    """
    flag = f"--{name.replace('_', '-')}"

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = text  # check_number words the refusal
        try:
            return check_number(value, flag, FIELD_BOUNDS.get(name), integer=kind is int)
        except OmniBenchError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{flag} ")) from None

    convert.__name__ = kind.__name__
    return convert


class WholeFlagsHelpFormatter(argparse.HelpFormatter):
    """Help texts wrapped at spaces only, so a flag a help text names (``--max-total-tokens``) stays whole."""

    def _split_lines(self, text, width):
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class RawDescriptionWholeFlagsHelpFormatter(WholeFlagsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The top-level parser's: its description and epilog as written, flag help wrapped at spaces only."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``omni-bench plan: error: argument --fps: ...``), exit 2;
    a name starting with "-" that is an existing file gets the ``--`` hint. Help wraps at spaces only."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", WholeFlagsHelpFormatter)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        import sys

        self._seen = list(args) if args is not None else sys.argv[1:]
        return super().parse_known_args(args, namespace)

    def error(self, message: str):
        import os

        dashed = [a for a in getattr(self, "_seen", ()) if a.startswith("-") and a != "-" and os.path.isfile(a)]
        hint = (f"; {dashed[0]} is a file: put it after \"--\", e.g. {self.prog} -- {dashed[0]}" if dashed
                else f" (see {self.prog} --help)")
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}{hint}\n")


def _joined(kind: str, value: tuple) -> str:
    """A tuple default as its flag spells it: ``(56, 56)`` -> ``"56x56"`` (a size), ``("a", "b")`` -> ``"a,b"``."""
    return "x".join(map(str, value)) if kind == "size" else ",".join(map(str, value))


def _help(spec: FieldFlag) -> str:
    text = spec.help
    shown = spec.default
    if shown is not None and spec.kind != "switch" and "default" not in text.lower():
        shown = _joined(spec.kind, shown) if isinstance(shown, tuple) else shown
        text = f"{text} (default: {shown})" if text else f"default: {shown}"
    return text.replace("%", "%%")


def add_field_flags(parser, cls, names=None, *, defaults: bool = True, exclusive=(), borrow=None) -> None:
    """Add the flags of ``cls``'s fields ``names`` (all, in field order, when None) to ``parser``.

    ``defaults=False`` leaves every flag at None, "not given" (``train``, where given flags
    override a ``--config`` file). ``exclusive``: tuples of field names whose flags exclude each other.
    ``borrow``: ``(other dataclass, field names)`` whose flags (and help) those fields take from the
    other class, so a concept two dataclasses share is defined once.
    """
    specs = field_flags(cls)
    if borrow is not None:
        other, shared = borrow
        specs = {**specs, **{name: field_flags(other)[name] for name in shared}}
    groups = {}
    for together in exclusive:
        group = parser.add_mutually_exclusive_group()
        groups.update({name: group for name in together})
    for name in names if names is not None else list(specs):
        spec = specs[name]
        target = groups.get(name, parser)
        default = spec.default if defaults else None
        if spec.kind == "switch":
            action = "store_false" if spec.flag.startswith("--no-") else "store_true"
            target.add_argument(spec.flag, dest=name, action=action, default=default, help=_help(spec))
            continue
        convert = number_type(name, {"int": int, "float": float}[spec.kind]) if spec.kind in ("int", "float") else str
        if isinstance(default, tuple):
            default = _joined(spec.kind, default)
        target.add_argument(spec.flag, dest=name, type=convert, metavar=spec.metavar, default=default,
                            help=_help(spec))


def field_values(cls, args: argparse.Namespace) -> dict:
    """The fields of ``cls`` given on the command line (None: not given), as field values."""
    values = {}
    for name, spec in field_flags(cls).items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if spec.kind == "size" and isinstance(value, str):
            value = parse_resize(value)
        elif spec.kind == "names" and isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        values[name] = value
    return values


def add_json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")


def add_layout_flags(parser, *, unused: tuple[str, ...] = ()) -> None:
    """The LayoutSettings flags (profile or model, sampling, sizes, chunks, audio, prompts) and --json;
    ``unused``: the fields a command does not use (``validate``: the records hold the prompts), no flag."""
    which = parser.add_mutually_exclusive_group()
    add_field_flags(which, LayoutSettings, ["profile"])
    which.add_argument("--model", metavar="PATH", help="a local checkpoint directory (its processor, via "
                                                        "AutoProcessor), instead of a built-in --profile")
    names = [*SAMPLING_FIELDS, "use_audio", "audio_max_seconds", "prompt", "answer", "system"]
    add_field_flags(parser, LayoutSettings, [name for name in names if name not in unused],
                    exclusive=[("frames", "fps")])
    add_json_flag(parser)


def settings_from_args(args: argparse.Namespace) -> LayoutSettings:
    """The LayoutSettings the parsed layout flags describe."""
    values = field_values(LayoutSettings, args)
    values["profile"] = getattr(args, "model", None) or values.get("profile", LayoutSettings.profile)
    return LayoutSettings(**values)


# The container metadata of a video, for plan and samplers when there is no file (or to override its headers).
_METADATA = {
    "duration": (float, "S", "video length in seconds"),
    "width": (int, "W", "frame width in pixels"),
    "height": (int, "H", "frame height in pixels"),
    "native_fps": (float, "F", "the video's own frame rate"),
    "total_frames": (int, "N", "frames in the video (default: round(duration x native fps))"),
    "audio_seconds": (float, "S", "audio track length in seconds (default: the duration)"),
}


def add_metadata_flags(parser, names=tuple(_METADATA), *, what: str = "CLIP's") -> None:
    """Video metadata flags; each replaces what the headers of the positional CLIP say."""
    group = parser.add_argument_group("video metadata", f"for when there is no CLIP, or to override the {what} "
                                                        "container headers")
    for name in names:
        kind, metavar, text = _METADATA[name]
        group.add_argument(f"--{name.replace('_', '-')}", dest=name, type=number_type(name, kind), metavar=metavar,
                           help=text)
