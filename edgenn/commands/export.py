"""`edgenn export`: train (or load a checkpoint) and export to ONNX."""

from __future__ import annotations

import argparse

from edgenn.cli import add_common

HELP = "train a zoo model (or load a checkpoint) and export it to ONNX"
DESCRIPTION = """\
Export to ONNX with the dynamo exporter (opset ≥ 17, dynamic batch), check the file with
onnx.checker and compare it with PyTorch on real batches; a typed error names the output
and the error when they differ beyond the tolerance.

Examples:
  edgenn export --out build                      # train the default CNN, export it
  edgenn export --checkpoint build/model/checkpoint.pt --out build2
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", default=None, metavar="CHECKPOINT.pt",
                        help="an edgenn checkpoint to export instead of training")
    parser.add_argument("--model", default="cnn", help="zoo model to train (default: cnn)")
    parser.add_argument("--data", default=None, metavar="DATA.npz",
                        help="training data (default: the embedded digits)")
    parser.add_argument("--epochs", type=int, default=40, help="maximum epochs (default: 40)")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset, ≥ 17 (default: 18)")
    add_common(parser)


def execute(args: argparse.Namespace, ui) -> int:
    from pathlib import Path

    from edgenn.commands._shared import make_hooks
    from edgenn.core import Artifact
    from edgenn.data import load_dataset
    from edgenn.exporters.onnx import OnnxExportConfig, export_onnx
    from edgenn.pipeline import RunConfig, prepare_out_dir, train_and_export
    from edgenn.train import TrainConfig, load_checkpoint

    out = Path(args.out)
    export_config = OnnxExportConfig(opset=args.opset)
    if args.checkpoint:
        model, model_config, _ = load_checkpoint(args.checkpoint)
        data = load_dataset(args.data)
        prepare_out_dir(out)
        source = Artifact(Path(args.checkpoint), "torch", lineage=("train",))
        artifact = export_onnx(model, data.x_val[:8], out / "model.onnx", export_config,
                               parity_batches=[data.x_val], source=source)
    else:
        data = load_dataset(args.data)
        config = RunConfig(out=out, model=args.model, data=args.data,
                           train=TrainConfig(epochs=args.epochs, seed=args.seed),
                           seed=args.seed)
        prepare_out_dir(out)
        _, artifacts = train_and_export(config, data, make_hooks(ui), export_config)
        artifact = artifacts[-1]
    ui.print(f"wrote {artifact.path} ({artifact.size_bytes()} bytes, opset "
             f"{artifact.metadata.get('opset')})")
    return 0
