"""torch → ONNX with the dynamo exporter: dynamic batch, checked, parity-verified.

ONNX is the hub format: the cpu, gpu, ort-mobile and snn targets compile from it.
`load_onnx_artifact` takes an ONNX file made elsewhere and names its variant (fp32, fp16,
int8 static/dynamic) from the graph itself.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgenn.core import Artifact, BadInputError, TensorSpec, ToleranceExceededError

log = logging.getLogger(__name__)

DEFAULT_OPSET = 18


@dataclass(frozen=True)
class OnnxExportConfig:
    opset: int = DEFAULT_OPSET
    input_name: str = "input"
    output_name: str = "logits"
    dynamic_batch: bool = True
    # Models above this many bytes of weights are written with external data
    # (`model.onnx.data`), which travels with the model and counts in its size.
    external_data_threshold: int = 1 << 30
    atol: float = 1e-4  # parity with PyTorch, on logits
    rtol: float = 1e-3

    def __post_init__(self) -> None:
        if self.opset < 17:
            raise BadInputError(f"opset must be ≥ 17, got {self.opset}")


def export_onnx(model, example: np.ndarray, path: str | os.PathLike[str],
                config: OnnxExportConfig = OnnxExportConfig(),
                parity_batches: list[np.ndarray] | None = None,
                source: Artifact | None = None) -> Artifact:
    """Export `model` (eval mode) to `path`; verify it with `onnx.checker` and against
    PyTorch on `parity_batches` (real data); return the ONNX artifact.

    The file appears under `path` only once it has passed every check.
    """
    import onnx
    import torch

    path = Path(path)
    model.eval()
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    external = params >= config.external_data_threshold
    example_t = torch.from_numpy(np.ascontiguousarray(example[:2] if len(example) > 1 else example))
    dynamic = ({0: torch.export.Dim("batch", min=1)},) if config.dynamic_batch else None

    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=_ensure_dir(path.parent)))
    try:
        staged = staging / path.name
        with _quiet():
            torch.onnx.export(
                model, (example_t,), str(staged), dynamo=True, opset_version=config.opset,
                dynamic_shapes=dynamic, input_names=[config.input_name],
                output_names=[config.output_name], external_data=external, verbose=False,
            )
        onnx.checker.check_model(str(staged))
        proto = onnx.load(str(staged), load_external_data=False)
        inputs, outputs = graph_specs(proto)
        extra = external_files(proto, staged.parent)
        if parity_batches:
            check_parity(model, staged, parity_batches, config.atol, config.rtol)
        # Move external data first so the model never names a file that is not there.
        final_extra = []
        for file in extra:
            target = path.parent / file.name
            os.replace(file, target)
            final_extra.append(target)
        os.replace(staged, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    base = source or Artifact(path=path, format="torch")
    return base.derive(path, "export:onnx", format="onnx", inputs=inputs, outputs=outputs,
                       extra_files=final_extra, opset=config.opset, variant="fp32")


def check_parity(model, onnx_path: Path, batches: list[np.ndarray], atol: float,
                 rtol: float) -> float:
    """Run PyTorch and ONNX Runtime on the same real batches; raise when they differ."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    output_names = [o.name for o in session.get_outputs()]
    worst = 0.0
    with torch.no_grad():
        for batch in batches:
            expected = model(torch.from_numpy(batch))
            expected = expected if isinstance(expected, (tuple, list)) else [expected]
            got = session.run(None, {input_name: batch})
            for name, want, have in zip(output_names, expected, got, strict=False):
                want = want.numpy()
                error = float(np.max(np.abs(want - have))) if want.size else 0.0
                limit = atol + rtol * float(np.max(np.abs(want))) if want.size else atol
                worst = max(worst, error)
                if not error <= limit:
                    raise ToleranceExceededError(name, error, limit, "ONNX vs PyTorch")
    return worst


def graph_specs(proto) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Input and output specs (names, shapes with symbolic dims as str, dtypes)."""
    import onnx

    initializers = {i.name for i in proto.graph.initializer}

    def spec(value) -> TensorSpec:
        tensor = value.type.tensor_type
        dims = tuple(
            d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in tensor.shape.dim
        )
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name \
            if tensor.elem_type else "float32"
        return TensorSpec(value.name, dims, dtype)

    inputs = [spec(v) for v in proto.graph.input if v.name not in initializers]
    return inputs, [spec(v) for v in proto.graph.output]


def external_files(proto, directory: Path) -> list[Path]:
    """Files holding the model's external data, relative to `directory`."""
    found: list[Path] = []
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                candidate = directory / entry.value
                if candidate not in found:
                    found.append(candidate)
    return found


def load_onnx_artifact(path: str | os.PathLike[str]) -> Artifact:
    """An artifact for an ONNX file edgenn did not make; a clear error if it is not ONNX."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"model file not found: {path}")
    try:
        proto = onnx.load(str(path), load_external_data=False)
        if not proto.graph.node:
            raise ValueError("the graph has no nodes")
        onnx.checker.check_model(str(path))  # by path, so external data is found
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInputError(f"{path}: not a valid ONNX model ({first})") from None
    inputs, outputs = graph_specs(proto)
    if not inputs:
        raise BadInputError(f"{path}: the model has no inputs to feed")
    extra = external_files(proto, path.parent)
    missing = [str(p) for p in extra if not p.exists()]
    if missing:
        raise BadInputError(f"{path}: external data file(s) missing: {', '.join(missing)}")
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                default=0)
    variant, evidence = detect_variant(proto)
    return Artifact(path=path, format="onnx", inputs=tuple(inputs), outputs=tuple(outputs),
                    lineage=("import:onnx",), extra_files=tuple(extra),
                    metadata={"variant": variant, "opset": opset,
                              "quantization_detected": evidence})


# What an operator found in a graph says about its quantization: "static" (activations
# quantized with scales fixed ahead of time), "dynamic" (scales computed at run time), or
# "qdq" (QuantizeLinear/DequantizeLinear: decided by what they quantize, see detect_variant).
# Every ONNX and ONNX Runtime operator named QLinear* counts as "static" as well.
QUANTIZED_OPERATORS: dict[str, str] = {
    "QuantizeLinear": "qdq", "DequantizeLinear": "qdq",
    "QGemm": "static",
    "DynamicQuantizeLinear": "dynamic", "MatMulInteger": "dynamic", "ConvInteger": "dynamic",
    "DynamicQuantizeMatMul": "dynamic", "MatMulIntegerToFloat": "dynamic",
    "DynamicQuantizeLSTM": "dynamic",
}


def quantization_role(op_type: str) -> str | None:
    """The role ("static", "dynamic" or "qdq") of a quantized operator; None for others."""
    role = QUANTIZED_OPERATORS.get(op_type)
    return "static" if role is None and op_type.startswith("QLinear") else role


def detect_variant(proto) -> tuple[str, dict]:
    """The variant an ONNX graph is (int8-static, int8-dynamic, int8-weight-only, fp16 or
    fp32), read from its operators and tensor types, with the evidence: quantized operator
    counts, how many QuantizeLinear nodes quantize activations with constant scales
    (static) or computed ones (dynamic), and how many float16 initializers and inputs."""
    import onnx

    graphs = list(_graphs(proto.graph))
    constants = {i.name for g in graphs for i in g.initializer}
    constants |= {out for g in graphs for n in g.node if n.op_type == "Constant"
                  for out in n.output}
    operators: dict[str, int] = {}
    activation_quantizers = {"static": 0, "dynamic": 0}
    for node in (n for g in graphs for n in g.node):
        if quantization_role(node.op_type) is None:
            continue
        operators[node.op_type] = operators.get(node.op_type, 0) + 1
        if node.op_type == "QuantizeLinear" and node.input[0] not in constants:
            constant_scale = len(node.input) > 1 and node.input[1] in constants
            activation_quantizers["static" if constant_scale else "dynamic"] += 1
    float16 = onnx.TensorProto.FLOAT16
    initializers = [i for g in graphs for i in g.initializer]
    named = {i.name for i in initializers}  # old IR versions list them as inputs too
    float16_tensors = sum(i.data_type == float16 for i in initializers) + sum(
        v.type.tensor_type.elem_type == float16 for v in proto.graph.input if v.name not in named)
    roles = {quantization_role(op) for op in operators}
    if "static" in roles or activation_quantizers["static"]:
        variant = "int8-static"
    elif "dynamic" in roles or activation_quantizers["dynamic"]:
        variant = "int8-dynamic"
    elif operators:  # DequantizeLinear on weights only: activations stay float
        variant = "int8-weight-only"
    else:
        variant = "fp16" if float16_tensors else "fp32"
    return variant, {"operators": dict(sorted(operators.items())),
                     "activation_quantizers": activation_quantizers,
                     "float16_tensors": int(float16_tensors)}


def _graphs(graph):
    """`graph` and every subgraph inside it (If, Loop and Scan bodies)."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _graphs(attribute.g)
            for subgraph in attribute.graphs:
                yield from _graphs(subgraph)


def _ensure_dir(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@contextlib.contextmanager
def _quiet():
    """The exporter prints progress lines to stdout; keep them out of the user's terminal."""
    torch_log = logging.getLogger("torch")
    level = torch_log.level
    torch_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        torch_log.setLevel(level)
