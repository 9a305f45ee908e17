"""Run notebook 01 in a real JupyterLab in a real (headless) Chromium and check the inspector renders.

    .venv/bin/python scripts/browser_check.py [--keep] [--timeout 240]

Starts JupyterLab on a free localhost port with a random token, serving a temporary copy of
``notebooks/`` (with ``data/`` linked in, autosave off, so the committed notebook is never
touched), opens ``notebooks/01_token_layout_tour.ipynb`` in Debian's Chromium driven by
Playwright (``executable_path=/usr/bin/chromium``, fresh profile, no network services),
clears the saved outputs, runs all cells and asserts that

* every code cell ran without an error output;
* no widget is left as a "Loading widget..." placeholder or an "Error displaying widget";
* the inspector's strip image is drawn (a decoded PNG at least 500 px wide) and its summary
  names the layout; the label viewer shows its VIDEO chip;
* typing 8 into the inspector's ``frames`` readout re-plans live (the summary then shows
  ``video_grid_thw [[4, 18, 32]]``).

It saves a screenshot of the inspector to ``docs/inspector_jupyterlab.png``, then adds three
cells to the temporary copy and screenshots their views: the kitchen clip handed over at
fps 2 (the misaligned verdict, ``docs/inspector_misaligned.png``), the same view with its audio
row switched to the log-mel ``input_features`` (``docs/inspector_log_mel.png``) and a 50,000-token
plan (the minimap, ``docs/inspector_long_layout.png``); it prints the time taken. Needs ``apt-get install
chromium`` and ``pip install playwright`` (no
``playwright install``: the system Chromium is used). Exit status 0 on success, 1 on a failed
check, 2 when Chromium or Playwright is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "notebooks/01_token_layout_tour.ipynb"
SCREENSHOT = ROOT / "docs" / "inspector_jupyterlab.png"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stage(tmp: Path) -> Path:
    """A server root with a copy of notebooks/ and data/ linked: the run never writes the repo."""
    root = tmp / "root"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / NOTEBOOK, root / NOTEBOOK)
    (root / "data").symlink_to(ROOT / "data")
    lab_settings = {  # no autosave, no news or update checks (nothing leaves localhost)
        "docmanager-extension/plugin": {"autosave": False},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }
    for name, values in lab_settings.items():
        path = tmp / "lab-settings" / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return root


def start_lab(tmp: Path, root: Path, port: int, token: str) -> subprocess.Popen:
    env = dict(os.environ,
               OMNI_BENCH_CACHE=os.environ.get("OMNI_BENCH_CACHE", str(ROOT / ".cache" / "omni_bench")),
               MPLBACKEND="Agg", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), IPYTHONDIR=str(tmp / "ipython"))
    cmd = [str(ROOT / ".venv" / "bin" / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI runners often run as root
    log = open(tmp / "lab.log", "wb")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_server(url: str, lab: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with status {lab.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("jupyter lab did not answer in time")


def stop_lab(lab: subprocess.Popen) -> None:
    if lab.poll() is None:
        os.killpg(lab.pid, signal.SIGTERM)  # our own process group: the server and its kernels
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.wait(timeout=10)


# JavaScript run in the page -------------------------------------------------------------

_PROMPTS = """() => Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt'))
                 .map(e => e.textContent.trim())"""
_INSPECTOR = """() => {
  const images = Array.from(document.querySelectorAll('.jp-OutputArea-output img.widget-image'));
  const html = Array.from(document.querySelectorAll('.jp-OutputArea-output .widget-html-content'))
                 .map(e => e.textContent);
  const text = document.querySelector('.jp-NotebookPanel').innerText;
  return {images: images.map(i => ({w: i.naturalWidth, h: i.naturalHeight, complete: i.complete})),
          html: html, loading: (text.match(/Loading widget/g) || []).length,
          errors: (text.match(/Error displaying widget/g) || []).length,
          tracebacks: document.querySelectorAll(
            '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"],'
            + '.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]').length};
}"""


def check(page, timeout: float) -> list[str]:
    """Run all cells and return the failed checks (empty: all passed)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=timeout * 1000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
                           timeout=timeout * 1000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.monotonic() + timeout
    while True:
        prompts = page.evaluate(_PROMPTS)
        if prompts and all(p.startswith("[") and p[1:-2].isdigit() for p in prompts):
            break
        if time.monotonic() > deadline:
            return [f"cells did not finish in {timeout:.0f} s: prompts {prompts}"]
        time.sleep(0.5)
    failures = []
    try:  # widget views render asynchronously after the kernel answers
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('.jp-OutputArea-output img.widget-image'))"
            ".some(i => i.complete && i.naturalWidth > 500) && !/Loading widget/.test("
            "document.querySelector('.jp-NotebookPanel').innerText)", timeout=60_000)
    except PlaywrightTimeout:
        failures.append("widgets did not render within 60 s")
    state = page.evaluate(_INSPECTOR)
    if state["loading"]:
        failures.append(f"{state['loading']} widget(s) still 'Loading widget...'")
    if state["errors"]:
        failures.append(f"{state['errors']} 'Error displaying widget'")
    if state["tracebacks"]:
        failures.append(f"{state['tracebacks']} error/stderr output(s)")
    if not any(i["complete"] and i["w"] > 500 for i in state["images"]):
        failures.append(f"no drawn strip image: {state['images']}")
    if not any("1423 tokens" in h and "video_grid_thw [[8, 18, 32]]" in h for h in state["html"]):
        failures.append("inspector summary missing")
    chip = page.locator(".jp-OutputArea-output .widget-html-content span", has_text="VIDEO × 288")
    if chip.count() == 0:
        failures.append("label viewer shows no 'VIDEO × 288' chip")
    if failures:
        return failures
    # live re-planning through the real front end: type into the frames slider's readout
    inspector = page.locator(".jp-OutputArea-output .widget-vbox", has=page.locator("img.widget-image")).first
    readout = inspector.locator(".widget-hslider", has_text="frames").locator(".widget-readout").first
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("8")
    page.keyboard.press("Enter")
    try:
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('.jp-OutputArea-output .widget-html-content'))"
            ".some(e => e.textContent.includes('video_grid_thw [[4, 18, 32]]'))", timeout=60_000)
    except PlaywrightTimeout:
        failures.append("typing 8 frames did not re-plan the inspector within 60 s")
    readout_back = inspector.locator(".widget-hslider", has_text="frames").locator(".widget-readout").first
    readout_back.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("16")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.jp-OutputArea-output .widget-html-content'))"
        ".some(e => e.textContent.includes('video_grid_thw [[8, 18, 32]]'))", timeout=60_000)
    page.wait_for_timeout(500)
    inspector.scroll_into_view_if_needed()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    inspector.screenshot(path=str(SCREENSHOT))
    for name, code, expect in EXTRA_VIEWS:
        failures += extra_view(page, name, code, expect)
    return failures


# Views added below the notebook's last cell (in the temporary copy only) and screenshotted under docs/:
# the kitchen clip handed over at fps 2 (misaligned: the red banner with its fix), and a 50,000-token plan.
EXTRA_VIEWS = [
    ("inspector_misaligned.png",
     "kitchen = omni_bench.probe('../data/clips/kitchen_talk.mkv')\n"
     "stock = settings.replace(frames=16, processor_fps=2.0)\n"
     "show_layout(omni_bench.inspect(kitchen.path, stock), meta=kitchen, settings=stock)",
     "misaligned"),
    ("inspector_log_mel.png",
     "ui = show_layout(omni_bench.inspect(kitchen.path, stock), meta=kitchen, settings=stock, display=False)\n"
     "ui['controls']['audio_view'].value = 'log-mel'  # the audio row: the processor's input_features\n"
     "ui['controls']['selection'].value = (0, len(ui['view'].layout.input_ids))  # every AUDIO run\n"
     "ui['widget']",
     "log-mel input_features"),
    ("inspector_long_layout.png",
     "long = omni_bench.plan(dict(duration=68.0, width=1280, height=720, native_fps=25.0, has_audio=True),\n"
     "                      settings.replace(frames=None))\n"
     "print(len(long.input_ids), 'tokens,', long.stats.label_tokens, 'labelled')\n"
     "show_layout(long)",
     "over the model's 32,768-token context"),
]


def extra_view(page, name: str, code: str, expect: str) -> list[str]:
    """Append a cell with ``code`` to the (temporary) notebook, run it, screenshot its widget to docs/``name``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.evaluate("""(code) => {
      const panel = window.jupyterapp.shell.currentWidget, nb = panel.content;
      nb.activeCellIndex = nb.widgets.length - 1;
      return window.jupyterapp.commands.execute('notebook:insert-cell-below').then(() => {
        nb.activeCell.model.sharedModel.setSource(code);
        return window.jupyterapp.commands.execute('notebook:run-cell');
      });
    }""", code)
    try:
        page.wait_for_function(
            "(expect) => { const cells = window.jupyterapp.shell.currentWidget.content.widgets;"
            " const last = cells[cells.length - 1].node;"
            " const img = last.querySelector('img.widget-image');"
            " return img && img.naturalWidth > 500"
            " && last.innerText.includes(expect); }", arg=expect, timeout=180_000)
    except PlaywrightTimeout:
        return [f"{name}: the added view did not render '{expect}' within 180 s"]
    view = page.locator(".jp-NotebookPanel .jp-CodeCell").last.locator(".widget-vbox").first
    view.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    view.screenshot(path=str(SCREENSHOT.parent / name))
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=240, help="seconds for the notebook to run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if not os.path.exists(CHROMIUM):
        print(f"browser-check: {CHROMIUM} not found (apt-get install -y chromium)", file=sys.stderr)
        return 2
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("browser-check: playwright is not installed (.venv/bin/pip install playwright)", file=sys.stderr)
        return 2
    before = (ROOT / NOTEBOOK).read_bytes()
    tmp = Path(tempfile.mkdtemp(prefix="omni-bench-browser-"))
    port, token = free_port(), secrets.token_hex(16)
    lab = start_lab(tmp, stage(tmp), port, token)
    failures: list[str] = []
    try:
        wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", lab, timeout=90)
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(tmp / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1300, "height": 1700})
            try:
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}?token={token}&reset",
                          timeout=args.timeout * 1000)
                failures = check(page, args.timeout)
                if failures:
                    page.screenshot(path=str(tmp / "failure.png"), full_page=True)
            finally:
                context.close()
    except Exception as exc:  # any failure to drive the browser: one line, then the server log's tail
        failures.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
    finally:
        stop_lab(lab)
    if (ROOT / NOTEBOOK).read_bytes() != before:
        failures.append(f"{NOTEBOOK} was modified")
    elapsed = time.monotonic() - started
    if failures:
        print(f"browser-check: FAILED after {elapsed:.0f} s", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        log = (tmp / "lab.log").read_text(errors="replace").splitlines()[-15:]
        print("  jupyter lab log (tail):\n    " + "\n    ".join(log), file=sys.stderr)
        print(f"  kept: {tmp}", file=sys.stderr)
        return 1
    print(f"browser-check: ok in {elapsed:.0f} s - notebook 01 ran in JupyterLab/Chromium, inspector drawn and "
          f"re-planned live; screenshot {SCREENSHOT.relative_to(ROOT)}")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
