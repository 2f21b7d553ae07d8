"""`edgenn quantize` as a job: one ONNX file in, its quantized copy out, with a budget.

The CLI command parses and prints; this module checks every option and the data against
the model before anything is written, runs the pass, and judges the result when a budget
is set. A model problem (a step of ONNX Runtime's quantizer that fails, a model that is
quantized already, data the model cannot take) is an `EdgeNNError` naming the step —
exit 2, never a traceback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgenn.core import Artifact, BadInputError, prepare_out_dir
from edgenn.quantize.onnx_int8 import StaticConfig

MODES = ("static", "dynamic", "fp16")


@dataclass(frozen=True)
class QuantizeJob:
    """What `edgenn quantize` was asked for."""

    model: Path
    out: Path
    mode: str = "static"  # one of MODES
    data: Path | None = None  # calibration (training split) / budget (validation split)
    static: StaticConfig = StaticConfig()  # the settings without `auto`
    auto: bool = False  # static: measure every candidate setting, keep the fastest in budget
    max_accuracy_drop: float | None = None  # percentage points against the fp32 model
    calibration_samples: int = 256
    seed: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BadInputError(f"unknown mode {self.mode!r} (choose from {', '.join(MODES)})")
        if self.auto and self.mode != "static":
            raise BadInputError(f"--auto applies to --mode static, not --mode {self.mode}")
        if self.calibration_samples < 1:
            raise BadInputError(f"--calibration-samples must be ≥ 1, got "
                                f"{self.calibration_samples}")


def quantize_file(job: QuantizeJob, progress: Callable[[str], None] | None = None
                  ) -> tuple[Artifact, Artifact]:
    """(the source artifact, the quantized one written into `job.out`)."""
    from edgenn.exporters.onnx import load_onnx_artifact
    from edgenn.frontend.data import load_dataset
    from edgenn.frontend.inputs import with_data_layout
    from edgenn.quantize.fp16 import convert_fp16
    from edgenn.quantize.onnx_int8 import DynamicConfig, quantize_dynamic, quantize_static
    from edgenn.run.compress import calibration_set
    from edgenn.run.config import CompressionConfig
    from edgenn.run.int8_search import Evaluator, budget_record, choose_static, enforce_budget

    config = CompressionConfig(method=job.static.method,
                               max_accuracy_drop=job.max_accuracy_drop,
                               calibration_samples=job.calibration_samples)
    source = load_onnx_artifact(job.model)
    if source.variant not in ("fp32",):
        raise BadInputError(f"{job.model}: the model is {source.variant} already "
                            f"(operators: {_operators(source)}); quantize its fp32 original")
    needs_data = job.mode == "static" or job.max_accuracy_drop is not None
    source = with_data_layout(source, job.data)  # as the data file declares its inputs
    # read in the model's layout and checked against it: bad data, nothing written
    data = load_dataset(job.data, inputs=source.inputs) if needs_data else None
    if data is not None and (job.auto or job.max_accuracy_drop is not None) \
            and not data.labelled:
        raise BadInputError("--auto and --max-accuracy-drop judge accuracy: the data need "
                            "labels (y)")
    out_dir = prepare_out_dir(Path(job.out))
    stem = Path(job.model).stem
    if job.mode == "fp16":
        result = convert_fp16(source, out_dir / f"{stem}.fp16.onnx")
    elif job.mode == "dynamic":
        result = quantize_dynamic(source, out_dir / f"{stem}.int8-dynamic.onnx",
                                  DynamicConfig(nodes_to_exclude=job.static.nodes_to_exclude))
    else:
        calibration = calibration_set(data.x_train, config.calibration_samples, job.seed)
        evaluator = Evaluator(data.x_val, data.y_val, job.threads)
        out = out_dir / f"{stem}.int8-static.onnx"
        if job.auto:
            result = choose_static(source, out, calibration, evaluator, config,
                                   progress=progress)
        else:
            result = quantize_static(source, out, calibration, job.static)
            if job.max_accuracy_drop is not None:
                result = enforce_budget(source, result, job.static, calibration, evaluator,
                                        config, progress=progress)
    if job.max_accuracy_drop is not None and "budget" not in result.metadata:
        evaluator = Evaluator(data.x_val, data.y_val, job.threads)
        record = budget_record(evaluator.accuracy(source), evaluator.accuracy(result),
                               job.max_accuracy_drop)
        result = dataclasses.replace(result, metadata={**result.metadata, "budget": record})
    return source, result


def _operators(artifact: Artifact) -> str:
    counts = (artifact.metadata.get("quantization_detected") or {}).get("operators") or {}
    return ", ".join(f"{op} ×{n}" for op, n in counts.items()) or "float16 tensors"
