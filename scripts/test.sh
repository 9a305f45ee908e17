#!/usr/bin/env bash
# Run the whole test suite: unit/property tests, the docstring examples (doctests), then the notebooks as
# lab records (nbval), twice: as recorded, and under ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 (another
# kernel path and thread count).
#   scripts/test.sh --fast   the inner loop: tests not marked slow and the doctests, no notebooks (about 2 min)
# Other arguments go to the unit-test pytest run (e.g. -k alignment, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMNI_BENCH_CACHE=${OMNI_BENCH_CACHE:-$PWD/.cache/omni_bench}
export MPLBACKEND=Agg TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
fast=0
args=()
for arg in "$@"; do
  if [ "$arg" = "--fast" ]; then fast=1; else args+=("$arg"); fi
done
# the pure modules whose docstring examples run without a processor or a model
DOCTESTS=(omni_bench/layout omni_bench/sampling omni_bench/core omni_bench/families omni_bench/data/records.py)
if [ "$fast" = 1 ]; then
  .venv/bin/python -m pytest tests -m "not slow" ${args[@]+"${args[@]}"}
  .venv/bin/python -m pytest --doctest-modules "${DOCTESTS[@]}" -p no:randomly -q
  exit 0
fi
.venv/bin/python -m pytest tests ${args[@]+"${args[@]}"}
.venv/bin/python -m pytest --doctest-modules "${DOCTESTS[@]}" -p no:randomly -q
if ls notebooks/*.ipynb >/dev/null 2>&1; then
  .venv/bin/python -m pytest --nbval notebooks --sanitize-with notebooks/sanitize.cfg -p no:randomly
  # again on torch's portable kernels and one thread: a record must not depend on this CPU's SIMD path
  ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 \
    .venv/bin/python -m pytest --nbval notebooks --sanitize-with notebooks/sanitize.cfg -p no:randomly
fi
