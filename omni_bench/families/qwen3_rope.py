"""Qwen3-VL's and Qwen3-Omni's 3-D rope positions, written from transformers 5.23's rules.

* Qwen3-VL (``Qwen3VLModel.get_rope_index``): the video grid is split into its temporal steps
  (each one image-like block of ``1 x h x w``, because each sits between its own
  ``<|vision_start|>`` / ``<|vision_end|>`` after its timestamp text); a block starting at
  position ``p`` gives merged row ``i`` / column ``j`` the positions ``(p, p + i, p + j)``,
  and the text after it resumes at ``p + max(h, w) / 2``. Time is carried by the timestamp
  text only: every step's temporal row is its own start.
* Qwen3-Omni (``Qwen3OmniMoePreTrainedModelForConditionalGeneration.get_rope_index``): a
  video with its audio opens with two positions (``<|vision_start|>``, ``<|audio_start|>``);
  audio token ``i`` gets ``s + i`` in all rows, video token of step ``k`` gets the temporal
  ``s + k * second_per_grid * position_id_per_seconds`` computed in float32 (not truncated:
  positions are fractional when ``2 / fps * 13`` is), rows/columns ``s + i`` / ``s + j``;
  the two are merged by comparing their temporal rows (video first on ties, in float32), the
  closing pair starts one past the last piece's largest position, and text resumes after it.

The token order the rope assumes is its own merge, in float32; the processor's merge
(:func:`~omni_bench.families.qwen3_omni.token_interleave_runs`) compares in float64.
:func:`omni_merge_disagrees` says when the two orders differ.
"""

from __future__ import annotations

import itertools

import numpy as np

from omni_bench.families.qwen3_omni import token_interleave_runs

__all__ = ["qwen3_vl_rope_positions", "qwen3_omni_rope_positions", "omni_merge_disagrees"]


def qwen3_vl_rope_positions(input_ids, *, video_token: int, image_token: int, video_grid_thw=(), image_grid_thw=(),
                            merge_size: int = 2) -> np.ndarray:
    """(3, L) int64 positions of one sequence, equal to ``get_rope_index`` (see module docstring)."""
    ids = np.asarray(input_ids)
    kinds = np.where(ids == image_token, 1, np.where(ids == video_token, 2, 0))
    blocks = {1: iter([tuple(int(x) for x in g) for g in image_grid_thw]),
              2: iter([(1, int(g[1]), int(g[2])) for g in video_grid_thw for _ in range(int(g[0]))])}
    pieces, pos = [], 0
    for kind, group in itertools.groupby(kinds.tolist()):
        n = len(list(group))
        if kind == 0:
            pieces.append(np.broadcast_to(np.arange(n) + pos, (3, n)))
            pos += n
            continue
        t, h, w = next(blocks[kind])
        gh, gw = h // merge_size, w // merge_size
        tt, hh, ww = np.meshgrid(np.arange(t), np.arange(gh), np.arange(gw), indexing="ij")
        pieces.append(np.stack([tt.ravel(), hh.ravel(), ww.ravel()]) + pos)
        pos += max(gh, gw)
    return np.concatenate(pieces, axis=1).astype(np.int64)


def _omni_video_positions(start: int, grid, second_per_grid: float, ids_per_second: int, merge: int) -> np.ndarray:
    t, h, w = (int(x) for x in grid)
    gh, gw = h // merge, w // merge
    # torch: int64 arange * float32 tensor -> float32, then * the int ids per second, in float32
    temporal = np.arange(t, dtype=np.float32) * np.float32(second_per_grid) * np.float32(ids_per_second)
    tt = np.repeat(temporal, gh * gw)
    hh = np.tile(np.repeat(np.arange(gh), gw), t).astype(np.float32)
    ww = np.tile(np.arange(gw), t * gh).astype(np.float32)
    return np.stack([tt, hh, ww]).astype(np.float32) + np.float32(start)


def _omni_merge(video: np.ndarray, audio: np.ndarray) -> list[tuple[str, np.ndarray]]:
    pieces, v, a = [], 0, 0
    while v < video.shape[1] and a < audio.shape[1]:
        if video[0, v] <= audio[0, a]:
            pieces.append(("VIDEO", video[:, v:v + 1]))
            v += 1
        else:
            pieces.append(("AUDIO", audio[:, a:a + 1]))
            a += 1
    if v < video.shape[1]:
        pieces.append(("VIDEO", video[:, v:]))
    if a < audio.shape[1]:
        pieces.append(("AUDIO", audio[:, a:]))
    return pieces


def qwen3_omni_rope_positions(input_ids, *, ids, video_grid_thw, second_per_grid: float, audio_tokens: int,
                              ids_per_second: int, use_audio_in_video: bool, merge_size: int = 2) -> np.ndarray:
    """(3, L) float32 positions of a one-video sequence, equal to the thinker's ``get_rope_index``.

    ``ids`` is the tokenizer's :class:`~omni_bench.core.tokens.TokenIds`; the sequence holds one
    video (with its own audio when ``use_audio_in_video``) and text.
    """
    tokens = np.asarray(input_ids).tolist()
    where = tokens.index(ids.vision_bos)
    bos = 2 if use_audio_in_video else 1
    pieces: list[np.ndarray] = [np.broadcast_to(np.arange(where + bos, dtype=np.float32), (3, where + bos))]
    start = where + bos
    video = _omni_video_positions(start, video_grid_thw[0], second_per_grid, ids_per_second, merge_size)
    if use_audio_in_video:
        audio = np.broadcast_to(np.arange(audio_tokens, dtype=np.float32) + start, (3, audio_tokens))
        pieces += [part for _, part in _omni_merge(video, audio)]
    else:
        pieces.append(video)
        audio_tokens = 0
    after = float(pieces[-1].max()) + 1
    consumed = where + bos + video.shape[1] + audio_tokens
    rest = len(tokens) - consumed  # the closing pair, then the text
    pieces.append(np.broadcast_to(np.arange(rest, dtype=np.float32) + np.float32(after), (3, rest)))
    return np.concatenate(pieces, axis=1).astype(np.float32)


def omni_merge_disagrees(grid, second_per_grid: float, audio_tokens: int, ids_per_second: int,
                         merge_size: int = 2) -> bool:
    """True when the rope's float32 merge orders video and audio tokens unlike the processor's float64 one."""
    video = _omni_video_positions(0, grid, second_per_grid, ids_per_second, merge_size)
    audio = np.broadcast_to(np.arange(audio_tokens, dtype=np.float32), (3, audio_tokens))
    rope: list[tuple[str, int]] = []
    for kind, piece in _omni_merge(video, audio):
        if rope and rope[-1][0] == kind:
            rope[-1] = (kind, rope[-1][1] + piece.shape[1])
        else:
            rope.append((kind, piece.shape[1]))
    processor = token_interleave_runs(grid, second_per_grid, audio_tokens, position_id_per_seconds=ids_per_second,
                                      merge_size=merge_size)
    return rope != processor
