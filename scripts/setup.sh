#!/usr/bin/env bash
# Set up edgenn in ./.venv: the CPU wheel of torch first (a bare `torch` requirement would
# pull a multi-GB CUDA build), then edgenn with every optional toolchain and the dev tools.
# Idempotent: safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
quiet() { "$@" 2>&1 | { grep -v "is ignored" || true; }; }  # pipefail keeps pip's status
# TORCH_INDEX_URL: where no local CPU wheel of torch 2.13.0 is configured for pip, point
# this at PyTorch's CPU wheel index so pip does not pick the CUDA build.
torch_index=()
[ -n "${TORCH_INDEX_URL:-}" ] && torch_index=(--index-url "$TORCH_INDEX_URL")
quiet .venv/bin/python -m pip install --quiet --upgrade pip
quiet .venv/bin/python -m pip install --quiet "${torch_index[@]}" "torch==2.13.0"
quiet .venv/bin/python -m pip install --quiet -e ".[all,dev]"
.venv/bin/python -c "import edgenn, torch; print('edgenn', edgenn.__version__, '· torch', torch.__version__)"
