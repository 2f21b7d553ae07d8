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
from edgenn.core.files import external_files

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
        from onnx import defs

        newest = defs.onnx_opset_version()
        if not 17 <= self.opset <= newest:
            raise BadInputError(f"opset must be 17 … {newest} (the newest the installed onnx "
                                f"knows), got {self.opset}")


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
        try:
            with _quiet():
                torch.onnx.export(
                    model, (example_t,), str(staged), dynamo=True, opset_version=config.opset,
                    dynamic_shapes=dynamic, input_names=[config.input_name],
                    output_names=[config.output_name], external_data=external, verbose=False,
                )
        except Exception as exc:  # the exporter's report runs to hundreds of lines
            raise BadInputError(f"the model cannot be exported to ONNX: "
                                f"{failure_summary(exc)}") from None
        onnx.checker.check_model(str(staged))
        proto = onnx.load(str(staged), load_external_data=False)
        written = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                      default=0)
        if written != config.opset:
            raise BadInputError(f"the exporter wrote opset {written}, not the opset "
                                f"{config.opset} asked for")
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


def failure_summary(exc: BaseException) -> str:
    """One line for a toolchain's failure: the innermost cause's type and first line, and
    where in the user's code (outside Python, its libraries and edgenn) it was raised."""
    import sysconfig
    import traceback

    chain = [exc]
    while chain[-1].__cause__ is not None and len(chain) < 20:
        chain.append(chain[-1].__cause__)
    library = {sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")}
    library.add(str(Path(__file__).resolve().parent.parent))  # edgenn's own tree
    frames = [f for e in chain for f in traceback.extract_tb(e.__traceback__)
              if not f.filename.startswith("<")
              and not any(str(Path(f.filename).resolve()).startswith(p) for p in library)]
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    cause = chain[-1]
    construct = _untraceable_construct(chain)
    if construct:
        return f"{construct}{where}"
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    text = next((line for line in lines if not line.startswith(("#", "[", "-", "="))), "")
    return f"{type(cause).__name__}: {text[:300]}{where}" if text else \
        f"{type(cause).__name__}{where}"


# torch's errors for constructs a graph capture cannot follow, by type name: what the user's
# code does, and how to write it so that it exports
UNTRACEABLE = {
    "GuardOnDataDependentSymNode": (
        "the model's forward branches on tensor values (data-dependent control flow such as "
        "`if x.sum() > 0:`), which torch.export and the ONNX exporter cannot capture; "
        "compute both branches and pick with torch.where, or use torch.cond"),
}


def _untraceable_construct(chain: list[BaseException]) -> str | None:
    for error in chain:
        for kind in type(error).__mro__:
            if kind.__name__ in UNTRACEABLE:
                return UNTRACEABLE[kind.__name__]
    return None


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
                if not np.all(np.isfinite(want)):
                    raise BadInputError(f"the model's output '{name}' holds NaN or infinite "
                                        "values on real data in PyTorch itself: there is "
                                        "nothing to compare (check the model and its weights)")
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


def load_onnx_artifact(path: str | os.PathLike[str]) -> Artifact:
    """An artifact for an ONNX file edgenn did not make; a clear error if it is not ONNX."""
    from dataclasses import replace

    import onnx

    from edgenn.core.artifact import batch_axis_for

    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"model file not found: {path}")
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise BadInputError(f"{str(path).encode('utf-8', 'surrogateescape')!r}: the path is "
                            "not valid UTF-8, which onnx and ONNX Runtime cannot open; rename "
                            "the file or its folder") from None
    try:
        proto = onnx.load(str(path), load_external_data=False)
        if not proto.graph.node:
            raise ValueError("the graph has no nodes")
        onnx.checker.check_model(str(path))  # by path, so external data is found
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInputError(f"{path}: not a valid ONNX model ({first})") from None
    check_operator_sets(proto, path)
    inputs, outputs = graph_specs(proto)
    if not inputs:
        raise BadInputError(f"{path}: the model has no inputs to feed")
    # each input's layout as its shape implies (a state [2, batch, 128] takes its samples on
    # axis 1, a scalar one value per run); a data file may say otherwise
    inputs = [replace(spec, batch_axis=batch_axis_for(spec.shape)) for spec in inputs]
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
                              "quantization_detected": evidence,
                              **scored_output_notes(outputs)})


def scored_output_notes(outputs) -> dict[str, list[str]]:
    """{"notes": [which output is scored]} for an imported model with several outputs
    (every target scores the first, in the model's own order), else {}. The note travels
    with every variant into its report row."""
    if len(outputs) < 2:
        return {}
    names = ", ".join(o.name for o in outputs)
    return {"notes": [f"the model has {len(outputs)} outputs ({names}); edgenn scores the "
                      f"first, {outputs[0].name}"]}


# Operator domains ONNX Runtime (every ONNX target's runtime) implements, beyond the
# standard ones whose newest opsets come from the installed onnx package.
RUNTIME_DOMAINS = {"com.microsoft": 1, "com.microsoft.nchwc": 1, "com.ms.internal.nhwc": 1}


def check_operator_sets(proto, path: Path) -> None:
    """Refuse, before any runtime sees it, a model that imports an opset newer than the
    installed onnx knows or uses operators from a domain no target implements (custom
    operators); functions the model defines itself are fine."""
    from onnx import defs

    known = {domain: versions[1] for domain, versions in defs.C.schema_version_map().items()}
    known["ai.onnx"] = known[""]
    known.update(RUNTIME_DOMAINS)
    local = {(f.domain, f.name) for f in proto.functions}
    local_domains = {f.domain for f in proto.functions}
    problems = []
    for opset in proto.opset_import:
        newest = known.get(opset.domain)
        if newest is not None and opset.version > newest:
            problems.append(f"opset {opset.version} of {opset.domain or 'ai.onnx'} (the newest "
                            f"known here is {newest})")
    custom: dict[str, set[str]] = {}
    for node in (n for g in _graphs(proto.graph) for n in g.node):
        if node.domain not in known and (node.domain, node.op_type) not in local \
                and node.domain not in local_domains:
            custom.setdefault(node.domain, set()).add(node.op_type)
    for domain, operators in sorted(custom.items()):
        problems.append(f"custom operators {', '.join(sorted(operators))} of domain "
                        f"'{domain}' (no edgenn target implements them)")
    if problems:
        raise BadInputError(f"{path}: uses {'; '.join(problems)}")


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
    # torch logs the failures it then raises (fake-tensor shape errors, at ERROR, in its
    # own format): edgenn reports the raised error in one line; --verbose shows them
    verbose = logging.getLogger("edgenn").isEnabledFor(logging.DEBUG)
    torch_log.setLevel(logging.ERROR if verbose else logging.CRITICAL)
    try:
        # torch.export prints the partial graph of a failed capture to stderr
        stderr = contextlib.nullcontext() if verbose else contextlib.redirect_stderr(io.StringIO())
        with contextlib.redirect_stdout(io.StringIO()), stderr, warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        torch_log.setLevel(level)
