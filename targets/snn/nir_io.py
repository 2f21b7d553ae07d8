"""NIR export of a converted network, and reading NIR graphs (ours or another tool's).

What the file says is what edgenn simulates, in NIR's own terms, with one timestep = dt
(graph metadata `dt`, 1.0):
- each population is an `IF` node (r = 1/dt: v += I per step) or an `LIF` node
  (τ = τ_steps·dt, r = τ/dt, v_leak = 0: v = (1 − 1/τ_steps)·v + I per step, Euler),
  v_threshold = θ, fire on v > θ, v_reset = 0;
- each projection is its NIR nodes: [`SumPool2d`/`AvgPool2d`] → [`Flatten`] →
  `Affine`, or [pool] → `Conv2d`/`Conv1d`; the population's bias rides on its first
  projection; several edges into one neuron node sum (residual adds). A 1-D pooling
  window, which NIR has no node for, is written as a `Conv1d` with a kernel of ones;
- the graph's input is x / input_scale (metadata `input_scale`), presented every
  timestep (constant coding) — there is no hidden rounding of the input current.

Reset by subtraction has no NIR node (NIR's neurons reset to v_reset): a network that
resets by subtraction is written with v_reset = 0, `reset: subtract` in every neuron's
metadata and `exact: false` in the graph's, and a warning; `reset=zero` networks are
exact (`exact: true`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from edgenn.core import BadInputError, atomic_path

from .ir import (
    INPUT,
    NeuronKind,
    NeuronModel,
    Pool,
    Population,
    Projection,
    Reset,
    SpikingNetwork,
    dense_matrix,
)
from .nir_read import network_from_nir as network_from_nir  # re-export: it lived here

log = logging.getLogger(__name__)
DT = 1.0  # one timestep, in the NIR graph's unit of time


_warned: list[bool] = []  # the subtraction-reset warning, said once per process

def neuron_node_name(network: SpikingNetwork, index: int) -> str:
    return f"{network.neuron.kind.value}{index}"


def to_nir(network: SpikingNetwork, pooling: str = "avg"):
    """The network as a `nir.NIRGraph`. `pooling`: "avg" writes `AvgPool2d` (with the
    window folded back into the next weights) where that is exact (a power-of-two
    window), `SumPool2d` otherwise; "sum" always writes `SumPool2d`."""
    import nir

    if pooling not in ("avg", "sum"):
        raise BadInputError(f"pooling must be 'avg' or 'sum', got {pooling!r}")
    nodes: dict = {"input": nir.Input(input_type={"input": np.array(network.input_shape)})}
    edges: list[tuple[str, str]] = []
    for index, population in enumerate(network.populations):
        target = neuron_node_name(network, index)
        for k, projection in enumerate(population.projections):
            bias = population.bias if k == 0 else np.zeros(population.size)
            source = "input" if projection.source == INPUT else \
                neuron_node_name(network, projection.source)
            chain = _projection_nodes(projection, network.source_shape(projection.source),
                                      population, bias, pooling)
            for j, node in enumerate(chain):
                name = f"p{index}_{k}" if j == len(chain) - 1 else f"p{index}_{k}_{j}"
                nodes[name] = node
                edges.append((source, name))
                source = name
            edges.append((source, target))
        nodes[target] = _neuron_node(network.neuron, population)
    nodes["output"] = nir.Output(output_type={"output": np.array(network.output.shape)})
    edges.append((neuron_node_name(network, len(network.populations) - 1), "output"))
    exact = network.neuron.reset is Reset.ZERO
    if not exact and not _warned:
        _warned.append(True)  # once per process: a run writes one .nir per variant
        log.warning("NIR neurons reset to v_reset; this network resets by subtraction, "
                    "which the .nir records in metadata only (convert with reset=zero for "
                    "a file any NIR consumer simulates exactly)")
    metadata = {"dt": DT, "input_scale": network.input_scale, "grid_bits": network.grid_bits,
                "reset": network.neuron.reset.value, "exact": exact,
                "input": "x / input_scale, presented every timestep",
                "generator": "edgenn.targets.snn"}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)


def _neuron_node(neuron: NeuronModel, population: Population):
    import nir

    shape = population.shape
    meta = {"reset": neuron.reset.value, "name": population.name}
    threshold = np.full(shape, population.threshold)
    if neuron.kind is NeuronKind.IF:
        return nir.IF(r=np.full(shape, 1.0 / DT), v_threshold=threshold,
                      v_reset=np.zeros(shape), metadata=meta)
    return nir.LIF(tau=np.full(shape, neuron.tau * DT), r=np.full(shape, neuron.tau),
                   v_leak=np.zeros(shape), v_threshold=threshold, v_reset=np.zeros(shape),
                   metadata=meta)


def _pool_node(pool: Pool, source_shape: tuple[int, ...], pooling: str):
    """A pooling window as NIR nodes; returns (node, factor its output is scaled by)."""
    import nir

    channels = source_shape[0]
    if len(pool.kernel) == 1:  # NIR has no 1-D pooling: a Conv1d with a kernel of ones
        weight = np.einsum("oc,k->ock", np.eye(channels), np.ones(pool.kernel[0]))
        return nir.Conv1d(input_shape=int(source_shape[1]), weight=weight,
                          stride=pool.stride[0], padding=0, dilation=1, groups=1,
                          bias=np.zeros(channels)), 1
    window = pool.window
    kernel, stride = np.array(pool.kernel), np.array(pool.stride)
    if pool.average or (pooling == "avg" and not window & (window - 1)):
        node = nir.AvgPool2d(kernel_size=kernel, stride=stride, padding=np.zeros(2, int))
        return node, (1 if pool.average else window)
    return nir.SumPool2d(kernel_size=kernel, stride=stride, padding=np.zeros(2, int)), 1


def _projection_nodes(projection: Projection, source_shape, population: Population, bias,
                      pooling: str) -> list:
    """[pool] → [Flatten] → Affine, or [pool] → Conv: the projection's NIR nodes in order."""
    import nir

    pre_shape = projection.pre_shape(source_shape)
    if projection.kind == "conv":
        node = _conv_node(projection, pre_shape, bias)
        if node is None:  # no NIR conv for it: the dense form, pooling composed in
            projection = Projection(projection.source, "dense",
                                    dense_matrix(projection, source_shape, population.size))
            pre_shape = tuple(source_shape)
    else:
        node = _pointwise_node(projection, pre_shape, population, bias)
    chain: list = []
    factor = 1
    if projection.pool is not None:
        pool_node, factor = _pool_node(projection.pool, tuple(source_shape), pooling)
        chain.append(pool_node)
    if node is None:
        if len(pre_shape) > 1:
            chain.append(nir.Flatten(input_type={"input": np.array(pre_shape)}, start_dim=0))
        node = nir.Affine(weight=projection.weight * factor, bias=bias.copy())
    elif factor != 1:  # an average pool divides by the window: the weights take it back
        node.weight = node.weight * factor
    chain.append(node)
    return chain


def _conv_node(projection: Projection, pre_shape, bias):
    import nir

    channels = projection.weight.shape[0]
    per_channel = bias.reshape(channels, -1)
    dims = projection.spatial_dims
    begins, ends = projection.pads[:dims], projection.pads[dims:]
    if not np.all(per_channel == per_channel[:, :1]) or tuple(begins) != tuple(ends):
        return None  # a per-neuron bias or asymmetric padding: write the dense form
    if dims == 1:
        return nir.Conv1d(input_shape=int(pre_shape[1]), weight=projection.weight.copy(),
                          stride=int(projection.stride[0]), padding=int(begins[0]),
                          dilation=int(projection.dilation[0]), groups=projection.groups,
                          bias=per_channel[:, 0].copy())
    return nir.Conv2d(input_shape=tuple(pre_shape[1:]), weight=projection.weight.copy(),
                      stride=tuple(projection.stride), padding=tuple(begins),
                      dilation=tuple(projection.dilation), groups=projection.groups,
                      bias=per_channel[:, 0].copy())


def _pointwise_node(projection: Projection, pre_shape, population: Population, bias):
    """A dense projection between two C×H×W layers that is a 1×1 convolution (a residual
    skip, for one) as `Conv2d`; None otherwise."""
    shape = population.shape
    if len(shape) != 3 or len(pre_shape) != 3 or tuple(shape[1:]) != tuple(pre_shape[1:]):
        return None
    pixels = shape[1] * shape[2]
    blocks = projection.weight.reshape(shape[0], pixels, pre_shape[0], pixels)
    kernel = blocks[:, 0, :, 0]
    expected = np.einsum("oc,pq->opcq", kernel, np.eye(pixels))
    if not np.array_equal(blocks, expected):
        return None
    fake = Projection(projection.source, "conv", kernel[:, :, None, None])
    return _conv_node(fake, pre_shape, bias)


def write_nir(network: SpikingNetwork, path: str | os.PathLike[str],
              pooling: str = "avg") -> Path:
    """Write the network as a NIR file (HDF5) atomically."""
    import nir

    graph = to_nir(network, pooling)
    with atomic_path(path) as tmp:
        nir.write(str(tmp), graph)
    return Path(path)


def read_nir(path: str | os.PathLike[str]):
    """Read a NIR file back with `nir.read`."""
    import nir

    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"NIR file not found: {path}")
    return nir.read(str(path), type_check=False)


def graphs_equal(left, right) -> list[str]:
    """Differences between two NIR graphs (node types, edges, every array); [] if same."""
    problems = []
    if set(left.nodes) != set(right.nodes):
        problems.append(f"nodes differ: {sorted(set(left.nodes) ^ set(right.nodes))}")
    if sorted(map(tuple, left.edges)) != sorted(map(tuple, right.edges)):
        problems.append("edges differ")
    for name in set(left.nodes) & set(right.nodes):
        a, b = left.nodes[name], right.nodes[name]
        if type(a) is not type(b):
            problems.append(f"{name}: {type(a).__name__} vs {type(b).__name__}")
            continue
        for key, value in vars(a).items():
            if key == "metadata" or not isinstance(value, np.ndarray):
                continue
            other = getattr(b, key, None)
            if other is None or not np.array_equal(np.asarray(value), np.asarray(other)):
                problems.append(f"{name}.{key} differs")
    return problems

