"""The README's front door: the Python quick start runs as written, the picture and every linked page exist,
and the facts moved out of the README into docs/ are still there."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _quick_start() -> str:
    """The first ```python block under the "Quick start" heading."""
    section = README[README.index("## Quick start"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_first_screen_says_what_it_is_and_the_two_commands():
    first = "\n".join(README.splitlines()[:45])
    assert first.startswith("# omni_bench\n") and "Jupyter-first workbench" in first
    assert "bash scripts/setup.sh && .venv/bin/omni-bench inspect data/clips/" in first
    assert "bash scripts/setup.sh && bash scripts/test.sh" in first
    assert "![" in first and "(docs/inspector_jupyterlab.png)" in first and "## Quick start" in first
    assert (ROOT / "docs" / "inspector_jupyterlab.png").is_file()
    clip = re.search(r"omni-bench inspect (data/clips/\S+)", first).group(1)
    assert (ROOT / clip).is_file()  # the demo command's clip is bundled
    assert len(_quick_start().strip().splitlines()) <= 10


MOVED = ("processor.md", "installation.md", "measurements.md", "inspect.md", "commands.md", "notebooks.md")


def test_every_relative_link_of_the_readme_and_the_moved_pages_resolves():
    pages = [ROOT / "README.md", *(ROOT / "docs" / name for name in MOVED)]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if not target.startswith(("http://", "https://")) and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


@pytest.mark.parametrize("page, facts", [
    ("processor.md", ["151,643 ranks", "[9707, 1879]", "151643–151664", "3136–12845056", "$OMNI_BENCH_CACHE"]),
    ("installation.md", ["torch==2.13.0", "operator torchvision::nms does not exist", "torchcodec"]),
    ("measurements.md", ["**5.1 %**", "332 vs 6538 MiB", "**24.1 %**", "838 vs 3481 MiB", "~71,000x",
                         "TRITON_INTERPRET=1"]),
    ("inspect.md", ["Omni Batch Debug", "--processor-fps 2", "[Size and warnings]"]),
    ("commands.md", ["216-case matrix", "~140,000 samples/s", "56.9 %", "mIoU 0.0 untrained -> 99.0"]),
    ("notebooks.md", ["ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1", "make browser-check", "50,731 tokens"]),
])
def test_the_facts_moved_to_docs_are_kept(page, facts):
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    for fact in facts:
        assert fact in text, (page, fact)
    assert f"(docs/{page})" in README  # and the README links the page


@pytest.mark.slow
def test_the_quick_start_runs_as_written(tmp_path):
    script = tmp_path / "quick_start.py"
    script.write_text(_quick_start(), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "plan = processor: True" in done.stdout
    assert "[ASSISTANT]" in done.stdout and '*"Two people talk in a kitchen.<|im_end|>"' in done.stdout
