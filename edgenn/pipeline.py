"""The pipeline: train → export → variants → compile per target → measure → report.

This module (with harness, report and cli) is the only code that sees every stage.
Everything lands in one build directory:

    OUT/data/        test split, calibration batches, reference outputs
    OUT/model/       checkpoint.pt, model.onnx and its variants (int8, fp16, .tflite, ...)
    OUT/compiled/    one folder per target with what it compiled
    OUT/report.json, report.md, manifest.json
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgenn.core import (
    Artifact,
    BadInputError,
    EdgeNNError,
    TensorSpec,
    atomic_path,
    native_stderr_silenced,
    predicted_classes,
)
from edgenn.data import Dataset, check_fits, load_dataset, save_npz
from edgenn.harness import Job, LatencySettings, measure_all
from edgenn.registry import TARGETS, create_target
from edgenn.results import Measurement, Report
from edgenn.train import TrainConfig

log = logging.getLogger(__name__)

CALIBRATION_SAMPLES = 256


class Hooks:
    """What the pipeline tells its caller: stage messages and progress. Silent default."""

    def status(self, message: str) -> None:
        log.info(message)

    @contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Callable[..., None]]:
        yield lambda *_, **__: None


@dataclass(frozen=True)
class RunConfig:
    """One `edgenn run`: what to train, which targets, how to measure."""

    out: Path = Path("edgenn-out")
    model: str = "cnn"
    model_options: dict[str, Any] = field(default_factory=dict)
    data: str | None = None  # None: the embedded digits; else a user's .npz
    train: TrainConfig = TrainConfig()
    targets: tuple[str, ...] | None = None  # None: every registered target
    target_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    latency: LatencySettings = LatencySettings()
    isolate: bool = True  # each row measured in its own process
    seed: int = 0
    compression: Any = None  # edgenn.compress.CompressionConfig; None: no variants

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        if self.targets is not None:
            unknown = [t for t in self.targets if t not in TARGETS]
            if unknown:
                raise BadInputError(f"unknown target(s): {', '.join(unknown)} "
                                    f"(known: {', '.join(TARGETS.names())})")

    def settings(self) -> dict[str, Any]:
        return {
            "model": self.model, "data": self.data or "digits", "seed": self.seed,
            "targets": list(self.targets) if self.targets else "all",
            "batch_size": self.latency.batch_size, "threads": self.latency.threads,
            "warmup": self.latency.warmup, "runs": self.latency.runs,
            "train": self.train.to_dict(), "target_options": self.target_options,
            "compression": _describe(self.compression),
        }


def _describe(config: Any) -> Any:
    """A plain-data view of a (nested) frozen config dataclass, for report.json."""
    import dataclasses
    from enum import Enum

    if config is None or isinstance(config, (str, int, float, bool)):
        return config
    if isinstance(config, Enum):
        return config.value
    if dataclasses.is_dataclass(config):
        return {f.name: _describe(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [_describe(v) for v in config]
    if isinstance(config, dict):
        return {str(k): _describe(v) for k, v in config.items()}
    return str(config)


def prepare_out_dir(out: Path) -> Path:
    """Create the build directory, failing with a clear error when it is not writable."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".edgenn-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BadInputError(f"cannot write to output directory {out}: "
                            f"{exc.strerror or exc}") from None
    return out


def train_and_export(config: RunConfig, data: Dataset, hooks: Hooks,
                     export_config: Any = None, model: Any = None
                     ) -> tuple[Any, list[Artifact]]:
    """Train the model (built by `build_run_model` unless given), save its checkpoint and
    export ONNX; returns (model, artifacts)."""
    from edgenn.exporters.onnx import export_onnx
    from edgenn.train import ModelConfig, save_checkpoint, train

    model_dir = config.out / "model"
    model_config = ModelConfig(config.model, data.sample_shape, data.num_classes,
                               dict(config.model_options))
    if model is None:
        model = build_run_model(config, data)
    train_config = replace(config.train, seed=config.seed)
    with hooks.progress("train", train_config.epochs) as advance:
        result = train(model, data, train_config,
                       lambda epoch, total, rec: advance(
                           info=f"val loss {rec['val_loss']:.3f} acc {rec['val_accuracy']:.3f}"))
    hooks.status(f"trained {config.model}: best epoch {result.best_epoch}/{result.epochs_run}, "
                 f"val accuracy {result.val_accuracy:.4f}")
    checkpoint = save_checkpoint(model_dir / "checkpoint.pt", model, model_config,
                                 {"train": train_config.to_dict(),
                                  "best_epoch": result.best_epoch,
                                  "val_accuracy": result.val_accuracy})
    spec = TensorSpec("input", ("batch", *data.sample_shape))
    torch_artifact = Artifact(checkpoint, "torch", inputs=(spec,), lineage=("train",),
                              metadata={"variant": "fp32", "model": config.model})
    hooks.status("exporting to ONNX")
    from edgenn.exporters.onnx import OnnxExportConfig

    onnx_artifact = export_onnx(model, data.x_val[:8], model_dir / "model.onnx",
                                export_config or OnnxExportConfig(),
                                parity_batches=[data.x_val, data.x_test[:64]],
                                source=torch_artifact)
    return model, [torch_artifact, onnx_artifact]


def compile_for_targets(artifacts: Sequence[Artifact], config: RunConfig, hooks: Hooks,
                        skip: set[str] | frozenset[str] = frozenset()
                        ) -> tuple[list[tuple[str, Artifact]], list[Measurement]]:
    """Compile every selected artifact for every requested target.

    Returns the (target, compiled artifact) pairs to measure and the rows already decided
    (skipped: target unavailable; failed: compilation error).
    """
    names = [n for n in (config.targets or TARGETS.names()) if n not in skip]
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
                                       reason="no artifact of a format it accepts "
                                              f"({', '.join(target.accepts)})"))
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
        return measure_all(jobs, isolate=config.isolate, on_row=on_row)


def run(config: RunConfig, hooks: Hooks | None = None,
        finish: Callable[[Report], None] | None = None) -> Report:
    """The whole default job; writes every file into `config.out` and returns the report.

    `finish` sees the report once it is written, before the accuracy budget is enforced
    (BudgetExceededError, exit 3), so a caller can show it either way.
    """
    from edgenn import variants
    from edgenn.report import environment, write_manifest, write_reports
    from edgenn.train import predict

    hooks = hooks or Hooks()
    data = load_dataset(config.data)  # bad data fails here, before anything is written
    hooks.status(f"data: {data.describe()}")
    model = build_run_model(config, data)  # so does an unknown model or a bad model file
    _check_target_options(config)
    out = prepare_out_dir(config.out)
    timings: dict[str, float] = {}
    clock = _Stopwatch(timings)
    with clock("train+export"):
        model, artifacts = train_and_export(config, data, hooks, model=model)
    with clock("compress"):
        artifacts += variants.compressed(model, data, artifacts[1], config, hooks)
    quiet_native = logging.getLogger("edgenn").getEffectiveLevel() > logging.DEBUG
    with clock("mobile export"), native_stderr_silenced(quiet_native):
        mobile, mobile_rows = variants.mobile(model, data, artifacts, config, hooks)
    artifacts += mobile

    data_dir = out / "data"
    test_path = save_npz(data_dir / "test.npz", data.x_test, data.y_test)
    rng = np.random.default_rng(config.seed)
    pick = rng.permutation(len(data.x_train))[:CALIBRATION_SAMPLES]
    calibration_path = save_npz(data_dir / "calibration.npz", data.x_train[pick],
                                data.y_train[pick])
    reference = predict(model, data.x_test)
    reference_path = data_dir / "reference.npy"
    with atomic_path(reference_path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, reference)
    # Targets that need calibration data (the spiking converter) find it here.
    artifacts = [replace(a, metadata={**a.metadata, "calibration_data": str(calibration_path)})
                 for a in artifacts]

    skip = set() if mobile else {row.target for row in mobile_rows}  # nothing to compile
    with clock("compile"):
        compiled, decided = compile_for_targets(artifacts, config, hooks, skip=skip)
    with clock("measure"):
        rows = measure(compiled, config, test_path, reference_path, hooks) + decided + mobile_rows
    report = Report(rows=_ordered(rows, config), settings=config.settings(),
                    environment=environment())
    from edgenn.plots import confusion_matrix

    report.extra["confusion_matrix"] = confusion_matrix(
        data.y_test, predicted_classes(reference), data.num_classes).tolist()
    report.extra["reference"] = {"target": "pytorch", "model": config.model}
    report.extra["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
    write_reports(report, out)
    write_manifest(out / "manifest.json", [*artifacts, *(a for _, a in compiled)],
                   report.environment)
    if finish is not None:
        finish(report)
    if config.compression is not None:
        from edgenn.compress import require_budget

        require_budget(artifacts)  # exit 3 after the report is written
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


def build_run_model(config: RunConfig, data: Dataset):
    """The (seeded, untrained) model of the run; an unknown model or bad model file fails
    here, before anything is written. A user's model file is imported once."""
    import torch

    from edgenn.zoo import build_model

    torch.manual_seed(config.seed)
    return build_model(config.model, data.sample_shape, data.num_classes,
                       **config.model_options)


def _check_target_options(config: RunConfig) -> None:
    """Build every requested target once so a bad option fails before any work is done."""
    unknown = [name for name in config.target_options if name not in TARGETS]
    if unknown:
        raise BadInputError(f"--target-option for unknown target(s): {', '.join(unknown)}")
    for name in config.targets or TARGETS.names():
        create_target(name, **config.target_options.get(name, {}))


def bench(model_path: str | os.PathLike[str], data_path: str | os.PathLike[str],
          config: RunConfig, hooks: Hooks | None = None) -> Report:
    """Measure a user's ONNX model on a user's `.npz` on the requested targets."""
    from edgenn.data import read_npz
    from edgenn.exporters.onnx import load_onnx_artifact
    from edgenn.report import environment, write_manifest, write_reports

    hooks = hooks or Hooks()
    if Path(model_path).suffix.lower() == ".tflite":
        from edgenn.exporters.tflite import load_tflite_artifact

        artifact, default_targets = load_tflite_artifact(model_path), ("tflite",)
    else:
        artifact, default_targets = load_onnx_artifact(model_path), ("cpu",)
    x, y = read_npz(data_path)
    check_fits(x, artifact.inputs[0].shape, str(data_path))
    out = prepare_out_dir(config.out)
    test_path = save_npz(out / "data" / "test.npz", x, y)
    # Targets that normalise on calibration data (spiking) use the benchmark data itself.
    artifact = replace(artifact, metadata={**artifact.metadata,
                                           "calibration_data": str(test_path)})
    targets = config.targets or default_targets
    config = replace(config, targets=tuple(targets))
    compiled, decided = compile_for_targets([artifact], config, hooks)
    rows = measure(compiled, config, test_path, None, hooks) + decided
    report = Report(rows=_ordered(rows, config),
                    settings={**config.settings(), "model": str(model_path),
                              "data": str(data_path)},
                    environment=environment())
    write_reports(report, out)
    write_manifest(out / "manifest.json", [artifact, *(a for _, a in compiled)],
                   report.environment)
    return report


def _ordered(rows: list[Measurement], config: RunConfig) -> list[Measurement]:
    order = {name: i for i, name in enumerate(config.targets or TARGETS.names())}
    return sorted(rows, key=lambda r: (order.get(r.target, len(order)), r.status != "ok"))
