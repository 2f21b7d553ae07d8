"""ONNX (fp32, possibly pruned) → spiking network, with data-based normalisation.

`trace.py` finds the populations (one per ReLU, plus the output layer) and the linear
chains feeding them. Each chain becomes one projection: a single convolution stays a
convolution, anything longer (conv → pool → flatten → gemm) is composed into one dense
matrix, exactly. Batch normalisation therefore folds into the layer before it, bias
becomes a constant input current, and a residual Add sums two projections into one
population.

Normalisation (Rueckauer et al. 2017): weights into each population are scaled by
λ_source / λ and its bias by 1 / λ, so every threshold is 1. λ is the population's full
scale: by default the upper range of its tensor in the build's calibration table — the
one static int8 quantizes with (`edgenn.core.calibration`), so the int8 grid and the
spiking rate span the same [0, λ] — or, with `thresholds="percentile"` (and for a
population the table does not name), a percentile (99.9 % by default, 100 = the
maximum) of its ANN activations on the calibration data.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgenn.core import BadInputError, ToleranceExceededError
from edgenn.core.target import fixed_batch_size, run_in_fixed_batches

from .ir import (
    DEFAULT_GRID_BITS,
    INPUT,
    NeuronModel,
    Population,
    Projection,
    SpikingNetwork,
    to_grid,
)
from .projection import apply_projection
from .trace import LinearOp, trace_graph

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConversionConfig:
    percentile: float = 99.9  # of calibration activations per layer; 100 = the maximum
    grid_bits: int = DEFAULT_GRID_BITS
    calibration_samples: int = 1024  # at most this many calibration samples are used
    parity_atol: float = 1e-3  # ANN-through-the-IR against ONNX Runtime, on logits
    neuron: NeuronModel = NeuronModel()  # IF or LIF, reset by subtraction or to zero

    def __post_init__(self) -> None:
        if not 0 < self.percentile <= 100:
            raise BadInputError(f"percentile must be in (0, 100], got {self.percentile}")
        if not 8 <= self.grid_bits <= 40:
            raise BadInputError(f"grid_bits must be in [8, 40], got {self.grid_bits}")


def _projection(source: int, ops: list[LinearOp], source_shape) -> Projection:
    """One chain as a projection. Kept as it is: [pool] conv [BN…], and [pool] [flatten…]
    matmul [BN…] (an average pool becomes a sum pool, its 1/window moved into the
    weights); anything else (pooling with padding, two pools, …) is composed into one
    dense matrix, exactly."""
    import torch

    pool, rest = None, ops
    if ops and ops[0].kind == "pool" and ops[0].pool is not None:
        pool, rest = ops[0].pool, ops[1:]
    kinds = [op.kind for op in rest]
    core = next((i for i, k in enumerate(kinds) if k != "reshape"), len(kinds))
    if core < len(kinds) and kinds[core] in ("conv", "matmul") \
            and all(k == "scale" for k in kinds[core + 1:]) \
            and (kinds[core] == "matmul" or core == 0):
        op = rest[core]
        weight = op.conv.weight if op.kind == "conv" else op.matrix.T
        for scale in rest[core + 1:]:  # batch normalisation folds into the weights
            weight = weight * scale.scale.reshape(-1, *(1,) * (weight.ndim - 1))
        if pool is not None:  # average = sum / window: the division moves into W
            weight = weight / pool.window
            pool = replace(pool, average=False)
        if op.kind == "conv":
            return replace(op.conv, source=source, weight=weight, pool=pool)
        return Projection(source, "dense", np.ascontiguousarray(weight), pool=pool)
    n_pre = int(np.prod(source_shape))
    t = torch.eye(n_pre, dtype=torch.float64).reshape(n_pre, *source_shape)
    for op in ops:
        t = op.apply(t)
    return Projection(source, "dense", np.ascontiguousarray(t.reshape(n_pre, -1).T.numpy()))


def ann_forward(network: SpikingNetwork, x: np.ndarray) -> list[np.ndarray]:
    """Activations of every population of the (un-normalised) ANN view; last: logits."""
    acts: list[np.ndarray] = []
    source = np.asarray(x, dtype=np.float64).reshape(len(x), -1) / network.input_scale
    last = len(network.populations) - 1
    for index, population in enumerate(network.populations):
        z = np.broadcast_to(population.bias, (len(x), population.size)).copy()
        for projection in population.projections:
            src = source if projection.source == INPUT else acts[projection.source]
            z += apply_projection(projection, src, network.source_shape(projection.source))
        acts.append(z if index == last else np.maximum(z, 0.0))
    return acts


def convert_onnx(path: str | os.PathLike[str], calibration: np.ndarray,
                 config: ConversionConfig = ConversionConfig(),
                 ranges: Mapping[str, tuple[float, float]] | None = None) -> SpikingNetwork:
    """Convert the ONNX model at `path`; `calibration` are input samples (N, *shape);
    `ranges`: (lowest, highest) per tensor name from a calibration table — each
    population's λ is its tensor's highest; None: percentiles of `calibration`."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"ONNX model not found: {path}")
    model = onnx.load(str(path))
    input_shape, raw = trace_graph(model)
    calibration = np.asarray(calibration, dtype=np.float32)[: config.calibration_samples]
    if calibration.ndim < 2 or tuple(calibration.shape[1:]) != input_shape:
        raise BadInputError(f"calibration data has shape {calibration.shape}, the model "
                            f"takes samples of shape {input_shape}")
    shapes = [shape for _, shape, _, _ in raw]
    populations = []
    for name, shape, bias, terms in raw:
        projections = tuple(
            _projection(source, ops, input_shape if source == INPUT else shapes[source])
            for source, ops in terms)
        populations.append(Population(name, tuple(shape), np.asarray(bias, np.float64), 1.0,
                                      projections))
    raw_net = SpikingNetwork(input_shape, 1.0, tuple(populations), config.grid_bits)
    acts = ann_forward(raw_net, calibration)
    _check_parity(path, calibration, acts[-1], config.parity_atol)
    input_scale = float(max(calibration.max(), 1e-12))
    scales, own = [], []
    for population, activations in zip(populations, acts, strict=True):
        high = (ranges or {}).get(population.name, (0.0, 0.0))[1]
        if high > 0:
            scales.append(float(high))
        else:
            scales.append(_scale(activations, config.percentile))
            own.append(population.name)
    normalised = []
    for population, scale in zip(populations, scales, strict=True):
        projections = tuple(
            replace(p, weight=to_grid(p.weight * (input_scale if p.source == INPUT
                                                  else scales[p.source]) / scale,
                                      config.grid_bits))
            for p in population.projections)
        normalised.append(Population(population.name, population.shape,
                                     to_grid(population.bias / scale, config.grid_bits), 1.0,
                                     projections))
    thresholds = {"source": "calibration table", "percentile_for": own} if ranges is not None \
        else {"source": "percentile", "percentile": config.percentile}
    metadata = {"source": str(path), "percentile": config.percentile, "thresholds": thresholds,
                "scales": [float(s) for s in scales], **ann_costs(model, input_shape)}
    log.info("converted %s: %d populations, scales %s", path.name, len(normalised),
             ", ".join(f"{s:.3g}" for s in scales))
    return SpikingNetwork(input_shape, input_scale, tuple(normalised), config.grid_bits,
                          metadata, config.neuron)


def _scale(activations: np.ndarray, percentile: float) -> float:
    positive = activations[activations > 0]
    if positive.size == 0:
        return 1.0
    return float(np.percentile(positive, percentile))


def _check_parity(path: Path, x: np.ndarray, logits: np.ndarray, atol: float) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    declared = session.get_inputs()[0]
    reference = run_in_fixed_batches(  # a model that fixes its batch runs in batches of it
        lambda batch: session.run(None, {declared.name: batch})[0], x[:256],
        fixed_batch_size(declared.shape)).reshape(len(x[:256]), -1)
    error = float(np.max(np.abs(reference - logits[:256])))
    if error > atol * max(1.0, float(np.max(np.abs(reference)))):
        raise ToleranceExceededError("logits", error, atol, "ANN view of the spiking network")


def ann_costs(model, input_shape: tuple[int, ...]) -> dict[str, int]:
    """Dense MACs per sample, weights and zero weights of the ANN (Conv, Gemm, MatMul)."""
    import onnx
    from onnx import numpy_helper

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {}
    for info in [*inferred.graph.value_info, *inferred.graph.output]:
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [d.dim_value for d in dims[1:]]
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    macs = total = zeros = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul") or node.input[1] not in weights:
            continue
        w = weights[node.input[1]]
        total += w.size
        zeros += int(np.count_nonzero(w == 0))
        out = shapes.get(node.output[0])
        if node.op_type == "Conv":
            macs += int(np.prod(out)) * int(np.prod(w.shape[1:])) if out else 0
        else:
            macs += int(w.size)
    return {"dense_macs": macs, "ann_weights": total, "ann_zero_weights": zeros}
