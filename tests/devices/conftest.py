"""A real OpenSSH server on 127.0.0.1, on a free port, as the current user: throwaway
host and user keys, its own config and authorized_keys, all in tmp_path. The device it
makes is a loopback board: the same machine reached through sshd exactly as a Pi would
be. `scripts/sshd_test.sh` installs the server (scripts/test.sh runs it first).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgenn.devices import Device

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/bin/sshd", "/usr/local/sbin/sshd")


def sshd_path() -> str | None:
    found = [p for p in SSHD_CANDIDATES if os.access(p, os.X_OK)]
    return found[0] if found else shutil.which("sshd")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgenn-test",
                    "-f", str(path)], check=True)
    return path


class SshServer:
    """sshd -D -e on 127.0.0.1:port; `stop()` kills it and every session it forked."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.user = getpass.getuser()
        host_key = keygen(root / "host_key")
        self.user_key = keygen(root / "user_key")
        self.wrong_key = keygen(root / "wrong_key")
        (root / "authorized_keys").write_text((root / "user_key.pub").read_text())
        self.config = root / "sshd_config"
        self.config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
            f"PidFile {root / 'sshd.pid'}", f"AuthorizedKeysFile {root / 'authorized_keys'}",
            "StrictModes no", "UsePAM no", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password", "LogLevel ERROR", ""]))
        host_public = (root / "host_key.pub").read_text().split()
        (root / "known_hosts").write_text(
            f"[127.0.0.1]:{self.port} {host_public[0]} {host_public[1]}\n")
        self.client_config = root / "ssh_config"
        self.client_config.write_text("\n".join([
            "Host *", f"  UserKnownHostsFile {root / 'known_hosts'}",
            "  GlobalKnownHostsFile /dev/null", "  StrictHostKeyChecking yes", ""]))
        self.scratch = root / "device-scratch"
        self.scratch.mkdir()
        self.log = root / "sshd.log"
        self.process: subprocess.Popen | None = None

    def device(self, name: str = "loop", **changes) -> Device:
        settings = {"url": f"ssh://{self.user}@127.0.0.1:{self.port}",
                    "python": sys.executable, "scratch": str(self.scratch),
                    "identity": str(self.user_key), "ssh_config": str(self.client_config),
                    "connect_timeout": 5, **changes}
        return Device(name=name, **settings)

    def start(self) -> SshServer:
        executable = sshd_path()
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([executable, "-D", "-e", "-f", str(self.config)],
                                            stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen on {self.port}: {self.log.read_text()}")

    def stop(self) -> None:
        """Kill the server and its per-connection sshd processes, as a device that loses
        power or network would: the commands those sessions started (the runner) live on
        and must notice by themselves."""
        if self.process is None:
            return
        for pid in [self.process.pid, *sshd_descendants(self.process.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=10)
        self.process = None


def sshd_descendants(root: int) -> list[int]:
    """The sshd processes below `root` (read from /proc)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1: stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        parents[int(entry.name)], names[int(entry.name)] = int(fields[1]), name
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent:
                frontier.append(pid)
                if names[pid].startswith("sshd"):
                    found.append(pid)
    return found


@pytest.fixture
def sshd(tmp_path):
    if sshd_path() is None:
        pytest.skip("OpenSSH server not installed: run scripts/sshd_test.sh")
    server = SshServer(tmp_path / "sshd").start()
    yield server
    server.stop()


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    """XDG_CONFIG_HOME in tmp_path: devices.toml never touches the user's own."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    return free_port()
