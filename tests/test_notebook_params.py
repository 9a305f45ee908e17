"""The notebooks take any clip from their parameter cell: an mp4 written by ffmpeg, by path or by name.

Each notebook with a clip parameter runs in a real kernel (nbclient) from its first cell to the
last cell that reads the clip parameter, with the reader's own values set right after the
parameter cell (as papermill injects them). The bundled clips are all Matroska; the clip here
is an MP4 (H.264 + AAC, 160x96) under a name of its own, so a cell that still spells a bundled
name or the ``.mkv`` suffix fails. The check: no cell raises, and the notebook prints the clip's
size or its audio token count, which no bundled clip has.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ffmpeg_media import ClipSpec, make_clip

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SPEC = ClipSpec("mp4", "h264", "aac", seconds=4.0, fps="25", width=160, height=96, sample_rate=16000)


def _cells_to_run(nb, names: tuple[str, ...]) -> int:
    """Index of the last code cell that reads one of ``names`` (the parameter cell excluded)."""
    pattern = re.compile(r"\b(" + "|".join(names) + r")\b")
    used = [i for i, cell in enumerate(nb.cells[2:], 2) if cell.cell_type == "code" and pattern.search(cell.source)]
    assert used, f"no cell reads {names}"
    return used[-1]


def _run_with(name: str, values: dict) -> list[str]:
    """Run notebook ``name`` up to the last cell reading the keys of ``values``, set after its
    parameter cell; returns the text of every output."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert nb.cells[1].source.startswith("# Parameters")
    last = _cells_to_run(nb, tuple(values))
    injected = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in values.items()))
    nb.cells = [nb.cells[1], injected, *(c for c in nb.cells[2:last + 1] if c.cell_type == "code")]
    for cell in nb.cells:
        cell.outputs = []
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    texts = []
    for cell in nb.cells:
        for out in cell.outputs:
            texts.append(out.get("text", "") + str(out.get("data", {}).get("text/plain", "")))
    return texts


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("own clips")
    return make_clip(SPEC, folder).rename(folder / "my_holiday.mp4")


@pytest.mark.slow
@pytest.mark.parametrize("by", ["name", "path"])
def test_notebook_01_takes_a_clip_by_name_or_path(clip, by):
    values = ({"CLIP_DIR": str(clip.parent), "CLIPS": [clip.stem], "CLIP": clip.stem} if by == "name"
              else {"CLIPS": [str(clip)], "CLIP": str(clip)})
    texts = _run_with("01_token_layout_tour", values)
    table = next(t for t in texts if "tokens, grid" in t)
    first = table.splitlines()[0]
    assert first.startswith(values["CLIP"]) and first[len(values["CLIP"]):].split()[0] == "160x96"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["02_grids_and_resizing", "03_audio_video_alignment", "05_samplers",
                                  "09_four_models_side_by_side"])
def test_notebooks_take_a_clip_path(clip, name):
    texts = _run_with(name, {"CLIP": str(clip)})
    # the clip's size, or (02, which prints grids) its 4 s of audio: 101 AUDIO tokens, no bundled clip's count
    assert any(re.search(r"\b160x96\b|\b96x160\b|\b101 AUDIO\b", t) for t in texts), texts
