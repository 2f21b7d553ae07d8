"""`edgenn simulate`: convert an ONNX model to a spiking network and simulate it."""

from __future__ import annotations

import argparse

from edgenn.cli.common import add_common

HELP = "convert an ONNX model to a spiking network and simulate it (brian2 or fast)"
DESCRIPTION = """\
Convert MODEL.onnx (ReLU, average pooling; fp32, possibly pruned) to a network of
integrate-and-fire neurons, normalised on the training split, and simulate the test split
with brian2 (the reference) or the fast vectorised simulator. Prints accuracy against
timesteps next to the ANN's, when decisions settle, synaptic operations against the
ANN's dense MACs, sparsity and an energy estimate. Writes OUT/snn/MODEL.snn.npz and
OUT/snn/MODEL.nir.

Example:
  edgenn simulate build/model/model.onnx --timesteps 64 --simulator brian2
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL.onnx", help="the model to convert")
    parser.add_argument("--timesteps", type=int, default=64, metavar="T",
                        help="simulation length in timesteps (default: %(default)s)")
    parser.add_argument("--simulator", choices=["brian2", "fast"], default="fast",
                        help="brian2 (reference) or fast (default: %(default)s)")
    parser.add_argument("--coding", choices=["constant", "poisson", "ttfs"], default="constant",
                        help="input coding: constant current, Poisson rate, or "
                             "time-to-first-spike (one spike per input, brightest first) "
                             "(default: %(default)s)")
    # --- spiking neuron and hardware options (issue 16) ---
    parser.add_argument("--neuron", choices=["if", "lif"], default="if",
                        help="integrate-and-fire, or leaky (LIF, see --tau) "
                             "(default: %(default)s)")
    parser.add_argument("--reset", choices=["subtract", "zero"], default="subtract",
                        help="after a spike: subtract the threshold (best rate coding), or "
                             "reset to zero (NIR's own reset: the .nir is then exact for "
                             "every NIR consumer) (default: %(default)s)")
    parser.add_argument("--tau", type=float, default=16.0, metavar="STEPS",
                        help="LIF membrane time constant in timesteps (default: %(default)s)")
    parser.add_argument("--profile", choices=["chip"], default=None,
                        help="hardware constraints: chip = 8-bit integer weights and a "
                             "4096 fan-in limit")
    parser.add_argument("--weight-bits", type=int, default=None, metavar="N",
                        help="quantise weights to N-bit integers and report the accuracy "
                             "it costs")
    parser.add_argument("--fan-in-limit", type=int, default=None, metavar="N",
                        help="report neurons with more than N incoming synapses")
    parser.add_argument("--codegen", choices=["auto", "cython", "numpy"], default="auto",
                        help="brian2 code generation: auto = compiled Cython when a C++ "
                             "compiler works (first use compiles for minutes, then cached), "
                             "else numpy (default: %(default)s)")
    # --- end spiking neuron and hardware options ---
    parser.add_argument("--thresholds", choices=["calibration", "percentile"],
                        default="calibration",
                        help="where each layer's full scale (threshold) comes from: "
                             "calibration = the calibration table static int8 quantizes "
                             "with (ONNX Runtime's calibrator on the training split, "
                             "minmax), so T timesteps read as an activation bit-width on "
                             "int8's own range; percentile = a percentile of the layer's "
                             "activations (default: %(default)s)")
    parser.add_argument("--percentile", type=float, default=99.9,
                        help="with --thresholds percentile: the percentile of activations; "
                             "100 = the maximum (default: %(default)s)")
    parser.add_argument("--data", default=None, metavar="DATA.npz",
                        help="an .npz with arrays x and y (default: the embedded digits)")
    parser.add_argument("--samples", type=int, default=None, metavar="N",
                        help="simulate only the first N test samples")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    add_common(parser)


def execute(args: argparse.Namespace, ui) -> int:
    from pathlib import Path

    import numpy as np

    from edgenn.core import Artifact, BadInputError, RunOptions, TargetUnavailableError
    from edgenn.core.registry import create_target
    from edgenn.frontend.data import load_dataset, save_calibration

    if args.samples is not None and args.samples < 1:
        raise BadInputError(f"--samples must be ≥ 1, got {args.samples}")
    model = Path(args.model)
    if not model.is_file():
        raise BadInputError(f"model not found: {model}")
    from edgenn.exporters.onnx import load_onnx_artifact

    load_onnx_artifact(model)  # not ONNX, truncated, custom operators: exit 2 here
    data = load_dataset(args.data)
    if not data.labelled or isinstance(data.x_test, dict):
        raise BadInputError(f"{args.data}: simulate measures accuracy against timesteps: it "
                            "needs one input array x and labels y")
    target = create_target(f"snn-{args.simulator}", timesteps=args.timesteps,
                           coding=args.coding, percentile=args.percentile,
                           evaluation_timesteps=args.timesteps, neuron=args.neuron,
                           reset=args.reset, tau=args.tau, profile=args.profile,
                           weight_bits=args.weight_bits, fan_in_limit=args.fan_in_limit,
                           codegen=args.codegen, thresholds=args.thresholds)
    reason = target.available()
    if reason:
        raise TargetUnavailableError(f"target {target.name} is unavailable: {reason}")
    from edgenn.core import prepare_out_dir

    workdir = prepare_out_dir(Path(args.out)) / "snn"
    calibration = save_calibration(workdir / "calibration.npz", data.x_train, data.y_train)
    artifact = Artifact(model, "onnx", lineage=("input",),
                        metadata={"calibration_data": str(calibration)})
    ui.status(f"converting {model.name} (thresholds: " + (
        f"{args.percentile} percentile)" if args.thresholds == "percentile"
        else "the int8 calibration table)"))
    compiled = target.compile(artifact, workdir)
    runner = target.load(compiled, RunOptions(threads=args.threads, seed=args.seed))
    x, y = data.x_test, data.y_test
    if args.samples:
        x, y = x[: args.samples], y[: args.samples]
    ui.status(f"simulating {len(x)} samples × {args.timesteps} timesteps with {args.simulator}")
    results = runner.evaluate(x, y)
    results["ann_accuracy"] = ann_accuracy(model, x, y)
    results["snn_accuracy"] = results["accuracy_vs_timesteps"][args.timesteps]
    results["files"] = {"snn": str(compiled.path), "nir": compiled.metadata["nir"]}
    results.pop("settle_timesteps", None)
    results.pop("accuracy_curve", None)
    if args.json:
        ui.emit_json(results, default=float)
        return 0
    _show(ui, results, args)
    return 0 if np.isfinite(results["snn_accuracy"]) else 1


def ann_accuracy(model, x, y) -> float:
    """Top-1 accuracy of the ONNX model at `model` on (x, y), in ONNX Runtime."""
    import numpy as np
    import onnxruntime as ort

    from edgenn.core.target import fixed_batch_size, run_in_fixed_batches

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    declared = session.get_inputs()[0]
    logits = run_in_fixed_batches(  # a model that fixes its batch runs in batches of it
        lambda batch: session.run(None, {declared.name: batch})[0], x.astype(np.float32),
        fixed_batch_size(declared.shape))
    return float(np.mean(np.argmax(logits, axis=1) == y))


def _show(ui, results: dict, args: argparse.Namespace) -> None:
    from rich.table import Table

    table = Table(title=f"spiking network ({args.simulator}, {args.neuron.upper()}, reset "
                        f"{args.reset}, {args.coding} coding)")
    table.add_column("timesteps", justify="right")
    table.add_column("SNN accuracy", justify="right")
    table.add_column("vs ANN (pp)", justify="right")
    ann = results["ann_accuracy"]
    for steps, accuracy in results["accuracy_vs_timesteps"].items():
        table.add_row(str(steps), f"{accuracy:.4f}", f"{100 * (accuracy - ann):+.2f}")
    ui.print(table)
    settle = results["settle_timestep"]
    energy = results["energy"]
    ui.print(f"ANN accuracy {ann:.4f}; decisions settle at timestep {settle['mean']:.1f} "
             f"on average (median {settle['median']:.0f}, p90 {settle['p90']:.0f})")
    ui.print(f"NeuroBench, per sample over {args.timesteps} timesteps: effective ACs "
             f"{results['effective_acs']:.0f}, effective MACs {results['effective_macs']:.0f}, "
             f"dense {results['dense']:.0f} (ANN dense MACs {results['ann_dense_macs']:.0f}); "
             f"activation sparsity {results['activation_sparsity']:.3f}, connection "
             f"sparsity {results['connection_sparsity']:.3f}, footprint "
             f"{results['footprint_bytes']} B, membrane updates "
             f"{results.get('membrane_updates', 0):.0f}")
    fan = results.get("fan_in") or {}
    if fan:
        limit = f" (limit {fan['limit']}: {fan['neurons_over_limit']} neurons over)" \
            if fan.get("limit") else ""
        ui.print(f"largest fan-in {fan['max']}{limit}")
    quantised = results.get("weight_quantization")
    if quantised:
        ui.print(f"{quantised['weight_bits']}-bit weights: accuracy {quantised['accuracy']:.4f} "
                 f"against {quantised['accuracy_full_precision']:.4f} at full precision "
                 f"({quantised['cost_pp']:+.2f} pp cost)")
    ui.print(f"energy estimate per inference (µJ): ANN fp32 {energy['ann_fp32_uj']:.3f}, "
             f"ANN int8 {energy['ann_int8_uj']:.3f}, SNN {energy['snn_uj']:.3f} "
             f"[{energy['constants']['source']}]")
    _show_bits(ui, results)
    ui.print(f"wrote {results['files']['snn']} and {results['files']['nir']}")


def _show_bits(ui, results: dict) -> None:
    """The (weight bits × timesteps) table, the ANN's accuracy beside full precision."""
    from edgenn.core.results import Measurement, Report
    from edgenn.report.spiking import rich_tables

    if not results.get("bits_by_timesteps"):
        return
    rows = [Measurement("snn", "fp32", extra={"bits_by_timesteps":
                                              results["bits_by_timesteps"]}),
            Measurement("cpu", "fp32", accuracy=results["ann_accuracy"])]
    for table in rich_tables(Report(rows=rows)):
        ui.print(table)
