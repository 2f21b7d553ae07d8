"""The Python API: the same jobs as `edgenn run` and `edgenn bench`, from a script.

    from edgenn.api import build_config, run

    if __name__ == "__main__":   # rows are measured in spawned processes
        report = run(build_config("my.toml", out="build"))
        print(report.row("cpu").latency_ms["p50"])

Each function builds and measures (`edgenn.run.pipeline`), then writes report.json,
report.md and report.html (`edgenn.report.files`) beside the build's manifest.json.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from edgenn.core import BadInputError
from edgenn.core.results import Report
from edgenn.core.staging import StagedBuild, staged_build
from edgenn.report.files import write_reports
from edgenn.run import pipeline
from edgenn.run.config import CompressionConfig, Hooks, LatencySettings, RunConfig
from edgenn.run.recipe import build_config, load_recipe
from edgenn.run.sources import is_tflite
from edgenn.run.tflite_source import run_tflite

__all__ = ["CompressionConfig", "Hooks", "LatencySettings", "Report", "RunConfig", "bench",
           "build_config", "load_recipe", "quantize", "run"]


def run(config: RunConfig, hooks: Hooks | None = None) -> Report:
    """Train, build every variant, measure every target; write the reports; return the
    report. `report.extra["budget"]["met"]` says whether the accuracy budget held."""
    with staged_build(config.out) as build:  # a failed run leaves the previous build as it was
        job = run_tflite if is_tflite(config.model) else pipeline.run  # a .tflite source
        report = _relocated(job(replace(config, out=build.path), hooks), build)
        write_reports(report, build.path)
    return report


def bench(model: str | os.PathLike[str], data: str | os.PathLike[str],
          config: RunConfig | None = None, hooks: Hooks | None = None) -> Report:
    """Measure a user's ONNX or .tflite model on a user's .npz; write the reports."""
    config = config or RunConfig()
    with staged_build(config.out) as build:
        report = _relocated(pipeline.bench(Path(model), Path(data),
                                           replace(config, out=build.path), hooks), build)
        _require_a_measurement(report)  # else the previous build stays as it was
        write_reports(report, build.path)
    return report


def _require_a_measurement(report: Report) -> None:
    """BadInputError (exit 2) naming every row's reason when no row could be measured."""
    if not any(row.status == "ok" for row in report.rows):
        why = "; ".join(f"{row.target} {row.status}: {row.reason}" for row in report.rows)
        raise BadInputError(f"nothing was measured ({why or 'no target ran'})")


def _relocated(report: Report, build: StagedBuild) -> Report:
    """The report with the paths recorded under the staging directory moved to --out."""
    for row in report.rows:
        row.artifact, row.extra = build.relocate(row.artifact), build.relocate(row.extra)
    report.extra = build.relocate(report.extra)
    return report


# --- devices (issue 17): the user's boards, measured with `run`/`bench` (RunConfig.devices)


def add_device(name: str, url: str, replace_existing: bool = False, **settings):
    """Add `name` → `url` (ssh://user@host[:port]) to the user's devices.toml and return
    the `Device`; `settings`: python, scratch, identity, ssh_config, connect_timeout."""
    from edgenn.core import BadInputError
    from edgenn.devices import Device, load_devices, save_devices

    devices = load_devices()
    if name in devices and not replace_existing:
        raise BadInputError(f"device {name} exists already ({devices[name].url}); replace it "
                            "with --replace, or remove it first")
    devices[name] = Device(name=name, url=url, **settings)
    save_devices(devices)
    return devices[name]


def remove_device(name: str) -> None:
    """Remove `name` from the user's devices.toml (unknown names are bad input)."""
    from edgenn.devices import get_device, load_devices, save_devices

    get_device(name)
    save_devices({k: v for k, v in load_devices().items() if k != name})


def list_devices() -> list:
    """Every `Device` of the user's devices.toml, by name."""
    from edgenn.devices import load_devices

    return sorted(load_devices().values(), key=lambda device: device.name)


def check_device(name: str):
    """Reach device `name` and return what it has (`DeviceInfo`: OS, architecture, CPU,
    cores, Python, runtimes); a `DeviceError` says why it cannot be reached."""
    from edgenn.devices import get_device, probe

    return probe(get_device(name))


def quantize(model: str | os.PathLike[str], out: str | os.PathLike[str] = "edgenn-out", *,
             mode: str = "static", data: str | os.PathLike[str] | None = None,
             static=None, auto: bool = False, max_accuracy_drop: float | None = None,
             calibration_samples: int = 256, seed: int = 0, threads: int = 2,
             progress=None):
    """`edgenn quantize`: an ONNX model's int8 (static: calibrated on `data`'s training
    split; dynamic) or fp16 copy in `out`. `static` is a `StaticConfig` (default: QDQ,
    uint8 activations, per-channel int8 weights); `auto` measures every candidate setting
    on the cpu target; with `max_accuracy_drop` the validation accuracy is held to it
    (sensitive nodes kept in float). Returns (source artifact, quantized artifact); a
    model problem is an `EdgeNNError` naming the step."""
    from edgenn.quantize.onnx_int8 import StaticConfig
    from edgenn.run.quantize_file import QuantizeJob, quantize_file

    job = QuantizeJob(Path(model), Path(out), mode, None if data is None else Path(data),
                      static or StaticConfig(), auto, max_accuracy_drop, calibration_samples,
                      seed, threads)
    return quantize_file(job, progress)


def profile(model: str | os.PathLike[str], data: str | os.PathLike[str],
            targets: list[str] | None = None, out: str | os.PathLike[str] = "edgenn-out",
            runs: int = 20, batch_size: int = 1, threads: int = 2,
            target_options: dict[str, dict] | None = None) -> dict:
    """Per-operator and per-layer time of a .onnx or .tflite on each target (default: cpu
    for ONNX, tflite for .tflite) from the runtime's own profiler; spiking targets give
    spikes, synaptic operations and energy per layer. Writes OUT/profile.json."""
    from edgenn.run.layers.analyse import profile_command
    from edgenn.run.layers.profile import ProfileSettings

    return profile_command(Path(model), Path(data), targets, target_options or {}, Path(out),
                           ProfileSettings(runs=runs, batch_size=batch_size, threads=threads))


def diverge(reference: str | os.PathLike[str], variants: list[str | os.PathLike[str]],
            data: str | os.PathLike[str], samples: int = 32, threshold_db: float = 30.0,
            threads: int = 2, out: str | os.PathLike[str] | None = None) -> dict:
    """Layer by layer, SNR / cosine / max error of each variant (.onnx or .tflite) against
    the reference ONNX on the first `samples` of `data`, and the first layer under
    `threshold_db` per variant. Writes OUT/diverge.json when `out` is given."""
    from edgenn.run.layers.analyse import diverge_command

    return diverge_command(Path(reference), [Path(v) for v in variants], Path(data), samples,
                           threshold_db, threads, None if out is None else Path(out))


def sweep(path: str | os.PathLike[str], out: str | os.PathLike[str] = "edgenn-sweep",
          address: str | None = None, sequential: bool = False, dry_run: bool = False,
          retry_failed: bool = False) -> dict:
    """`edgenn sweep PATH`: every point of the sweep file not finished in `out`, on Ray
    when it is installed (a local instance, or the cluster at `address`), else here one
    after another; writes OUT/sweep.json and sweep.md and returns sweep.json's content
    (rows, front, recommended). `dry_run`: the plan and its split, nothing built."""
    from edgenn.sweep import execute, load_sweep
    from edgenn.sweep.dryrun import dry_run as plan
    from edgenn.sweep.summary import summarize, write_summary

    spec = load_sweep(path)
    if dry_run:
        return plan(spec, out, address=address)
    outcome = execute(spec, out, address=address, use_ray=False if sequential else None,
                      retry_failed=retry_failed)
    summary = summarize(spec, outcome)
    write_summary(summary, out)
    return summary
