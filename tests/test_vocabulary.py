"""The project's own words: no tracked file names the worked examples by a word a reader cannot look up.

The worked examples come from the LongVALE lab notebook and are named after it ("the LongVALE
notebook's 256.89 s sample"); ``docs/background.md`` says where they come from and defines the
terms the docs use. Random seeds (``seed=0``, ``SEED = 0``, ``random.seed``) are a different
word and are not matched. The banned phrases are assembled from parts so that this file does
not match itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_S = "se" + "ed"
BANNED = re.compile(
    "|".join([
        rf"the {_S}\b", rf"{_S}-facts", rf"{_S}'s", rf"{_S} notebook", rf"{_S} fix",
        rf"{_S}_meta", rf"{_S}_frames", rf"{_S}_settings", rf"{_S}_c", rf"{_S}_cases",
    ]),
    re.IGNORECASE,
)
TERMS = ("grid step", "temporal id", "TMRoPE", "thinker", "text twin", "chunk", "second per grid",
         "label mask", "expanded ids", "fused loss", "profile", "tiny model")


def _tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no list of tracked files")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name and (ROOT / name).is_file()]


def _text(path: Path) -> str | None:
    data = path.read_bytes()
    return None if b"\0" in data else data.decode("utf-8", errors="replace")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: ``"The 256.89 s sample"`` -> ``"the-25689-s-sample"``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_banned_phrases_are_caught():
    for phrase in (f"The {_S}'s sample", f"{_S.upper()}-FACTS.md", f"{_S.upper()}_META = dict(", f"the {_S} notebook"):
        assert BANNED.search(phrase), phrase
    for fine in ("random.seed(0)", "SEED = 0", "seed=SEED", "in a seeded order", "--seed 3", "the same seed"):
        assert not BANNED.search(fine), fine


def test_no_tracked_file_uses_the_banned_phrases():
    hits = []
    for path in _tracked_files():
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if BANNED.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not hits, "name the LongVALE notebook instead (docs/background.md):\n" + "\n".join(hits)


def test_background_defines_every_term_once():
    text = (ROOT / "docs" / "background.md").read_text(encoding="utf-8")
    headings = [h.strip() for h in re.findall(r"^### (.+)$", text, flags=re.MULTILINE)]
    for term in TERMS:
        assert headings.count(term) == 1, term


def test_links_to_background_point_at_its_headings():
    text = (ROOT / "docs" / "background.md").read_text(encoding="utf-8")
    anchors = {_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}
    links = []
    for path in [*_tracked_files(), ROOT / "docs" / "background.md"]:
        body = _text(path) or ""
        links += [(path.name, a) for a in re.findall(r"background\.md#([\w\-]+)", body)]
        links += [(path.name, a) for a in re.findall(r"\]\(#([\w\-]+)\)", body) if path.name == "background.md"]
    assert links, "nothing links to docs/background.md"
    missing = [f"{name}: #{anchor}" for name, anchor in links if anchor not in anchors]
    assert not missing, missing
