#!/usr/bin/env bash
# Install Debian's OpenSSH server for the device tests (tests/devices/): they start their
# own sshd on 127.0.0.1 with throwaway host and user keys in a temporary folder, and
# measure through it as through a real board. Idempotent: does nothing when sshd is
# already there. Needs root (or sudo); scripts/test.sh runs it before the tests.
set -euo pipefail
for candidate in /usr/sbin/sshd /usr/bin/sshd; do
    if [ -x "$candidate" ]; then
        echo "sshd already installed: $candidate"
        exit 0
    fi
done
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "sshd_test.sh: needs root or sudo" >&2; exit 1; }
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when apt does not know the package yet.
if ! apt-cache show openssh-server >/dev/null 2>&1; then
    $SUDO apt-get update -qq
fi
# policy-rc.d: the package's post-install script must not start a system-wide sshd.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod +x "$POLICY"
    trap '$SUDO rm -f "$POLICY"' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
echo "sshd installed: $(command -v sshd || echo /usr/sbin/sshd)"
