"""How alike the bundled grounding clips look to the tiny model (the closed loop's diagnosis, docs/evaluation.md).

For the first sample of each video in the closed-loop recipe (configs/train_tiny_grounding.json, one
event per sample), the video tokens the text model receives (the tiny model's vision tower and merger)
and the raw pixel values, compared pairwise by cosine similarity of the flattened tensors.

    .venv/bin/python scripts/video_feature_similarity.py [FRAMES] [SIDE]    # defaults: 4 56
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from omni_bench.core.models import tiny_model
from omni_bench.training.config import TrainConfig
from omni_bench.training.run import _training_data

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "train_tiny_grounding.json"


def main(frames: int = 4, side: int = 56) -> None:
    config = TrainConfig.from_file(str(RECIPE), frames=frames, resize=(side, side))
    dataset, _ = _training_data(config, Path(config.data))
    model = tiny_model(config.profile, seed=config.seed).eval()
    first: dict[str, int] = {}
    for i, planned in enumerate(dataset.planned):
        first.setdefault(planned.video, i)
    tensors = {}
    for video, i in first.items():
        item = dataset[i]
        with torch.no_grad():
            out = model.model.get_video_features(item["pixel_values_videos"], item["video_grid_thw"])
        out = getattr(out, "pooler_output", out)
        feats = torch.cat(list(out)) if isinstance(out, (list, tuple)) else out
        tensors[Path(video).stem] = (feats.flatten(), item["pixel_values_videos"].flatten())
        print(f"{Path(video).stem}: {feats.shape[0]} video tokens, grid {item['video_grid_thw'].tolist()}")
    names = list(tensors)
    cos = torch.nn.functional.cosine_similarity
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            (fa, pa), (fb, pb) = tensors[names[a]], tensors[names[b]]
            print(f"{names[a]} vs {names[b]}: video tokens cos {float(cos(fa, fb, dim=0)):.3f}, "
                  f"pixels cos {float(cos(pa, pb, dim=0)):.3f}")


if __name__ == "__main__":
    main(*(int(x) for x in sys.argv[1:3]))
