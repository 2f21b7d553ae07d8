"""A device: a board or phone named by URL, and the user's list of them.

`ssh://user@host[:port]` is a machine reached with the system OpenSSH client (key auth,
the user's ~/.ssh/config honoured); other schemes (`adb://SERIAL`) fit the same `Device`
and are refused by name until a transport exists for them. The list lives in
`$XDG_CONFIG_HOME/edgenn/devices.toml` (default `~/.config/edgenn/devices.toml`), written
atomically; it holds no password — authentication is the SSH agent's or the key file's.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import unquote, urlsplit

from edgenn.core import BadInputError, write_text_atomic

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SCHEMES = ("ssh",)  # adb:// would be a second transport behind the same Device
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HOST = re.compile(r"^[A-Za-z0-9_.:%\[\]-]+$")  # names, IPv4, [IPv6]; never a leading '-'


@dataclass(frozen=True)
class Device:
    """One entry of devices.toml."""

    name: str  # what --device NAME and report rows call it
    url: str  # ssh://user@host[:port]
    python: str = "python3"  # the interpreter on the device (a command: "python3 -I" works)
    scratch: str = "/tmp"  # where the run's private folder is made and removed on the device
    identity: str | None = None  # a private key file (ssh -i); default: agent and ssh config
    ssh_config: str | None = None  # an ssh_config file (ssh -F); default: ~/.ssh/config
    connect_timeout: int = 10  # seconds before an unreachable host is given up

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise BadInputError(f"device name {self.name!r}: use letters, digits, '.', '_' "
                                "and '-' (at most 64), starting with a letter or digit")
        parse_url(self.url)
        if not self.python.strip() or not shlex.split(self.python):
            raise BadInputError(f"device {self.name}: python must name a command")
        if not self.scratch.startswith("/"):
            raise BadInputError(f"device {self.name}: scratch must be an absolute path on the "
                                f"device, got {self.scratch!r}")
        if not (isinstance(self.connect_timeout, int) and self.connect_timeout >= 1):
            raise BadInputError(f"device {self.name}: connect_timeout must be a whole number "
                                f"of seconds ≥ 1, got {self.connect_timeout!r}")

    @property
    def address(self) -> Address:
        return parse_url(self.url)

    def python_argv(self) -> list[str]:
        return shlex.split(self.python)


@dataclass(frozen=True)
class Address:
    """Where a device is reached: scheme, user (None: the ssh config's), host, port."""

    scheme: str
    host: str
    user: str | None = None
    port: int | None = None


def parse_url(url: str) -> Address:
    """`ssh://user@host[:port]` → Address; BadInputError naming what is wrong."""
    parts = urlsplit(str(url))
    if parts.scheme not in SCHEMES:
        later = " (adb:// is planned, not yet built)" if parts.scheme == "adb" else ""
        raise BadInputError(f"device URL {url!r}: scheme must be one of "
                            f"{', '.join(s + '://' for s in SCHEMES)}{later}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise BadInputError(f"device URL {url!r}: only ssh://user@host[:port] is understood")
    if parts.password is not None:
        raise BadInputError(f"device URL {url!r}: holds a password; edgenn never stores one "
                            "(use a key: ssh-copy-id, or --identity KEY)")
    host = parts.hostname or ""
    if not host or not HOST.match(host) or host.startswith("-"):
        raise BadInputError(f"device URL {url!r}: no usable host name")
    try:
        port = parts.port
    except ValueError:
        raise BadInputError(f"device URL {url!r}: the port must be 1-65535") from None
    user = unquote(parts.username) if parts.username else None
    if user is not None and (not user or user.startswith("-") or any(c.isspace() for c in user)):
        raise BadInputError(f"device URL {url!r}: bad user name {user!r}")
    return Address(parts.scheme, host, user, port)


def config_path() -> Path:
    """$XDG_CONFIG_HOME/edgenn/devices.toml (XDG Base Directory; ~/.config by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "edgenn" / "devices.toml"


def load_devices(path: Path | None = None) -> dict[str, Device]:
    """Every device in the user's list, by name (empty when there is no list yet)."""
    path = path or config_path()
    if not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("devices", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInputError(f"{path}: not a readable devices file ({exc})") from None
    known = {f.name for f in fields(Device)} - {"name"}
    devices = {}
    for name, entry in table.items():
        unknown = sorted(set(entry) - known) if isinstance(entry, dict) else ["(not a table)"]
        if unknown:
            raise BadInputError(f"{path}: device {name}: unknown key(s) {', '.join(unknown)} "
                                f"(allowed: {', '.join(sorted(known))})")
        if "url" not in entry:
            raise BadInputError(f"{path}: device {name} has no url")
        devices[name] = Device(name=name, **entry)
    return devices


def get_device(name: str, path: Path | None = None) -> Device:
    devices = load_devices(path)
    if name not in devices:
        listed = ", ".join(sorted(devices)) or "none yet"
        raise BadInputError(f"unknown device {name!r} (known: {listed}; add one with "
                            "`edgenn devices add NAME ssh://user@host`)")
    return devices[name]


def save_devices(devices: dict[str, Device], path: Path | None = None) -> Path:
    """Write the whole list (atomically: a crash leaves the old file or the new one)."""
    path = path or config_path()
    lines = ["# edgenn devices (`edgenn devices --help`); no passwords are ever stored here", ""]
    defaults = Device(name="x", url="ssh://x")
    for device in sorted(devices.values(), key=lambda d: d.name):
        lines.append(f"[devices.{device.name}]")
        for f in fields(Device):
            value = getattr(device, f.name)
            if f.name == "name" or value is None or (
                    f.name != "url" and value == getattr(defaults, f.name)):
                continue
            # a JSON string is a valid TOML basic string (same escapes)
            lines.append(f"{f.name} = {json.dumps(value) if isinstance(value, str) else value}")
        lines.append("")
    return write_text_atomic(path, "\n".join(lines))
