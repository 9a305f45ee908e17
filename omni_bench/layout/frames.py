"""Which frames of a video a sample uses, and at what size: qwen-vl-utils' rules, decoded or not.

:func:`sample_indices` / :func:`frame_count` choose the frames (``smart_nframes`` then
``linspace(...).round()``); :func:`explicit_size` is the frame size an explicit ``--resize``
becomes and :func:`resize_frames` resizes decoded frames to it, as ``inspect`` feeds them to
the processor. The planner uses the same functions on metadata alone.
"""

from __future__ import annotations

import functools

import numpy as np

from omni_bench._torchvision import ensure_torchvision
from omni_bench.core import arith
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.media import VideoInfo

__all__ = ["sample_indices", "frame_count", "explicit_size", "resize_frames"]


def frame_count(info: VideoInfo, settings, temporal_patch_size: int = 2) -> int:
    """How many frames qwen-vl-utils' ``smart_nframes`` samples for these settings.

    ``settings``: a LayoutSettings or ResolvedSettings (frames, fps, min/max frames). Raises
    OmniBenchError naming the video when the count falls outside [factor, total frames].

    >>> from omni_bench.layout.settings import LayoutSettings
    >>> info = VideoInfo("clip.mp4", 25.0, 6422, 256.88, 640, 360, True, 256.89)
    >>> frame_count(info, LayoutSettings(frames=50)), frame_count(info, LayoutSettings())
    (50, 512)
    """
    if getattr(settings, "sampling", "qwen-vl-utils") == "fps":
        return len(_fps_indices(info, settings, temporal_patch_size))
    try:
        return arith.smart_nframes(
            info.total_frames, info.native_fps, nframes=settings.frames, fps=settings.fps,
            min_frames=settings.min_frames, max_frames=settings.max_frames, frame_factor=temporal_patch_size,
        )
    except ValueError as exc:
        asked = (f"{settings.frames} frames" if settings.frames is not None
                 else f"{settings.fps or arith.DEFAULT_FPS:g} fps")
        raise OmniBenchError(f"{info.path}: cannot sample {asked} from {info.total_frames} frames ({exc})",
                             source=info.path, reason="sampling") from None


def sample_indices(info: VideoInfo, settings, temporal_patch_size: int = 2) -> list[int]:
    """Frame indices chosen with qwen-vl-utils' rule: :func:`frame_count` frames spread by
    ``linspace(0, total - 1, n).round()``.

    >>> from omni_bench.layout.settings import LayoutSettings
    >>> sample_indices(VideoInfo("clip.mp4", 30.0, 300, 10.0, 320, 180, False, None), LayoutSettings(frames=4))
    [0, 100, 199, 299]
    """
    if getattr(settings, "sampling", "qwen-vl-utils") == "fps":  # --sampling fps: exactly --fps per second
        return _fps_indices(info, settings, temporal_patch_size)
    count = frame_count(info, settings, temporal_patch_size)
    return arith.linspace_round_indices(0, info.total_frames - 1, count)


def _fps_indices(info: VideoInfo, settings, temporal_patch_size: int) -> list[int]:
    rate = settings.fps or arith.DEFAULT_FPS
    if rate > info.native_fps:  # more frames than the video has (and an array of rate x duration entries)
        raise OmniBenchError(f"{info.path}: --sampling fps --fps {rate:g} is above the video's own "
                             f"{info.native_fps:g} fps; it takes at most every frame", source=info.path,
                             reason="sampling")
    try:
        return arith.fps_indices(info.total_frames, info.native_fps, rate, temporal_patch_size)
    except ValueError as exc:
        raise OmniBenchError(f"{info.path}: cannot sample at {rate:g} fps ({exc})", source=info.path,
                             reason="sampling") from None


@functools.lru_cache(maxsize=4096)
def explicit_size(height: int, width: int, factor: int) -> tuple[int, int]:
    """The size an explicit ``--resize HxW`` becomes: each side rounded to the factor (at least one).

    >>> explicit_size(224, 224, 28), explicit_size(230, 100, 28)
    ((224, 224), (224, 112))
    """
    return arith.smart_resize(height, width, factor=factor, min_pixels=factor * factor,
                              max_pixels=max(height * width, factor * factor) * 4)


def resize_frames(frames: np.ndarray, size: tuple[int, int], factor: int) -> np.ndarray:
    """Decoded frames ``[n, h, w, 3]`` resized (bicubic, antialiased) to :func:`explicit_size` of ``size``."""
    ensure_torchvision()
    import torch
    from torchvision.transforms.v2 import functional as tvF

    height, width = explicit_size(size[0], size[1], factor)
    video = torch.from_numpy(frames).permute(0, 3, 1, 2)
    video = tvF.resize(video, [height, width], interpolation=tvF.InterpolationMode.BICUBIC, antialias=True)
    return video.permute(0, 2, 3, 1).contiguous().numpy()
