"""Real devices: boards and phones reached over SSH, measured with the host's method.

`device.py` names a device by URL and keeps the user's list (devices.toml); `ssh.py` is
the transport (the system OpenSSH client); `session.py` ships a compiled model, the test
split and `remote_runner.py` to the device, runs it there and brings the result back;
`remote_runner.py` is the self-contained script that runs on the device. Scoring the
outputs against the reference is the run layer's (`edgenn.run.remote`), as for local rows.
Layer 1: imports only `edgenn.core`.
"""

from edgenn.devices.device import (
    Device,
    config_path,
    get_device,
    load_devices,
    parse_url,
    save_devices,
)
from edgenn.devices.session import DeviceInfo, RemoteFile, RemoteResult, measure, probe
from edgenn.devices.ssh import DeviceError, Fault, SshTransport

__all__ = ["Device", "DeviceError", "DeviceInfo", "Fault", "RemoteFile", "RemoteResult",
           "SshTransport", "config_path", "get_device", "load_devices", "measure",
           "parse_url", "probe", "save_devices"]
