"""Shared fixtures: the digits data and a small trained CNN with its ONNX export.

Expensive objects are built once per session in a temporary directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def digits():
    from edgenn.frontend.data import load_digits

    return load_digits()


@pytest.fixture(scope="session")
def trained_cnn(digits):
    """The default CNN trained briefly (accuracy well above 0.9) and its checkpoint."""
    from edgenn.frontend.train import TrainConfig, train
    from edgenn.frontend.zoo import build_model

    model = build_model("cnn", digits.sample_shape, digits.num_classes)
    train(model, digits, TrainConfig(epochs=8, seed=0))
    return model


@pytest.fixture(scope="session")
def cnn_artifacts(tmp_path_factory, trained_cnn, digits):
    """[PyTorch program (.pt2) artifact, fp32 ONNX artifact] of the trained CNN."""
    from edgenn.core import Artifact
    from edgenn.exporters.onnx import export_onnx
    from edgenn.exporters.torch_program import export_program

    root = tmp_path_factory.mktemp("cnn")
    trained = Artifact(root / "checkpoint.pt", "checkpoint", lineage=("train",))
    torch_artifact = export_program(trained_cnn, digits.x_val[:8], root / "model.pt2",
                                    source=trained)
    onnx_artifact = export_onnx(trained_cnn, digits.x_val[:8], root / "model.onnx",
                                parity_batches=[digits.x_val], source=trained)
    return [torch_artifact, onnx_artifact]


@pytest.fixture(scope="session")
def reference_logits(trained_cnn, digits) -> np.ndarray:
    from edgenn.frontend.train import predict

    return predict(trained_cnn, digits.x_test)


@pytest.fixture(scope="session")
def cnn_mobile_artifacts(tmp_path_factory, trained_cnn, digits, cnn_artifacts):
    """The CNN's pipeline artifacts plus its .tflite fp32, int8 and dynamic-range files."""
    from edgenn.exporters.tflite import export_tflite
    from edgenn.quantize.tflite import quantize_tflite_dynamic, quantize_tflite_static

    root = tmp_path_factory.mktemp("cnn-tflite")
    fp32 = export_tflite(trained_cnn, digits.x_val[:8], root / "model.tflite",
                         source=cnn_artifacts[0])
    return [*cnn_artifacts, fp32,
            quantize_tflite_static(fp32, root / "model.int8-static.tflite", digits.x_train),
            quantize_tflite_dynamic(fp32, root / "model.int8-dynamic.tflite")]


@pytest.fixture(scope="session")
def cnn_snn_artifacts(cnn_artifacts, digits, tmp_path_factory):
    """The CNN's artifacts with the calibration data the spiking converter normalises on."""
    from dataclasses import replace

    from edgenn.frontend.data import save_npz

    path = save_npz(tmp_path_factory.mktemp("snn-calibration") / "calibration.npz",
                    digits.x_train, digits.y_train)
    return [replace(a, metadata={**a.metadata, "calibration_data": str(path)})
            for a in cnn_artifacts]


@pytest.fixture(scope="session")
def wild_graphs():
    """Builders of small graphs with the traits of models other projects ship
    (tests/wild_graphs.py), each writing one .onnx where the test says."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("wild_graphs",
                                                  Path(__file__).with_name("wild_graphs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def busy_machine(seconds: float = 180.0) -> Iterator[None]:
    """Every core kept busy (one busy-loop process per CPU) while the block runs: what a
    loaded machine does to timings, thread scheduling and signal delivery. Each hog ends
    by itself after `seconds` and is killed when the block ends, whatever happens."""
    import subprocess
    import sys

    loop = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass"
    hogs = []
    try:
        for _ in range(os.cpu_count() or 1):
            hogs.append(subprocess.Popen([sys.executable, "-S", "-c", loop],
                                         stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


@pytest.fixture
def cpu_hog() -> Iterator[None]:
    """The machine under full load for the test (`busy_machine`)."""
    with busy_machine():
        yield
