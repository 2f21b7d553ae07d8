"""The per-layer analysis of a run or of a user's model file: profiles and divergence.

`for_run` is what `edgenn run` adds to report.json (`extra["layers"]`) after the timed
rows; `profile_file` and `diverge_files` serve `edgenn profile` and `edgenn diverge` on
models edgenn did not build. Every piece that cannot run says why in its entry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgenn.core import Artifact, BadInputError, EdgeNNError, RunOptions, TensorSpec, samples
from edgenn.core.registry import create_target
from edgenn.run.layers import diverge, profile
from edgenn.run.layers.names import OnnxLayers

log = logging.getLogger(__name__)

NO_PROFILER = ("pytorch", "snn-brian2")  # brian2 simulates the same spikes as snn-fast
LAYER_BYTES = 256 << 20  # every layer's output, all compared samples, of one model


def for_run(model, artifacts: Sequence[Artifact], compiled: Sequence[tuple[str, Artifact]],
            x_test: np.ndarray, settings, threads: int, batch_size: int,
            target_options: dict[str, dict]) -> dict[str, Any]:
    """Profiles of every compiled row with a profiler and the layers × variants table of
    every ONNX, TFLite and spiking variant against `model` (PyTorch; None: fp32 ONNX)."""
    start = time.perf_counter()
    x = samples.take(x_test, slice(0, settings.samples))  # one array, or one per input
    sources = {a.variant: Path(a.path) for a in artifacts if a.format == "onnx"}
    targets = {name: create_target(name, **target_options.get(name, {}))
               for name in {name for name, _ in compiled}}
    result: dict[str, Any] = {}
    if settings.profile:
        peak = profile.matmul_peak_gmacs(threads)
        chosen = [(n, a) for n, a in compiled if n not in NO_PROFILER]
        result["peak_gmacs"] = peak
        result["profiles"] = profile.profile_compiled(
            chosen, sources, x, profile.ProfileSettings(settings.profile_runs, batch_size,
                                                        threads), targets, peak,
            {variant: sources["pruned" if variant.startswith("pruned") and "pruned" in sources
                              else "fp32"] for variant in sources if "fp32" in sources})
    if settings.diverge and "fp32" in sources:
        spiking = [(targets[n], a) for n, a in compiled if n == "snn-fast"
                   and a.variant == "fp32"]
        try:
            result["divergence"] = divergence_for(model, sources, artifacts, spiking, x,
                                                  threads, settings.threshold_db)
        except Exception as exc:  # noqa: BLE001 - the timed report stands without it
            log.debug("divergence failed", exc_info=True)
            result["divergence"] = {"unavailable": f"{type(exc).__name__}: {exc}"}
    sensitivity = sensitivity_ranking(artifacts, sources)
    if sensitivity:
        result["sensitivity"] = sensitivity
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


def divergence_for(model, sources: dict[str, Path], artifacts: Sequence[Artifact],
                   spiking: Sequence[tuple[Any, Artifact]], x: np.ndarray, threads: int,
                   threshold_db: float) -> dict[str, Any]:
    names = diverge.reference_names(sources["fp32"])
    specs = next((a.inputs for a in artifacts if a.format == "onnx" and a.variant == "fp32"),
                 ())  # the inputs' layouts, as the run read its data

    def reference_outputs(samples_x: np.ndarray) -> dict[str, np.ndarray]:
        if model is not None:
            return diverge.torch_layer_outputs(model, samples_x)
        return diverge.onnx_layer_outputs(sources["fp32"], samples_x, names, threads, specs)

    label = "pytorch" if model is not None else "onnx fp32"
    # Every layer's output of every sample is held (the reference's and one variant's at a
    # time): a large model compares fewer samples rather than exhausting memory.
    per_sample = sum(v.nbytes for v in reference_outputs(samples.take(x, slice(0, 1))).values())
    x, cut = diverge.capped(x, per_sample, LAYER_BYTES)
    reference = reference_outputs(x)
    compared: dict[str, dict[str, dict | None]] = {}
    problems: dict[str, str] = {}
    order = _execution_order(reference, names)

    def collect(label_: str, read) -> None:
        try:
            compared[label_] = diverge.compare_layers(reference, read(), order)
        except Exception as exc:  # noqa: BLE001 - a variant that cannot be read is a note
            log.debug("layer outputs of %s failed", label_, exc_info=True)
            problems[label_] = str(exc) if isinstance(exc, EdgeNNError) else \
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"

    for artifact in artifacts:
        if artifact.format == "onnx" and not (model is None and artifact.variant == "fp32"):
            collect(f"onnx {artifact.variant}", lambda a=artifact: diverge.onnx_layer_outputs(
                Path(a.path), x, names, threads, specs))
    for artifact in artifacts:
        if artifact.format == "tflite":
            collect(f"tflite {artifact.variant}",
                    lambda a=artifact: diverge.tflite_layer_outputs(Path(a.path), x, order))
    for target, artifact in spiking:
        def read_spiking(t=target, a=artifact):
            runner = t.load(a, RunOptions(threads=threads))
            return diverge.spiking_layer_outputs(runner, x, names)
        collect(f"{target.name} {artifact.variant}", read_spiking)
    table = diverge.table_of(compared, order, threshold_db)
    table.update(reference=label, samples=samples.count(x), problems=problems)
    if cut:
        table["samples_capped"] = cut
    return table


def _execution_order(reference: dict[str, np.ndarray], names: OnnxLayers) -> list[str]:
    """The reference's layers in the order they ran, ONNX's graph order for the rest."""
    return [*reference, *(layer for layer in names.order if layer not in reference)]


def sensitivity_ranking(artifacts: Sequence[Artifact], sources: dict[str, Path]
                        ) -> list[dict[str, Any]]:
    """The int8 sensitivity ranking the accuracy budget computed, with layer names."""
    ranked = []
    for artifact in artifacts:
        ranking = artifact.metadata.get("budget", {}).get("sensitivity")
        if not ranking or "fp32" not in sources:
            continue
        names = diverge.reference_names(sources["fp32"])
        for item in ranking:
            ranked.append({**item, "variant": artifact.variant,
                           "layer": names.node_layer.get(item["node"], item["node"])})
    return ranked


def profile_file(model_path: Path, x: np.ndarray, target_names: Sequence[str],
                 target_options: dict[str, dict], workdir: Path, settings) -> dict[str, Any]:
    """Profile a user's .onnx or .tflite on the named targets (compiled into `workdir`)."""
    from edgenn.exporters.onnx import load_onnx_artifact
    from edgenn.exporters.tflite import load_tflite_artifact

    model_path = Path(model_path)
    tflite = model_path.suffix.lower() == ".tflite"
    artifact = load_tflite_artifact(model_path) if tflite else load_onnx_artifact(model_path)
    if not tflite:
        artifact = _with_calibration(artifact, x, workdir)
    compiled, targets, entries = [], {}, []
    for name in target_names:
        target = create_target(name, **target_options.get(name, {}))
        reason = target.available()
        if reason is None and not target.select([artifact]):
            reason = f"{name} does not run {artifact.format} {artifact.variant} models"
        if reason:
            entries.append({"target": name, "variant": artifact.variant, "unavailable": reason})
            continue
        targets[name] = target
        compiled.append((name, target.compile(artifact, workdir / name)))
    peak = profile.matmul_peak_gmacs(settings.threads)
    sources = {} if tflite else {artifact.variant: model_path}
    entries += profile.profile_compiled(compiled, sources, x, settings, targets, peak)
    return {"model": str(model_path), "peak_gmacs": peak, "profiles": entries}


def _with_calibration(artifact: Artifact, x: np.ndarray, workdir: Path) -> Artifact:
    """The spiking targets normalise on calibration data: the profiled samples."""
    from dataclasses import replace

    from edgenn.frontend.data import save_npz

    path = save_npz(Path(workdir) / "calibration.npz", x, None)
    return replace(artifact, metadata={**artifact.metadata, "calibration_data": str(path)})


def diverge_files(reference_path: Path, variant_paths: Sequence[Path], x: samples.Samples,
                  threshold_db: float, threads: int = 2, specs: Sequence[TensorSpec] = ()
                  ) -> dict[str, Any]:
    """Layer by layer, each variant file (.onnx or .tflite) against the reference ONNX, on
    `x` (one array, or one per input name) — on fewer of its samples when every layer's
    output of all of them would not fit in `LAYER_BYTES` (the table's `samples_capped`
    says how many and why). `specs` are the reference's inputs in the data's layout."""
    reference_path = Path(reference_path)
    if reference_path.suffix.lower() != ".onnx":
        raise BadInputError(f"{reference_path}: the reference must be an ONNX model")
    names = diverge.reference_names(reference_path)
    per_sample = sum(v.nbytes for v in diverge.onnx_layer_outputs(
        reference_path, samples.take(x, slice(0, 1)), names, threads, specs).values())
    x, cut = diverge.capped(x, per_sample, LAYER_BYTES)  # as in a run
    reference = diverge.onnx_layer_outputs(reference_path, x, names, threads, specs)
    compared = {}
    for path in map(Path, variant_paths):
        if not path.is_file():
            raise BadInputError(f"model file not found: {path}")
        outputs = diverge.tflite_layer_outputs(path, x, names.order) \
            if path.suffix.lower() == ".tflite" else \
            diverge.onnx_layer_outputs(path, x, names, threads, specs)
        compared[path.name] = diverge.compare_layers(reference, outputs, names.order)
    table = diverge.table_of(compared, [n for n in names.order if n in reference],
                             threshold_db)
    table.update(reference=str(reference_path), samples=samples.count(x), problems={})
    if cut:
        table["samples_capped"] = cut
    return table


def profile_command(model: Path, data: Path, targets: Sequence[str] | None,
                    target_options: dict[str, dict], out: Path, settings) -> dict[str, Any]:
    """`edgenn profile`: read the data, profile, write OUT/profile.json, return it."""
    import json

    from edgenn.core import prepare_out_dir, write_text_atomic
    from edgenn.frontend.data import read_samples
    from edgenn.frontend.inputs import with_data_layout

    model = Path(model)
    if not model.is_file():
        raise BadInputError(f"model file not found: {model}")
    tflite = model.suffix.lower() == ".tflite"
    inputs = None
    if not tflite:
        from edgenn.exporters.onnx import load_onnx_artifact

        inputs = with_data_layout(load_onnx_artifact(model), data).inputs
    x, _ = read_samples(data, inputs)  # an ONNX model's data: in its layout, checked
    names = list(targets or (["tflite"] if tflite else ["cpu"]))
    out = prepare_out_dir(Path(out))
    result = profile_file(model, x, names, target_options, out / "compiled", settings)
    write_text_atomic(out / "profile.json", json.dumps(result, indent=2) + "\n")
    return result


def diverge_command(reference: Path, variants: Sequence[Path], data: Path, samples_: int,
                    threshold_db: float, threads: int, out: Path | None) -> dict[str, Any]:
    """`edgenn diverge`: each variant against the reference ONNX on the first samples of
    DATA; writes OUT/diverge.json when `out` is given."""
    import json

    from edgenn.core import prepare_out_dir, write_text_atomic
    from edgenn.exporters.onnx import load_onnx_artifact
    from edgenn.frontend.data import read_samples
    from edgenn.frontend.inputs import with_data_layout

    if not variants:
        raise BadInputError("name at least one variant model to compare with the reference")
    for path in (Path(reference), *map(Path, variants)):
        if not path.is_file():
            raise BadInputError(f"model file not found: {path}")
    specs = with_data_layout(load_onnx_artifact(reference), data).inputs
    x, _ = read_samples(data, specs)  # in the reference's layout, checked
    x = samples.take(x, slice(0, samples_))
    if not isinstance(x, dict):
        x = np.asarray(x, dtype=np.float32)
    table = diverge_files(Path(reference), list(map(Path, variants)), x, threshold_db,
                          threads, specs)
    if out is not None:
        write_text_atomic(prepare_out_dir(Path(out)) / "diverge.json",
                          json.dumps(table, indent=2) + "\n")
    return table
