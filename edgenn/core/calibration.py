"""One calibration for every consumer: activation ranges measured once, read by all.

A build draws one calibration set (`data/calibration.npz`). From it, ONNX Runtime's own
calibrator measures the range of every activation of a model once, and the result is
kept as ONNX Runtime's calibration cache — the JSON `save_tensors_data` writes and
`quantize_static(calibration_cache_path=…)` reads (recent onnxruntime releases, 1.32
here; with an older one each consumer calibrates on its own, see `cache_supported`).
Static int8 quantizes with it without a second calibration pass, and the spiking
converter takes each population's threshold λ from the same file (the upper range of
the ReLU's output tensor), so the int8 grid and the spiking rate share their full scale:
at T timesteps a rate resolves T + 1 levels of [0, λ], int8 resolves 256 of the same
range.

Tables live in `ranges/` beside the calibration set, named by a hash of the model file,
the samples and the method, so one model and one calibration set give one file whoever
asks first, and a changed model never reads a stale one. A table is written the same,
byte for byte, by every run (keys sorted: ORT's calibrator orders tensors by a set, whose
order changes with each process's string hashing; its session on one thread) and
carries the sha256 of its own content (`CONTENT_HASH`): a truncated or edited table is
measured again, never used.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from edgenn.core import samples
from edgenn.core.artifact import TensorSpec
from edgenn.core.config import parse_enum
from edgenn.core.errors import BadInputError
from edgenn.core.files import external_files, sha256_of, write_text_atomic
from edgenn.core.preparation import prepare, runtime_warnings_quiet
from edgenn.core.target import ModelInput, batch_size_of, feed_inputs, model_feed

log = logging.getLogger(__name__)

RANGES_DIR = "ranges"  # beside the calibration set
# the key under which a table holds the sha256 of the rest of it (canonical JSON); ORT
# reads only "data" and "calibration_method" (and "smooth_quant") and ignores it
CONTENT_HASH = "edgenn_sha256"
# a calibration set written outside a run (compile, simulate, bench) takes at most this
# many samples: ranges and percentiles settle long before, and ORT's histogram
# calibrators keep every activation in memory
MAX_SAMPLES = 1024


class CalibrationMethod(str, Enum):
    MINMAX = "minmax"  # range of the observed activations
    ENTROPY = "entropy"  # KL-divergence optimal threshold on histograms
    PERCENTILE = "percentile"  # clip the range at a high percentile of |x|


@dataclass(frozen=True)
class Calibration:
    """How the ranges are measured (the settings of static int8 that change them)."""

    method: CalibrationMethod = CalibrationMethod.MINMAX
    percentile: float = 99.999  # PERCENTILE only
    preprocess: bool = True  # ranges of the model after ORT's quant_pre_process
    batch_size: int = 32

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", parse_enum(CalibrationMethod, self.method,
                                                      "calibration method"))

    def extra_options(self) -> dict[str, Any]:
        """quantize_static's extra_options that reach the calibrator."""
        return {"CalibPercentile": self.percentile} \
            if self.method is CalibrationMethod.PERCENTILE else {}


def cache_supported() -> bool:
    """Whether the installed onnxruntime reads and writes calibration caches."""
    try:
        from onnxruntime.quantization import calibrate, quantize_static
    except ImportError:
        return False
    return hasattr(calibrate, "save_tensors_data") and \
        "calibration_cache_path" in inspect.signature(quantize_static).parameters


def ranges_dir_for(calibration_path: str | Path) -> Path:
    return Path(calibration_path).parent / RANGES_DIR


def table_path(directory: str | Path, model_path: str | Path, x: samples.Samples,
               calibration: Calibration) -> Path:
    """The table's file: named by the model's stem and method, keyed by a hash of the
    model file, the samples and every setting that changes the ranges."""
    digest = hashlib.sha256()
    for part in model_files(model_path):
        digest.update(sha256_of(part).encode())  # streamed: models can be large
    arrays = sorted(x.items()) if isinstance(x, dict) else [("x", x)]
    for name, array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{name}{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    digest.update(f"{calibration.method.value}|{calibration.percentile}|"
                  f"{calibration.preprocess}|{calibration.batch_size}|"
                  f"{_ort_version()}|{','.join(calibrated_op_types())}".encode())
    stem = Path(model_path).stem
    return Path(directory) / f"{stem}.{calibration.method.value}.{digest.hexdigest()[:16]}.json"


def calibrated_op_types() -> list[str]:
    """The op types quantize_static calibrates when given none (the same tensors)."""
    try:
        from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
    except ImportError:
        return []
    return sorted(set(QLinearOpsRegistry) | set(QDQRegistry))


def _ort_version() -> str:
    try:
        import onnxruntime
    except ImportError:
        return "none"
    return onnxruntime.__version__


def model_files(model_path: str | Path) -> list[Path]:
    """The model file and the external-data files its tensors live in (if any)."""
    import onnx

    model_path = Path(model_path)
    proto = onnx.load(str(model_path), load_external_data=False)
    return [model_path, *(p for p in external_files(proto, model_path.parent) if p.is_file())]


def measure_ranges(model_path: str | Path, x: samples.Samples, calibration: Calibration,
                   directory: str | Path, prepared: Path | None = None,
                   inputs: Sequence[TensorSpec] = ()) -> Path | None:
    """The calibration table of `model_path` on `x` (measured now, or found from an
    earlier consumer); None when onnxruntime predates calibration caches. `prepared`: the
    model already through `edgenn.core.preparation.prepare` (with
    `calibration.preprocess`), not redone; the ranges are those of the prepared graph,
    which static int8 quantizes. `inputs`: the model's specs when their layouts differ
    from what the shapes imply (a data file's `batch_axis.<input>`)."""
    if not cache_supported():
        return None
    from onnxruntime.quantization import create_calibrator
    from onnxruntime.quantization.calibrate import save_tensors_data
    path = table_path(directory, model_path, x, calibration)
    if path.is_file():
        if table_intact(path):
            return path
        log.warning("calibration table %s is damaged (its content does not match its "
                    "hash): measuring it again", path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".calibrate-", dir=path.parent) as scratch:
        source = prepared or prepare(model_path, scratch,
                                     preprocess=calibration.preprocess).path
        names, fixed = model_inputs(source, inputs)
        x = fit_batch(x, fixed)
        op_types = calibrated_op_types()
        options = {"percentile": calibration.percentile} \
            if calibration.method is CalibrationMethod.PERCENTILE else {}
        with runtime_warnings_quiet():
            calibrator = create_calibrator(
                source, op_types, augmented_model_path=str(Path(scratch) / "augmented.onnx"),
                calibrate_method=ort_method(calibration.method), extra_options=options)
            _one_thread(calibrator)
            calibrator.collect_data(batch_reader(names, x, fixed or calibration.batch_size))
        raw = Path(scratch) / "table.json"
        save_tensors_data(calibrator.compute_data(), raw)  # ORT's own encoding
        del calibrator
        write_table(path, json.loads(raw.read_text(encoding="utf-8")))
    log.info("calibration table %s", path.name)
    return path


def _one_thread(calibrator) -> None:
    """The calibrator's session again, on one intra-op thread in sequential mode: ranges
    that never depend on how a busy machine schedules a thread pool."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    calibrator.infer_session = onnxruntime.InferenceSession(
        calibrator.augmented_model_path, sess_options=options,
        providers=calibrator.execution_providers)


def _canonical(table: dict[str, Any]) -> bytes:
    body = {key: value for key, value in table.items() if key != CONTENT_HASH}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def write_table(path: Path, table: dict[str, Any]) -> Path:
    """`table` (ORT's cache as parsed JSON) to `path` atomically, keys sorted, with the
    sha256 of its content inside."""
    text = json.dumps({**table, CONTENT_HASH: hashlib.sha256(_canonical(table)).hexdigest()},
                      sort_keys=True, separators=(",", ":"))
    write_text_atomic(path, text)
    return path


def table_intact(path: str | Path) -> bool:
    """Whether `path` is a whole calibration table as `write_table` wrote it: it parses,
    its content matches the hash it carries, and every range can be read."""
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(table, dict) or table.get(CONTENT_HASH) != \
                hashlib.sha256(_canonical(table)).hexdigest():
            return False
        read_ranges(path)
    except (OSError, ValueError, BadInputError):
        return False
    return True


def read_ranges(path: str | Path) -> dict[str, tuple[float, float]]:
    """(lowest, highest) of every tensor in a calibration table (per-channel ranges are
    reduced to the whole tensor's)."""
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
        ranges = {}
        for name, entry in table["data"].items():
            low, high = (_number(entry[key]) for key in ("lowest", "highest"))
            ranges[name] = (float(np.min(low)), float(np.max(high)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInputError(f"{path}: not a calibration table ({exc})") from exc
    return ranges


def _number(value: Any) -> np.ndarray:
    if isinstance(value, dict):  # ORT's encoding of an ndarray
        value = value["data"]
    return np.asarray(value, dtype=np.float64)


def model_inputs(path: Path, specs: Sequence[TensorSpec] = ()
                 ) -> tuple[list[ModelInput], int | None]:
    """The model's inputs (name, NumPy dtype, layout: the specs' where given, else the one
    each shape implies), and the batch size the model fixes, if any."""
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    declared = [(v.name, tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type),
                 [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                  for d in v.type.tensor_type.shape.dim])
                for v in graph.input if v.name not in initializers]
    inputs = feed_inputs(declared, specs)
    return inputs, batch_size_of(inputs)


def fit_batch(x: samples.Samples, fixed: int | None) -> samples.Samples:
    """A fixed batch dimension takes whole batches only: the rows beyond are dropped."""
    rows = samples.count(x)
    if fixed and rows >= fixed:
        return samples.take(x, slice(0, rows // fixed * fixed))
    return x


def batch_reader(inputs: str | Sequence[ModelInput | tuple[str, np.dtype]],
                 x: samples.Samples, batch_size: int):
    """An onnxruntime CalibrationDataReader over samples-first `x` (one array, or one per
    input name) in batches (rewindable), each array cast to its input's dtype (integer ids
    stay ids) and laid out as the input takes it (`model_inputs`, `model_feed`)."""
    from onnxruntime.quantization import CalibrationDataReader

    typed = [(inputs, np.dtype(np.float32))] if isinstance(inputs, str) else list(inputs)
    rows = samples.count(x)

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = [model_feed(samples.take(x, slice(i, i + batch_size)), typed)
                            for i in range(0, rows, batch_size)]
            self.position = 0

        def get_next(self) -> dict[str, np.ndarray] | None:
            if self.position >= len(self.batches):
                return None
            self.position += 1
            return self.batches[self.position - 1]

        def rewind(self) -> None:
            self.position = 0

    return _Reader()


def ort_method(kind: CalibrationMethod):
    from onnxruntime.quantization import CalibrationMethod as OrtMethod

    return {CalibrationMethod.MINMAX: OrtMethod.MinMax,
            CalibrationMethod.ENTROPY: OrtMethod.Entropy,
            CalibrationMethod.PERCENTILE: OrtMethod.Percentile}[kind]
