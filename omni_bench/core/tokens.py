"""Ids of the tokens that structure a Qwen2.5 chat, read from a real tokenizer.

:class:`TokenIds` is the small table every structural pass (labels, layout, planner)
needs; it is built from the tokenizer, never typed in, so a real checkpoint's tokenizer
and the embedded one go through the same code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

__all__ = ["TokenIds", "token_ids"]


@dataclass(frozen=True)
class TokenIds:
    """Structural token ids of one tokenizer (Omni names; VL maps its own onto them)."""

    im_start: int  # <|im_start|>
    im_end: int  # <|im_end|>, the end-of-turn token
    newline: int  # "\n"
    video: int  # <|VIDEO|> / <|video_pad|>
    image: int  # <|IMAGE|> / <|image_pad|>
    audio: int | None  # <|AUDIO|> (Omni only)
    vision_bos: int  # <|vision_bos|> / <|vision_start|>
    vision_eos: int  # <|vision_eos|> / <|vision_end|>
    audio_bos: int | None  # <|audio_bos|> (Omni only)
    audio_eos: int | None  # <|audio_eos|> (Omni only)
    pad: int  # padding id
    roles: tuple[tuple[int, ...], ...]  # token ids of "system", "user", "assistant"
    role_names: tuple[str, ...] = ("system", "user", "assistant")

    @property
    def media(self) -> frozenset[int]:
        return frozenset(i for i in (self.video, self.image, self.audio) if i is not None)

    @property
    def special(self) -> frozenset[int]:
        return frozenset(i for i in (self.im_start, self.im_end, self.vision_bos, self.vision_eos,
                                     self.audio_bos, self.audio_eos, self.pad) if i is not None)

    def kind_of(self, token: int) -> str:
        """"VIDEO", "AUDIO", "IMAGE", "special" or "text"."""
        if token == self.video:
            return "VIDEO"
        if token == self.audio:
            return "AUDIO"
        if token == self.image:
            return "IMAGE"
        return "special" if token in self.special else "text"


def _one(tokenizer, token: str | None) -> int | None:
    if not token:
        return None
    value = tokenizer.convert_tokens_to_ids(token)
    return None if value is None or value == getattr(tokenizer, "unk_token_id", -1) else int(value)


@functools.lru_cache(maxsize=16)
def _cached(tokenizer) -> TokenIds:
    encode = functools.partial(tokenizer.encode, add_special_tokens=False)
    return TokenIds(
        im_start=_one(tokenizer, "<|im_start|>"),
        im_end=_one(tokenizer, "<|im_end|>"),
        newline=encode("\n")[0],
        video=_one(tokenizer, getattr(tokenizer, "video_token", None) or "<|video_pad|>"),
        image=_one(tokenizer, getattr(tokenizer, "image_token", None) or "<|image_pad|>"),
        audio=_one(tokenizer, getattr(tokenizer, "audio_token", None)),
        vision_bos=_one(tokenizer, getattr(tokenizer, "vision_bos_token", None) or "<|vision_start|>"),
        vision_eos=_one(tokenizer, getattr(tokenizer, "vision_eos_token", None) or "<|vision_end|>"),
        audio_bos=_one(tokenizer, getattr(tokenizer, "audio_bos_token", None)),
        audio_eos=_one(tokenizer, getattr(tokenizer, "audio_eos_token", None)),
        pad=int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id),
        roles=tuple(tuple(encode(name)) for name in ("system", "user", "assistant")),
    )


def token_ids(tokenizer_or_processor) -> TokenIds:
    """The :class:`TokenIds` of a tokenizer or of a processor's tokenizer (cached)."""
    tokenizer = getattr(tokenizer_or_processor, "tokenizer", tokenizer_or_processor)
    return _cached(tokenizer)
