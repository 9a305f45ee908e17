#!/usr/bin/env bash
# Install what `make browser-check` needs: Debian's Chromium (apt) and Playwright for Python
# (pip, the `browser` extra). Playwright's own browser download is never used.
# Exit 3 when Chromium cannot be installed on this machine (no apt, not root, no mirror).
set -uo pipefail
cd "$(dirname "$0")/.."
if ! [ -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || exit 3
  else
    exit 3
  fi
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[browser]" || exit 1
