"""`edgenn compile`: compile an ONNX model for one target."""

from __future__ import annotations

import argparse

from edgenn.cli.common import add_common, add_json, emit_artifact

HELP = "compile an ONNX model for a target (e.g. --target cpu)"
DESCRIPTION = """\
Compile a model for one target and write the compiled artifact into OUT/compiled/TARGET.
For cpu: ONNX Runtime's graph optimisations are applied once and the optimised model is
saved. See `edgenn targets` for what each target takes.

Example:
  edgenn compile build/model/model.onnx --target cpu --out build
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL.onnx", help="the model to compile")
    parser.add_argument("--target", required=True, help="target name (see `edgenn targets`)")
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
    workdir = prepare_out_dir(Path(args.out)) / "compiled" / args.target
    workdir.mkdir(parents=True, exist_ok=True)
    compiled = target.compile(artifact, workdir)
    ui.print(f"wrote {compiled.path} ({compiled.size_bytes()} bytes; "
             f"lineage {' → '.join(compiled.lineage)})")
    emit_artifact(ui, args, compiled)
    return 0
