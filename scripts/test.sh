#!/usr/bin/env bash
# Run the whole test suite: unit/property tests, then the notebooks as lab records (nbval), twice:
# as recorded, and under ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 (another kernel path and thread count).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMNI_BENCH_CACHE=${OMNI_BENCH_CACHE:-$PWD/.cache/omni_bench}
export MPLBACKEND=Agg TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python -m pytest tests "$@"
if ls notebooks/*.ipynb >/dev/null 2>&1; then
  .venv/bin/python -m pytest --nbval notebooks --sanitize-with notebooks/sanitize.cfg -p no:randomly
  # again on torch's portable kernels and one thread: a record must not depend on this CPU's SIMD path
  ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 \
    .venv/bin/python -m pytest --nbval notebooks --sanitize-with notebooks/sanitize.cfg -p no:randomly
fi
