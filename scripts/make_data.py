"""Regenerate data/: deterministic synthetic clips and their LongVALE-style annotations.

    python scripts/make_data.py            # rewrites data/clips/*.mkv and data/*.json

The clips are made by omni_bench.write_clip (moving bar over a gradient, a tone on a
16 kHz PCM track). Annotations follow LongVALE's SFT format (``id``, ``video``,
``conversations`` with ``from`` human/gpt, ``meta.duration``, ``meta.token`` mapping
``<s0>``/``<e0>``... to seconds) and its annotation format (``duration``, ``timestamps``,
``sentences``).
"""

from __future__ import annotations

import json
from pathlib import Path

from omni_bench.core.media import write_clip

ROOT = Path(__file__).resolve().parent.parent / "data"

# name: (seconds, fps, width, height, audio, tone)
CLIPS = {
    "street_market": (8.0, 25.0, 320, 180, True, 440.0),
    "kitchen_talk": (12.0, 15.0, 640, 360, True, 330.0),
    "portrait_music": (6.0, 10.0, 180, 320, True, 523.25),
    "silent_walk": (5.0, 10.0, 320, 180, False, 0.0),
}

SFT = [
    {"id": "street_market", "video": "clips/street_market.mkv",
     "conversations": [
         {"from": "human", "value": "<video>\nAt which time interval in the video can we see the white bar "
                                    "cross the middle of the frame?"},
         {"from": "gpt", "value": "From <s0> to <e0>."},
         {"from": "human", "value": "What can be heard during <s1> to <e1>?"},
         {"from": "gpt", "value": "A steady tone that swells and fades."}],
     "meta": {"duration": 8.0, "token": {"<s0>": 3.2, "<e0>": 4.8, "<s1>": 0.0, "<e1>": 2.4}}},
    {"id": "kitchen_talk", "video": "clips/kitchen_talk.mkv",
     "conversations": [
         {"from": "human", "value": "<video>\nCould you describe every event in the video with its start "
                                    "and end time?"},
         {"from": "gpt", "value": "From <s0> to <e0>, a white bar enters from the left. From <s1> to <e1>, "
                                  "it reaches the right edge while a low tone plays."}],
     "meta": {"duration": 12.0, "token": {"<s0>": 0.0, "<e0>": 6.0, "<s1>": 6.0, "<e1>": 12.0}}},
    {"id": "portrait_music", "video": "clips/portrait_music.mkv",
     "conversations": [
         {"from": "human", "value": "<video>\nWhat happens between <s0> and <e0>?"},
         {"from": "gpt", "value": "A bright bar moves across a vertical gradient to a high tone."}],
     "meta": {"duration": 6.0, "token": {"<s0>": 1.5, "<e0>": 4.5}}},
]

ANNOTATIONS = {
    name: {"duration": CLIPS[name][0],
           "timestamps": [[0.0, CLIPS[name][0] / 2], [CLIPS[name][0] / 2, CLIPS[name][0]]],
           "sentences": ["A white bar moves in from the left.", "The bar reaches the right edge."]}
    for name in CLIPS
}


def main() -> None:
    for name, (seconds, fps, width, height, audio, tone) in CLIPS.items():
        info = write_clip(ROOT / "clips" / f"{name}.mkv", seconds=seconds, fps=fps, width=width,
                          height=height, audio=audio, tone_hz=tone or 440.0)
        print(f"{info.path}: {info.total_frames} frames, {info.duration:.2f} s, "
              f"{info.width}x{info.height}, audio={info.has_audio}")
    (ROOT / "longvale_sft.json").write_text(json.dumps(SFT, indent=1) + "\n")
    (ROOT / "longvale_annotations.json").write_text(json.dumps(ANNOTATIONS, indent=1) + "\n")


if __name__ == "__main__":
    main()
