"""The digits CNN trained once per session, converted, and simulated at T = 128: shared by
the spiking tests (accuracy, brian2 == fast, NIR consumers)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgenn.targets.snn.coding import SimulationResult, prepare_drive
from edgenn.targets.snn.convert import convert_onnx
from edgenn.targets.snn.fast import simulate_fast
from edgenn.targets.snn.ir import SpikingNetwork


@dataclass(frozen=True)
class Digits:
    onnx: Path
    calibration: Path
    x: np.ndarray
    y: np.ndarray
    ann_accuracy: float
    network: SpikingNetwork
    result_128: SimulationResult  # fast simulator, constant coding, T = 128


@pytest.fixture(scope="session")
def snn(tmp_path_factory) -> Digits:
    import onnxruntime as ort
    import torch

    from edgenn.exporters.onnx import export_onnx
    from edgenn.frontend.data import load_digits, save_npz
    from edgenn.frontend.train import TrainConfig, train
    from edgenn.frontend.zoo import build_model

    folder = tmp_path_factory.mktemp("snn-digits")
    data = load_digits()
    torch.manual_seed(0)
    model = build_model("cnn", (1, 8, 8), 10)
    train(model, data, TrainConfig(epochs=15, seed=0))
    artifact = export_onnx(model, data.x_train[:2], folder / "cnn.onnx")
    calibration = save_npz(folder / "calibration.npz", data.x_train, data.y_train)
    session = ort.InferenceSession(str(artifact.path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": data.x_test})[0]
    ann_accuracy = float(np.mean(logits.argmax(1) == data.y_test))
    network = convert_onnx(artifact.path, data.x_train)
    result = simulate_fast(network, prepare_drive(network, data.x_test, 128))
    return Digits(artifact.path, calibration, data.x_test, data.y_test, ann_accuracy, network,
                  result)
