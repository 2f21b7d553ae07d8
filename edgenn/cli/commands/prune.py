"""`edgenn prune`: prune a checkpoint in PyTorch, fine-tune it, export it to ONNX."""

from __future__ import annotations

import argparse

from edgenn.cli.common import add_common, add_json, emit_artifact

HELP = "prune a trained model (unstructured or structured channels), fine-tune, export ONNX"
DESCRIPTION = """\
Prune an edgenn checkpoint before export, then fine-tune it briefly on the training split.

  structured    removes whole channels/features with torch-pruning's dependency graph,
                so every coupled layer shrinks: fewer parameters and fewer MACs.
  unstructured  zeroes the smallest weights by magnitude (globally or per layer); shapes
                and dense MACs stay, the zeros only pay off on sparse kernels.

Prints sparsity, parameters and MACs before and after, and the accuracy on the
validation split before and after.

Examples:
  edgenn prune --checkpoint build/model/checkpoint.pt --sparsity 0.5 --out pruned
  edgenn prune --checkpoint ckpt.pt --method unstructured --scope global --sparsity 0.8
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="CHECKPOINT.pt",
                        help="an edgenn checkpoint (written by `edgenn run`/`edgenn export`)")
    parser.add_argument("--data", default=None, metavar="DATA.npz",
                        help="fine-tuning data (default: the embedded digits)")
    parser.add_argument("--method", default="structured",
                        help="structured (remove channels) or unstructured (zero weights) "
                             "(default: %(default)s)")
    parser.add_argument("--sparsity", type=float, default=0.5,
                        help="fraction of channels (structured) or weights (unstructured) to "
                             "remove, in [0, 1) (default: %(default)s)")
    parser.add_argument("--scope", default="layer",
                        help="layer: the same fraction in every layer; global: one ranking "
                             "across layers (default: %(default)s)")
    parser.add_argument("--fine-tune-epochs", type=int, default=10, metavar="N",
                        help="fine-tuning epochs after pruning (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-3,
                        help="fine-tuning learning rate (default: %(default)s)")
    add_json(parser)
    add_common(parser)


def execute(args: argparse.Namespace, ui) -> int:
    from pathlib import Path

    import torch

    from edgenn.core import Artifact, BadInputError, prepare_out_dir
    from edgenn.frontend.checkpoint import check_data_fits
    from edgenn.frontend.data import load_dataset
    from edgenn.frontend.train import evaluate, load_checkpoint
    from edgenn.quantize.prune import PruneConfig
    from edgenn.run.config import CompressionConfig
    from edgenn.run.pruning import build_pruned

    prune = PruneConfig(method=args.method, sparsity=args.sparsity, scope=args.scope)
    config = CompressionConfig(prune=prune, fine_tune_epochs=args.fine_tune_epochs,
                               fine_tune_lr=args.lr)
    model, model_config, _ = load_checkpoint(args.checkpoint)
    data = load_dataset(args.data)
    check_data_fits(model_config, data, args.checkpoint, args.data or "digits")
    if not data.labelled:
        raise BadInputError(f"{args.data}: pruning fine-tunes the model: the data need labels (y)")
    source = Artifact(Path(args.checkpoint), "checkpoint", lineage=("train",))
    xv, yv = torch.from_numpy(data.x_val), torch.from_numpy(data.y_val)
    before = evaluate(model, xv, yv)[1]
    pruned, program, artifact = build_pruned(model, data, source,
                                             prepare_out_dir(Path(args.out)), config,
                                             seed=args.seed, progress=ui.status)
    after = evaluate(pruned, xv, yv)[1]
    stats = artifact.metadata["prune"]
    ui.print(f"{stats['method']} pruning, target sparsity {stats['target_sparsity']:.2f}")
    ui.print(f"  parameters  {stats['params_before']:>10,} → {stats['params_after']:>10,} "
             f"({stats['params_ratio']:.2f}×)")
    ui.print(f"  MACs        {stats['macs_before']:>10,} → {stats['macs_after']:>10,} "
             f"({stats['macs_ratio']:.2f}×)")
    ui.print(f"  nonzero MACs {stats['nonzero_macs_before']:>9,} → "
             f"{stats['nonzero_macs_after']:>10,}")
    ui.print(f"  sparsity    {stats['sparsity_before']:>10.3f} → {stats['sparsity_after']:>10.3f}")
    ui.print(f"  val accuracy {before:>9.4f} → {after:>10.4f}")
    ui.print(f"wrote {artifact.path} and {program.path}")
    emit_artifact(ui, args, artifact, program=str(program.path), prune=stats,
                  val_accuracy={"before": before, "after": after})
    return 0
