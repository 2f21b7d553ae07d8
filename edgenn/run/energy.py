"""Operation counts of a model file and the energy estimate of every report row.

`op_counts` reads an ONNX or `.tflite` file — the user's or one the run built — and counts
per sample the multiply-accumulates of its compute layers (convolutions, fully connected
layers and matrix products, recurrent cells), its weights and the activations its layers
write. `annotate_energy` turns the counts a row carries into µJ per inference with the
one energy model of `edgenn.core.energy`, the same the spiking rows use; a spiking row
keeps its own estimate (effective synaptic operations).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgenn.core import Artifact
from edgenn.core.energy import EnergyModel, ann_energy_uj, energy_basis, precision_of
from edgenn.core.results import Measurement

log = logging.getLogger(__name__)

COUNTS_KEY = "op_counts"  # artifact metadata → row extra
_NOT_ACTIVATIONS = {"QuantizeLinear", "DequantizeLinear", "Constant", "Shape",
                    "ConstantOfShape", "Identity", "Cast"}


def op_counts(path: str | Path) -> dict[str, float] | None:
    """{"macs", "weights", "activations"} per sample of an ONNX or .tflite model; None
    when the file cannot be read this way (a row then has no energy estimate)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".tflite":
            return _tflite_counts(path)
        if path.suffix.lower() == ".onnx":
            return _onnx_counts(path)
    except Exception as exc:  # an estimate is optional: never fail a run over it
        log.debug("no operation counts for %s: %s", path, exc)
    return None


def with_counts(artifacts: Sequence[Artifact]) -> list[Artifact]:
    """The artifacts with their operation counts in metadata (carried into their rows),
    each file read once. A PyTorch program (.pt2) computes what its ONNX export computes:
    it takes the counts of the float ONNX artifact of its family (the model, or pruned)."""
    counted = {id(a): op_counts(a.path) for a in artifacts if a.format in ("onnx", "tflite")}
    family = {_family(a.variant): counted[id(a)] for a in artifacts
              if a.format == "onnx" and a.variant in ("fp32", "pruned") and counted[id(a)]}
    result = []
    for artifact in artifacts:
        counts = counted.get(id(artifact)) if id(artifact) in counted else \
            family.get(_family(artifact.variant)) if artifact.format == "torch" else None
        if counts is not None:
            artifact = dataclasses.replace(
                artifact, metadata={**artifact.metadata, COUNTS_KEY: counts})
        result.append(artifact)
    return result


def annotate_energy(rows: Sequence[Measurement], model: EnergyModel | None = None) -> None:
    """`extra["energy_uj"]` and `extra["energy_basis"]` on every measured row that can be
    estimated: spiking rows from their synaptic operations, the others from their counts."""
    model = model or EnergyModel()
    for row in rows:
        if row.status != "ok":
            continue
        spiking = row.extra.get("energy")
        if isinstance(spiking, dict) and spiking.get("snn_uj") is not None:
            row.extra["energy_uj"] = float(spiking["snn_uj"])
            row.extra["energy_basis"] = ("estimate (45 nm): effective synaptic operations "
                                         "and neuron updates")
            continue
        counts = row.extra.get(COUNTS_KEY)
        if not counts:
            continue
        precision = precision_of(row.variant)
        row.extra["energy_uj"] = round(ann_energy_uj(counts, precision, model), 6)
        row.extra["energy_basis"] = energy_basis(counts, precision)


def _family(variant: str) -> str:
    return "pruned" if variant.startswith("pruned") else ""


# ---------------------------------------------------------------------------------------
# ONNX
# ---------------------------------------------------------------------------------------

def _onnx_counts(path: Path) -> dict[str, float]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for value in model.graph.input:  # one sample: symbolic and batch dimensions → 1
        dims = value.type.tensor_type.shape.dim
        for i, dim in enumerate(dims):
            if i == 0 or dim.dim_param or dim.dim_value <= 0:
                dim.dim_value = 1
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    graph = inferred.graph
    shapes: dict[str, list[int]] = {}
    for value in (*graph.input, *graph.value_info, *graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.dim_value > 0 else 0 for d in dims]
    initializers = {i.name: list(i.dims) for i in graph.initializer}
    shapes.update(initializers)
    weights = sum(math.prod(d) for i in graph.initializer for d in [list(i.dims)]
                  if i.data_type != onnx.TensorProto.INT64)
    macs = activations = 0
    for node in graph.node:
        macs += _onnx_node_macs(node, shapes)
        if node.op_type not in _NOT_ACTIVATIONS:
            activations += sum(math.prod(shapes.get(o, [0])) for o in node.output if o)
    return {"macs": float(macs), "weights": float(weights), "activations": float(activations)}


def _onnx_node_macs(node: Any, shapes: dict[str, list[int]]) -> int:
    op = node.op_type

    def shape(position: int) -> list[int]:
        return shapes.get(node.input[position], []) if len(node.input) > position else []

    out = shapes.get(node.output[0], []) if node.output else []
    if op in ("Conv", "ConvInteger", "QLinearConv"):
        weight = shape(3 if op == "QLinearConv" else 1)
        return math.prod(out) * math.prod(weight[1:]) if out and weight else 0
    if op == "ConvTranspose":
        x, weight = shape(0), shape(1)
        return math.prod(x) * math.prod(weight[1:]) if x and weight else 0
    if op in ("MatMul", "MatMulInteger", "QLinearMatMul", "Gemm"):
        a = shape(0)
        transposed = op == "Gemm" and any(a_.name == "transA" and a_.i for a_ in node.attribute)
        inner = (a[0] if transposed else a[-1]) if a else 0
        return math.prod(out) * inner if out else 0
    if op in ("LSTM", "GRU", "RNN"):
        x, w, r = shape(0), shape(1), shape(2)
        if len(x) == 3 and len(w) == 3 and len(r) == 3:
            return x[0] * x[1] * w[0] * w[1] * (w[2] + r[2])  # seq × batch × dirs × gates·H × (I+H)
    return 0


# ---------------------------------------------------------------------------------------
# TFLite
# ---------------------------------------------------------------------------------------

def _tflite_counts(path: Path) -> dict[str, float]:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]

    interpreter = Interpreter(model_path=str(path))
    tensors = {d["index"]: [int(v) for v in d["shape"]]
               for d in interpreter.get_tensor_details()}
    macs = weights = activations = 0
    for op in interpreter._get_ops_details():  # the only op listing the package exposes
        name, inputs = op["op_name"], list(op["inputs"])

        def shape(position: int, inputs: list[int] = inputs) -> list[int]:
            index = inputs[position] if len(inputs) > position else -1
            return tensors.get(index, []) if index >= 0 else []

        out = tensors.get(op["outputs"][0], []) if len(op["outputs"]) else []
        activations += sum(math.prod(tensors.get(o, [0])) for o in op["outputs"])
        if name in ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D", "CONV_3D"):
            weight = shape(1)
            bias = shape(2)
            weights += (math.prod(weight) if weight else 0) + (math.prod(bias) if bias else 0)
            per_output = weight[-1] if name == "FULLY_CONNECTED" else \
                math.prod(weight[1:3]) if name == "DEPTHWISE_CONV_2D" else math.prod(weight[1:])
            macs += math.prod(out) * per_output if out and weight else 0
        elif name == "BATCH_MATMUL":
            a = shape(0)
            macs += math.prod(out) * a[-1] if out and a else 0
    return {"macs": float(macs), "weights": float(weights), "activations": float(activations)}
