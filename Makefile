# Entry points: make setup | make test | make demo | make browser-check
.PHONY: setup test demo browser-check

PYTHON ?= .venv/bin/python
export OMNI_BENCH_CACHE ?= $(CURDIR)/.cache/omni_bench
export MPLBACKEND = Agg
export TOKENIZERS_PARALLELISM = false
export HF_HUB_OFFLINE = 1
export TRANSFORMERS_OFFLINE = 1

setup:  ## create .venv and install omni_bench (scripts/setup.sh)
	bash scripts/setup.sh

test:  ## unit, property and notebook tests; notebooks twice, as recorded and on portable kernels (scripts/test.sh)
	bash scripts/test.sh

demo:  ## the README's first command: inspect a bundled clip with the embedded Qwen2.5-Omni-7B processor
	.venv/bin/omni-bench inspect data/clips/street_market.mkv --frames 16

browser-check:  ## (after scripts/browser_setup.sh) run notebook 01 in JupyterLab in headless Chromium; screenshot docs/inspector_jupyterlab.png
	$(PYTHON) scripts/browser_check.py
