"""Draw docs/timeline_longvale_sample.png: the LongVALE notebook's 256.89 s sample before and
after the recommended fix, from the planner's arithmetic alone (nothing decoded).

    .venv/bin/python scripts/draw_timeline_doc.py
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

from omni_bench import LayoutSettings, alignment, recommend
from omni_bench.layout.plan import media_plan
from omni_bench_widgets.timeline import draw_timeline_pair

META = dict(duration=256.89, width=640, height=360, native_fps=25.0)
SETTINGS = LayoutSettings(frames=50, resize=(224, 224), processor_fps=2.0)


def main() -> None:
    fixed = recommend(META, SETTINGS).apply(SETTINGS)
    fig = draw_timeline_pair(alignment(media_plan(META, SETTINGS)), alignment(media_plan(META, fixed)))
    out = Path(__file__).resolve().parents[1] / "docs" / "timeline_longvale_sample.png"
    fig.savefig(out, metadata={"Software": None})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
