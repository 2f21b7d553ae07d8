"""Spiking accuracy on the digits test split: neuron model × weight bits × timesteps.

Trains a zoo model on digits (`--model cnn`, or `resnet`), converts it once, and for IF
and LIF neurons (reset by subtraction, and to zero with `--resets`) and weights at full
precision, 8 and 4 bits (`quantize_weights`: N-bit integers per population) prints
accuracy after T = 8 … 128 timesteps — T plays the role of the activation bit-width
(a rate over T steps resolves log2(T) bits). One fast-simulator run of T = 128 gives
every shorter T (a shorter run is a prefix of a longer one).

    python benchmarks/snn_accuracy.py [--model cnn] [--resets subtract zero]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

CHECKPOINTS = (8, 16, 32, 64, 128)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--bits", type=int, nargs="+", default=[0, 8, 4],
                        help="weight bits; 0 = full precision")
    parser.add_argument("--neurons", nargs="+", default=["if", "lif"])
    parser.add_argument("--resets", nargs="+", default=["subtract"])
    parser.add_argument("--tau", type=float, default=16.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import onnxruntime as ort

    from edgenn.frontend.data import load_digits
    from edgenn.targets.snn.coding import prepare_drive
    from edgenn.targets.snn.convert import convert_onnx
    from edgenn.targets.snn.fast import simulate_fast
    from edgenn.targets.snn.hardware import quantize_weights
    from edgenn.targets.snn.ir import NeuronModel

    data = load_digits()
    with tempfile.TemporaryDirectory() as folder:
        path = _train(args.model, data, Path(folder) / "model.onnx", args.epochs)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        logits = session.run(None, {session.get_inputs()[0].name: data.x_test})[0]
        ann = float(np.mean(logits.argmax(1) == data.y_test))
        network = convert_onnx(path, data.x_train)
    print(f"{args.model} on digits ({len(data.x_test)} test samples): ANN accuracy {ann:.4f}")
    header = " | ".join(f"T={t} ({int(np.log2(t))} b)" for t in CHECKPOINTS)
    print(f"| neuron | reset | weights | {header} |")
    print("|" + "---|" * (3 + len(CHECKPOINTS)))
    for kind in args.neurons:
        for reset in args.resets:
            base = replace(network, neuron=NeuronModel(kind, reset, args.tau))
            for bits in args.bits:
                variant = quantize_weights(base, bits) if bits else base
                result = simulate_fast(variant, prepare_drive(variant, data.x_test, 128),
                                       threads=args.threads)
                predictions = result.predictions_over_time()
                cells = " | ".join(f"{np.mean(predictions[t - 1] == data.y_test):.4f}"
                                   for t in CHECKPOINTS)
                label = f"{bits}-bit" if bits else "full"
                print(f"| {kind.upper()} | {reset} | {label} | {cells} |", flush=True)


def _train(name: str, data, path: Path, epochs: int) -> Path:
    import torch

    from edgenn.exporters.onnx import export_onnx
    from edgenn.frontend.train import TrainConfig, train
    from edgenn.frontend.zoo import build_model

    torch.manual_seed(0)
    model = build_model(name, (1, 8, 8), 10)
    train(model, data, TrainConfig(epochs=epochs, seed=0))
    return export_onnx(model, data.x_train[:2], path).path


if __name__ == "__main__":
    main()
