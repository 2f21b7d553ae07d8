"""`edgenn compile`: compile an ONNX model for one target."""

from __future__ import annotations

import argparse

from edgenn.cli.common import add_common, add_json, emit_artifact

HELP = "compile an ONNX model for a target (e.g. --target cpu)"
DESCRIPTION = """\
Compile a model for one target and write the compiled artifact into OUT/compiled/TARGET.
For cpu: ONNX Runtime's graph optimisations are applied once and the optimised model is
saved. See `edgenn targets` for what each target takes.

Examples:
  edgenn compile build/model/model.onnx --target cpu --out build
  edgenn compile build/model/model.onnx --target snn-fast --data train.npz --out build
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL.onnx", help="the model to compile")
    parser.add_argument("--target", required=True, help="target name (see `edgenn targets`)")
    parser.add_argument("--data", default=None, metavar="DATA.npz",
                        help="samples (array x, like the training data) for targets that "
                             "normalise on data: the spiking targets")
    add_json(parser)
    add_common(parser)


def execute(args: argparse.Namespace, ui) -> int:
    from pathlib import Path

    from edgenn.core import TargetUnavailableError, prepare_out_dir
    from edgenn.core.registry import create_target
    from edgenn.exporters.onnx import load_onnx_artifact

    target = create_target(args.target)
    artifact = load_onnx_artifact(args.model)
    reason = target.available()
    if reason:
        raise TargetUnavailableError(f"target {args.target} is unavailable: {reason}")
    from dataclasses import replace

    from edgenn.core import BadInputError
    from edgenn.frontend.data import read_samples, save_calibration
    from edgenn.frontend.inputs import with_data_layout
    from edgenn.run.plan import CALIBRATION_KEY

    x = None
    if args.data:  # checked before anything is written
        artifact = with_data_layout(artifact, args.data)
        x, _ = read_samples(args.data, artifact.inputs)  # in the model's layout, checked
    workdir = prepare_out_dir(Path(args.out)) / "compiled" / args.target
    workdir.mkdir(parents=True, exist_ok=True)
    if x is not None:
        path = save_calibration(workdir / "calibration.npz", x)
        artifact = replace(artifact, metadata={**artifact.metadata, CALIBRATION_KEY: str(path)})
    try:
        compiled = target.compile(artifact, workdir)
    except BadInputError as exc:
        if x is None and CALIBRATION_KEY in str(exc):  # the target's own words name metadata
            raise BadInputError(f"target {args.target} normalises on data: give --data "
                                "DATA.npz (array x, samples like the training data)") from None
        raise
    ui.print(f"wrote {compiled.path} ({compiled.size_bytes()} bytes; "
             f"lineage {' → '.join(compiled.lineage)})")
    emit_artifact(ui, args, compiled)
    return 0
