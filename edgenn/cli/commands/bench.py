"""`edgenn bench`: measure your own ONNX model on your own data."""

from __future__ import annotations

import argparse

from edgenn.cli.commands.devices import add_device_option, with_devices
from edgenn.cli.common import (
    add_common,
    add_latency_options,
    latency_overrides,
    make_hooks,
    parse_target_options,
    parse_targets,
    show_report,
)

HELP = "measure an ONNX or TFLite model (yours, not made by edgenn) on an .npz"
DESCRIPTION = """\
Benchmark an ONNX (or .tflite) model edgenn did not make, without building variants
(`edgenn run MODEL.onnx` builds them). DATA.npz holds x (samples, batch first) — or
x.<input name> per input of a model with several — and optionally y (integer labels).
Reports accuracy (with labels), latency percentiles, size and peak memory per target.

Example:
  edgenn bench model.onnx --data data.npz --targets cpu,ort-mobile --runs 100
  edgenn bench model.tflite --data data.npz
  edgenn bench model.onnx --data data.npz --device pi   # also on a board (edgenn devices)
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="the model to measure: .onnx (default target cpu) or .tflite "
                             "(default target tflite)")
    parser.add_argument("--data", required=True, metavar="DATA.npz",
                        help=".npz with x (or x.<input> per input) and optionally y")
    parser.add_argument("--targets", default=None, metavar="A,B",
                        help="comma-separated targets that take the model's format "
                             "(default: cpu for .onnx, tflite for .tflite)")
    parser.add_argument("--target-option", action="append", metavar="TARGET.KEY=VALUE",
                        help="a target option (repeatable)")
    parser.add_argument("--json", action="store_true", help="print report.json to stdout")
    add_common(parser)
    add_latency_options(parser)
    add_device_option(parser)


def execute(args: argparse.Namespace, ui) -> int:

    from edgenn.api import bench
    from edgenn.run.recipe import build_config

    config = build_config(
        {"targets": {"options": parse_target_options(args.target_option)}}, args.out,
        {**latency_overrides(args), ("targets", "run"): list(parse_targets(args.targets) or [])
         or None})
    report = bench(args.model, args.data, with_devices(config, args), make_hooks(ui))
    if args.json:
        ui.emit_json(report.to_dict())
    show_report(ui, report, config.out)
    return 0
