#!/usr/bin/env bash
# The GPU check, run once on a CUDA machine from anywhere (it works in the repository root):
#
#   QKV_SHAKESPEARE=/path/to/tinyshakespeare.txt bash scripts/gpu_check.sh
#
# Stages, each under its own `timeout`, each run even when the one before failed:
#   1. the machine: nvidia-smi -L, python, torch, triton
#   2. python -m pytest -m cuda tests/               (qkv.nn's grid on CUDA, the GPT on CUDA)
#   3. benchmarks/attention_gpu.py                   (every attention path against SDPA)
#   4. benchmarks/gpt_gpu.py                         (the GPT against the plain GPT; decoding)
#   5. qkv gpt train --preset shakespeare-char --text $QKV_SHAKESPEARE --device cuda --compile
# then a summary: each stage's exit status, seconds and last lines. At most about 9.5 minutes
# (the limits: 120 + 150 + 85 + 195 s; flex and torch.compile compile in the first three).
#
# Environment: OUT (a folder: the log goes to $OUT/gpu_check.log, the JSON files beside it),
# QKV_SHAKESPEARE (stage 5 is skipped without it), QKV_GPU_QUICK=1 (attention at N = 4096
# only), QKV_GPU_TESTS_S / _ATTENTION_S / _GPT_S / _TRAIN_S (each stage's limit in seconds),
# PYTHON (default python3). QKV_GPU_DRY=1 runs every stage on the CPU at tiny sizes (what
# needs CUDA is skipped): it catches Python errors before the GPU's minutes are spent.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
DRY=${QKV_GPU_DRY:-0}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
RESULTS=${OUT:-$WORK}
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  exec > >(tee "$OUT/gpu_check.log") 2>&1
fi

SUMMARY=()
FAILED=0
stage() { # stage NAME SECONDS COMMAND...: run it with a limit, keep its log, never stop here
  local name=$1 limit=$2
  shift 2
  printf '\n==================== %s (limit %ss) ====================\n' "$name" "$limit"
  printf '$ %s\n' "$*"
  local start=$SECONDS rc
  # bash -c: a stage may be one of the functions below (exported), which timeout cannot run
  timeout -k 15 "$limit" bash -c '"$@"' stage "$@" 2>&1 | tee "$WORK/$name.log"
  rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || FAILED=$((FAILED + 1))
  local took=$((SECONDS - start)) verdict="exit $rc"
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && verdict="TIMED OUT after ${limit}s (exit $rc)"
  printf -- '---- %s: %s, %ss\n' "$name" "$verdict" "$took"
  SUMMARY+=("$name: $verdict, ${took}s")
}

if [ "$DRY" = 1 ]; then
  echo "QKV_GPU_DRY=1: every stage on the CPU at tiny sizes"
  ATTENTION=(--dry)
  GPT=(--dry)
else
  ATTENTION=()
  [ "${QKV_GPU_QUICK:-0}" = 1 ] && ATTENTION=(--quick)
  GPT=()
fi

machine() {
  if command -v nvidia-smi >/dev/null; then nvidia-smi -L; else echo "no nvidia-smi here"; fi
  "$PY" - <<'EOF'
import sys

import torch

print("python", sys.version.split()[0], "| torch", torch.__version__, "| CUDA", torch.version.cuda)
try:
    import triton

    print("triton", triton.__version__)
except ImportError:
    print("triton: not installed")
if torch.cuda.is_available():
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        print(f"cuda:{i} {p.name}, {p.total_memory / 2**30:.0f} GiB, bf16 {torch.cuda.is_bf16_supported()}")
else:
    print("torch.cuda.is_available() is False")
EOF
}

shakespeare() {
  set -o pipefail # (a function run through bash -c starts without it)
  local text=${QKV_SHAKESPEARE:-}
  local out="$WORK/shakespeare" prompt="ROMEO:"
  if [ "$DRY" = 1 ]; then
    if [ -z "$text" ] || [ ! -f "$text" ]; then # any text will do on the CPU
      text="$WORK/corpus.txt" prompt="我爱"
      "$PY" -c "from qkv.gpt.data import builtin_corpus; print(builtin_corpus(2000))" >"$text"
    fi
    "$PY" -m qkv gpt train --preset shakespeare-char --text "$text" --device cpu --out "$out" \
      --n-layer 1 --n-head 2 --n-embd 32 --block-size 32 --batch-size 4 --max-iters 2 \
      --eval-interval 2 | tee "$WORK/train.out" || return
  else
    if [ -z "$text" ] || [ ! -f "$text" ]; then
      echo "QKV_SHAKESPEARE is not a file (${text:-unset}): nanoGPT's shakespeare-char skipped"
      return 3
    fi
    "$PY" -m qkv gpt train --preset shakespeare-char --text "$text" --device cuda --compile \
      --out "$out" | tee "$WORK/train.out" || return
  fi
  "$PY" -m qkv gpt sample --checkpoint "$out" --prompt "$prompt" --max-new-tokens 200 \
    --temperature 0.8 --seed 1
  echo
  grep "best val loss" "$WORK/train.out" # nanoGPT's published figure: 1.47
}

export PY DRY WORK
export -f machine shakespeare
stage machine 60 machine
# -q comes from pyproject.toml's addopts (a second one would hide the closing count); a test
# module that cannot be imported there (a missing extra) must not stop the CUDA tests
# -v: a stage stopped at its limit still shows which tests passed; the two files that hold
# every cuda-marked test (collecting all of tests/ costs seconds and needs every extra)
stage tests "${QKV_GPU_TESTS_S:-120}" "$PY" -m pytest -m cuda -v -rfEs --tb=short --durations=5 \
  --continue-on-collection-errors -p no:cacheprovider tests/test_gpt_cuda.py tests/test_nn_cuda.py
ATTENTION_S=${QKV_GPU_ATTENTION_S:-150}
stage attention "$ATTENTION_S" "$PY" benchmarks/attention_gpu.py ${ATTENTION[@]+"${ATTENTION[@]}"} \
  --budget $((ATTENTION_S - 40)) --json "$RESULTS/attention_gpu.json"
stage gpt "${QKV_GPU_GPT_S:-85}" "$PY" benchmarks/gpt_gpu.py ${GPT[@]+"${GPT[@]}"} \
  --json "$RESULTS/gpt_gpu.json"
stage shakespeare "${QKV_GPU_TRAIN_S:-195}" shakespeare

printf '\n==================== summary ====================\n'
for line in "${SUMMARY[@]}"; do
  echo "$line"
  tail -n 4 "$WORK/${line%%:*}.log" | sed 's/^/    /'
done
echo "$FAILED stage(s) failed"
[ "$FAILED" = 0 ]
