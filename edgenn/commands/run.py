"""`edgenn run`: the default pipeline, train → export → compile → measure → report."""

from __future__ import annotations

import argparse

from edgenn.cli import add_common
from edgenn.commands._shared import (add_latency_options, latency_settings, make_hooks,
                                     parse_target_options, parse_targets, show_report)

HELP = "train, export, compile for every target and measure them side by side"
DESCRIPTION = """\
The main job. Trains a model (default: the CNN on scikit-learn's embedded digits data,
no download), exports it to ONNX, compiles it for every available target, runs the same
test split through each one and writes a report:

  OUT/report.md, OUT/report.json   the comparison (accuracy, agreement with PyTorch,
                                   latency p50/p90/p99, size, peak memory)
  OUT/manifest.json                every artifact with its lineage, size and sha256

Examples:
  edgenn run                                   # everything, default settings
  edgenn run --targets pytorch,cpu --runs 50   # only two targets, fewer timed runs
  edgenn run --data my.npz --model cnn         # your data: arrays x (N,C,H,W) and y (N,)
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="cnn",
                        help="zoo model name (see `edgenn zoo`) or path/to/file.py:factory "
                             "(default: %(default)s)")
    parser.add_argument("--data", default=None, metavar="DATA.npz",
                        help="your data set: an .npz with arrays x and y "
                             "(default: the embedded digits)")
    parser.add_argument("--targets", default=None, metavar="A,B",
                        help="comma-separated targets to run (default: all; see "
                             "`edgenn targets`)")
    parser.add_argument("--target-option", action="append", metavar="TARGET.KEY=VALUE",
                        help="a target option, e.g. snn-fast.timesteps=128 (repeatable)")
    parser.add_argument("--epochs", type=int, default=40,
                        help="maximum training epochs; early stopping on validation loss "
                             "ends sooner (default: %(default)s)")
    parser.add_argument("--json", action="store_true",
                        help="print report.json to stdout (tables and progress go to stderr)")
    add_latency_options(parser)
    add_common(parser)


def execute(args: argparse.Namespace, ui) -> int:
    import json
    from pathlib import Path

    from edgenn.pipeline import RunConfig, run
    from edgenn.train import TrainConfig

    config = RunConfig(out=Path(args.out), model=args.model, data=args.data,
                       train=TrainConfig(epochs=args.epochs, seed=args.seed),
                       targets=parse_targets(args.targets),
                       target_options=parse_target_options(args.target_option),
                       latency=latency_settings(args), isolate=args.isolate, seed=args.seed)
    report = run(config, make_hooks(ui))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    show_report(ui, report, config.out)
    return 0
