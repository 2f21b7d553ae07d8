"""TFLite quantization with ai-edge-quantizer: full-integer static int8 and dynamic-range.

Each pass reads one .tflite and writes another (`model.tflite` → `model.int8-static.tflite`):

- static (`static_wi8_ai8`): int8 weights and activations, activation ranges calibrated
  on training batches. The model's input and output become int8 tensors with a scale
  and zero point, which the tflite runner applies (float → int8 in, int8 → float out).
- dynamic (`dynamic_wi8_afp32`): int8 weights, float activations quantized on the fly;
  inputs and outputs stay float32.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from edgenn.core import Artifact, BadInputError, EdgeNNError, TensorSpec, atomic_path, parse_enum

from .tflite_prepare import prepare_tflite, quantized_tensor_count

log = logging.getLogger(__name__)


class RangeEstimator(str, Enum):
    # The extremes over all calibration samples. litert-torch exports batch 1, so each
    # calibration step sees one sample; a moving average of per-sample extremes then
    # under-estimates the ranges and clips the logits.
    MIN_MAX = "min-max"
    MOVING_AVERAGE = "moving-average"  # ai-edge-quantizer's default (smoothing 0.95)


class WeightGranularity(str, Enum):
    CHANNELWISE = "channelwise"  # one scale per output channel (the accurate default)
    TENSORWISE = "tensorwise"  # one scale per weight tensor


@dataclass(frozen=True)
class TfliteStaticQuantConfig:
    calibration_samples: int = 512  # training samples the activation ranges are taken from
    weight_granularity: WeightGranularity = WeightGranularity.CHANNELWISE
    calibration_threads: int = 2
    range_estimator: RangeEstimator = RangeEstimator.MIN_MAX

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight_granularity",
                           parse_enum(WeightGranularity, self.weight_granularity,
                                      "weight_granularity"))
        object.__setattr__(self, "range_estimator",
                           parse_enum(RangeEstimator, self.range_estimator, "range_estimator"))
        if self.calibration_samples < 1:
            raise BadInputError(f"calibration_samples must be ≥ 1, got "
                                f"{self.calibration_samples}")
        if self.calibration_threads < 1:
            raise BadInputError(f"calibration_threads must be ≥ 1, got "
                                f"{self.calibration_threads}")


def quantize_tflite_static(artifact: Artifact, out_path: str | os.PathLike[str],
                           calibration_x: np.ndarray,
                           config: TfliteStaticQuantConfig = TfliteStaticQuantConfig(),
                           ) -> Artifact:
    """Full-integer int8 .tflite from the fp32 one, calibrated on `calibration_x`
    (float32 training samples, (N, *sample_shape)); returns the "int8-static" artifact.
    A file made elsewhere is prepared first (`tflite_prepare`: a signature, float32
    weights); the steps are recorded in the artifact's `preparation`."""
    _check_source(artifact, "static int8")
    calibration_x = np.asarray(calibration_x, dtype=np.float32)
    with _Prepared(artifact.path, out_path) as (source, steps):
        return _quantize_static(artifact, source, steps, out_path, calibration_x, config)


def _quantize_static(artifact: Artifact, source: Path, steps: tuple[str, ...],
                     out_path: str | os.PathLike[str], calibration_x: np.ndarray,
                     config: TfliteStaticQuantConfig) -> Artifact:
    from ai_edge_quantizer import calibrator, qtyping, quantizer, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.utils import qsv_utils

    signature, input_name, input_shape = _signature(source)
    if calibration_x.ndim != len(input_shape) or \
            tuple(calibration_x.shape[1:]) != tuple(input_shape[1:]):
        raise BadInputError(f"calibration data of shape {calibration_x.shape} does not fit "
                            f"the model input {tuple(input_shape)}")
    if len(calibration_x) == 0:
        raise BadInputError("static int8 quantization needs calibration samples; got none")

    manager = recipe_manager.RecipeManager()
    manager.add_static_config(
        regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        activation_num_bits=8, weight_num_bits=8,
        weight_granularity=_granularity(config.weight_granularity),
        algorithm_key=AlgorithmName.MIN_MAX_UNIFORM_QUANT)
    batch = int(input_shape[0])
    samples = calibration_x[: config.calibration_samples]
    # The .tflite has a fixed batch: calibrate in whole batches of it.
    usable = max(batch, len(samples) - len(samples) % batch)
    samples = np.resize(samples, (usable, *samples.shape[1:])).astype(np.float32)
    calibration = {signature: [{input_name: samples[i:i + batch]}
                               for i in range(0, usable, batch)]}
    update = (qsv_utils.min_max_update if config.range_estimator is RangeEstimator.MIN_MAX
              else qsv_utils.moving_average_update)
    with _quiet():
        observer = calibrator.Calibrator(source.read_bytes(),
                                         num_threads=config.calibration_threads,
                                         qsv_update_func=update)
        observer.calibrate(calibration, manager)
        ranges = observer.get_model_qsvs()
        engine = quantizer.Quantizer(str(source), manager.get_quantization_recipe())
        result = engine.quantize(ranges, enable_progress_report=False)
    out = _write(result.quantized_model, out_path)
    return artifact.derive(out, "quantize:tflite-int8", inputs=_specs(out)[0],
                           outputs=_specs(out)[1], variant="int8-static",
                           calibration_samples=usable,
                           weight_granularity=config.weight_granularity.value,
                           range_estimator=config.range_estimator.value,
                           preparation=list(steps))


def quantize_tflite_dynamic(artifact: Artifact, out_path: str | os.PathLike[str]) -> Artifact:
    """Dynamic-range int8 .tflite (int8 weights, float activations); the "int8-dynamic" artifact.

    Weights are quantized per channel, with no option: ai-edge-quantizer 0.10's
    per-tensor dynamic recipe gives wrong outputs (≈ chance accuracy on digits) under
    both ai-edge-litert 2.3 and tflite-runtime 2.14.
    """
    from ai_edge_quantizer import qtyping, quantizer, recipe_manager
    from ai_edge_quantizer.algorithm_manager import AlgorithmName

    _check_source(artifact, "dynamic int8")
    manager = recipe_manager.RecipeManager()
    manager.add_dynamic_config(
        regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=8,
        granularity=qtyping.QuantGranularity.CHANNELWISE,
        algorithm_key=AlgorithmName.MIN_MAX_UNIFORM_QUANT)
    with _Prepared(artifact.path, out_path) as (source, steps):
        engine = quantizer.Quantizer(str(source), manager.get_quantization_recipe())
        with _quiet():
            result = engine.quantize(enable_progress_report=False)
        out = _write(result.quantized_model, out_path)
    return artifact.derive(out, "quantize:tflite-dynamic", variant="int8-dynamic",
                           weight_granularity=WeightGranularity.CHANNELWISE.value,
                           preparation=list(steps))


class _Prepared:
    """`prepare_tflite` into a private folder beside the output, removed afterwards."""

    def __init__(self, source: Path, out_path: str | os.PathLike[str]) -> None:
        self.source, self.near = Path(source), Path(out_path).parent

    def __enter__(self) -> tuple[Path, tuple[str, ...]]:
        self.near.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=".tflite-prepare-", dir=self.near))
        return prepare_tflite(self.source, self.folder / self.source.name)

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _check_source(artifact: Artifact, what: str) -> None:
    if artifact.format != "tflite":
        raise BadInputError(f"{what} TFLite quantization takes a .tflite, got "
                            f"{artifact.format} ({artifact.path})")
    if artifact.variant != "fp32":
        raise BadInputError(f"{what} TFLite quantization takes the fp32 model, got variant "
                            f"'{artifact.variant}' ({artifact.path})")
    if not artifact.path.is_file():
        raise BadInputError(f"model file not found: {artifact.path}")


def _signature(path: Path) -> tuple[str, str, tuple[int, ...]]:
    """The model's one signature key, its input name and the input's shape."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(str(path))
    except (ValueError, RuntimeError) as exc:
        raise BadInputError(f"{path}: not a valid .tflite model ({exc})") from None
    signatures = interpreter.get_signature_list()
    if len(signatures) != 1:
        raise BadInputError(f"{path}: edgenn quantizes models with one signature; this one "
                            f"has {len(signatures)}")
    key, names = next(iter(signatures.items()))
    if len(names["inputs"]) != 1:
        raise BadInputError(f"{path}: edgenn quantizes models with one input; this one has "
                            f"{len(names['inputs'])}")
    runner = interpreter.get_signature_runner(key)
    detail = runner.get_input_details()[names["inputs"][0]]
    return key, names["inputs"][0], tuple(int(d) for d in detail["shape"])


def _specs(path: Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(path))

    def spec(detail) -> TensorSpec:
        return TensorSpec(detail["name"], tuple(int(d) for d in detail["shape"]),
                          np.dtype(detail["dtype"]).name)

    return ([spec(d) for d in interpreter.get_input_details()],
            [spec(d) for d in interpreter.get_output_details()])


def _write(model_bytes, out_path: str | os.PathLike[str]) -> Path:
    """The quantizer's output written to `out_path`, once it holds an integer tensor: a
    float copy called int8 is no variant."""
    out = Path(out_path)
    with atomic_path(out) as tmp:
        tmp.write_bytes(bytes(model_bytes))
        if not quantized_tensor_count(tmp):
            raise EdgeNNError("quantized no tensor: every tensor of its output is still "
                              "float")
    return out


def _granularity(granularity: WeightGranularity):
    from ai_edge_quantizer import qtyping

    return qtyping.QuantGranularity[granularity.name]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The quantizer draws progress bars on stderr, prints reports and warns that its
    calibration interpreter keeps every tensor (it must); keep them quiet."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors.*")
        yield
