"""ONNX int8 passes with onnxruntime.quantization: dynamic, and static (calibrated) in QDQ.

Each pass reads one ONNX artifact and writes a new one through `atomic_path`, so a failed
or interrupted pass never leaves a half-written model. Options are small frozen configs
with enums; bad values and bad calibration data raise `BadInputError` before any work.

Why the defaults differ from the library's: on x86 CPUs with VNNI, ONNX Runtime runs QDQ
models with uint8 activations and per-channel int8 weights about 2× faster than fp32,
while the library defaults (int8 activations, per-tensor weights) barely pay off and the
QOperator format is several times slower (measured on MobileNetV2, README "Benchmarks").
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from edgenn.core import Artifact, BadInputError, atomic_path, parse_enum, samples, to_plain
from edgenn.core.calibration import (
    Calibration,
    CalibrationMethod,
    batch_reader,
    fit_batch,
    measure_ranges,
    model_inputs,
    ort_method,
)
from edgenn.core.errors import EdgeNNError, library_step
from edgenn.core.graph import nothing_quantized_reason, sort_topologically
from edgenn.core.preparation import prepare, runtime_warnings_quiet

log = logging.getLogger(__name__)


class QType(str, Enum):
    UINT8 = "uint8"
    INT8 = "int8"


class QuantFormat(str, Enum):
    QDQ = "qdq"  # QuantizeLinear/DequantizeLinear pairs; ORT fuses them into int8 kernels
    QOPERATOR = "qoperator"  # QLinearConv & co.; often slower on CPU (see module docstring)


@dataclass(frozen=True)
class DynamicConfig:
    """Dynamic int8: weights quantized offline, activations quantized at run time."""

    per_channel: bool = False
    weight_type: QType = QType.INT8
    nodes_to_exclude: tuple[str, ...] = ()  # node names kept in float
    strip_debug_metadata: bool = True  # drop exporter stack traces from nodes (size)

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight_type", parse_enum(QType, self.weight_type,
                                                           "weight type"))
        object.__setattr__(self, "nodes_to_exclude", tuple(self.nodes_to_exclude))


@dataclass(frozen=True)
class StaticConfig:
    """Static int8: activation ranges calibrated on real batches of the training split."""

    method: CalibrationMethod = CalibrationMethod.MINMAX
    per_channel: bool = True  # one scale per output channel of each weight
    activation_type: QType = QType.UINT8
    weight_type: QType = QType.INT8
    quant_format: QuantFormat = QuantFormat.QDQ
    nodes_to_exclude: tuple[str, ...] = ()  # node names kept in float (budget fallback)
    batch_size: int = 32  # calibration batch size
    percentile: float = 99.999  # PERCENTILE method only
    preprocess: bool = True  # run ORT's quant_pre_process (shape inference, folding) first
    strip_debug_metadata: bool = True
    reduce_range: bool = False  # 7-bit weights, for CPUs without VNNI

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", parse_enum(CalibrationMethod, self.method,
                                                      "calibration method"))
        object.__setattr__(self, "activation_type", parse_enum(QType, self.activation_type,
                                                               "activation type"))
        object.__setattr__(self, "weight_type", parse_enum(QType, self.weight_type,
                                                           "weight type"))
        object.__setattr__(self, "quant_format", parse_enum(QuantFormat, self.quant_format,
                                                            "quantization format"))
        object.__setattr__(self, "nodes_to_exclude", tuple(self.nodes_to_exclude))
        if self.batch_size < 1:
            raise BadInputError(f"calibration batch size must be ≥ 1, got {self.batch_size}")
        if not 50.0 < self.percentile <= 100.0:
            raise BadInputError(f"percentile must be in (50, 100], got {self.percentile}")

    def describe(self) -> dict[str, Any]:
        return to_plain(self)

    def calibration(self) -> Calibration:
        """The settings that decide the activation ranges (the calibration table's key)."""
        return Calibration(self.method, self.percentile, self.preprocess, self.batch_size)


# The settings `onnxruntime.quantization.quantize_static` uses when given none: the
# baseline the CPU pass must beat (benchmarks/int8_speedup.py).
LIBRARY_DEFAULT = StaticConfig(per_channel=False, activation_type=QType.INT8,
                               weight_type=QType.INT8, preprocess=False)


@dataclass
class _Staging:
    """A private temporary folder beside the output, removed whatever happens."""

    near: Path
    path: Path = field(init=False)

    def __enter__(self) -> Path:
        self.near.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=".quantize-", dir=self.near))
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def quantize_dynamic(artifact: Artifact, out_path: str | os.PathLike[str],
                     config: DynamicConfig = DynamicConfig()) -> Artifact:
    """Dynamic int8 of `artifact` (ONNX) written to `out_path`; variant "int8-dynamic"."""
    from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic

    _check_onnx(artifact)
    out = Path(out_path)
    _check_nodes(artifact.path, config.nodes_to_exclude)
    with _Staging(out.parent) as staging:
        prepared = prepare(artifact.path, staging, preprocess=False)
        staged = staging / out.name
        with _library_hints_silenced(), library_step("ONNX Runtime's quantize_dynamic"):
            ort_quantize_dynamic(str(prepared.path), str(staged),
                                 per_channel=config.per_channel,
                                 weight_type=_ort_qtype(config.weight_type),
                                 nodes_to_exclude=list(config.nodes_to_exclude) or None)
        _finish(staged, out, config.strip_debug_metadata, "ONNX Runtime's quantize_dynamic")
    settings = {"per_channel": config.per_channel, "weight_type": config.weight_type.value,
                "nodes_to_exclude": list(config.nodes_to_exclude),
                "preparation": list(prepared.steps)}
    return artifact.derive(out, "quantize:int8-dynamic", extra_files=(),
                           variant="int8-dynamic", quantization=settings)


def quantize_static(artifact: Artifact, out_path: str | os.PathLike[str],
                    calibration_x: np.ndarray, config: StaticConfig = StaticConfig(),
                    variant: str = "int8-static",
                    ranges_dir: str | os.PathLike[str] | None = None) -> Artifact:
    """Static int8 of `artifact` calibrated on `calibration_x` (N, *sample_shape), float32.

    With `ranges_dir`, the activation ranges come from the build's calibration table
    there (`edgenn.core.calibration`: measured once per model and calibration set, shared
    with the other candidates and with the spiking converter); without it, ONNX Runtime
    calibrates on its own. Writes `out_path` only when every step succeeded; the
    artifact's metadata records the settings, the number of calibration samples and the
    table.
    """
    from onnxruntime.quantization import quantize_static as ort_quantize_static

    _check_onnx(artifact)
    calibration_x = check_calibration(artifact, calibration_x)
    out = Path(out_path)
    with _Staging(out.parent) as staging:
        prepared = prepare(artifact.path, staging, preprocess=config.preprocess)
        source = prepared.path
        _check_nodes(source, config.nodes_to_exclude)
        table = None
        if ranges_dir is not None:
            with library_step("calibration"):
                table = measure_ranges(artifact.path, calibration_x, config.calibration(),
                                       ranges_dir, prepared=source, inputs=artifact.inputs)
        staged = staging / out.name
        names, fixed = model_inputs(source, artifact.inputs)
        calibration_x = fit_batch(calibration_x, fixed)
        # with the table ONNX Runtime reads the ranges and needs no data; without it a
        # fixed batch dimension takes only its size
        reader = None if table else batch_reader(names, calibration_x,
                                                 fixed or config.batch_size)
        shared = {"calibration_cache_path": str(table)} if table else {}
        with _library_hints_silenced(), library_step("ONNX Runtime's quantize_static"):
            ort_quantize_static(
                str(source), str(staged), calibration_data_reader=reader,
                quant_format=_ort_format(config.quant_format),
                per_channel=config.per_channel, reduce_range=config.reduce_range,
                activation_type=_ort_qtype(config.activation_type),
                weight_type=_ort_qtype(config.weight_type),
                nodes_to_exclude=list(config.nodes_to_exclude) or None,
                calibrate_method=ort_method(config.method),
                extra_options=config.calibration().extra_options() or None,
                **shared,
            )
        _finish(staged, out, config.strip_debug_metadata, "ONNX Runtime's quantize_static")
    settings = {**config.describe(), "calibration_samples": samples.count(calibration_x),
                "calibration_table": table.name if table else None,
                "preparation": list(prepared.steps)}
    return artifact.derive(out, f"quantize:{variant}", extra_files=(), variant=variant,
                           quantization=settings)


def check_calibration(artifact: Artifact, calibration_x: Any) -> samples.Samples:
    """The calibration data as float32 (N, *sample_shape), or one such array per input
    name for a model with several; BadInputError when unusable."""
    if isinstance(calibration_x, dict):
        if not calibration_x or samples.count(calibration_x) == 0:
            raise BadInputError("calibration set is empty: static int8 needs at least one "
                                "sample from the training split")
        return {name: np.ascontiguousarray(array) for name, array in calibration_x.items()}
    if not isinstance(calibration_x, np.ndarray):
        raise BadInputError(f"calibration data must be a numpy array, got "
                            f"{type(calibration_x).__name__}")
    if calibration_x.ndim == 0 or len(calibration_x) == 0:
        raise BadInputError("calibration set is empty: static int8 needs at least one "
                            "sample from the training split")
    if not np.issubdtype(calibration_x.dtype, np.floating):
        raise BadInputError(f"calibration data must be floating point, got "
                            f"{calibration_x.dtype}")
    expected = _sample_shape(artifact)
    got = tuple(calibration_x.shape[1:])
    if expected is not None and (len(got) != len(expected) or any(
            isinstance(e, int) and e != g for e, g in zip(expected, got, strict=False))):
        shown = "×".join(str(d) for d in expected)
        raise BadInputError(f"calibration data has sample shape {'×'.join(map(str, got))}, "
                            f"the model expects {shown}")
    if not np.all(np.isfinite(calibration_x)):
        raise BadInputError("calibration data holds NaN or infinite values")
    return np.ascontiguousarray(calibration_x, dtype=np.float32)


def strip_debug_metadata(proto) -> None:
    """Remove per-node exporter debug info (stack traces, FX names): bytes, not behaviour."""
    for node in proto.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    proto.graph.doc_string = ""


def graph_node_names(path: Path) -> list[str]:
    import onnx

    return [n.name for n in onnx.load(str(path), load_external_data=False).graph.node]


class _DropHints(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "consider" not in str(record.msg) or "pre-process" not in str(record.msg)


@contextmanager
def _library_hints_silenced() -> Iterator[None]:
    """onnxruntime.quantization logs a pre-processing hint on the root logger; edgenn
    decides about pre-processing itself (`StaticConfig.preprocess`)."""
    root = logging.getLogger()
    hint = _DropHints()
    root.addFilter(hint)
    try:
        with runtime_warnings_quiet():
            yield
    finally:
        root.removeFilter(hint)


def _finish(staged: Path, out: Path, strip: bool, step: str) -> None:
    """Check the quantizer's output and write it to `out`: producers before the If/Loop
    bodies that read them (the quantizer can leave a body before them), and at least one
    operator in int8 — a copy of the float model is no int8 variant."""
    import onnx

    proto = onnx.load(str(staged))
    if strip:
        strip_debug_metadata(proto)
    sort_topologically(proto.graph)
    unquantized = nothing_quantized_reason(proto.graph)
    if unquantized:
        raise EdgeNNError(f"{step} quantized no operator: {unquantized}")
    with library_step("the ONNX checker on the quantized model"):
        onnx.checker.check_model(proto)
    with atomic_path(out) as tmp:
        onnx.save(proto, str(tmp))


def _check_onnx(artifact: Artifact) -> None:
    if artifact.format != "onnx":
        raise BadInputError(f"quantization passes take an ONNX artifact, got "
                            f"{artifact.format} ({artifact.path})")
    if not artifact.path.is_file():
        raise BadInputError(f"model file not found: {artifact.path}")


def _check_nodes(path: Path, nodes: tuple[str, ...]) -> None:
    if not nodes:
        return
    known = set(graph_node_names(path))
    unknown = [n for n in nodes if n not in known]
    if unknown:
        raise BadInputError(f"nodes to keep in float not found in the graph: "
                            f"{', '.join(unknown)}")


def _sample_shape(artifact: Artifact) -> tuple[int | str, ...] | None:
    if artifact.inputs:
        return tuple(artifact.inputs[0].shape[1:])
    import onnx

    graph = onnx.load(str(artifact.path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    for value in graph.input:
        if value.name not in initializers:
            dims = value.type.tensor_type.shape.dim
            return tuple(d.dim_value if d.HasField("dim_value") else "?" for d in dims)[1:]
    return None


def _ort_qtype(kind: QType):
    from onnxruntime.quantization import QuantType

    return QuantType.QUInt8 if kind is QType.UINT8 else QuantType.QInt8


def _ort_format(kind: QuantFormat):
    from onnxruntime.quantization import QuantFormat as OrtFormat

    return OrtFormat.QDQ if kind is QuantFormat.QDQ else OrtFormat.QOperator
