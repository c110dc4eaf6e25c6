#!/usr/bin/env bash
# GPU check: the default embedders (all-MiniLM-L6-v2, EfficientNet-Lite0) on CUDA at
# batch sizes 1-256: texts/s, images/s, peak GPU memory and the card, in under 5 minutes.
#
#   make install && bench/gpu_check.sh [--json bench/results/gpu.json] [--batches 1,8,32]
#
# Exits 3 (with what to install) when the venv's torch cannot use CUDA: `make install`
# pins torch without choosing a build, and some indexes (a CPU wheelhouse, say) serve
# a CPU-only one.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
if [[ ! -x $py ]]; then
    echo "gpu_check: $py not found: run \`make install\` first" >&2
    exit 2
fi
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi
# Models come from installed packages: never reach out to the Hugging Face Hub. The
# hard limit is a backstop; gpu_check.py stops starting runs after its own budget.
HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
GLIBC_TUNABLES="${GLIBC_TUNABLES:-$(cat scripts/malloc-tunables)}" \
    exec timeout 290 "$py" bench/gpu_check.py "$@"
