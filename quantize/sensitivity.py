"""Per-node quantization sensitivity: activation SNR between the fp32 and the int8 model.

Both models are run on the same calibration batches with every intermediate tensor
exposed (onnxruntime.quantization.qdq_loss_debug). For each tensor, the SNR in dB of the
int8 model's value against the fp32 model's value says how much error has accumulated up
to that point. A node's *sensitivity* is how much SNR it loses: the SNR of its inputs
minus the SNR of its output. Ranking by that loss (not by the output SNR alone, which
only falls along the graph) points at the node that breaks the model, the one to keep in
float first.

SNR(x, y) = 10·log10(Σx² / Σ(x − y)²), capped at `SNR_CAP_DB` when the two are equal.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgenn.core import Artifact, BadInputError
from edgenn.core.calibration import batch_reader
from edgenn.core.preparation import prepare

from .onnx_int8 import _Staging, check_calibration

log = logging.getLogger(__name__)

SNR_CAP_DB = 100.0


@dataclass(frozen=True)
class NodeSensitivity:
    """One quantized node: the SNR (dB) at its inputs and output, and the loss between."""

    node: str  # node name in the (pre-processed) float graph; usable in nodes_to_exclude
    op_type: str
    input_snr_db: float  # worst SNR over its activation inputs
    output_snr_db: float  # SNR of its output (after any activation fused into it)
    quantization_snr_db: float | None  # SNR added by the output's own Q/DQ pair alone

    @property
    def loss_db(self) -> float:
        return max(0.0, self.input_snr_db - self.output_snr_db)

    def to_dict(self) -> dict:
        return {"node": self.node, "op_type": self.op_type, "input_snr_db": self.input_snr_db,
                "output_snr_db": self.output_snr_db,
                "quantization_snr_db": self.quantization_snr_db, "loss_db": self.loss_db}


def snr_db(reference: np.ndarray, value: np.ndarray) -> float:
    reference = np.asarray(reference, dtype=np.float64).ravel()
    value = np.asarray(value, dtype=np.float64).ravel()
    noise = float(np.sum((reference - value) ** 2))
    signal = float(np.sum(reference ** 2))
    if noise == 0.0:
        return SNR_CAP_DB
    if signal == 0.0:
        return -SNR_CAP_DB
    return float(min(SNR_CAP_DB, 10.0 * math.log10(signal / noise)))


def node_sensitivity(float_artifact: Artifact, int8_artifact: Artifact,
                     calibration_x: np.ndarray, batch_size: int = 16,
                     preprocess_float: bool = True) -> list[NodeSensitivity]:
    """Quantized nodes of `int8_artifact` (QDQ), most sensitive (largest SNR loss) first.

    `float_artifact` is the model `int8_artifact` was quantized from; with
    `preprocess_float` it is pre-processed the same way `quantize_static` does, so node
    and tensor names match.
    """
    import onnx
    from onnxruntime.quantization import qdq_loss_debug as debug

    calibration_x = check_calibration(float_artifact, calibration_x)
    with _Staging(Path(int8_artifact.path).parent) as staging:
        float_path = prepare(float_artifact.path, staging, preprocess=preprocess_float).path
        float_aug, int8_aug = staging / "float.aug.onnx", staging / "int8.aug.onnx"
        debug.modify_model_output_intermediate_tensors(str(float_path), str(float_aug))
        debug.modify_model_output_intermediate_tensors(str(int8_artifact.path), str(int8_aug))
        input_name = _input_name(float_path)
        float_acts = debug.collect_activations(
            str(float_aug), batch_reader(input_name, calibration_x, batch_size))
        int8_acts = debug.collect_activations(
            str(int8_aug), batch_reader(input_name, calibration_x, batch_size))
        matching = debug.create_activation_matching(int8_acts, float_acts)
        float_graph = onnx.load(str(float_path), load_external_data=False).graph
        int8_graph = onnx.load(str(int8_artifact.path), load_external_data=False).graph
    if not matching:
        raise BadInputError(f"{int8_artifact.path}: no quantized activations found "
                            "(sensitivity needs a QDQ model)")
    return rank_nodes(float_graph, int8_graph, matching)


def rank_nodes(float_graph, int8_graph, matching: dict) -> list[NodeSensitivity]:
    """Turn matched activations into per-node SNR losses (see the module docstring)."""
    measured: dict[str, float] = {}
    local: dict[str, float] = {}
    for tensor, values in matching.items():
        if "float" in values and values.get("post_qdq") is not None:
            measured[tensor] = snr_db(np.concatenate([np.ravel(v) for v in values["float"]]),
                                      np.concatenate([np.ravel(v) for v in values["post_qdq"]]))
        if values.get("pre_qdq") is not None and values.get("post_qdq") is not None:
            local[tensor] = snr_db(np.concatenate([np.ravel(v) for v in values["pre_qdq"]]),
                                   np.concatenate([np.ravel(v) for v in values["post_qdq"]]))

    initializers = {i.name for i in float_graph.initializer}
    producer = {out: node for node in float_graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in float_graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    in_int8 = {n.name for n in int8_graph.node}
    dq_outputs = {out for n in int8_graph.node if n.op_type == "DequantizeLinear"
                  for out in n.output}
    quantized = {n.name for n in int8_graph.node
                 if n.op_type not in ("QuantizeLinear", "DequantizeLinear")
                 and any(i in dq_outputs for i in n.input)}

    def snr_in(tensor: str, depth: int = 0) -> float:
        if tensor in measured:
            return measured[tensor]
        node = producer.get(tensor)
        if node is None or depth > 50:
            return SNR_CAP_DB  # a graph input nobody quantized: exact
        inputs = [i for i in node.input if i and i not in initializers]
        return min((snr_in(i, depth + 1) for i in inputs), default=SNR_CAP_DB)

    def snr_out(tensor: str, depth: int = 0) -> tuple[float, str] | None:
        if tensor in measured:
            return measured[tensor], tensor
        users = consumers.get(tensor, [])
        # An activation the quantizer folded into the node (Relu after Conv) is gone from
        # the int8 graph: the node's real output is that activation's output.
        if len(users) == 1 and users[0].name not in in_int8 and depth < 8:
            return snr_out(users[0].output[0], depth + 1)
        return None

    ranked: list[NodeSensitivity] = []
    for node in float_graph.node:
        if node.name not in quantized:
            continue
        out = snr_out(node.output[0]) if node.output else None
        if out is None:
            continue
        inputs = [i for i in node.input if i and i not in initializers]
        input_snr = min((snr_in(i) for i in inputs), default=SNR_CAP_DB)
        ranked.append(NodeSensitivity(node.name, node.op_type, input_snr, out[0],
                                      local.get(out[1])))
    ranked.sort(key=lambda s: (-s.loss_db, s.output_snr_db))
    for item in ranked:
        log.debug("sensitivity %s (%s): in %.1f dB → out %.1f dB", item.node, item.op_type,
                  item.input_snr_db, item.output_snr_db)
    return ranked


def _input_name(path: Path) -> str:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    return next(v.name for v in graph.input if v.name not in initializers)
