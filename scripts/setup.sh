#!/usr/bin/env bash
# Create .venv and install omni_bench with its test and notebook extras.
#
# torch is installed first, pinned to 2.13.0:
#   * CPU-only machine: `pip install torch==2.13.0` resolves to a local CPU wheel when the
#     machine has one on pip's find-links (this project's machines do); elsewhere set
#     TORCH_INDEX_URL to a CPU wheel index. No CUDA package is downloaded either way.
#   * GPU machine (nvidia-smi present): the regular CUDA build, plus liger-kernel.
# torchvision==0.28.0 (the release paired with torch 2.13.0) is then installed with
# --no-deps, so it can never pull a different torch. Its compiled extension links CUDA
# libraries and does not load beside CPU torch; omni_bench/_torchvision.py explains how we
# import it anyway (the video processor only needs its pure-Python transforms).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# ffmpeg (the system's) writes the real-codec clips the tests check predictions on; it is not a
# runtime dependency. Debian's package where we may install it; elsewhere those tests skip and say so.
if ! command -v ffmpeg >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg) \
    >/dev/null 2>&1 || echo "omni_bench setup: ffmpeg could not be installed; the ffmpeg-clip tests will skip" >&2
fi
# Java runs pycocoevalcap's PTB tokenizer and METEOR (omni_bench.score's captioning metrics); same rule.
if ! command -v java >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    default-jre-headless) >/dev/null 2>&1 || echo "omni_bench setup: no Java; the captioning-score tests will skip" >&2
fi
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  "${PIP[@]}" torch==2.13.0 --index-url "$TORCH_INDEX_URL"
else
  "${PIP[@]}" torch==2.13.0
fi
"${PIP[@]}" --no-deps torchvision==0.28.0
extras="dev,notebook"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then extras="$extras,cuda"; fi
"${PIP[@]}" -e ".[$extras]"
.venv/bin/python - <<'PY'
import torch, omni_bench._torchvision as tv
print(f"omni_bench setup: torch {torch.__version__} (cuda={torch.cuda.is_available()}), "
      f"torchvision {tv.ensure_torchvision()}")
PY
