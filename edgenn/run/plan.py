"""The run's plan of artifacts: from the trained model, every file the targets compile.

Each step reads artifacts made before it and returns new ones; nothing travels as a
loose path. In the build directory:

    data/calibration.npz         the one calibration set, drawn once from the training
                                 split; int8 (ONNX and TFLite) and the spiking converter
                                 all use it, and the manifest holds its hash
    data/ranges/*.json           its calibration tables (ONNX Runtime's cache format),
                                 one per model and setting: static int8 quantizes with
                                 them and the spiking thresholds are read from them
    model/checkpoint.pt          state dict + model config (`edgenn export/prune --checkpoint`)
    model/model.pt2              the PyTorch reference (a torch.export program)
    model/model.onnx             the hub; compressed ONNX variants beside it
    model/model.pruned.pt2       the pruned, fine-tuned module, handed on to mobile export
    model/model*.tflite          fp32, int8-static, int8-dynamic, pruned, pruned-int8
                                 (the variants the run asks for)

A variant that cannot be built becomes a report row with the reason (`Plan.rows`), and
the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from edgenn.core import Artifact, EdgeNNError, TensorSpec, samples
from edgenn.core.calibration import Calibration, ranges_dir_for
from edgenn.core.errors import first_line
from edgenn.core.results import Measurement
from edgenn.frontend.data import Dataset, save_npz
from edgenn.run.compress import Variants, build_variants, calibration_set
from edgenn.run.config import CompressionConfig, Hooks, RunConfig

CALIBRATION_KEY = "calibration_data"  # artifact metadata: the calibration set's path
SETTINGS_KEY = "calibration_settings"  # … and how static int8 measured its ranges
STATIC_STEPS = ("quantize:int8-static", "quantize:pruned-int8")
NEEDS_PYTORCH = ("needs the PyTorch model; the source is an ONNX file (give "
                 "--model file.py:factory --weights w.pt to build it)")


@dataclass
class Plan:
    """Everything the run built, and the rows already decided."""

    artifacts: list[Artifact] = field(default_factory=list)
    rows: list[Measurement] = field(default_factory=list)
    calibration: Artifact | None = None

    def calibration_settings(self, model: Artifact) -> dict[str, Any]:
        """The settings the static int8 made from `model` measured its ranges with (the
        spiking thresholds of `model` then read that very table), or the run's method
        when no static int8 was made from it."""
        made_from_model = {(*model.lineage, step) for step in STATIC_STEPS}
        for artifact in self.artifacts:
            if artifact.format == "onnx" and tuple(artifact.lineage) in made_from_model:
                settings = _settings(artifact)
                if settings is not None:
                    return settings
        return {"method": self.calibration.metadata.get("method", "minmax")} \
            if self.calibration is not None else {}

    def for_targets(self) -> list[Artifact]:
        """The model artifacts, each naming the calibration set (the spiking converter
        normalises on it) and the settings its static int8 calibrated with."""
        if self.calibration is None:
            return list(self.artifacts)
        path = str(self.calibration.path)
        return [replace(a, metadata={**a.metadata, CALIBRATION_KEY: path,
                                     SETTINGS_KEY: self.calibration_settings(a)})
                for a in self.artifacts]


def _settings(artifact: Artifact) -> dict[str, Any] | None:
    """The `Calibration` fields of a static int8 artifact's settings."""
    quantization = artifact.metadata.get("quantization") or {}
    keys = [f.name for f in fields(Calibration)]
    return {k: quantization[k] for k in keys} if all(k in quantization for k in keys) \
        else None


def calibration_path(config: RunConfig):
    return config.out / "data" / "calibration.npz"


def with_tables(calibration: Artifact) -> Artifact:
    """The calibration set with the calibration tables measured from it (manifest)."""
    tables = sorted(ranges_dir_for(calibration.path).glob("*.json"))
    return replace(calibration, extra_files=(*calibration.extra_files, *tables))


def draw_calibration(data: Dataset, config: RunConfig) -> tuple[Artifact, np.ndarray]:
    """The run's one calibration set: seeded samples of the training split, saved."""
    compression = config.compression or CompressionConfig()
    x = calibration_set(data.x_train, compression.calibration_samples, config.seed)
    path = save_npz(calibration_path(config), x, None)
    shapes = samples.shapes(x)
    specs = [TensorSpec(name, (samples.count(x), *shape)) for name, shape in
             (shapes.items() if isinstance(shapes, dict) else [("x", shapes)])]
    return Artifact(path, "data", inputs=tuple(specs), lineage=("data:calibration",),
                    metadata={"variant": "calibration", "samples": samples.count(x),
                              "seed": config.seed, "method": compression.method.value}), x


def sources(model, data: Dataset, config: RunConfig, hooks: Hooks, train_info: dict[str, Any],
            export_config: Any = None) -> list[Artifact]:
    """The trained model's checkpoint, its `.pt2` program (the reference) and its ONNX."""
    from edgenn.exporters.onnx import OnnxExportConfig, export_onnx
    from edgenn.exporters.torch_program import export_program
    from edgenn.frontend.train import ModelConfig, save_checkpoint

    model_dir = config.out / "model"
    model_config = ModelConfig(config.model, data.sample_shape, data.num_classes,
                               dict(config.model_options))
    checkpoint = save_checkpoint(model_dir / "checkpoint.pt", model, model_config, train_info)
    spec = TensorSpec("input", ("batch", *data.sample_shape))
    trained = Artifact(checkpoint, "checkpoint", inputs=(spec,), lineage=("train",),
                       metadata={"variant": "checkpoint", "model": config.model})
    program = export_program(model, data.x_val[:8], model_dir / "model.pt2", source=trained,
                             model=config.model)
    hooks.status("exporting to ONNX")
    onnx = export_onnx(model, data.x_val[:8], model_dir / "model.onnx",
                       export_config or OnnxExportConfig(),
                       parity_batches=[data.x_val, data.x_test[:64]], source=trained)
    return [trained, program, onnx]


def compressed(model, data: Dataset, onnx: Artifact, calibration_x: np.ndarray,
               config: RunConfig, hooks: Hooks) -> tuple[Variants, list[Measurement]]:
    """Compressed ONNX variants (int8, fp16, pruned) as the compression config asks, and
    rows for the variants that cannot be built (pruning needs the PyTorch model)."""
    compression = config.compression
    if compression is None or not compression.variants:
        return Variants([]), []
    # Variants that cannot be built from this source, each with the reason.
    cannot: dict[str, str] = {}
    if onnx.variant != "fp32":  # the user's model is compressed already
        cannot = {v: f"the source model is already {onnx.variant}" for v in compression.variants}
    elif model is None:
        cannot = {v: f"pruning {NEEDS_PYTORCH}" for v in compression.variants
                  if v.startswith("pruned")}
    elif not data.labelled:
        cannot = {v: "pruning fine-tunes, and the data have no labels (y)"
                  for v in compression.variants if v.startswith("pruned")}
    rows = _rows_for(config, cannot, "skipped")
    compression = replace(compression, variants=tuple(
        v for v in compression.variants if v not in cannot))
    if not compression.variants:
        return Variants([]), rows
    try:
        with hooks.progress("compress", None) as advance:
            made = build_variants(model, data, onnx, config.out / "model", compression,
                                  calibration_x, threads=config.latency.threads,
                                  ranges_dir=ranges_dir_for(calibration_path(config)),
                                  seed=config.seed, train_config=config.train,
                                  progress=lambda msg: advance(info=msg))
    except Exception as exc:  # before any variant (the fp32 model on the validation split)
        reason = str(exc) if isinstance(exc, EdgeNNError) else first_line(exc)
        first = reason.strip().splitlines()[0] if reason.strip() else type(exc).__name__
        failed = {v: f"compression failed: {first[:300]}" for v in compression.variants}
        return Variants([]), rows + _rows_for(config, failed, "failed")
    # each variant that failed fails its own row only
    return made, rows + _rows_for(config, made.failed, "failed")


def _rows_for(config: RunConfig, reasons: dict[str, str], status: str) -> list[Measurement]:
    """One row per variant on the first requested ONNX Runtime target (cpu, else ort-mobile)."""
    target = next((t for t in ("cpu", "ort-mobile") if t in config.target_names), None)
    if target is None:
        return []
    return [Measurement(target=target, variant=variant, status=status, reason=reason)
            for variant, reason in reasons.items()]


def mobile(model, data: Dataset, source: Artifact, variants: Variants,
           calibration_x: np.ndarray, config: RunConfig, hooks: Hooks
           ) -> tuple[list[Artifact], list[Measurement]]:
    """`.tflite` fp32, and as the run's variants ask, full-integer int8 (int8-static) and
    dynamic-range int8 (int8-dynamic) from the PyTorch module (`source` is its program);
    with a pruned module, also pruned and pruned-int8.

    Returns the artifacts and the rows already decided: one skipped row with the install
    command when the mobile toolchain is missing, one failed row (naming every
    unconvertible operator) when the model cannot be converted.
    """
    if "tflite" not in config.target_names:
        return [], []
    from edgenn.exporters.tflite import export_available, export_tflite
    from edgenn.quantize.tflite import quantize_tflite_dynamic, quantize_tflite_static

    reason = export_available()
    if reason:
        return [], [Measurement(target="tflite", variant="–", status="skipped", reason=reason)]
    model_dir = config.out / "model"
    parity = [data.x_val[:64]]

    def export(module, name: str, origin: Artifact) -> Artifact:
        return export_tflite(module, data.x_val[:8], model_dir / f"{name}.tflite",
                             parity_batches=parity, source=origin)

    try:
        fp32 = export(model, "model", source)
    except EdgeNNError as exc:  # an unconvertible model: a failed row, the run goes on
        return [], [Measurement(target="tflite", variant="fp32", status="failed",
                                reason=str(exc))]
    # One naming scheme across targets; the run's `variants` govern these too.
    wanted = set(config.compression.variants) if config.compression else set()
    steps: list[tuple[str, Callable[[], list[Artifact]]]] = []
    if "int8-static" in wanted:
        steps.append(("int8-static", lambda: [quantize_tflite_static(
            fp32, model_dir / "model.int8-static.tflite", calibration_x)]))
    if "int8-dynamic" in wanted:
        steps.append(("int8-dynamic", lambda: [quantize_tflite_dynamic(
            fp32, model_dir / "model.int8-dynamic.tflite")]))
    if variants.pruned_module is not None and variants.pruned_program is not None:
        program = variants.pruned_program
        module_source = replace(program, lineage=program.lineage[:-1])  # the module itself

        def pruned() -> list[Artifact]:
            fp = export(variants.pruned_module, "model.pruned", module_source)
            made = [_named(fp, "pruned")] if "pruned" in wanted else []
            if "pruned-int8" in wanted:
                int8 = quantize_tflite_static(fp, model_dir / "model.pruned-int8.tflite",
                                              calibration_x)
                made.append(_named(int8, "pruned-int8"))
            return made

        steps.append(("pruned", pruned))
    made, rows = [fp32], []
    with hooks.progress("tflite", len(steps) + 1) as advance:
        advance(info="fp32")
        for variant, make in steps:
            try:
                made += make()
            except EdgeNNError as exc:  # this variant fails; the others still run
                rows.append(Measurement(target="tflite", variant=variant, status="failed",
                                        reason=str(exc)))
            advance(info=variant)
    return made, rows


def _named(artifact: Artifact, variant: str) -> Artifact:
    return replace(artifact, metadata={**artifact.metadata, "variant": variant})
