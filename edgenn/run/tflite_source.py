"""A user's .tflite as the run's source: `edgenn run model.tflite --data D`.

There is no PyTorch module and no ONNX model, so the run is the TFLite half of the usual
one: the user's file is the fp32 source on the tflite target and its outputs on the test
split are the reference; ai-edge-quantizer makes the run's TFLite variants from it
(`quantize.tflite`): int8-static (full integer, calibrated on the run's calibration set)
and int8-dynamic. Each variant that cannot be made fails its own row with its reason;
the variants that need PyTorch or ONNX (pruning, fp16) are rows that say so, and a source
that is already int8 gets none. Without labels every row is judged by its agreement with
the fp32 .tflite.

    OUT/model/<name>.tflite          the user's model, copied; its variants beside it
    OUT/data/                        test split, calibration set, reference outputs

`edgenn.api.run` and a sweep point call `run_tflite` in place of `pipeline.run` for a
.tflite model: it reuses the pipeline's compile and measure steps, so the pipeline cannot
import it (no import cycles).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgenn.core import (
    Artifact,
    BadInputError,
    EdgeNNError,
    RunOptions,
    atomic_path,
    native_stderr_silenced,
    predicted_classes,
    prepare_out_dir,
)
from edgenn.core.errors import first_line
from edgenn.core.results import Measurement, Report
from edgenn.run import energy, judge, plan
from edgenn.run.config import CompressionConfig, Hooks, RunConfig

log = logging.getLogger(__name__)

TFLITE_VARIANTS = ("int8-static", "int8-dynamic")  # what ai-edge-quantizer makes from it
NOT_FROM_TFLITE = {
    "fp16": "fp16 is made from an ONNX model; the source is a .tflite file",
    "pruned": "pruning needs the PyTorch model; the source is a .tflite file",
    "pruned-int8": "pruning needs the PyTorch model; the source is a .tflite file",
}


def run_tflite(config: RunConfig, hooks: Hooks) -> Report:
    """The run for a .tflite source (see the module's docstring); writes the build and
    manifest.json into `config.out` and returns the report, as `pipeline.run` does."""
    from edgenn.exporters.tflite import load_tflite_artifact
    from edgenn.frontend.data import check_inputs, check_label_range, load_dataset, save_npz
    from edgenn.run import pipeline
    from edgenn.run.manifest import environment, write_manifest
    from edgenn.run.remote import resolve_devices

    if config.weights:
        raise BadInputError(f"--weights is for a PyTorch model; {config.model} is a .tflite "
                            "that holds its own")
    imported = load_tflite_artifact(config.model)
    where = str(config.data or "digits")
    data = load_dataset(config.data, config.test_data)
    hooks.status(f"data: {data.describe()}")
    check_inputs(data.x_test, imported.inputs, where)
    check_label_range(data.y_test, imported.outputs, where)
    if config.targets is None:  # "all": the one target that runs a .tflite
        config = replace(config, targets=("tflite",))
    pipeline._check_target_options(config)
    resolve_devices(config)  # an unknown --device: exit 2 before anything is written
    out = prepare_out_dir(config.out)

    source = _copied(imported, out / "model")
    hooks.status(f"TFLite source {imported.path} ({source.variant}); reference: the tflite "
                  "interpreter")
    built = plan.Plan(artifacts=[source])
    built.calibration, calibration_x = plan.draw_calibration(data, config)
    reference = _reference(source, data.x_test, config.latency.threads)
    variants, rows = tflite_variants(source, calibration_x, config, hooks)
    built.artifacts += variants
    built.rows += rows

    test_path = save_npz(out / "data" / "test.npz", data.x_test, data.y_test)
    reference_path = out / "data" / "reference.npy"
    with atomic_path(reference_path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, reference)
    counted = energy.with_counts(built.for_targets())
    compiled, decided = pipeline.compile_for_targets(counted, config, hooks)
    measured = pipeline.measure(compiled, config, test_path, reference_path, hooks)
    report = Report(rows=pipeline._ordered(measured + decided + built.rows, config),
                    settings=config.settings(), environment=environment())
    reference_accuracy = None
    if data.labelled:
        reference_accuracy = float(np.mean(predicted_classes(reference) == data.y_test))
    compression = config.compression or CompressionConfig()
    verdict = judge.judge_budget(report.rows, reference_accuracy,
                                 compression.max_accuracy_drop, compression.accuracy_tolerance)
    pipeline._finish(report, verdict)
    report.extra["reference"] = {"target": "tflite", "model": config.model}
    report.extra["source"] = {"kind": "tflite", "path": str(imported.path)}
    write_manifest(out / "manifest.json",
                   [plan.with_tables(built.calibration), *built.artifacts,
                    *(a for _, a in compiled)], report.environment)
    return report


def tflite_variants(source: Artifact, calibration_x, config: RunConfig, hooks: Hooks
                    ) -> tuple[list[Artifact], list[Measurement]]:
    """The run's variants made from the fp32 .tflite `source`, and a row for each that was
    not made (skipped: it cannot be made from a .tflite, or the source is int8 already;
    failed: its pass raised, with the reason)."""
    from edgenn.exporters.tflite import export_available
    from edgenn.quantize.tflite import quantize_tflite_dynamic, quantize_tflite_static

    wanted = list(config.compression.variants) if config.compression else []
    rows: list[Measurement] = []

    def row(variant: str, status: str, reason: str) -> None:
        rows.append(Measurement(target="tflite", variant=variant, status=status,
                                reason=reason))

    if source.variant != "fp32":  # its own variant is the source's row
        for variant in wanted:
            if variant != source.variant:
                row(variant, "skipped", f"the source model is already {source.variant}")
        return [], rows
    for variant in wanted:
        if variant in NOT_FROM_TFLITE:
            row(variant, "skipped", NOT_FROM_TFLITE[variant])
    wanted = [v for v in wanted if v in TFLITE_VARIANTS]
    missing = export_available() if wanted else None
    if missing:
        for variant in wanted:
            row(variant, "skipped", missing)
        return [], rows
    folder, stem = source.path.parent, source.path.stem
    passes: dict[str, Callable[[], Artifact]] = {
        "int8-static": lambda: quantize_tflite_static(
            source, folder / f"{stem}.int8-static.tflite", calibration_x),
        "int8-dynamic": lambda: quantize_tflite_dynamic(
            source, folder / f"{stem}.int8-dynamic.tflite"),
    }
    if "int8-static" in wanted and len(source.inputs) != 1:  # its pass takes one array
        names = ", ".join(spec.name for spec in source.inputs)
        row("int8-static", "failed", "edgenn's static int8 TFLite pass calibrates models with "
                                     f"one input; this one has {len(source.inputs)} ({names})")
        wanted.remove("int8-static")
    made: list[Artifact] = []
    with hooks.progress("tflite variants", len(wanted)) as advance:
        for variant in wanted:
            try:
                made.append(passes[variant]())
            except Exception as exc:  # this variant fails; the others still run
                if not isinstance(exc, EdgeNNError):
                    log.debug("%s failed", variant, exc_info=True)
                reason = str(exc) if isinstance(exc, EdgeNNError) else first_line(exc)
                row(variant, "failed", f"ai-edge-quantizer: {reason}")
            advance(info=variant)
    return made, rows


def _copied(imported: Artifact, model_dir: Path) -> Artifact:
    """The user's .tflite copied into the build (the manifest's sha256 is of this copy)."""
    copy = model_dir / imported.path.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(copy) as tmp:
        shutil.copyfile(imported.path, tmp)
    return replace(imported, path=copy)


def _reference(source: Artifact, x, threads: int) -> np.ndarray:
    """The fp32 .tflite's outputs on the test split: what every row is compared with."""
    from edgenn.targets.tflite import TfliteTarget

    with native_stderr_silenced():  # the interpreter's "Created XNNPACK delegate" line
        runner = TfliteTarget().load(source, RunOptions(threads=threads))
    return np.asarray(runner.run(x))
