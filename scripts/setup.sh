#!/usr/bin/env bash
# Set up edgenn in ./.venv: the CPU wheel of torch first (a bare `torch` requirement would
# pull a multi-GB CUDA build), then edgenn with every optional toolchain and the dev tools.
# Idempotent: safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
.venv/bin/python -m pip install --quiet "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -m pip install --quiet -e ".[all,dev]" 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import edgenn, torch; print('edgenn', edgenn.__version__, '· torch', torch.__version__)"
