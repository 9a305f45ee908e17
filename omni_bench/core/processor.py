"""Processors without a model hub: real settings, real vocabulary, cached on disk.

``load_processor("qwen2.5-omni-7b")`` builds transformers' own ``Qwen2_5OmniProcessor``
(or ``Qwen2_5_VLProcessor``) from parts made locally:

* the tokenizer: transformers' ``Qwen2Tokenizer`` over the real Qwen2 BPE ranks
  (151,643 of them, read from ``dashscope/resources/qwen.tiktoken``, merges derived by
  transformers' ``TikTokenConverter``), the Qwen2 pre-tokenizer and NFC normaliser, and the
  model's special tokens appended at their real ids 151643-151664;
* the image and video processors and the Whisper feature extractor with the checkpoint's
  settings (see :mod:`omni_bench.core.profiles`);
* the model's chat template (``omni_bench/templates``) with its default system prompt.

The result is saved once with ``save_pretrained`` under the cache directory and from then
on loaded with ``AutoProcessor.from_pretrained`` - the same call a real checkpoint uses, so
a checkpoint directory passed instead of a profile name goes through the same code.
The Qwen3 profiles build ``Qwen3VLProcessor`` / ``Qwen3OmniMoeProcessor`` the same way
(docs/qwen3.md). Not covered: downloading anything; Qwen2-VL processors.

``plan``, ``budget`` and ``samplers`` do not build this processor: they read the same
folder's ``tokenizer.json`` and chat template without torch or transformers
(:func:`omni_bench.core.light.load_planner`), and come here only to build a profile's
cache folder the first time (:func:`profile_folder`) or for a folder they cannot read.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from omni_bench._torchvision import ensure_torchvision
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.profiles import DEFAULT_PROFILE, PROFILES, Profile, get_profile
from omni_bench.families import FAMILIES, family_of, family_of_processor

__all__ = ["load_processor", "cache_dir", "vocabulary_path", "profile_of", "resolve_profile"]

_BUILD_VERSION = "1"  # bump when what we write into the cache changes


def cache_dir() -> Path:
    """Where built processors live: ``$OMNI_BENCH_CACHE`` or ``~/.cache/omni_bench``."""
    root = os.environ.get("OMNI_BENCH_CACHE") or os.path.join(Path.home(), ".cache", "omni_bench")
    return Path(root)


def vocabulary_path() -> Path:
    """The real Qwen2 BPE ranks shipped in the Apache-2.0 ``dashscope`` wheel."""
    try:
        import dashscope
    except ImportError as exc:  # pragma: no cover - a dependency
        raise OmniBenchError("dashscope is not installed; it ships the Qwen2 vocabulary (pip install dashscope)")\
            from exc
    path = Path(dashscope.__file__).parent / "resources" / "qwen.tiktoken"
    if not path.is_file():  # pragma: no cover
        raise OmniBenchError(f"{path}: Qwen2 vocabulary file missing from the dashscope package")
    return path


@functools.lru_cache(maxsize=1)
def _vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    from transformers.convert_slow_tokenizer import TikTokenConverter

    path = str(vocabulary_path())
    return TikTokenConverter(vocab_file=path).extract_vocab_merges_from_model(path)


def _build_tokenizer(profile: Profile, folder: Path) -> None:
    """Write a Qwen2 tokenizer with the profile's special tokens at their real ids into folder."""
    from transformers import Qwen2Tokenizer

    vocab, merges = _vocab_and_merges()
    tokenizer = Qwen2Tokenizer(
        vocab=dict(vocab), merges=list(merges), eos_token="<|endoftext|>", pad_token="<|endoftext|>",
        unk_token=None, errors="replace", clean_up_tokenization_spaces=False, model_max_length=32768,
    )
    ordered = sorted(profile.special_tokens.items(), key=lambda kv: kv[1])
    tokenizer.add_special_tokens({"additional_special_tokens": [tok for tok, _ in ordered[1:]]})
    wrong = {tok: tokenizer.convert_tokens_to_ids(tok) for tok, i in ordered
             if tokenizer.convert_tokens_to_ids(tok) != i}
    if wrong:  # pragma: no cover - guards the construction above
        raise RuntimeError(f"special tokens landed at wrong ids: {wrong}")
    tokenizer.eos_token = "<|im_end|>"  # the chat models end a turn with <|im_end|> (151645)
    tokenizer.save_pretrained(folder)
    # Name the media tokens the way the released tokenizer_config.json does, so that
    # tokenizer.video_token / video_token_id etc. exist for the processor.
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["extra_special_tokens"] = dict(profile.named_tokens)
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False))


def _build(profile: Profile, folder: Path) -> None:
    ensure_torchvision()
    from transformers import AutoTokenizer, Qwen2VLImageProcessor

    _build_tokenizer(profile, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    template = resources.files("omni_bench").joinpath("templates", profile.template).read_text()
    common = dict(
        patch_size=profile.patch_size, temporal_patch_size=profile.temporal_patch_size,
        merge_size=profile.merge_size, image_mean=list(profile.image_mean), image_std=list(profile.image_std),
    )
    image_processor = Qwen2VLImageProcessor(
        size={"shortest_edge": profile.image_min_pixels, "longest_edge": profile.image_max_pixels}, **common
    )
    video_processor = family_of(profile).video_processor(profile, common)
    processor = family_of(profile).build_processor(profile, image_processor=image_processor,
                                                   video_processor=video_processor, tokenizer=tokenizer,
                                                   chat_template=template)
    processor.save_pretrained(folder)
    (folder / "omni_bench_profile.json").write_text(json.dumps({"profile": profile.name}))


def built_folder(profile: Profile) -> Path | None:
    """The profile's processor folder in the cache, or None when it is not built yet."""
    folder = cache_dir() / "processors" / f"{profile.name}-v{_BUILD_VERSION}"
    return folder if (folder / "omni_bench_profile.json").is_file() else None


def profile_folder(profile: Profile) -> Path:
    """The profile's processor folder in the cache, built first (with transformers) if need be."""
    built = built_folder(profile)
    if built is not None:
        return built
    folder = cache_dir() / "processors" / f"{profile.name}-v{_BUILD_VERSION}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{profile.name}-", dir=folder.parent))
    try:
        _build(profile, scratch)
        try:
            scratch.rename(folder)  # atomic: another process may have won the race
        except OSError:
            if not (folder / "omni_bench_profile.json").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


def _from_pretrained(folder: str):
    ensure_torchvision()
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(folder)


_load = functools.lru_cache(maxsize=16)(_from_pretrained)  # checkpoint folders: the last 16 loaded
_load_profile = functools.lru_cache(maxsize=None)(_from_pretrained)  # profiles (a few): one object each, never evicted


def load_processor(name_or_path: str = DEFAULT_PROFILE):
    """Return transformers' processor for a profile name or a local checkpoint directory.

    >>> proc = load_processor("qwen2.5-omni-7b")           # doctest: +SKIP
    >>> proc.tokenizer("Hello world").input_ids             # doctest: +SKIP
    [9707, 1879]

    A profile is built the first time (a few seconds) and cached on disk (see
    :func:`cache_dir`); a directory loads with ``AutoProcessor.from_pretrained``. The same
    Python object is returned for repeated calls in one process - do not mutate it.
    """
    path = Path(os.path.expanduser(str(name_or_path)))
    if path.is_dir():
        try:
            return _load(str(path.resolve()))
        except (OSError, ValueError, KeyError) as exc:  # no processor files, a config.json that is not JSON
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise OmniBenchError(f"{name_or_path}: not a checkpoint directory transformers can load a processor "
                                 f"from ({why})", source=str(name_or_path), reason="unsupported-model") from None
    if str(name_or_path).lower() not in PROFILES and (os.sep in str(name_or_path) or path.suffix):
        raise OmniBenchError(f"{name_or_path}: no such checkpoint directory", source=str(name_or_path),
                             reason="missing")
    return _load_profile(str(profile_folder(get_profile(str(name_or_path)))))


def profile_of(processor) -> Profile | None:
    """The profile a processor was built from, if it was built by omni_bench."""
    folder = getattr(processor, "_omni_bench_folder", None) or getattr(
        getattr(processor, "tokenizer", None), "name_or_path", None)
    if folder:
        marker = Path(folder) / "omni_bench_profile.json"
        if marker.is_file():
            return PROFILES.get(json.loads(marker.read_text())["profile"])
    return None


def resolve_profile(processor) -> Profile:
    """The profile whose arithmetic applies: the one it was built from, or its family's default
    (a checkpoint's processor). Raises OmniBenchError for a processor of no known family."""
    built = profile_of(processor)
    if built is not None:
        return built
    named = getattr(processor, "processor_class", None)  # a LightProcessor names transformers' class
    family = next((f for f in FAMILIES.values() if named in f.processor_classes), None) if named else None
    return PROFILES[(family or family_of_processor(processor)).default_profile]
