#!/usr/bin/env bash
# Every GPU figure omni_bench claims, in one run on a CUDA machine (budget: under 8 minutes on one
# H100/H200-class GPU), written to benchmarks/results/*_cuda.md (the JSON beside each):
#   1. loss at N=8192, H=3584, V=152064 in bfloat16: naive / chunked (ours) / Liger   -> loss_cuda.md
#   2. one LoRA training step at Qwen2.5-Omni-7B text widths, 8k tokens (4 layers)     -> step_cuda.md
#   3. padded vs packed batches, audio in, flash-attention varlen where installed    -> packing_cuda.md
#   4. one GRPO step at Qwen2.5-Omni-3B text widths (4 layers), G = 8, a 120 s clip   -> grpo_cuda.md
#      with its audio (scripts/gpu_grpo_step.py). NEVER RUN ON A GPU YET: only checked on CPU at
#      the tiny widths (python scripts/gpu_grpo_step.py --device cpu --tiny --seconds 10 --json).
# Usage: bash scripts/gpu_check.sh [--dry-run]   (--dry-run prints the commands and runs nothing)
set -euo pipefail
cd "$(dirname "$0")/.."

DRY=0
[[ "${1:-}" == "--dry-run" ]] && DRY=1
PY=${PYTHON:-.venv/bin/python}
OUT=benchmarks/results
export OMNI_BENCH_CACHE=${OMNI_BENCH_CACHE:-$PWD/.cache/omni_bench} HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg

CHECKS=(
  "loss|$PY -m omni_bench.cli bench loss --tokens 8192 --hidden 3584 --vocab 152064 --dtype bfloat16 --device cuda --repeats 2 --cce --json"
  "step|$PY -m omni_bench.cli bench step --profile qwen2.5-omni-7b --tokens 8192 --layers 4 --device cuda --dtype bfloat16 --steps 2 --json"
  "packing|$PY -m omni_bench.cli bench packing --samples 64 --batch-size 8 --audio --device cuda --json"
  "grpo|$PY scripts/gpu_grpo_step.py --device cuda --layers 4 --num-generations 8 --json"
)

if [[ $DRY -eq 0 ]]; then
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check.sh: no CUDA device here (use --dry-run to see the commands)')"
fi

for check in "${CHECKS[@]}"; do
  name=${check%%|*}
  cmd=${check#*|}
  if [[ $DRY -eq 1 ]]; then
    echo "$cmd > $OUT/${name}_cuda.json"
    continue
  fi
  echo "== $name: $cmd" >&2
  start=$(date +%s)
  timeout 300 $cmd > "$OUT/${name}_cuda.json"
  seconds=$(( $(date +%s) - start ))
  {
    echo "# bench $name on CUDA (scripts/gpu_check.sh)"
    echo
    echo "Command: \`${cmd#"$PY" -m omni_bench.cli }\` (as \`omni-bench ...\`), ${seconds} s."
    echo
    echo '```json'
    "$PY" -m json.tool "$OUT/${name}_cuda.json"
    echo '```'
    echo
    echo "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo unknown)"
    echo "torch $("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)'),"\
" flash_attn $("$PY" -c 'import importlib.util as u; print("installed" if u.find_spec("flash_attn") else "not installed")'),"\
" date $(date -u '+%Y-%m-%d %H:%M UTC')"
  } > "$OUT/${name}_cuda.md"
  echo "wrote $OUT/${name}_cuda.md (${seconds} s)" >&2
done
