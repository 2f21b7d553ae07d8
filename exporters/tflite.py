"""torch → .tflite with litert-torch (Google's supported path, no TensorFlow).

The mobile target converts from the (possibly pruned) PyTorch module itself, the same
module the ONNX came from. litert-torch exports a fixed batch size (its lowering rejects
a symbolic batch through `Flatten`), so the artifact records `batch_size` and the tflite
runner feeds any N in chunks of it.

When litert-torch cannot lower an operator it stops at the first one; `export_tflite`
then scans the whole decomposed graph against litert-torch's lowering registry and
raises one `UnsupportedOperatorError` naming every operator it cannot convert.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgenn.core import (
    Artifact,
    BadInputError,
    EdgeNNError,
    TensorSpec,
    ToleranceExceededError,
    UnsupportedOperatorError,
    atomic_path,
)
from edgenn.exporters.onnx import scored_output_notes

log = logging.getLogger(__name__)

_MISSING_LOWERING = re.compile(r"Lowering not found: (\S+)")
INSTALL_HINT = 'pip install "edgenn[mobile]"'


@dataclass(frozen=True)
class TfliteExportConfig:
    batch_size: int = 1  # the batch the .tflite is traced at (mobile inference is batch 1)
    atol: float = 1e-4  # parity with PyTorch on logits, when parity batches are given
    rtol: float = 1e-3

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise BadInputError(f"batch_size must be ≥ 1, got {self.batch_size}")
        if self.atol < 0 or self.rtol < 0:
            raise BadInputError(f"tolerances must be ≥ 0, got atol={self.atol}, "
                                f"rtol={self.rtol}")


def export_available() -> str | None:
    """None when the mobile toolchain (litert-torch, ai-edge-quantizer) is installed,
    else what is missing and the install command. Cheap: imports nothing."""
    import importlib.util

    missing = [name for module, name in (("litert_torch", "litert-torch"),
                                         ("ai_edge_quantizer", "ai-edge-quantizer"))
               if importlib.util.find_spec(module) is None]
    if missing:
        return f"{' and '.join(missing)} not installed ({INSTALL_HINT})"
    return None


def export_tflite(model, example: np.ndarray, path: str | os.PathLike[str],
                  config: TfliteExportConfig = TfliteExportConfig(),
                  parity_batches: Sequence[np.ndarray] | None = None,
                  source: Artifact | None = None) -> Artifact:
    """Convert `model` (put in eval mode) to a .tflite at `path`; return its artifact.

    `example` is a float32 batch (N, *sample_shape) whose sample shape the model takes.
    With `parity_batches` (real data), the .tflite is checked against PyTorch before it
    appears under `path`. Raises `UnsupportedOperatorError` listing every operator
    litert-torch cannot lower.
    """
    import torch

    example = np.asarray(example, dtype=np.float32)
    if example.ndim < 2 or len(example) == 0:
        raise BadInputError(f"example must be a batch (N, *sample_shape), got shape "
                            f"{example.shape}")
    path = Path(path)
    model.eval()
    sample = _batch_of(example, config.batch_size)
    edge_model = _convert(model, torch.from_numpy(sample))
    with atomic_path(path) as tmp:
        with _quiet():
            edge_model.export(str(tmp))
        if parity_batches:
            check_tflite_parity(model, tmp, parity_batches, config.atol, config.rtol)
    inputs, outputs = tflite_specs(path)
    base = source or Artifact(path=path, format="torch")
    return base.derive(path, "export:tflite", format="tflite", inputs=inputs, outputs=outputs,
                       extra_files=(), variant="fp32", batch_size=config.batch_size)


def unsupported_operators(model, example: np.ndarray) -> list[str]:
    """Every operator of `model`'s decomposed graph that litert-torch has no lowering for.

    Mirrors litert-torch's own path (torch.export, pre-convert and pre-lower
    decompositions) and asks its lowering registry about each call, so it finds all of
    them, where the converter stops at the first.
    """
    import operator

    import torch
    from litert_torch import fx_infra
    from litert_torch.backend import export as backend_export

    lowerings = backend_export.lowerings
    model.eval()
    sample = torch.from_numpy(_batch_of(np.asarray(example, dtype=np.float32), 1))
    with _quiet():
        program = torch.export.export(model, (sample,), strict=False)
        program = fx_infra.safe_run_decompositions(
            program, fx_infra.decomp.pre_convert_decomp(), can_skip=False)
        program = fx_infra.safe_run_decompositions(
            program, fx_infra.decomp.pre_lower_decomp(), can_skip=False)
    missing: list[str] = []
    for node in program.graph.nodes:
        if node.op != "call_function" or node.target is operator.getitem:
            continue
        if lowerings.lookup(node.target) is None:
            name = str(node.target)
            if name not in missing:
                missing.append(name)
    return missing


def check_tflite_parity(model, tflite_path: Path, batches: Sequence[np.ndarray], atol: float,
                        rtol: float) -> float:
    """Run PyTorch and the .tflite on the same real batches; raise when they differ."""
    import torch
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(tflite_path), num_threads=1)
    interpreter.allocate_tensors()
    input_detail = interpreter.get_input_details()[0]
    output_index = interpreter.get_output_details()[0]["index"]
    fixed = int(input_detail["shape"][0])
    worst = 0.0
    with torch.no_grad():
        for batch in batches:
            batch = np.asarray(batch, dtype=np.float32)
            want = model(torch.from_numpy(batch)).numpy()
            have = []
            for start in range(0, len(batch), fixed):
                chunk = _batch_of(batch[start:start + fixed], fixed)
                interpreter.set_tensor(input_detail["index"], chunk)
                interpreter.invoke()
                have.append(interpreter.get_tensor(output_index)[: len(batch) - start])
            got = np.concatenate(have)
            error = float(np.max(np.abs(want - got))) if want.size else 0.0
            limit = atol + rtol * float(np.max(np.abs(want))) if want.size else atol
            worst = max(worst, error)
            if not error <= limit:
                raise ToleranceExceededError("logits", error, limit, "TFLite vs PyTorch")
    return worst


def tflite_specs(path: str | os.PathLike[str]) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Input and output specs of a .tflite (names, shapes, dtypes), in the interpreter's
    order, which is the model's (the first output is the one edgenn scores)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(path))

    def spec(detail) -> TensorSpec:
        return TensorSpec(detail["name"], tuple(int(d) for d in detail["shape"]),
                          np.dtype(detail["dtype"]).name)

    return ([spec(d) for d in interpreter.get_input_details()],
            [spec(d) for d in interpreter.get_output_details()])


def load_tflite_artifact(path: str | os.PathLike[str]) -> Artifact:
    """An artifact for a .tflite edgenn did not make; one clear BadInputError if the file
    is missing, corrupt or truncated (the flatbuffer is verified before use)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"model file not found: {path}")
    try:
        inputs, outputs = tflite_specs(path)
    except (ValueError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise BadInputError(f"{path}: not a valid .tflite model ({reason})") from None
    if not inputs or not outputs:
        raise BadInputError(f"{path}: the model has {len(inputs)} input(s) and {len(outputs)} "
                            "output(s); edgenn needs at least one of each")
    variant = "int8-static" if np.dtype(inputs[0].dtype).kind in "iu" else "fp32"
    return Artifact(path=path, format="tflite", inputs=tuple(inputs), outputs=tuple(outputs),
                    lineage=("import:tflite",),
                    metadata={"variant": variant, "batch_size": int(inputs[0].shape[0]),
                              **scored_output_notes(outputs)})


def _convert(model, sample):
    """litert_torch.convert, with its failures turned into edgenn errors."""
    import litert_torch

    try:
        with _quiet():
            return litert_torch.convert(model, (sample,))
    except Exception as exc:
        message = str(exc)
        first = _MISSING_LOWERING.findall(message)
        try:
            operators = unsupported_operators(model, sample.numpy())
        except Exception as scan_error:  # the scan is best effort; the converter's word stands
            log.debug("operator scan failed: %s", scan_error)
            operators = []
        operators = list(dict.fromkeys([*first, *operators]))
        if operators:
            raise UnsupportedOperatorError("litert-torch", operators,
                                           "no TFLite lowering") from None
        line = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
        raise EdgeNNError(f"litert-torch could not convert the model: {line}") from None


def _batch_of(batch: np.ndarray, size: int) -> np.ndarray:
    """`batch` cut or tiled (repeating its samples) to exactly `size` samples."""
    if len(batch) >= size:
        return np.ascontiguousarray(batch[:size])
    repeats = -(-size // len(batch))
    return np.ascontiguousarray(np.concatenate([batch] * repeats)[:size])


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """litert-torch prints a progress tree to stdout; keep it out of the user's terminal."""
    previous = os.environ.get("LITERT_TORCH_SHOW_PROGRESS")
    os.environ["LITERT_TORCH_SHOW_PROGRESS"] = "n"
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        if previous is None:
            os.environ.pop("LITERT_TORCH_SHOW_PROGRESS", None)
        else:
            os.environ["LITERT_TORCH_SHOW_PROGRESS"] = previous
