#!/usr/bin/env bash
# The GPU check, one command on one H100/H200 (≤ 8 minutes): correctness (cuDNN ≡ XLA attention,
# bf16 ≡ fp32 loss curve at 125M), tokens/s and MFU for 125M/350M/1.3B at seq 2048 over
# remat none/dots_saveable/full at the largest batch that fits, and a results table.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]             # on the GPU machine
#   bash benchmarks/gpu_check.sh OUT_DIR --dry_run     # on CPU, tiny shapes (tests run this)
#
# Needs jax with CUDA, flax, optax, orbax-checkpoint; wheels in .whl/ (ml-collections, absl if
# missing) are installed into /tmp/site first. Exit status 1 when a correctness check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-${OUT:-gpu_check_results}}"
shift || true
PYTHON="${PYTHON:-python3}"
if compgen -G ".whl/*.whl" > /dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# The GPU is the only one in the process; let XLA take 90% of it (largest_batch plans for that).
export XLA_PYTHON_CLIENT_MEM_FRACTION="${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}"
exec "$PYTHON" benchmarks/gpu_check.py --out="$OUT_DIR" "$@"
