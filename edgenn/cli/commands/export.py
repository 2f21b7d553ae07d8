"""`edgenn export`: train (or load a checkpoint) and export to ONNX."""

from __future__ import annotations

import argparse

from edgenn.cli.common import add_common, add_json, emit_artifact

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
    parser.add_argument("--model", default=None, help="zoo model to train (default: cnn)")
    parser.add_argument("--data", default=None, metavar="DATA.npz",
                        help="training data (default: the embedded digits)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="maximum epochs (default: the model's own, as `edgenn run`)")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset, ≥ 17 (default: 18)")
    add_json(parser)
    add_common(parser)


def execute(args: argparse.Namespace, ui) -> int:
    from pathlib import Path

    from edgenn.cli.common import make_hooks
    from edgenn.core import Artifact, prepare_out_dir
    from edgenn.exporters.onnx import OnnxExportConfig, export_onnx
    from edgenn.frontend.checkpoint import check_data_fits
    from edgenn.frontend.data import load_dataset
    from edgenn.frontend.train import load_checkpoint
    from edgenn.run import sources
    from edgenn.run.pipeline import prepared_model
    from edgenn.run.recipe import build_config

    out = Path(args.out)
    export_config = OnnxExportConfig(opset=args.opset)
    if args.checkpoint:
        model, model_config, _ = load_checkpoint(args.checkpoint)
        data = load_dataset(args.data)
        check_data_fits(model_config, data, args.checkpoint, args.data or "digits")
        prepare_out_dir(out)
        source = Artifact(Path(args.checkpoint), "checkpoint", lineage=("train",))
        artifact = export_onnx(model, data.x_val[:8], out / "model.onnx", export_config,
                               parity_batches=[data.x_val], source=source)
    else:  # the same model, training and export as `edgenn run` would make
        config = build_config(None, out, {("model", "name"): args.model,
                                          ("data", "source"): args.data,
                                          ("train", "epochs"): args.epochs,
                                          ("train", "seed"): args.seed})
        data = load_dataset(config.data)
        model, _ = prepared_model(config, data)
        prepare_out_dir(out)
        artifact = sources.from_pytorch(model, data, config, make_hooks(ui), export_config).onnx
    ui.print(f"wrote {artifact.path} ({artifact.size_bytes()} bytes, opset "
             f"{artifact.metadata.get('opset')})")
    emit_artifact(ui, args, artifact)
    return 0
