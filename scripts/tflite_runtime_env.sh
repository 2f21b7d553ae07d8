#!/usr/bin/env bash
# Create the second, small environment that proves the TFLite runner's fallback:
# tflite-runtime 2.14 (the last release, built against NumPy 1) with numpy<2, plus edgenn
# itself (editable, no dependencies), so tests/targets/test_tflite.py can run the same
# .tflite files through `edgenn.targets.tflite` there and compare with ai-edge-litert.
#
# Idempotent and quick: when the environment already imports what it needs, it does
# nothing. Usage (from anywhere):  bash scripts/tflite_runtime_env.sh [VENV_DIR]
# Default VENV_DIR: <repo>/.venv-tflite-runtime (gitignored). Python: $PYTHON, else the
# interpreter the main .venv was made from, else python3.11.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$repo/.venv-tflite-runtime}"

check() {
    "$venv/bin/python" - <<'PY' >/dev/null 2>&1
import numpy
import tflite_runtime.interpreter  # noqa: F401
import edgenn.targets.tflite  # noqa: F401
assert int(numpy.__version__.split(".")[0]) < 2
PY
}

if [ -x "$venv/bin/python" ] && check; then
    echo "tflite-runtime environment ready: $venv/bin/python"
    exit 0
fi

if [ -z "${PYTHON:-}" ]; then
    if [ -x "$repo/.venv/bin/python" ]; then
        PYTHON="$("$repo/.venv/bin/python" -c 'import sys; print(sys._base_executable)')"
    else
        PYTHON=python3.11
    fi
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] > (3, 11))'; then
    echo "error: tflite-runtime 2.14 has wheels for Python ≤ 3.11 only; set PYTHON to a" \
         "python3.11 (got $("$PYTHON" --version 2>&1))" >&2
    exit 1
fi
"$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "tflite-runtime==2.14.0" "numpy>=1.24,<2"
# edgenn without its dependencies: the runner needs only numpy and an interpreter.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$repo"

if ! check; then
    echo "error: $venv was created but cannot import tflite_runtime and edgenn" >&2
    exit 1
fi
echo "tflite-runtime environment ready: $venv/bin/python"
