"""The pipeline: train → plan of artifacts → compile per target → measure → Report.

This module (with the plan and the harness) is the only code that sees every stage. It
returns the `Report` and writes the build: the artifacts, the data the rows were measured
on and `manifest.json`. The report files themselves (report.json/md/html) are the report
layer's (`edgenn.report.files.write_reports`); `edgenn.api.run` does both.

    OUT/data/        test split, the calibration set (and ranges/: its calibration tables,
                     one per model and setting, read by static int8 and the spiking
                     thresholds),
                     reference outputs
    OUT/model/       checkpoint.pt, model.pt2, model.onnx and its variants (int8, .tflite …)
    OUT/compiled/    one folder per target with what it compiled
    OUT/manifest.json
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgenn.core import (
    Artifact,
    BadInputError,
    EdgeNNError,
    TargetUnavailableError,
    atomic_path,
    native_stderr_silenced,
    predicted_classes,
    prepare_out_dir,
)
from edgenn.core.registry import TARGETS, create_target
from edgenn.core.results import Measurement, Report
from edgenn.frontend.data import (
    Dataset,
    check_label_range,
    load_dataset,
    read_samples,
    save_calibration,
    save_npz,
)
from edgenn.frontend.inputs import with_data_layout
from edgenn.run import energy, judge, plan, sources
from edgenn.run.compress import budget_verdict
from edgenn.run.config import CompressionConfig, Hooks, RunConfig
from edgenn.run.harness import Job, measure_all
from edgenn.run.manifest import environment, write_manifest
from edgenn.run.remote import measure_on_devices, resolve_devices

log = logging.getLogger(__name__)


def compile_for_targets(artifacts: Sequence[Artifact], config: RunConfig, hooks: Hooks,
                        skip: set[str] | frozenset[str] = frozenset()
                        ) -> tuple[list[tuple[str, Artifact]], list[Measurement]]:
    """Compile every selected artifact for every requested target.

    Returns the (target, compiled artifact) pairs to measure and the rows already decided
    (skipped: target unavailable; failed: compilation error).
    """
    names = [n for n in config.target_names if n not in skip]
    ready: list[tuple[str, Artifact]] = []
    decided: list[Measurement] = []
    for name in names:
        options = config.target_options.get(name, {})
        try:
            target = create_target(name, **options)
            reason = target.available()
        except EdgeNNError:
            raise
        except Exception as exc:  # a broken plug-in or toolchain import
            reason = f"{type(exc).__name__}: {exc}"
        if reason:
            decided.append(Measurement(target=name, variant="–", status="skipped",
                                       reason=reason))
            hooks.status(f"{name}: skipped ({reason})")
            continue
        selected = target.select(artifacts)
        if not selected:
            decided.append(Measurement(target=name, variant="–", status="skipped",
                                       reason="no artifact it runs (it takes "
                                              f"{', '.join(target.accepts)}; "
                                              f"given: {_kinds(artifacts)})"))
            continue
        workdir = config.out / "compiled" / name
        workdir.mkdir(parents=True, exist_ok=True)
        with hooks.progress(f"compile {name}", len(selected)) as advance:
            for artifact in selected:
                try:
                    ready.append((name, target.compile(artifact, workdir)))
                except Exception as exc:
                    if not isinstance(exc, EdgeNNError):
                        log.debug("compile failed", exc_info=True)
                    reason = str(exc) if isinstance(exc, EdgeNNError) else \
                        f"{type(exc).__name__}: {exc}"
                    decided.append(Measurement(target=name, variant=artifact.variant,
                                               status="failed", reason=reason,
                                               lineage=list(artifact.lineage)))
                advance(info=artifact.variant)
    return ready, decided


def measure(compiled: Sequence[tuple[str, Artifact]], config: RunConfig, test_path: Path,
            reference_path: Path | None, hooks: Hooks) -> list[Measurement]:
    jobs = [Job(target=name, target_options=config.target_options.get(name, {}),
                artifact=artifact.to_dict(), data_path=str(test_path),
                reference_path=str(reference_path) if reference_path else None,
                latency=config.latency, seed=config.seed)
            for name, artifact in compiled]
    with hooks.progress("measure", len(jobs)) as advance:
        def on_row(row: Measurement) -> None:
            advance(info=row.label)
        rows = (hooks.measure_rows or measure_all)(jobs, isolate=config.isolate,
                                                   on_row=on_row)
    # --device: the same compiled artifacts measured on the user's boards (edgenn.run.remote)
    return rows + measure_on_devices(compiled, config, test_path, reference_path, hooks)


def run(config: RunConfig, hooks: Hooks | None = None) -> Report:
    """The whole default job: builds every artifact and measures every row into
    `config.out`, writes manifest.json and returns the report. Whether the accuracy budget
    held is the report's `extra["budget"]` (the CLI maps a broken one to exit 3)."""
    from edgenn.run.scoring import confusion_matrix

    hooks = hooks or Hooks()
    # Bad data, an unknown model, a bad model file or bad options fail here, before
    # anything is written.
    onnx_file = sources.is_onnx(config.model)
    if onnx_file:  # its data are read in the model's layout, and checked
        from edgenn.exporters.onnx import load_onnx_artifact

        imported = with_data_layout(load_onnx_artifact(config.model), config.data)
    data = load_dataset(config.data, config.test_data, imported.inputs if onnx_file else None)
    hooks.status(f"data: {data.describe()}")
    if onnx_file:
        imported = sources.with_observed_outputs(imported, data.x_test, config.latency.threads)
        check_label_range(data.y_test, imported.outputs, str(config.data or "digits"))
    else:
        model, digest = prepared_model(config, data)
    _check_target_options(config)
    resolve_devices(config)  # an unknown --device: exit 2 before anything is written
    out = prepare_out_dir(config.out)
    timings: dict[str, float] = {}
    clock = _Stopwatch(timings)
    built = plan.Plan()
    with clock("train+export"):
        source = sources.from_onnx(imported, data, config, hooks) if onnx_file else \
            sources.from_pytorch(model, data, config, hooks,
                                 weights_digest=digest)
        built.artifacts += source.artifacts
        built.rows += source.rows
        built.calibration, calibration_x = plan.draw_calibration(data, config)
    with clock("compress"):
        variants, skipped = plan.compressed(source.model, data, source.onnx, calibration_x,
                                            config, hooks)
        built.artifacts += variants.artifacts
        built.rows += skipped
        if variants.pruned_program is not None:
            built.artifacts.append(variants.pruned_program)
    mobile: list[Artifact] = []
    if source.model is not None:
        quiet_native = logging.getLogger("edgenn").getEffectiveLevel() > logging.DEBUG
        with clock("mobile export"), native_stderr_silenced(quiet_native):
            mobile, mobile_rows = plan.mobile(source.model, data, source.checkpoint, variants,
                                              calibration_x, config, hooks)
            built.artifacts += mobile
            built.rows += mobile_rows

    data_dir = out / "data"
    test_path = save_npz(data_dir / "test.npz", data.x_test, data.y_test)
    reference_path = data_dir / "reference.npy"
    with atomic_path(reference_path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, source.reference)

    # targets with a row decided already have nothing to compile (no PyTorch model, no
    # mobile toolchain)
    skip = {row.target for row in built.rows if row.variant == "–" or row.target == "pytorch"}
    counted = energy.with_counts(built.for_targets())
    with clock("compile"):
        compiled, decided = compile_for_targets(counted, config, hooks, skip=skip)
    with clock("measure"):
        rows = measure(compiled, config, test_path, reference_path, hooks) + decided + \
            built.rows
    report = Report(rows=_ordered(rows, config), settings=config.settings(),
                    environment=environment())
    if config.layers.profile or config.layers.diverge:  # apart from the timed rows above
        from edgenn.run.layers.analyse import for_run

        with clock("layers"):
            hooks.status("per-layer: profiling targets, comparing variants layer by layer")
            report.extra["layers"] = for_run(
                source.model, built.artifacts, compiled, data.x_test, config.layers,
                config.latency.threads, config.latency.batch_size, config.target_options)
    reference_classes = predicted_classes(source.reference)
    reference_accuracy = None
    if data.labelled:
        reference_accuracy = float(np.mean(reference_classes == data.y_test))
        classes = max(data.num_classes, int(reference_classes.max(initial=-1)) + 1)
        report.extra["confusion_matrix"] = confusion_matrix(
            data.y_test, reference_classes, classes).tolist()
    compression = config.compression or CompressionConfig()
    verdict = judge.judge_budget(report.rows, reference_accuracy,
                                 compression.max_accuracy_drop, compression.accuracy_tolerance)
    _finish(report, verdict)
    report.extra["reference"] = {"target": "pytorch" if source.model is not None else "cpu",
                                 "model": config.model}
    report.extra["source"] = source.info
    if source.history:
        report.extra["training"] = source.history
    report.extra["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
    searched = budget_verdict(built.artifacts)  # the compression passes' (validation)
    if searched is not None and verdict is not None:
        report.extra["budget"]["validation"] = searched
    write_manifest(out / "manifest.json",
                   [plan.with_tables(built.calibration), *built.artifacts,
                    *(a for _, a in compiled)],
                   report.environment)
    return report


class _Stopwatch:
    """`with clock("stage"):` adds the stage's wall-clock seconds to `timings`."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        import time

        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start


def prepared_model(config: RunConfig, data: Dataset) -> tuple[Any, str | None]:
    """The run's PyTorch model, built, with the user's weights loaded when given (and their
    digest), and checked on two samples — so that data the model cannot take, weights that
    do not fit, or data it cannot train on fail before anything is written."""
    import torch

    if isinstance(data.x_test, dict):
        raise BadInputError(f"{config.data}: inputs by name (x.<input>) are for ONNX models; "
                            f"a PyTorch model ({config.model}) takes one array 'x'")
    if not config.weights and not data.labelled:
        raise BadInputError(f"{config.data}: no labels (y) to train {config.model} on; give "
                            "trained weights (--weights) or an ONNX model to measure it by "
                            "agreement")
    classes = data.num_classes
    if config.weights and not data.labelled:  # the output width comes from the weights
        from edgenn.frontend.weights import output_width

        classes = output_width(config.weights)
    model = build_run_model(config, data, classes)
    digest = None
    if config.weights:
        from edgenn.frontend.weights import load_weights

        digest = load_weights(model, config.weights)
    try:
        with torch.no_grad():
            model.eval()(torch.from_numpy(data.x_val[:2]))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInputError(f"{config.model} cannot take samples of shape "
                            f"{tuple(data.x_val.shape[1:])} from {config.data or 'digits'}: "
                            f"{first[:300]}") from None
    return model, digest


def build_run_model(config: RunConfig, data: Dataset, num_classes: int | None = None):
    """The (seeded, untrained) model of the run; an unknown model or bad model file fails
    here, before anything is written. A user's model file is imported once."""
    import torch

    from edgenn.frontend.zoo import build_model

    torch.manual_seed(config.seed)
    return build_model(config.model, data.sample_shape,
                       data.num_classes if num_classes is None else num_classes,
                       **config.model_options)


def _check_target_options(config: RunConfig, require_available: bool | None = None) -> None:
    """Build every requested target once so a bad option fails before any work is done."""
    unknown = [name for name in config.target_options if name not in TARGETS]
    if unknown:
        raise BadInputError(f"--target-option for unknown target(s): {', '.join(unknown)} "
                            f"(known: {', '.join(TARGETS.names())})")
    unused = [name for name in config.target_options if name not in config.target_names]
    if unused:  # an option that would be silently ignored
        raise BadInputError(f"--target-option for {', '.join(unused)}, which this run does "
                            f"not measure (its targets: {', '.join(config.target_names)})")
    if require_available is None:  # named by the user: it must run (the default "all"
        require_available = config.targets is not None  # skips them, with reasons)
    for name in config.target_names:
        target = create_target(name, **config.target_options.get(name, {}))
        if require_available:
            reason = target.available()
            if reason:
                raise TargetUnavailableError(f"target {name} is unavailable here: {reason}")


def bench(model_path: str | os.PathLike[str], data_path: str | os.PathLike[str],
          config: RunConfig, hooks: Hooks | None = None) -> Report:
    """Measure a user's ONNX or .tflite model on a user's `.npz` on the requested targets
    (default: cpu for ONNX, tflite for .tflite); writes the build and manifest.json."""
    hooks = hooks or Hooks()
    if Path(model_path).suffix.lower() == ".tflite":
        from edgenn.exporters.tflite import load_tflite_artifact

        artifact, default_targets = load_tflite_artifact(model_path), ("tflite",)
    else:
        from edgenn.exporters.onnx import load_onnx_artifact

        artifact, default_targets = load_onnx_artifact(model_path), ("cpu",)
    artifact = with_data_layout(artifact, data_path)
    x, y = read_samples(data_path, artifact.inputs)  # in the model's layout, checked
    artifact = sources.with_observed_outputs(artifact, x, config.latency.threads)
    check_label_range(y, artifact.outputs, str(data_path))
    named = config.targets is not None  # a target the user names must run: exit 2 if not
    config = replace(config, targets=tuple(config.targets or default_targets))
    _check_target_options(config, require_available=named)
    resolve_devices(config)  # an unknown --device: exit 2 before anything is written
    out = prepare_out_dir(config.out)
    test_path = save_npz(out / "data" / "test.npz", x, y)
    # Targets that normalise on calibration data (spiking) use the benchmark data itself
    # (its first MAX_SAMPLES samples).
    calibration = Artifact(save_calibration(out / "data" / "calibration.npz", x), "data",
                           metadata={"variant": "calibration"})
    artifact = replace(artifact, metadata={**artifact.metadata,
                                           plan.CALIBRATION_KEY: str(calibration.path)})
    config = replace(config, targets=tuple(config.targets or default_targets))
    [artifact] = energy.with_counts([artifact])
    compiled, decided = compile_for_targets([artifact], config, hooks)
    rows = measure(compiled, config, test_path, None, hooks) + decided
    report = Report(rows=_ordered(rows, config),
                    settings={**config.settings(), "model": str(model_path),
                              "data": str(data_path)},
                    environment=environment())
    _finish(report, None)
    write_manifest(out / "manifest.json",
                   [artifact, *(a for _, a in compiled), plan.with_tables(calibration)],
                   report.environment)
    return report


def _finish(report: Report, budget: dict[str, Any] | None) -> None:
    """The verdicts on the measured rows: relative figures, notes from the final
    measurements, energy estimates, the recommended variant per target, the budget."""
    judge.relative_to_baseline(report.rows)
    judge.latency_notes(report.rows)
    energy.annotate_energy(report.rows)
    report.extra["recommended"] = judge.recommend(report.rows, budget)
    if budget is not None:
        report.extra["budget"] = budget


def _kinds(artifacts: Sequence[Artifact]) -> str:
    return ", ".join(sorted({f"{a.format} {a.variant}" for a in artifacts}))


def _ordered(rows: list[Measurement], config: RunConfig) -> list[Measurement]:
    order = {name: i for i, name in enumerate(config.target_names)}
    return sorted(rows, key=lambda r: (order.get(r.target, len(order)), r.status != "ok"))
