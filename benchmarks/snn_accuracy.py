"""Spiking accuracy on a test split: neuron model × weight bits × timesteps.

Trains a zoo model (`--model cnn`, or `resnet`) on the embedded digits (`--data signals`
for the 3-axis signals, with the 1-D CNN), converts it once, and for IF
and LIF neurons (reset by subtraction, and to zero with `--resets`) and weights at full
precision, 8 and 4 bits (`quantize_weights`: N-bit integers per population) prints
accuracy after T = 8 … 128 timesteps — T plays the role of the activation bit-width
(a rate over T steps resolves log2(T) bits). One fast-simulator run of T = 128 gives
every shorter T (a shorter run is a prefix of a longer one).

Thresholds (`--thresholds`): `calibration` (the default, as `edgenn run`) takes each
layer's full scale from the calibration table static int8 quantizes with — the script
quantizes the model with it too and prints the int8 ANN's accuracy beside the table;
`percentile` takes the 99.9th percentile of each layer's activations.

    python benchmarks/snn_accuracy.py [--model cnn] [--resets subtract zero]
                                      [--thresholds calibration percentile]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--data", default="digits", help="digits, signals or an .npz")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--bits", type=int, nargs="+", default=[0, 8, 4],
                        help="weight bits; 0 = full precision")
    parser.add_argument("--neurons", nargs="+", default=["if", "lif"])
    parser.add_argument("--resets", nargs="+", default=["subtract"])
    parser.add_argument("--tau", type=float, default=16.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--thresholds", nargs="+", default=["calibration"],
                        choices=["calibration", "percentile"])
    args = parser.parse_args()

    from edgenn.cli.commands.simulate import ann_accuracy
    from edgenn.frontend.data import load_dataset
    from edgenn.targets.snn.coding import Coding
    from edgenn.targets.snn.convert import convert_onnx
    from edgenn.targets.snn.hardware import accuracy_by_bits
    from edgenn.targets.snn.ir import NeuronModel
    from edgenn.targets.snn.metrics import CHECKPOINTS

    data = load_dataset(args.data)
    with tempfile.TemporaryDirectory() as folder:
        path = _train(args.model, data, Path(folder) / "model.onnx", args.epochs)
        ann = ann_accuracy(path, data.x_test, data.y_test)
        networks, int8 = {}, None
        for source in args.thresholds:
            ranges = None
            if source == "calibration":
                ranges, int8 = _shared_calibration(path, data, Path(folder))
            networks[source] = convert_onnx(path, data.x_train, ranges=ranges)
    print(f"{args.model} on {args.data} ({len(data.x_test)} test samples): ANN accuracy "
          f"{ann:.4f}"
          + (f"; static int8 with the same calibration table {int8:.4f}"
             if int8 is not None else ""))
    header = " | ".join(f"T={t} ({int(np.log2(t))} b)" for t in CHECKPOINTS)
    print(f"| thresholds | neuron | reset | weights | {header} |")
    print("|" + "---|" * (4 + len(CHECKPOINTS)))
    for source, network in networks.items():
        for kind in args.neurons:
            for reset in args.resets:
                base = replace(network, neuron=NeuronModel(kind, reset, args.tau))
                table = accuracy_by_bits(base, data.x_test, data.y_test, 128, Coding.CONSTANT,
                                         threads=args.threads,
                                         bits=tuple(b for b in args.bits if b))
                for row in table["rows"]:
                    bits = row["weight_bits"] or 0
                    if bits not in args.bits:
                        continue
                    cells = " | ".join(f"{a:.4f}" for a in row["accuracy"])
                    label = f"{bits}-bit" if bits else "full"
                    print(f"| {source} | {kind.upper()} | {reset} | {label} | {cells} |",
                          flush=True)


def _shared_calibration(path: Path, data, folder: Path):
    """The calibration table of `path` on 256 training samples (as `edgenn run` draws),
    static int8 quantized with it, and the int8 model's test accuracy."""
    from edgenn.cli.commands.simulate import ann_accuracy
    from edgenn.core import Artifact
    from edgenn.core.calibration import Calibration, measure_ranges, read_ranges
    from edgenn.quantize.onnx_int8 import quantize_static
    from edgenn.run.compress import calibration_set

    x = calibration_set(data.x_train, 256)
    table = measure_ranges(path, x, Calibration(), folder / "ranges")
    if table is None:
        raise SystemExit("this onnxruntime has no calibration cache: use --thresholds "
                         "percentile")
    int8 = quantize_static(Artifact(path, "onnx"), folder / "int8.onnx", x,
                           ranges_dir=folder / "ranges")
    return read_ranges(table), ann_accuracy(int8.path, data.x_test, data.y_test)


def _train(name: str, data, path: Path, epochs: int) -> Path:
    import torch

    from edgenn.exporters.onnx import export_onnx
    from edgenn.frontend.train import TrainConfig, train
    from edgenn.frontend.zoo import build_model

    torch.manual_seed(0)
    model = build_model(name, data.sample_shape, data.num_classes)
    train(model, data, TrainConfig(epochs=epochs, seed=0))
    return export_onnx(model, data.x_train[:2], path).path


if __name__ == "__main__":
    main()
