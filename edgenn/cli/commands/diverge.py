"""`edgenn diverge`: at which layer a variant starts to drift from the reference model."""

from __future__ import annotations

import argparse

from edgenn.cli.common import add_common

HELP = "layer-by-layer error of model variants (.onnx/.tflite) against a reference ONNX"
DESCRIPTION = """\
Compare each variant of a model — int8, fp16, pruned ONNX, a .tflite — with the fp32
reference ONNX, layer by layer, on the same samples: SNR in dB, cosine similarity and max
abs error of every layer's output, and the first layer whose SNR falls under the
threshold. In a QDQ model a layer is read after its Quantize→Dequantize pair (what the
next layer sees); TFLite layers come from the interpreter's preserved tensors (NHWC is
aligned to NCHW). Layers are the PyTorch module names when the files record them
(edgenn's exports do); otherwise the reference's node names.

A model with several inputs reads one array per input from DATA, named x.<input> (a
.tflite variant whose inputs are named otherwise is fed them in the reference's order).
Every layer's output of every compared sample is held in memory: when that would pass
256 MiB per model, fewer samples are compared, and the output (and "samples_capped" in
diverge.json) says how many and why.

`edgenn run` does this for every variant it builds, against PyTorch itself (report.html,
"Per layer"). Writes OUT/diverge.json.

Examples:
  edgenn diverge model.onnx model.int8-static.onnx model.fp16.onnx --data data.npz
  edgenn diverge model.onnx model.int8.tflite --data data.npz --threshold 25 --json
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reference", metavar="REFERENCE.onnx", help="the fp32 reference")
    parser.add_argument("variants", nargs="+", metavar="VARIANT",
                        help="one or more variants: .onnx or .tflite")
    parser.add_argument("--data", required=True, metavar="DATA.npz",
                        help=".npz with x (or x.<input> per input)")
    parser.add_argument("--samples", type=int, default=32,
                        help="first samples of DATA compared (default: %(default)s)")
    parser.add_argument("--threshold", type=float, default=30.0, metavar="DB",
                        help="a variant drifts from the first layer under this SNR "
                             "(default: %(default)s dB)")
    parser.add_argument("--json", action="store_true", help="print diverge.json to stdout")
    add_common(parser)


def execute(args: argparse.Namespace, ui) -> int:
    from rich.markup import escape

    from edgenn.api import diverge
    from edgenn.core import BadInputError
    from edgenn.report.layers import divergence_lines

    if args.samples < 1:
        raise BadInputError(f"--samples must be ≥ 1, got {args.samples}")
    table = diverge(args.reference, args.variants, args.data, samples=args.samples,
                    threshold_db=args.threshold, threads=args.threads, out=args.out)
    if args.json:
        ui.emit_json(table)
    for line in divergence_lines(table):
        ui.print(escape(line))
    return 0
