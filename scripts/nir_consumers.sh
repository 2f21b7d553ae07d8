#!/usr/bin/env bash
# Install the other NIR consumers that tests/targets/snn/test_nir_consumers.py loads
# edgenn's .nir files into (and takes a NIR graph from): spikingjelly, norse, snntorch
# and nirtorch, into the main .venv WITHOUT their dependencies — their pins would
# replace torch 2.13.0 (CPU) with a CUDA build, and sinabs pins nir<=1.0.4. What they
# need at import time is already there (torch, nir, numpy, h5py, matplotlib, scipy),
# plus loguru (spikingjelly logs with it).
#
# Idempotent and quick: nothing happens when the packages already import.
# Usage (from anywhere):  bash scripts/nir_consumers.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$repo/.venv/bin/python"

check() {
    "$python" - <<'PY' >/dev/null 2>&1
import norse.torch  # noqa: F401
import snntorch.import_nir  # noqa: F401
from spikingjelly.activation_based.nir_exchange import export_to_nir, import_from_nir  # noqa: F401
PY
}

if check; then
    echo "NIR consumers ready (spikingjelly, norse, snntorch)"
    exit 0
fi
torch_before="$("$python" -c 'import torch; print(torch.__version__)')"
"$python" -m pip install --quiet --no-deps "spikingjelly==2.0.0" "norse==1.1.0" \
    "snntorch==1.0.0" "nirtorch==2.6" "loguru==0.7.3"
torch_after="$("$python" -c 'import torch; print(torch.__version__)')"
if [ "$torch_before" != "$torch_after" ]; then
    echo "torch changed from $torch_before to $torch_after: reinstall torch $torch_before" >&2
    exit 1
fi
check || { echo "NIR consumers installed but do not import" >&2; exit 1; }
echo "NIR consumers installed (spikingjelly, norse, snntorch; torch $torch_after kept)"
