#!/usr/bin/env bash
# Run the whole test suite. Installs what only the tests need first (idempotent):
# a second environment with tflite-runtime + numpy<2 (proves the TFLite interpreter
# fallback), Debian's chromium (opens report.html in a real headless browser) and
# OpenSSH's server (tests/devices/ measure through a real sshd on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
for prerequisite in scripts/tflite_runtime_env.sh scripts/install_chromium.sh \
        scripts/sshd_test.sh scripts/nir_consumers.sh; do
    if [ -f "$prerequisite" ]; then bash "$prerequisite"; fi
done
exec .venv/bin/python -m pytest -q "$@"
