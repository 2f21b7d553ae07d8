"""NIR export of a converted network, and reading it back.

Each population becomes an `IF` node (r = 1, v_threshold = θ) fed by one node per
projection: `Conv2d` for a convolution, `Affine` for a dense projection (after a
`Flatten` when its source is not flat). The bias — a constant current every timestep —
rides on the first projection (`Affine.bias`, or the per-channel `Conv2d.bias`); several
edges into one IF node sum (residual adds). NIR's IF resets to `v_reset`; our neurons
reset by subtraction, which each IF node's metadata records (`reset: subtract`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgenn.core import BadInputError, atomic_path

from .ir import INPUT, Population, Projection, SpikingNetwork, dense_matrix


def _source_node(source: int) -> str:
    return "input" if source == INPUT else f"if{source}"


def to_nir(network: SpikingNetwork):
    """The network as a `nir.NIRGraph` (weights on the grid, thresholds, geometry)."""
    import nir

    nodes: dict = {"input": nir.Input(input_type={"input": np.array(network.input_shape)})}
    edges: list[tuple[str, str]] = []
    mismatched = False  # a dense projection into a non-flat layer: NIR has no reshape
    for index, population in enumerate(network.populations):
        target = f"if{index}"
        for k, projection in enumerate(population.projections):
            name = f"p{index}_{k}"
            bias = population.bias if k == 0 else np.zeros(population.size)
            source = _source_node(projection.source)
            source_shape = network.source_shape(projection.source)
            node = _conv_node(projection, source_shape, population, bias) \
                if projection.kind == "conv" else _pointwise_node(projection, source_shape,
                                                                  population, bias)
            if node is None:
                mismatched |= len(population.shape) > 1
                if len(source_shape) > 1:
                    flat = f"{name}_flatten"
                    nodes[flat] = nir.Flatten(input_type={"input": np.array(source_shape)},
                                              start_dim=0)
                    edges.append((source, flat))
                    source = flat
                weight = dense_matrix(projection, source_shape, population.size)
                node = nir.Affine(weight=weight, bias=bias.copy())
            nodes[name] = node
            edges += [(source, name), (name, target)]
        shape = population.shape
        nodes[target] = nir.IF(r=np.ones(shape), v_threshold=np.full(shape, population.threshold),
                               v_reset=np.zeros(shape),
                               metadata={"reset": "subtract", "name": population.name})
    nodes["output"] = nir.Output(output_type={"output": np.array(network.output.shape)})
    edges.append((f"if{len(network.populations) - 1}", "output"))
    metadata = {"input_scale": network.input_scale, "grid_bits": network.grid_bits,
                "generator": "edgenn.targets.snn"}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=not mismatched)


def _conv_node(projection: Projection, source_shape, population: Population, bias):
    import nir

    channels = projection.weight.shape[0]
    per_channel = bias.reshape(channels, -1)
    if not np.all(per_channel == per_channel[:, :1]):
        return None  # a per-neuron bias does not fit Conv2d: write the dense form
    top, left, bottom, right = projection.pads
    if (top, left) != (bottom, right):
        return None
    return nir.Conv2d(input_shape=tuple(source_shape[1:]), weight=projection.weight.copy(),
                      stride=tuple(projection.stride), padding=(top, left), dilation=(1, 1),
                      groups=projection.groups, bias=per_channel[:, 0].copy())


def _pointwise_node(projection: Projection, source_shape, population: Population, bias):
    """A dense projection between two C×H×W layers that is a 1×1 convolution (a residual
    skip, for one) as `Conv2d`; None otherwise."""

    shape = population.shape
    if len(shape) != 3 or len(source_shape) != 3 or tuple(shape[1:]) != tuple(source_shape[1:]):
        return None
    pixels = shape[1] * shape[2]
    blocks = projection.weight.reshape(shape[0], pixels, source_shape[0], pixels)
    kernel = blocks[:, 0, :, 0]
    expected = np.einsum("oc,pq->opcq", kernel, np.eye(pixels))
    if not np.array_equal(blocks, expected):
        return None
    fake = Projection(projection.source, "conv", kernel[:, :, None, None])
    return _conv_node(fake, source_shape, population, bias)


def write_nir(network: SpikingNetwork, path: str | os.PathLike[str]) -> Path:
    """Write the network as a NIR file (HDF5) atomically."""
    import nir

    graph = to_nir(network)
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


def network_from_nir(graph) -> SpikingNetwork:
    """Rebuild a spiking network from a NIR graph of Input → (Flatten) → Conv2d/Affine/Linear
    → IF → … → Output, as `to_nir` writes it; IF nodes reset by subtraction."""
    import nir

    incoming: dict[str, list[str]] = {}
    for pre, post in graph.edges:
        incoming.setdefault(post, []).append(pre)
    inputs = [k for k, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise BadInputError(f"NIR graph has {len(inputs)} Input nodes, need exactly one")
    input_shape = tuple(int(d) for d in next(iter(graph.nodes[inputs[0]].input_type.values())))
    neurons = [k for k, node in graph.nodes.items() if isinstance(node, nir.IF)]
    order: list[str] = []
    while len(order) < len(neurons):  # topological order of the IF nodes
        ready = [k for k in neurons if k not in order
                 and all(s in order or s == inputs[0] for s in _sources(graph, incoming, k))]
        if not ready:
            raise BadInputError("NIR graph is recurrent or holds unsupported nodes")
        order += sorted(ready)
    index = {name: i for i, name in enumerate(order)}
    index[inputs[0]] = INPUT
    populations = []
    for name in order:
        node = graph.nodes[name]
        shape = tuple(np.asarray(node.v_threshold).shape)
        thresholds = np.unique(np.asarray(node.v_threshold))
        if len(thresholds) != 1:
            raise BadInputError(f"NIR node {name}: per-neuron thresholds are not supported")
        bias = np.zeros(int(np.prod(shape)))
        projections = []
        for edge_source in incoming.get(name, []):
            synapse = graph.nodes[edge_source]
            source = _sources(graph, incoming, name, only=edge_source)[0]
            if isinstance(synapse, nir.Conv2d):
                padding = tuple(np.broadcast_to(np.asarray(synapse.padding), (2,)).tolist())
                projections.append(Projection(
                    index[source], "conv", np.asarray(synapse.weight, np.float64),
                    tuple(np.broadcast_to(np.asarray(synapse.stride), (2,)).tolist()),
                    (*padding, *padding), int(synapse.groups)))
                channel_bias = np.asarray(synapse.bias, np.float64)
                bias += np.repeat(channel_bias, bias.size // len(channel_bias))
            elif isinstance(synapse, (nir.Affine, nir.Linear)):
                projections.append(Projection(index[source], "dense",
                                              np.asarray(synapse.weight, np.float64)))
                if isinstance(synapse, nir.Affine):
                    bias += np.asarray(synapse.bias, np.float64)
            else:
                raise BadInputError(f"NIR node {edge_source}: {type(synapse).__name__} is not "
                                    "supported between layers")
        populations.append(Population(node.metadata.get("name", name), shape, bias,
                                      float(thresholds[0]), tuple(projections)))
    metadata = graph.metadata or {}
    return SpikingNetwork(input_shape, float(metadata.get("input_scale", 1.0)),
                          tuple(populations), int(metadata.get("grid_bits", 12)))


def _sources(graph, incoming, name: str, only: str | None = None) -> list[str]:
    """The IF or Input nodes feeding `name` through one synapse node (and any Flatten)."""
    import nir

    found = []
    for synapse in [only] if only else incoming.get(name, []):
        pre = incoming.get(synapse, [])
        while len(pre) == 1 and isinstance(graph.nodes[pre[0]], nir.Flatten):
            pre = incoming.get(pre[0], [])
        found += pre
    return found
