"""Ctrl-C on a busy machine: whenever it lands once edgenn runs — while a measurement
worker starts, during the measurement — the command exits 130 with one `edgenn:
interrupted` line, no traceback (the worker's included), and no build (no half-written
file, no staging folder). Every core is kept busy (`cpu_hog`): load stretches the
windows in which a signal used to kill the process (exit −2)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest


def tiny_classifier(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(
        np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


# seconds after the test split is staged (the measurement worker is spawned next): while
# the worker starts, while it loads, while it measures
DELAYS = [0.0, 0.3, 1.0, 2.5]


def start_bench(tmp_path: Path, runs: int) -> tuple[subprocess.Popen, Path]:
    inputs, work = tmp_path / "inputs", tmp_path / "work"
    inputs.mkdir()
    work.mkdir()
    model = tiny_classifier(inputs / "tiny.onnx")
    rng = np.random.default_rng(0)
    np.savez(inputs / "data.npz", x=rng.normal(size=(60, 4)).astype(np.float32),
             y=np.repeat(np.arange(3), 20))
    process = subprocess.Popen(
        [sys.executable, "-m", "edgenn.cli", "bench", str(model), "--data",
         str(inputs / "data.npz"), "--targets", "cpu", "--out", str(work / "out"),
         "--runs", str(runs)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    return process, work


def interrupt_when(process: subprocess.Popen, ready: Path, delay: float) -> str:
    """SIGINT to the whole process group (what a terminal sends) `delay` s after `ready`
    exists; the command's stderr."""
    try:
        deadline = time.monotonic() + 240
        while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGINT)
        return process.communicate(timeout=240)[1]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def assert_interrupted(code: int, stderr: str) -> None:
    assert code == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if "edgenn: interrupted" in line]
    assert len(lines) == 1 and stderr.strip().splitlines()[-1] == lines[0], stderr


@pytest.mark.parametrize("delay", DELAYS)
def test_ctrl_c_on_a_busy_machine_exits_130_in_one_line(tmp_path, cpu_hog, delay):
    process, work = start_bench(tmp_path, runs=10_000_000)  # the signal ends it
    stderr = interrupt_when(process, work / ".out.edgenn-staging" / "data" / "test.npz",
                            delay)
    assert_interrupted(process.returncode, stderr)
    assert sorted(p.name for p in work.iterdir()) == []  # no build, nothing half-written


@pytest.mark.parametrize("delay", [0.0, 0.1])
def test_ctrl_c_as_the_command_finishes_never_kills_it(tmp_path, cpu_hog, delay):
    """The build is complete (OUT in place) and the interpreter shuts down — torch, ONNX
    Runtime, the worker pool — when Ctrl-C lands: the decided outcome stands (exit 0, or
    130 when it lands before the last line), never a death by the signal."""
    process, work = start_bench(tmp_path, runs=50)
    stderr = interrupt_when(process, work / "out" / "manifest.json", delay)
    assert process.returncode in (0, 130), (process.returncode, stderr)
    if process.returncode == 130:
        assert_interrupted(process.returncode, stderr)
    assert "Traceback" not in stderr, stderr
    assert (work / "out" / "manifest.json").is_file()
    assert sorted(p.name for p in work.iterdir()) == ["out"]
