"""One measurement on a device: ship the files, run the runner, bring the result back.

    ship     one ssh call: a private folder made with mktemp under the device's scratch
             path, the files unpacked into it from a tar stream (on failure the folder
             is removed there and then)
    measure  one ssh call: the runner in that folder; the shell that starts it removes
             the folder when it ends, whatever the outcome — also when the connection
             drops (the runner sees its stdin close and stops)

A dropped connection is retried once from the start; a second failure is the row's
reason. Locally nothing is written but a temporary tar file that is gone on return.
Every value that reaches the remote shell goes through `shlex.quote`.
"""

from __future__ import annotations

import io
import json
import shlex
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgenn.devices.device import Device
from edgenn.devices.ssh import Completed, DeviceError, Fault, SshTransport, last_lines, quote_all

RUNNER = Path(__file__).with_name("remote_runner.py")
RUNNER_NAME = "remote_runner.py"
RESULT = "EDGENN-RESULT "
NOT_FOUND = 127  # the shell's status for a command it cannot find
DISK_SIGNS = ("no space left on device", "disk quota exceeded")


@dataclass(frozen=True)
class DeviceInfo:
    """What `probe` found on a device."""

    name: str
    facts: dict[str, Any]  # system, release, arch, cpu, cores, python, runtimes, ...
    python: str  # the interpreter command the device entry names

    @property
    def arch(self) -> str:
        return str(self.facts.get("arch") or "unknown")

    def missing(self, runtimes: Sequence[str]) -> list[str]:
        found = self.facts.get("runtimes", {})
        return [name for name in runtimes if not found.get(name)]

    def install_command(self, runtimes: Sequence[str]) -> str:
        packages = self.facts.get("install", {})
        return f"{self.python} -m pip install " + " ".join(
            shlex.quote(packages.get(name, name)) for name in runtimes)

    def summary(self) -> dict[str, Any]:
        """The facts a report row carries."""
        keys = ("arch", "system", "release", "cpu", "cores", "python")
        return {"name": self.name, **{k: self.facts.get(k) for k in keys}}


@dataclass(frozen=True)
class RemoteFile:
    """A local file and the name it gets in the run's folder on the device."""

    local: Path
    name: str


@dataclass
class RemoteResult:
    """The runner's answer plus the wall time each step took on the host's clock."""

    payload: dict[str, Any]
    timings_s: dict[str, float] = field(default_factory=dict)
    attempts: int = 1


def probe(device: Device, runtimes: Sequence[str] = (),
          transport: SshTransport | None = None) -> DeviceInfo:
    """OS, CPU, Python and runtimes of `device` (all runtimes when none are named)."""
    transport = transport or SshTransport(device)
    command = (f"{quote_all(device.python_argv())} - probe {shlex.quote(device.scratch)} "
               f"{quote_all(runtimes)}")
    result = transport.call(command, stdin=RUNNER.read_bytes(),
                            timeout=device.connect_timeout + 60)
    return DeviceInfo(device.name, _payload(transport, result, "probe"), device.python)


def measure(device: Device, files: Sequence[RemoteFile], job: dict[str, Any],
            transport: SshTransport | None = None,
            on_stage: Callable[[str], None] | None = None) -> RemoteResult:
    """Run the runner's `measure` on `job` with `files` beside it; retry a drop once."""
    transport = transport or SshTransport(device)
    try:
        return _attempt(device, transport, files, job, on_stage)
    except DeviceError as first:
        if first.fault is not Fault.DROPPED:
            raise
        try:
            result = _attempt(device, transport, files, job, on_stage)
        except DeviceError as second:
            raise DeviceError(Fault.DROPPED, f"{first} — retried once: {second}") from None
        result.attempts = 2
        return result


def _attempt(device: Device, transport: SshTransport, files: Sequence[RemoteFile],
             job: dict[str, Any], on_stage: Callable[[str], None] | None) -> RemoteResult:
    timings: dict[str, float] = {}
    clock = time.perf_counter
    start = clock()
    if on_stage:
        on_stage("ship")
    scratch = _ship(device, transport, files, job)
    timings["ship"] = clock() - start
    if on_stage:
        on_stage("measure")
    start = clock()
    command = (f"d={shlex.quote(scratch)}; trap 'rm -rf \"$d\"' EXIT; trap 'exit 129' HUP; "
               f"trap 'exit 143' TERM; cd \"$d\" || exit 70; "
               f"{quote_all(device.python_argv())} {RUNNER_NAME} measure job.json; exit $?")
    try:
        result = transport.call(command, hold_stdin=True)
        payload = _payload(transport, result, "measure", after_login=True)
    except DeviceError:
        _remove(transport, scratch)  # the shell's trap normally did; a dead link cannot
        raise
    timings["measure"] = clock() - start
    return RemoteResult(payload, timings)


def _ship(device: Device, transport: SshTransport, files: Sequence[RemoteFile],
          job: dict[str, Any]) -> str:
    """Make the run's folder on the device and unpack `files`, the job and the runner in
    it; its path. A failure leaves no folder behind."""
    command = (f"base={shlex.quote(device.scratch)}; mkdir -p \"$base\" && "
               "d=$(mktemp -d \"$base/edgenn-XXXXXXXX\") || exit 70; "
               "if tar -xf - -C \"$d\"; then printf '%s\\n' \"$d\"; "
               "else rm -rf \"$d\"; exit 71; fi")
    with tempfile.TemporaryFile(prefix="edgenn-ship-") as bundle:
        with tarfile.open(fileobj=bundle, mode="w") as tar:
            for item in [RemoteFile(RUNNER, RUNNER_NAME), *files]:
                tar.add(str(item.local), arcname=item.name, filter=_plain)
            text = json.dumps(job).encode()
            info = tarfile.TarInfo("job.json")
            info.size, info.mode, info.mtime = len(text), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(text))
        bundle.seek(0)
        result = transport.call(command, stdin=bundle.fileno())
    error = transport.login_error(result)
    if error:
        raise error
    if result.returncode != 0:
        raise _remote_error(device, result, "copying the files")
    scratch = result.stdout.decode("utf-8", "replace").strip()
    if not scratch.startswith(device.scratch.rstrip("/") + "/edgenn-") or "\n" in scratch:
        raise DeviceError(Fault.REMOTE_FAILED, f"device {device.name}: unexpected answer "
                                               f"to mkdir: {scratch[:200]!r}")
    return scratch


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Files as the device user's own: no host user names or ids travel."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644 if info.isfile() else info.mode
    return info


def _remove(transport: SshTransport, scratch: str) -> None:
    try:
        transport.call(f"rm -rf {shlex.quote(scratch)}", timeout=15)
    except DeviceError:
        pass  # unreachable: the device's own shell removes it when the runner stops


def _payload(transport: SshTransport, result: Completed, step: str,
             after_login: bool = False) -> dict[str, Any]:
    """The runner's result line, or the DeviceError that explains why there is none."""
    device = transport.device
    lines = [line for line in result.stdout.decode("utf-8", "replace").splitlines()
             if line.startswith(RESULT)]
    if lines:
        try:
            payload = json.loads(lines[-1][len(RESULT):])
        except ValueError:
            raise DeviceError(Fault.REMOTE_FAILED, f"device {device.name}: the runner's "
                                                   "answer was cut short") from None
        if payload.get("ok", True):
            return payload
        if payload.get("fault") == "runtime_missing":
            missing = payload.get("missing", [])
            raise DeviceError(Fault.RUNTIME_MISSING,
                              f"{', '.join(missing)} not installed on device {device.name}; "
                              f"install there: {device.python} -m pip install "
                              f"{' '.join(missing)}")
        raise DeviceError(Fault.REMOTE_FAILED, f"device {device.name}: {payload.get('message')}")
    error = transport.login_error(result)
    if error:
        if after_login:  # it logged in a moment ago for the ship step: the link went away
            raise DeviceError(Fault.DROPPED, f"device {device.name}: connection dropped "
                                             f"mid-measurement ({last_lines(result.stderr)})")
        raise error
    if result.returncode == NOT_FOUND:
        raise DeviceError(Fault.PYTHON_MISSING,
                          f"device {device.name}: {device.python!r} cannot be run there "
                          f"({last_lines(result.stderr)}); set the interpreter with "
                          f"`edgenn devices add {device.name} URL --python PATH`")
    raise _remote_error(device, result, step)


def _remote_error(device: Device, result: Completed, step: str) -> DeviceError:
    text = last_lines(result.stderr)
    if any(sign in result.stderr.lower() for sign in DISK_SIGNS):
        return DeviceError(Fault.DISK_FULL, f"device {device.name}: disk full under "
                                            f"{device.scratch} while {step} ({text})")
    return DeviceError(Fault.REMOTE_FAILED, f"device {device.name}: {step} failed with exit "
                                            f"status {result.returncode} ({text})")
