"""The run's model variants: compressed ONNX (int8, fp16, pruned) and mobile `.tflite`.

Each function reads the trained model and the artifacts made so far and returns new
artifacts, plus (for mobile) the report rows already decided — a toolchain that is
missing or a model it cannot convert becomes a row, and the run goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from edgenn.core import Artifact, EdgeNNError
from edgenn.data import Dataset
from edgenn.results import Measurement

if TYPE_CHECKING:
    from edgenn.pipeline import Hooks, RunConfig


def compressed(model, data: Dataset, onnx_artifact: Artifact, config: RunConfig,
               hooks: Hooks) -> list[Artifact]:
    """Compressed ONNX variants (int8, fp16, pruned) as the compression config asks."""
    if config.compression is None or not config.compression.variants:
        return []
    from edgenn import compress

    compression = replace(config.compression, threads=config.latency.threads,
                          seed=config.seed)
    with hooks.progress("compress", None) as advance:
        return compress.build_variants(model, data, onnx_artifact, config.out / "model",
                                       compression, progress=lambda msg: advance(info=msg))


def mobile(model, data: Dataset, artifacts: Sequence[Artifact], config: RunConfig,
           hooks: Hooks) -> tuple[list[Artifact], list[Measurement]]:
    """`.tflite` fp32, full-integer int8 and dynamic-range int8, from the PyTorch module
    (`artifacts[0]` is its checkpoint); when `artifacts` hold the pruned ONNX variant, also
    pruned and pruned-int8 `.tflite` from the same pruned module (named in its metadata).

    Returns the artifacts and the rows already decided: one skipped row with the install
    command when the mobile toolchain is missing, one failed row (naming every
    unconvertible operator) when the model cannot be converted. The run goes on either way.
    """
    if config.targets is not None and "tflite" not in config.targets:
        return [], []
    from edgenn.exporters.tflite import export_available, export_tflite
    from edgenn.quantize.tflite import quantize_tflite_dynamic, quantize_tflite_static

    reason = export_available()
    if reason:
        return [], [Measurement(target="tflite", variant="–", status="skipped", reason=reason)]
    torch_artifact = artifacts[0]
    pruned = next((a for a in artifacts if a.format == "onnx" and a.variant == "pruned"), None)
    pruned_module = pruned.metadata.get("torch_module") if pruned is not None else None
    model_dir = config.out / "model"
    made: list[Artifact] = []
    rows: list[Measurement] = []
    with hooks.progress("tflite", 4 if pruned_module else 3) as advance:
        try:
            fp32 = export_tflite(model, data.x_val[:8], model_dir / "model.tflite",
                                 parity_batches=[data.x_val[:64]], source=torch_artifact)
        except EdgeNNError as exc:  # an unconvertible model: a failed row, the run goes on
            return [], [Measurement(target="tflite", variant="fp32", status="failed",
                                    reason=str(exc))]
        made.append(fp32)
        advance(info="fp32")
        steps = [
            ("int8", lambda: [quantize_tflite_static(fp32, model_dir / "model.int8.tflite",
                                                     data.x_train)]),
            ("dynamic", lambda: [quantize_tflite_dynamic(fp32,
                                                         model_dir / "model.dynamic.tflite")]),
        ]
        if pruned_module:
            steps.append(("pruned", lambda: _pruned_tflite(pruned, Path(pruned_module), data,
                                                           model_dir)))
        for variant, make in steps:
            try:
                made += make()
            except EdgeNNError as exc:  # this variant fails; the others still run
                rows.append(Measurement(target="tflite", variant=variant, status="failed",
                                        reason=str(exc)))
            advance(info=variant)
    return made, rows


def _pruned_tflite(pruned: Artifact, module_path: Path, data: Dataset, model_dir: Path
                   ) -> list[Artifact]:
    """pruned and pruned-int8 `.tflite` from the pruned PyTorch module the ONNX came from."""
    import torch

    from edgenn.exporters.tflite import export_tflite
    from edgenn.quantize.tflite import quantize_tflite_static

    module = torch.load(module_path, map_location="cpu", weights_only=False)  # edgenn wrote it
    source = Artifact(module_path, "torch", inputs=pruned.inputs,
                      lineage=pruned.lineage[:-1], metadata={"variant": "pruned"})
    fp32 = export_tflite(module, data.x_val[:8], model_dir / "model.pruned.tflite",
                         parity_batches=[data.x_val[:64]], source=source)
    int8 = quantize_tflite_static(fp32, model_dir / "model.pruned-int8.tflite", data.x_train)
    return [replace(fp32, metadata={**fp32.metadata, "variant": "pruned"}),
            replace(int8, metadata={**int8.metadata, "variant": "pruned-int8"})]
