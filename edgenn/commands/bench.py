"""`edgenn bench`: measure your own ONNX model on your own data."""

from __future__ import annotations

import argparse

from edgenn.cli import add_common
from edgenn.commands._shared import (
    add_latency_options,
    latency_settings,
    make_hooks,
    parse_target_options,
    parse_targets,
    show_report,
)

HELP = "measure an ONNX or TFLite model (yours, not made by edgenn) on an .npz"
DESCRIPTION = """\
Benchmark an ONNX (or .tflite) model edgenn did not make. DATA.npz holds x (samples shaped like the
model's single input, batch first) and y (integer labels). Reports accuracy, latency
percentiles, size and peak memory per target.

Example:
  edgenn bench model.onnx --data data.npz --targets cpu,ort-mobile --runs 100
  edgenn bench model.tflite --data data.npz
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="the model to measure: .onnx (default target cpu) or .tflite "
                             "(default target tflite)")
    parser.add_argument("--data", required=True, metavar="DATA.npz",
                        help=".npz with arrays x and y")
    parser.add_argument("--targets", default=None, metavar="A,B",
                        help="comma-separated targets that take the model's format "
                             "(default: cpu for .onnx, tflite for .tflite)")
    parser.add_argument("--target-option", action="append", metavar="TARGET.KEY=VALUE",
                        help="a target option (repeatable)")
    parser.add_argument("--json", action="store_true", help="print report.json to stdout")
    add_latency_options(parser)
    add_common(parser)


def execute(args: argparse.Namespace, ui) -> int:
    import json
    from pathlib import Path

    from edgenn.pipeline import RunConfig, bench

    config = RunConfig(out=Path(args.out), targets=parse_targets(args.targets),
                       target_options=parse_target_options(args.target_option),
                       latency=latency_settings(args), isolate=args.isolate, seed=args.seed)
    report = bench(args.model, args.data, config, make_hooks(ui))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    show_report(ui, report, config.out)
    return 0
