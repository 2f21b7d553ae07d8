"""`edgenn profile`: where the time goes, per operator and per layer, on each target."""

from __future__ import annotations

import argparse

from edgenn.cli.common import add_common, parse_target_options, parse_targets

HELP = "per-operator and per-layer time of an ONNX or TFLite model on each target"
DESCRIPTION = """\
Profile a model (yours or edgenn's) with each target's own profiler and say where the
time goes: the top operator types with their share of a run, and the slowest layers with
the GMAC/s they achieve beside this machine's measured peak (an fp32 MatMul probe on the
same threads). Layers carry the PyTorch module names when the ONNX file records them
(edgenn's exports do); otherwise the file's node names.

  cpu, ort-mobile, gpu   ONNX Runtime's profiler (per kernel, after graph fusion)
  snn-fast               spikes, synaptic operations and estimated energy per layer
  tflite                 not available: LiteRT's Python package has no op profiler

Profiled runs are separate from any timed run. DATA.npz holds x (samples, batch first) or
x.<input> per input; only the first sample(s) are used. Writes OUT/profile.json.

Examples:
  edgenn profile model.onnx --data data.npz
  edgenn profile model.onnx --data data.npz --targets cpu,ort-mobile,snn-fast --json
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="the model: .onnx or .tflite")
    parser.add_argument("--data", required=True, metavar="DATA.npz",
                        help=".npz with x (or x.<input> per input)")
    parser.add_argument("--targets", default=None, metavar="A,B",
                        help="comma-separated targets (default: cpu for .onnx, tflite for "
                             ".tflite)")
    parser.add_argument("--target-option", action="append", metavar="TARGET.KEY=VALUE",
                        help="a target option (repeatable)")
    parser.add_argument("--runs", type=int, default=20,
                        help="profiled runs after one warm-up (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=1,
                        help="samples per run (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print profile.json to stdout")
    add_common(parser)


def execute(args: argparse.Namespace, ui) -> int:
    from rich.markup import escape

    from edgenn.api import profile
    from edgenn.core import BadInputError
    from edgenn.report.layers import profile_lines

    if args.runs < 1 or args.batch < 1 or args.threads < 1:
        raise BadInputError("--runs, --batch and --threads must be ≥ 1")
    result = profile(args.model, args.data, list(parse_targets(args.targets) or []) or None,
                     args.out, runs=args.runs, batch_size=args.batch, threads=args.threads,
                     target_options=parse_target_options(args.target_option))
    if args.json:
        ui.emit_json(result)
    for line in profile_lines(result):
        ui.print(escape(line))
    return 0
