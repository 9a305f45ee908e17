"""The planner's processor without torch or transformers: a tokenizer and a chat template.

``plan``, ``budget`` and ``samplers`` need two things of a processor: its tokenizer (text to
ids, ids back to text, the structural token ids) and its chat template. Building
transformers' processor for them imports torch, transformers' processing utilities and
torchvision - seconds to tens of seconds on a small CPU before the first line of output.
:func:`load_planner` reads the same files ``AutoProcessor.from_pretrained`` reads from a
processor folder (omni_bench's cache, or a checkpoint directory):

* ``tokenizer.json`` through the ``tokenizers`` library directly - the very object
  transformers' fast tokenizer wraps - and ``tokenizer_config.json`` for the named special
  tokens (``video_token`` etc.) and ``clean_up_tokenization_spaces``;
* ``chat_template.json`` or ``chat_template.jinja`` rendered with jinja2 in the environment
  transformers' ``apply_chat_template`` uses (see :mod:`omni_bench.core.chat_template`);
* the processor class named in ``processor_config.json`` / ``tokenizer_config.json`` (or
  the model type in ``config.json``) for the family.

The ids equal transformers' tokenizer + ``apply_chat_template`` on every family's template
(``tests/test_light_planner.py``). A profile whose cache is not built yet is built first
(the slow path: transformers writes the folder, a stage line says so); a folder without
``tokenizer.json`` or with several templates falls back to :func:`load_processor`.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from omni_bench.core import processor as heavy
from omni_bench.core.chat_template import render
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.profiles import DEFAULT_PROFILE, PROFILES, get_profile
from omni_bench.core.stages import stage
from omni_bench.families import family_of_model_type

__all__ = ["LightTokenizer", "LightProcessor", "load_planner", "light_of"]

_NAMED = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def _content(value) -> str | None:
    """A token as tokenizer_config.json writes it: a string, or an AddedToken dict."""
    if isinstance(value, dict):
        value = value.get("content")
    return None if value is None else str(value)


class LightTokenizer:
    """The part of transformers' fast tokenizer the planner uses, over ``tokenizer.json``."""

    def __init__(self, folder: Path):
        from tokenizers import Tokenizer

        self.name_or_path = str(folder)
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        config_path = folder / "tokenizer_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        self._clean_up = bool(config.get("clean_up_tokenization_spaces", False))
        named = {k: _content(config.get(k)) for k in _NAMED}
        extra = config.get("model_specific_special_tokens") or config.get("extra_special_tokens") or {}
        if isinstance(extra, dict):
            named.update({k: _content(v) for k, v in extra.items()})
        for key, value in config.items():  # tokens a processor names (video_token, ...) at the top level too
            if key.endswith("_token") and key not in named and isinstance(value, (str, dict)):
                named[key] = _content(value)
        self._named = {k: v for k, v in named.items() if v is not None}

    def __getattr__(self, name: str):
        named = self.__dict__.get("_named", {})
        if name in named:
            return named[name]
        if name in _NAMED:  # a named token the config leaves unset (bos_token for Qwen)
            return None
        raise AttributeError(name)

    @property
    def special_tokens_map(self) -> dict[str, str]:
        """The named special tokens, as transformers hands them to a chat template."""
        return dict(self._named)

    def _id(self, name: str) -> int | None:
        token = self._named.get(name)
        return None if token is None else self._tokenizer.token_to_id(token)

    pad_token_id = property(lambda self: self._id("pad_token"))
    eos_token_id = property(lambda self: self._id("eos_token"))
    unk_token_id = property(lambda self: self._id("unk_token"))
    bos_token_id = property(lambda self: self._id("bos_token"))

    def __len__(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=add_special_tokens).ids

    def __call__(self, text: str, add_special_tokens: bool = True, **_) -> dict[str, list[int]]:
        return {"input_ids": self.encode(text, add_special_tokens=add_special_tokens)}

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        text = self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)
        return _clean_up_spaces(text) if self._clean_up else text

    def convert_tokens_to_ids(self, token: str) -> int | None:
        value = self._tokenizer.token_to_id(token)
        return self.unk_token_id if value is None else value

    def convert_ids_to_tokens(self, ids):
        if isinstance(ids, int):
            return self._tokenizer.id_to_token(ids)
        return [self._tokenizer.id_to_token(int(i)) for i in ids]


def _clean_up_spaces(text: str) -> str:
    """transformers' ``clean_up_tokenization`` (spaces before punctuation and English contractions)."""
    for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                          (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(before, after)
    return text


class LightProcessor:
    """A tokenizer, a chat template and the family: what ``plan`` asks of a processor."""

    def __init__(self, folder: Path, tokenizer: LightTokenizer, chat_template: str, processor_class: str | None):
        self._omni_bench_folder = str(folder)
        self.tokenizer = tokenizer
        self.chat_template = chat_template
        self.processor_class = processor_class

    def __repr__(self) -> str:
        return f"LightProcessor({self._omni_bench_folder!r}, {self.processor_class})"

    def apply_chat_template(self, conversation, tokenize: bool = False, add_generation_prompt: bool = False,
                            **kwargs):
        """The chat text, rendered as transformers' processor renders it (``tokenize=True``: its ids)."""
        text = render(self.chat_template, conversation, add_generation_prompt=add_generation_prompt,
                      **{**self.tokenizer.special_tokens_map, **kwargs})
        return self.tokenizer.encode(text) if tokenize else text


def _read_template(folder: Path) -> str | None:
    """The processor's one chat template, found as transformers finds it (None: none, or several)."""
    legacy, raw = folder / "chat_template.json", folder / "chat_template.jinja"
    if (folder / "chat_templates").is_dir():
        return None  # named templates: leave the choice to transformers
    if legacy.is_file():
        return json.loads(legacy.read_text(encoding="utf-8"))["chat_template"]
    if raw.is_file():
        return raw.read_text(encoding="utf-8")
    return None


def _processor_class(folder: Path) -> str | None:
    for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        path = folder / name
        if path.is_file():
            value = json.loads(path.read_text(encoding="utf-8")).get("processor_class")
            if value:
                return str(value)
    config = folder / "config.json"
    if config.is_file():
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type", "")
        return family_of_model_type(model_type).processor_classes[0]
    return None


@functools.lru_cache(maxsize=16)
def _light(folder: str):
    """A LightProcessor over a processor folder, or None when transformers must read it."""
    path = Path(folder)
    template = _read_template(path)
    if template is None or not (path / "tokenizer.json").is_file():
        return None
    try:
        processor_class = _processor_class(path)
    except (ValueError, OmniBenchError):  # a config.json that is not JSON, a model type of no family
        return None
    return LightProcessor(path, LightTokenizer(path), template, processor_class)


def load_planner(name_or_path: str = DEFAULT_PROFILE, command: str = "plan"):
    """What ``plan`` / ``budget`` need of the processor of a profile or a checkpoint directory.

    A :class:`LightProcessor` (no torch, no transformers) when the folder holds
    ``tokenizer.json`` and one chat template; otherwise transformers' processor from
    :func:`~omni_bench.core.processor.load_processor`, with a stage line on stderr saying so
    (``command`` names the subcommand in it). Repeated calls return the same object.
    """
    path = Path(os.path.expanduser(str(name_or_path)))
    if path.is_dir():
        light = _light(str(path.resolve()))
        if light is not None:
            return light
        stage(command, f"{name_or_path}: no tokenizer.json or several chat templates; loading the processor "
                       "with transformers (slow)...")
        return heavy.load_processor(name_or_path)
    if str(name_or_path).lower() not in PROFILES and (os.sep in str(name_or_path) or path.suffix):
        return heavy.load_processor(name_or_path)  # its one-line error, before any import
    profile = get_profile(str(name_or_path))
    folder = heavy.built_folder(profile)
    if folder is None:
        stage(command, f"building the {profile.name} processor cache (first use; slow: transformers builds it "
                       f"under {heavy.cache_dir()})...")
        folder = heavy.profile_folder(profile)
    light = _light(str(folder))
    return light if light is not None else heavy.load_processor(name_or_path)


def light_of(processor) -> LightProcessor:
    """The light processor over the folder a transformers processor was loaded from (the same files).

    Raises OmniBenchError when that folder cannot be read without transformers (no
    ``tokenizer.json``, several chat templates) or the processor came from no folder.
    """
    if isinstance(processor, LightProcessor):
        return processor
    folder = getattr(getattr(processor, "tokenizer", None), "name_or_path", None)
    light = _light(str(Path(folder).resolve())) if folder and Path(folder).is_dir() else None
    if light is None:
        raise OmniBenchError(f"{folder or type(processor).__name__}: no processor folder the light planner can read",
                             source=str(folder), reason="unsupported-model")
    return light
