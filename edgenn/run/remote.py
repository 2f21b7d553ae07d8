"""Rows measured on the user's own devices (`--device NAME`): the run's compiled artifacts
shipped to a board over SSH and measured there (`edgenn.devices`), then scored here
against the same test split and PyTorch reference as the local rows.

A device row is named `TARGET@DEVICE` (e.g. `cpu@pi`) and carries the device's facts in
`extra["device"]` (name, architecture, OS, CPU, cores, Python). Every fault is a row with
its reason and the run goes on: an unreachable device or a refused key fails that
device's rows, a missing runtime skips them (with the command that installs it), and a
connection dropped mid-measurement is retried once before its row fails.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgenn.core import Artifact, samples, sha256_of
from edgenn.core.results import Measurement
from edgenn.devices import (
    Device,
    DeviceError,
    DeviceInfo,
    Fault,
    RemoteFile,
    SshTransport,
    get_device,
)
from edgenn.devices import measure as measure_remote
from edgenn.devices import probe as probe_device
from edgenn.run.config import Hooks, RunConfig
from edgenn.run.harness import Job, carry_decisions, latency_stats, score

# Targets whose compiled artifacts a device runs: the runtime the device needs and how its
# runner opens them. The models are portable across CPUs (cpu saves ORT's "extended"
# optimisations, which hold no hardware-specific layout; .ort and .tflite are portable).
REMOTE_TARGETS: dict[str, dict[str, object]] = {
    "cpu": {"runtime": "onnxruntime", "ort_format": False},
    "ort-mobile": {"runtime": "onnxruntime", "ort_format": True},
    "tflite": {"runtime": "tflite"},
}

log = logging.getLogger(__name__)


def resolve_devices(config: RunConfig) -> list[Device]:
    """The run's devices from the user's list; an unknown name is bad input (exit 2),
    found before anything is written."""
    return [get_device(name) for name in dict.fromkeys(config.devices)]


def measure_on_devices(compiled: Sequence[tuple[str, Artifact]], config: RunConfig,
                       test_path: Path, reference_path: Path | None,
                       hooks: Hooks) -> list[Measurement]:
    """One row per (device, remote target, artifact); faults are rows, never raised."""
    rows: list[Measurement] = []
    for device in resolve_devices(config):
        rows += _device_rows(device, compiled, config, test_path, reference_path, hooks)
    return rows


def _device_rows(device: Device, compiled: Sequence[tuple[str, Artifact]],
                 config: RunConfig, test_path: Path, reference_path: Path | None,
                 hooks: Hooks) -> list[Measurement]:
    remote = [(name, artifact) for name, artifact in compiled if name in REMOTE_TARGETS]
    targets = list(dict.fromkeys(name for name, _ in remote))
    if not remote:
        return [Measurement(target=f"device@{device.name}", variant="–", status="skipped",
                            reason="no row of this run can be measured on a device "
                                   f"(devices run the {', '.join(REMOTE_TARGETS)} "
                                   "targets)")]
    hooks.status(f"device {device.name}: checking {device.url}")
    transport = SshTransport(device)
    try:
        with transport.shared_connection():  # one SSH handshake for all the device's rows
            return _measure_on(device, transport, remote, targets, config, test_path,
                               reference_path, hooks)
    except DeviceError as exc:  # cannot connect or log in: every row of the device says why
        return [_decided(name, device, "failed", str(exc)) for name in targets]


def _measure_on(device: Device, transport: SshTransport,
                remote: Sequence[tuple[str, Artifact]], targets: Sequence[str],
                config: RunConfig, test_path: Path, reference_path: Path | None,
                hooks: Hooks) -> list[Measurement]:
    needed = {name: ["numpy", str(REMOTE_TARGETS[name]["runtime"])] for name in targets}
    info = probe_device(device, sorted({r for names in needed.values() for r in names}),
                        transport)
    rows = []
    missing_by_target = {name: info.missing(needed[name]) for name in targets}
    for name, missing in missing_by_target.items():  # a runtime the device lacks: skipped
        if missing:
            facts = info.facts
            rows.append(_decided(name, device, "skipped",
                                 f"{', '.join(missing)} not installed on device {device.name} "
                                 f"({facts.get('system')} {info.arch}, Python "
                                 f"{facts.get('python')}); install there: "
                                 f"{info.install_command(missing)}", info))
    runnable = [(name, artifact) for name, artifact in remote
                if not missing_by_target[name]]
    with hooks.progress(f"measure on {device.name} ({info.arch})", len(runnable)) as advance:
        for name, artifact in runnable:
            row = measure_row(device, info, name, artifact, config, test_path,
                              reference_path, hooks, transport)
            rows.append(row)
            advance(info=row.label)
    return rows


def _decided(target: str, device: Device, status: str, reason: str,
             info: DeviceInfo | None = None) -> Measurement:
    summary = info.summary() if info else {"name": device.name}
    return Measurement(target=f"{target}@{device.name}", variant="–", status=status,
                       reason=reason, extra={"device": summary})


def measure_row(device: Device, info: DeviceInfo, target: str, artifact: Artifact,
                config: RunConfig, test_path: Path, reference_path: Path | None,
                hooks: Hooks, transport: SshTransport | None = None) -> Measurement:
    """Measure one compiled artifact on `device`; never raises."""
    settings = config.latency
    row = Measurement(target=f"{target}@{device.name}", variant=artifact.variant,
                      artifact=str(artifact.path),
                      lineage=[*artifact.lineage, f"device:{device.name}"],
                      batch_size=settings.batch_size, threads=settings.threads,
                      extra={"device": info.summary()})
    carry_decisions(artifact, row)  # what the compression passes decided
    model_dir = artifact.path.parent
    files = [RemoteFile(artifact.path, artifact.path.name),
             *(RemoteFile(f, _relative(f, model_dir)) for f in artifact.extra_files),
             RemoteFile(test_path, "test.npz")]
    job = {"model": artifact.path.name, "data": "test.npz", "threads": settings.threads,
           "warmup": settings.warmup, "runs": settings.runs,
           "batch_size": settings.batch_size, "eval_batch": Job.eval_batch,
           "xnnpack": bool(config.target_options.get(target, {}).get("xnnpack", True)),
           **REMOTE_TARGETS[target]}
    try:
        row.size_bytes = artifact.size_bytes()
        row.extra["sha256"] = sha256_of(artifact.path)  # as local rows: `compare` matches it
        result = measure_remote(device, files, job, transport, on_stage=lambda stage:
                                log.debug("%s: %s on device %s", row.label, stage, device.name))
    except DeviceError as exc:
        row.status = "skipped" if exc.fault is Fault.RUNTIME_MISSING else "failed"
        row.reason = str(exc)
        return row
    try:
        _fill(row, result.payload, test_path, reference_path)
    except Exception as exc:  # an answer this edgenn cannot read: a row, never a crash
        row.status, row.reason = "failed", f"device {device.name}: {type(exc).__name__}: {exc}"
        return row
    # host wall-clock seconds: copying, the remote call, and the runner's own share of it
    row.extra["remote_s"] = {"ship": round(result.timings_s["ship"], 3),
                             "measure": round(result.timings_s["measure"], 3),
                             "runner": result.payload.get("runner_s"),
                             "attempts": result.attempts}
    return row


def _fill(row: Measurement, payload: dict, test_path: Path,
          reference_path: Path | None) -> None:
    """The row's figures from the runner's answer, scored as the rows measured here."""
    outputs = np.load(io.BytesIO(base64.b64decode(payload["outputs_npy"])), allow_pickle=False)
    _, y = samples.load(test_path)
    score(row, outputs, y, reference_path)
    row.latency_samples_ms = list(payload["latency_samples_ms"])
    row.latency_ms = latency_stats(row.latency_samples_ms)
    row.peak_rss_mb, row.load_rss_mb = payload["peak_rss_mb"], payload["load_rss_mb"]
    row.extra.update(payload.get("metrics", {}))
    runtime = payload.get("runtime", {})
    row.extra["runtime"] = f"{runtime.get('name')} {runtime.get('version')}"


def _relative(path: Path, model_dir: Path) -> str:
    """ONNX external data is found relative to the model's folder: keep that layout."""
    try:
        return Path(path).relative_to(model_dir).as_posix()
    except ValueError:
        return Path(path).name
