"""The SSH transport: the system OpenSSH client, run as a subprocess with an argv list.

Why the system client rather than asyncssh or paramiko: it is the SSH a device's owner
already uses and trusts, so `~/.ssh/config` (Host aliases, ProxyJump, IdentityFile), the
agent, hardware keys and known_hosts all apply exactly as they do on the command line;
it adds no dependency; and it is the one implementation that follows every OpenSSH
server a board ships. Every call runs in BatchMode (never a password prompt: a refused
key is an error, not a hang). The remote side gets one command string; every user value
in it is quoted with `shlex.quote` by the callers (`edgenn.devices.session`).
"""

from __future__ import annotations

import enum
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from edgenn.core import EdgeNNError
from edgenn.devices.device import Device

SSH_FAILED = 255  # ssh's own exit status for connection and authentication failures


class Fault(str, enum.Enum):
    """What went wrong with a device; each a row's reason, never a crash."""

    UNREACHABLE = "host unreachable"
    AUTH_REFUSED = "authentication refused"
    HOST_KEY = "host key not trusted"
    DROPPED = "connection dropped"
    DISK_FULL = "disk full"
    RUNTIME_MISSING = "runtime missing"
    PYTHON_MISSING = "python missing"
    REMOTE_FAILED = "failed on the device"
    NO_CLIENT = "no ssh client"


class DeviceError(EdgeNNError):
    """A device could not do what was asked; `fault` says which kind of trouble."""

    def __init__(self, fault: Fault, message: str) -> None:
        self.fault = fault
        super().__init__(message)


@dataclass(frozen=True)
class Completed:
    """A finished remote command: exit status, stdout bytes, stderr text."""

    returncode: int
    stdout: bytes
    stderr: str


# ssh's stderr when the connection or login failed (exit 255), by fault
_SIGNS = (
    (Fault.HOST_KEY, ("host key verification failed", "remote host identification has changed")),
    (Fault.AUTH_REFUSED, ("permission denied", "too many authentication failures",
                          "no supported authentication methods")),
    (Fault.UNREACHABLE, ("connection refused", "no route to host", "could not resolve hostname",
                         "connection timed out", "network is unreachable",
                         "name or service not known", "operation timed out")),
)


class SshTransport:
    """Runs commands on one device through `ssh`."""

    def __init__(self, device: Device, executable: str = "ssh") -> None:
        self.device = device
        self.executable = executable
        self.control_path: str | None = None  # set inside `shared_connection`

    def argv(self, command: str) -> list[str]:
        """The ssh command line for a remote POSIX sh `command` (its values already quoted
        by the caller)."""
        # sshd hands the command to the user's login shell, which may not be POSIX (fish,
        # csh): the script runs under sh, passed as one quoted word any shell takes
        return [*self._options(), "--", self.device.address.host,
                f"sh -c {shlex.quote(command)}"]

    @contextmanager
    def shared_connection(self) -> Iterator[None]:
        """One SSH connection for every call in the block (OpenSSH multiplexing: a master
        process on a control socket in a private local folder), so that each call skips
        the handshake. A call whose master has died connects on its own, as usual."""
        if self.control_path is not None:
            yield
            return
        self._require_client()
        with tempfile.TemporaryDirectory(prefix="edgenn-ssh-") as folder, \
                tempfile.TemporaryFile() as errors:
            socket = os.path.join(folder, "control")
            master = subprocess.Popen(
                [*self._options(), "-M", "-N", "-o", "ControlPersist=no",
                 "-o", f"ControlPath={socket}", "--", self.device.address.host],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
            try:
                deadline = time.monotonic() + self.device.connect_timeout + 30
                while not os.path.exists(socket) and master.poll() is None \
                        and time.monotonic() < deadline:
                    time.sleep(0.02)
                if not os.path.exists(socket):
                    master.kill()
                    master.wait()
                    errors.seek(0)
                    text = errors.read().decode("utf-8", "replace") or "no answer"
                    raise self.login_error(Completed(SSH_FAILED, b"", text))
                self.control_path = socket
                yield
            finally:
                self.control_path = None
                if master.poll() is None:
                    master.terminate()
                    try:
                        master.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        master.kill()
                        master.wait()

    def _options(self) -> list[str]:
        device, address = self.device, self.device.address
        argv = [self.executable, "-T", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
                "-o", f"ConnectTimeout={device.connect_timeout}",
                # a link that goes silent is a dropped connection after 3 × 5 s, not a hang
                "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
        if device.ssh_config:
            argv += ["-F", os.path.expanduser(device.ssh_config)]
        if device.identity:
            argv += ["-i", os.path.expanduser(device.identity), "-o", "IdentitiesOnly=yes"]
        if address.port:
            argv += ["-p", str(address.port)]
        if address.user:
            argv += ["-l", address.user]
        if self.control_path:
            argv += ["-o", "ControlMaster=no", "-o", f"ControlPath={self.control_path}"]
        return argv

    def _require_client(self) -> None:
        if shutil.which(self.executable) is None:
            raise DeviceError(Fault.NO_CLIENT, "the OpenSSH client (ssh) is not installed on "
                                               "this machine (Debian/Ubuntu: apt-get install "
                                               "openssh-client)")

    def call(self, command: str, stdin: bytes | int | None = None,
             timeout: float | None = None, hold_stdin: bool = False) -> Completed:
        """Run `command` on the device. `stdin`: bytes to send, or an open file descriptor.
        `hold_stdin`: keep the remote command's stdin open until it ends, so that it sees
        end-of-file if the host side goes away (the runner's dead-man switch)."""
        self._require_client()
        held_read = held_write = None
        if hold_stdin:
            held_read, held_write = os.pipe()
            stdin = held_read
        try:
            process = subprocess.run(
                self.argv(command), input=stdin if isinstance(stdin, bytes) else None,
                stdin=None if isinstance(stdin, bytes) else (stdin if stdin is not None
                                                             else subprocess.DEVNULL),
                capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise DeviceError(Fault.DROPPED, f"device {self.device.name}: no answer within "
                                             f"{timeout:g} s") from None
        finally:
            for fd in (held_read, held_write):
                if fd is not None:
                    os.close(fd)
        return Completed(process.returncode, process.stdout,
                         process.stderr.decode("utf-8", "replace"))

    def login_error(self, result: Completed) -> DeviceError | None:
        """The fault when ssh itself failed to connect or log in (exit 255), else None."""
        if result.returncode != SSH_FAILED:
            return None
        text = last_lines(result.stderr)
        lower = result.stderr.lower()
        name = self.device.name
        for fault, signs in _SIGNS:
            if any(sign in lower for sign in signs):
                return DeviceError(fault, f"device {name}: {fault.value} ({text})"
                                   + _HINTS.get(fault, "").format(url=self.device.url))
        return DeviceError(Fault.DROPPED, f"device {name}: {Fault.DROPPED.value} ({text})")


_HINTS = {
    Fault.AUTH_REFUSED: "; edgenn logs in with keys only: install yours on the device "
                        "(ssh-copy-id) or name one with `edgenn devices add NAME URL "
                        "--identity KEY`",
    Fault.HOST_KEY: "; connect once with ssh to check and accept the device's host key",
    Fault.UNREACHABLE: "; is the device on, on this network, and is sshd running ({url})?",
}


def last_lines(text: str, count: int = 2, limit: int = 300) -> str:
    """The last non-empty lines of a command's stderr, joined: the part that says why."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    joined = " / ".join(lines[-count:]) or "no message"
    return joined if len(joined) <= limit else "…" + joined[-limit:]


def quote_all(words: Sequence[str]) -> str:
    """Words as one shell-safe string."""
    return " ".join(shlex.quote(word) for word in words)
