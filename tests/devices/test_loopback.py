"""Real remote measurements through a real sshd on 127.0.0.1 (the loopback device), and
every fault a board can throw: a server stopped mid-run, a wrong key, an unreachable
host, a Python without onnxruntime, a full disk. Each fault is a row with its reason,
the local rows still come out, and nothing is left in the device's scratch folder."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgenn.api import bench
from edgenn.cli import main
from edgenn.devices import save_devices
from edgenn.run.config import Hooks, LatencySettings, RunConfig


@pytest.fixture
def digits_npz(tmp_path, digits):
    path = tmp_path / "digits-test.npz"
    np.savez(path, x=digits.x_test, y=digits.y_test)
    return path


@pytest.fixture
def cnn_onnx(cnn_artifacts):
    return cnn_artifacts[1].path


def bench_rows(model, data, out, hooks=None, runs=20, devices=("loop",)):
    config = RunConfig(out=out, targets=("cpu",), devices=devices, isolate=False,
                       latency=LatencySettings(warmup=2, runs=runs))
    return {row.target: row for row in bench(model, data, config, hooks).rows}


def wait_until_empty(folder: Path, seconds: float = 20) -> list[str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p.name for p in folder.iterdir()]
        if not left:
            return []
        time.sleep(0.1)
    return left


def test_cli_bench_on_the_loopback_device(sshd, config_home, cnn_onnx, digits_npz, tmp_path,
                                          capsys):
    """`edgenn devices add` then `edgenn bench --device`: the digits CNN measured through
    sshd, beside the same model measured here; the scratch path holds a space and a quote
    (every remote value is quoted)."""
    scratch = sshd.root / "dev scratch 'q'"
    scratch.mkdir()
    device = sshd.device(scratch=str(scratch))
    assert main(["devices", "add", "loop", device.url, "--python", device.python,
                 "--scratch", device.scratch, "--identity", device.identity,
                 "--ssh-config", device.ssh_config, "--connect-timeout", "5"]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    assert main(["bench", str(cnn_onnx), "--data", str(digits_npz), "--device", "loop",
                 "--out", str(out), "--runs", "30", "--warmup", "3", "--no-isolate",
                 "--json", "-q"]) == 0
    rows = {r["target"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    local, remote = rows["cpu"], rows["cpu@loop"]
    assert remote["status"] == "ok", remote["reason"]
    assert remote["accuracy"] == local["accuracy"] > 0.9  # same model, same outputs
    assert remote["samples"] == local["samples"] == 360
    assert remote["extra"]["device"]["name"] == "loop"
    assert remote["extra"]["device"]["arch"] == platform.machine()
    assert remote["extra"]["runtime"].startswith("onnxruntime ")
    assert remote["latency_ms"]["runs"] == 30 and len(remote["latency_samples_ms"]) == 30
    assert remote["peak_rss_mb"] > 0 and remote["size_bytes"] == local["size_bytes"]
    assert remote["lineage"][-1] == "device:loop"
    assert remote["extra"]["remote_s"]["attempts"] == 1
    assert "cpu@loop" in (out / "report.md").read_text()
    page = (out / "report.html").read_text()  # device rows grouped under what the device is
    assert f"measured on device loop ({platform.machine()}" in page
    table = page[page.index('id="comparison-table"'):]
    assert table.index('data-target="cpu"') < table.index("measured on device loop") < \
        table.index('data-target="cpu@loop"')
    assert wait_until_empty(scratch) == []


def test_device_rows_are_scored_against_the_reference(sshd, config_home, cnn_artifacts,
                                                     digits_npz, reference_logits, tmp_path):
    """The run's hook (`edgenn.run.remote`): accuracy and agreement of a device row are
    computed on the host against the PyTorch reference, as the harness does locally."""
    from edgenn.core.registry import create_target
    from edgenn.run.remote import measure_on_devices

    save_devices({"loop": sshd.device()})
    compiled = create_target("cpu").compile(cnn_artifacts[1], tmp_path / "compiled")
    reference = tmp_path / "reference.npy"
    np.save(reference, reference_logits)
    config = RunConfig(out=tmp_path, devices=("loop",),
                       latency=LatencySettings(warmup=2, runs=10))
    [row] = measure_on_devices([("cpu", compiled), ("pytorch", cnn_artifacts[0])], config,
                               digits_npz, reference, Hooks())
    assert row.target == "cpu@loop" and row.status == "ok", row.reason
    assert row.top1_agreement == 1.0 and row.max_abs_error < 1e-3 and row.snr_db > 60
    assert row.accuracy == pytest.approx(float(np.mean(
        reference_logits.argmax(1) == np.load(digits_npz)["y"])))
    assert row.extra["device"]["cores"] >= 1 and row.extra["remote_s"]["ship"] > 0
    assert np.trace(np.array(row.extra["confusion_matrix"])) == round(row.accuracy * 360)


def test_unknown_device_is_bad_input_before_anything_is_written(config_home, tmp_path,
                                                                 capsys):
    out = tmp_path / "out"
    assert main(["run", "--targets", "cpu", "--variants", "none", "--device", "nosuch",
                 "--out", str(out)]) == 2
    assert "unknown device 'nosuch'" in capsys.readouterr().err
    assert not out.exists()


def runner_started(scratch: Path, seconds: float = 60) -> bool:
    """True once the runner process works in a folder under `scratch` (read from /proc)."""
    deadline = time.monotonic() + seconds
    while True:
        for entry in Path("/proc").iterdir():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                cwd = Path(entry / "cwd").resolve()
            except OSError:
                continue
            if b"remote_runner.py" in cmdline and scratch in cwd.parents:
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


@pytest.mark.parametrize("back_for_retry, shared", [(False, True), (True, True), (False, False)],
                         ids=["stays-down", "comes-back", "stays-down-own-connections"])
def test_server_stopped_mid_run(sshd, cnn_onnx, digits_npz, back_for_retry, shared):
    """sshd and its sessions are killed while the runner measures (a million timed runs):
    retried once; with the server still down the second failure is the reason, with it
    back the retry measures (its shared connection gone, on a connection of its own).
    Either way the runner notices, stops, and its scratch folder is removed on the
    device."""
    from contextlib import nullcontext

    from edgenn.devices import DeviceError, Fault, RemoteFile, SshTransport, measure

    device = sshd.device()
    transport = SshTransport(device)
    job = {"model": "model.onnx", "data": "test.npz", "threads": 1, "warmup": 1,
           "runs": 1_000_000, "batch_size": 1, "eval_batch": 512}
    stages = []

    def on_stage(stage: str) -> None:
        stages.append(stage)
        if stage == "measure" and len(stages) == 2:  # the first attempt
            def stop_when_measuring() -> None:
                if runner_started(sshd.scratch):
                    time.sleep(0.3)
                sshd.stop()
            threading.Thread(target=stop_when_measuring, daemon=True).start()
        elif stage == "ship" and len(stages) == 3:  # the retry
            job["runs"] = 10
            if back_for_retry:
                sshd.start()

    files = [RemoteFile(cnn_onnx, "model.onnx"), RemoteFile(digits_npz, "test.npz")]
    connection = transport.shared_connection() if shared else nullcontext()
    if back_for_retry:
        with connection:
            result = measure(device, files, job, transport, on_stage=on_stage)
        assert result.attempts == 2 and len(result.payload["latency_samples_ms"]) == 10
    else:
        with connection, pytest.raises(DeviceError) as failure:
            measure(device, files, job, transport, on_stage=on_stage)
        assert failure.value.fault is Fault.DROPPED
        assert "connection dropped mid-measurement" in str(failure.value)
        assert "retried once" in str(failure.value) and "unreachable" in str(failure.value)
    assert stages[:3] == ["ship", "measure", "ship"]
    assert wait_until_empty(sshd.scratch) == []
    assert not runner_started(sshd.scratch, seconds=0)  # no orphan left measuring


def test_devices_commands(sshd, config_home, capsys):
    """add, list, check, remove as a user types them; the list is the XDG file."""
    device = sshd.device()
    add = ["devices", "add", "loop", device.url, "--python", device.python, "--identity",
           device.identity, "--ssh-config", device.ssh_config]
    assert main(add) == 0
    assert (config_home / "edgenn" / "devices.toml").is_file()
    capsys.readouterr()
    assert main(add) == 2  # a second device of that name must say --replace
    assert "exists already" in capsys.readouterr().err
    assert main([*add, "--replace", "--scratch", str(sshd.scratch)]) == 0
    capsys.readouterr()
    assert main(["devices", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["name"] == "loop" and listed["scratch"] == str(sshd.scratch)
    assert main(["devices", "check", "loop", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["arch"] == platform.machine() and facts["cores"] >= 1
    assert facts["runtimes"]["onnxruntime"]["version"]
    assert set(facts["runtimes"]) == {"onnxruntime", "tflite", "brian2", "numpy"}
    assert main(["devices", "check", "loop"]) == 0
    assert "✓ onnxruntime" in capsys.readouterr().out
    assert main(["devices", "remove", "loop"]) == 0
    capsys.readouterr()
    assert main(["devices", "list"]) == 0 and "no devices yet" in capsys.readouterr().out
    assert main(["devices", "remove", "loop"]) == 2


def test_wrong_key_is_refused(sshd, config_home, cnn_onnx, digits_npz, tmp_path, capsys):
    save_devices({"loop": sshd.device(identity=str(sshd.wrong_key))})
    rows = bench_rows(cnn_onnx, digits_npz, tmp_path / "out")
    assert rows["cpu"].status == "ok"
    assert rows["cpu@loop"].status == "failed"
    assert "authentication refused" in rows["cpu@loop"].reason
    assert not list((tmp_path / "out").rglob("*.partial"))  # nothing half-written here
    assert "--identity" in rows["cpu@loop"].reason  # what to do about it
    capsys.readouterr()
    assert main(["devices", "check", "loop"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "authentication refused" in err[0]


def test_unreachable_host(sshd, config_home, cnn_onnx, digits_npz, tmp_path, closed_port):
    closed = closed_port  # nothing listens there
    save_devices({"loop": sshd.device(url=f"ssh://{sshd.user}@127.0.0.1:{closed}")})
    rows = bench_rows(cnn_onnx, digits_npz, tmp_path / "out")
    assert rows["cpu"].status == "ok"
    assert rows["cpu@loop"].status == "failed"
    assert "host unreachable" in rows["cpu@loop"].reason


SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")


def _has_onnxruntime(python: str) -> bool:
    return subprocess.run([python, "-I", "-c", "import onnxruntime"],
                          capture_output=True).returncode == 0


@pytest.mark.skipif(SYSTEM_PYTHON is None or _has_onnxruntime(SYSTEM_PYTHON),
                    reason="needs a system python3 without onnxruntime")
def test_device_without_onnxruntime(sshd, config_home, cnn_onnx, digits_npz, tmp_path,
                                    capsys):
    """The device's Python is the system one, isolated (-I): no onnxruntime there."""
    save_devices({"loop": sshd.device(python=f"{SYSTEM_PYTHON} -I")})
    rows = bench_rows(cnn_onnx, digits_npz, tmp_path / "out")
    remote = rows["cpu@loop"]
    assert remote.status == "skipped"
    assert "onnxruntime" in remote.reason and "not installed on device loop" in remote.reason
    assert f"install there: {SYSTEM_PYTHON} -I -m pip install " in remote.reason
    assert main(["devices", "check", "loop"]) == 0
    shown = capsys.readouterr().out
    assert "✗ onnxruntime" in shown and platform.machine() in shown


def test_device_without_that_python(sshd, config_home, cnn_onnx, digits_npz, tmp_path):
    save_devices({"loop": sshd.device(python="/nonexistent/bin/python3")})
    rows = bench_rows(cnn_onnx, digits_npz, tmp_path / "out")
    assert rows["cpu@loop"].status == "failed"
    assert "cannot be run there" in rows["cpu@loop"].reason


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs: smaller than the model, so copying it fails with ENOSPC."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_disk_full_on_the_device(sshd, config_home, cnn_onnx, digits_npz, tmp_path,
                                 full_disk):
    save_devices({"loop": sshd.device(scratch=str(full_disk))})
    rows = bench_rows(cnn_onnx, digits_npz, tmp_path / "out")
    assert rows["cpu"].status == "ok"
    assert rows["cpu@loop"].status == "failed"
    assert "disk full" in rows["cpu@loop"].reason
    assert [p.name for p in full_disk.iterdir()] == []  # the half-copied folder is gone


INTERRUPTED_CLIENT = """
import json, sys
from pathlib import Path
from edgenn.devices import Device, RemoteFile, SshTransport, measure
device = Device(**json.loads(sys.argv[1]))
files = [RemoteFile(Path(sys.argv[2]), "model.onnx"), RemoteFile(Path(sys.argv[3]), "test.npz")]
job = {"model": "model.onnx", "data": "test.npz", "threads": 1, "warmup": 1,
       "runs": 1_000_000, "batch_size": 1, "eval_batch": 512}
transport = SshTransport(device)
try:
    with transport.shared_connection():
        measure(device, files, job, transport)
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_ctrl_c_on_the_host_stops_the_device(sshd, cnn_onnx, digits_npz):
    """Ctrl-C here mid-measurement: the host's ssh goes, the runner sees its stdin close
    and stops, and the device's shell removes the scratch folder."""
    device = dataclasses.asdict(sshd.device())
    client = subprocess.Popen([sys.executable, "-c", INTERRUPTED_CLIENT, json.dumps(device),
                               str(cnn_onnx), str(digits_npz)], stderr=subprocess.PIPE)
    try:
        assert runner_started(sshd.scratch), "the runner never started"
        time.sleep(0.3)
        os.kill(client.pid, signal.SIGINT)
        assert client.wait(timeout=30) == 130, client.stderr.read().decode()[-2000:]
    finally:
        if client.poll() is None:
            client.kill()
    assert wait_until_empty(sshd.scratch) == []
    assert not runner_started(sshd.scratch, seconds=0)


def test_runtime_error_on_the_device_is_the_reason(sshd, digits_npz, tmp_path):
    """A model the device's runtime refuses: its own error comes back as the reason, the
    connection is not retried, and the scratch folder is removed."""
    from edgenn.devices import DeviceError, Fault, RemoteFile, measure

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    job = {"model": "model.onnx", "data": "test.npz", "threads": 1, "warmup": 1, "runs": 5,
           "batch_size": 1, "eval_batch": 512}
    stages = []
    with pytest.raises(DeviceError) as failure:
        measure(sshd.device(), [RemoteFile(broken, "model.onnx"),
                                RemoteFile(digits_npz, "test.npz")], job,
                on_stage=stages.append)
    assert failure.value.fault is Fault.REMOTE_FAILED and "device loop:" in str(failure.value)
    assert "onnxruntime" in str(failure.value).lower() or "protobuf" in str(failure.value)
    assert stages == ["ship", "measure"]  # not a dropped connection: no retry
    assert wait_until_empty(sshd.scratch) == []


def test_tflite_models_on_the_device(sshd, config_home, cnn_mobile_artifacts, digits,
                                     digits_npz, reference_logits, tmp_path):
    """fp32, full-integer int8 and dynamic-range .tflite files measured on the device by
    LiteRT there, with the same outputs as the host's tflite runner."""
    from edgenn.core import RunOptions
    from edgenn.core.registry import create_target
    from edgenn.run.remote import measure_on_devices

    save_devices({"loop": sshd.device()})
    target = create_target("tflite")
    compiled = [target.compile(a, tmp_path / "compiled") for a in cnn_mobile_artifacts[2:]]
    reference = tmp_path / "reference.npy"
    np.save(reference, reference_logits)
    config = RunConfig(out=tmp_path, devices=("loop",), latency=LatencySettings(warmup=2,
                                                                                runs=10))
    rows = measure_on_devices([("tflite", a) for a in compiled], config, digits_npz,
                              reference, Hooks())
    assert [r.target for r in rows] == ["tflite@loop"] * 3
    for row, artifact in zip(rows, compiled, strict=True):
        assert row.status == "ok", row.reason
        local = target.load(artifact, RunOptions(threads=2)).run(digits.x_test)
        assert row.accuracy == float(np.mean(local.argmax(1) == digits.y_test))
        assert row.extra["runtime"].startswith("tflite") and row.variant == artifact.variant
    assert wait_until_empty(sshd.scratch) == []
