"""`edgenn quantize`: int8 (dynamic or static) or fp16 of an ONNX model, with a budget."""

from __future__ import annotations

import argparse

from edgenn.cli.common import add_common, add_json, emit_artifact

HELP = "quantize an ONNX model: int8 dynamic, int8 static (calibrated) or fp16"
DESCRIPTION = """\
Write a quantized copy of an ONNX model with onnxruntime.quantization.

  static   int8 in QDQ format; activation ranges calibrated on real batches of the
           training split. Default: uint8 activations, per-channel int8 weights, the
           setting that runs ~2× faster than fp32 on x86 CPUs with VNNI (QOperator is
           often slower than fp32). With --auto every candidate setting is measured on
           the cpu target and the fastest that meets the budget is kept.
  dynamic  int8 weights, activations quantized at run time; no calibration.
  fp16     float16 weights and arithmetic with float32 inputs/outputs (GPU target).

With --max-accuracy-drop PP, validation accuracy is compared with the fp32 model; when
static int8 breaks the budget, per-node sensitivity (activation SNR fp32 vs int8) ranks
the nodes and the worst are kept in float one at a time until it holds. The exit code is
3 when the budget cannot be met.

Examples:
  edgenn quantize --model build/model.onnx --out q
  edgenn quantize --model build/model.onnx --mode static --method entropy --max-accuracy-drop 0.5
  edgenn quantize --model build/model.onnx --mode dynamic
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="MODEL.onnx",
                        help="the fp32 ONNX model to quantize")
    parser.add_argument("--mode", choices=("static", "dynamic", "fp16"), default="static",
                        help="which pass (default: %(default)s)")
    parser.add_argument("--data", default=None, metavar="DATA.npz",
                        help="calibration/validation data (default: the embedded digits); "
                             "calibration uses the training split, the budget the "
                             "validation split")
    parser.add_argument("--method", default="minmax",
                        help="calibration method: minmax, entropy or percentile "
                             "(default: %(default)s)")
    parser.add_argument("--activation-type", default="uint8",
                        help="int8 activations as uint8 or int8 (default: %(default)s)")
    parser.add_argument("--per-tensor", action="store_true",
                        help="one scale per weight tensor instead of per output channel")
    parser.add_argument("--format", default="qdq",
                        help="qdq or qoperator (default: %(default)s; qoperator is often "
                             "slower than fp32 on CPU)")
    parser.add_argument("--calibration-samples", type=int, default=256, metavar="N",
                        help="samples of the training split used to calibrate "
                             "(default: %(default)s)")
    parser.add_argument("--exclude", action="append", default=[], metavar="NODE",
                        help="keep this node in float (repeatable)")
    parser.add_argument("--auto", action="store_true",
                        help="static: measure every candidate setting on the cpu target and "
                             "keep the fastest that meets the budget")
    parser.add_argument("--max-accuracy-drop", type=float, default=None, metavar="PP",
                        help="largest validation accuracy drop allowed against the fp32 "
                             "model, in percentage points")
    add_json(parser)
    add_common(parser)


def execute(args: argparse.Namespace, ui) -> int:
    from edgenn.api import quantize
    from edgenn.core import BadInputError
    from edgenn.quantize.onnx_int8 import StaticConfig
    from edgenn.run.compress import require_budget

    # Every option is checked before any file is written.
    static = StaticConfig(method=args.method, activation_type=args.activation_type,
                          per_channel=not args.per_tensor, quant_format=args.format,
                          nodes_to_exclude=tuple(args.exclude))
    if args.auto:  # --auto measures its own candidate settings: these would be ignored
        fixed = [flag for flag, given in (
            ("--activation-type", args.activation_type != "uint8"),
            ("--per-tensor", args.per_tensor), ("--format", args.format != "qdq"),
            ("--exclude", bool(args.exclude))) if given]
        if fixed:
            raise BadInputError(f"--auto chooses the quantization settings itself; drop "
                                f"{', '.join(fixed)} or drop --auto")
    source, result = quantize(
        args.model, args.out, mode=args.mode, data=args.data, static=static, auto=args.auto,
        max_accuracy_drop=args.max_accuracy_drop,
        calibration_samples=args.calibration_samples, seed=args.seed, threads=args.threads,
        progress=ui.status)
    ratio = result.size_bytes() / max(source.size_bytes(), 1)
    ui.print(f"wrote {result.path} ({result.size_bytes()} bytes, {ratio:.2f}× the fp32 model)")
    budget = result.metadata.get("budget")
    if budget:
        ui.print(f"validation accuracy {budget['accuracy']:.4f} vs fp32 "
                 f"{budget['reference_accuracy']:.4f} (drop {budget['drop_pp']:.2f} pp)")
    steps = (result.metadata.get("quantization") or {}).get("preparation") or []
    if steps:
        ui.print(f"prepared with: {'; '.join(steps)}")
    for note in result.metadata.get("notes", []):
        ui.print(f"note: {note}")
    emit_artifact(ui, args, result, size_ratio=ratio, budget=budget)
    require_budget([result])
    return 0
