"""A NIR graph (edgenn's own, or one another tool wrote) → a spiking network.

Takes feed-forward graphs of Input → chains of [SumPool2d/AvgPool2d] → [Flatten] →
Affine/Linear/Conv1d/Conv2d → IF or LIF → … → Output, with several chains summing into
one neuron node. NIR's semantics are kept: fire on v > v_threshold, reset to v_reset
(which must be 0), one timestep = dt (the graph's `dt` metadata, else the `dt`
argument, else 1.0). An IF node's r·dt, or an LIF node's r·dt/τ, is the gain on its
input current; a gain other than 1 is folded into the weights and bias feeding it. Only
edgenn's own files say `reset: subtract` (in each neuron's metadata); any other graph
resets to zero, as the spec says.
"""

from __future__ import annotations

import numpy as np

from edgenn.core import BadInputError

from .ir import (
    DEFAULT_GRID_BITS,
    INPUT,
    NeuronKind,
    NeuronModel,
    Pool,
    Population,
    Projection,
    Reset,
    SpikingNetwork,
)


def _pair(value, dims: int) -> tuple[int, ...]:
    return tuple(int(v) for v in np.broadcast_to(np.asarray(value), (dims,)))


def _uniform(node_name: str, field: str, value) -> float:
    values = np.unique(np.asarray(value, dtype=np.float64))
    if len(values) != 1:
        raise BadInputError(f"NIR node {node_name}: per-neuron {field} is not supported")
    return float(values[0])


def _neuron(name: str, node, dt: float) -> tuple[NeuronModel, float, float]:
    """(neuron model, input gain, threshold) of an IF or LIF node."""
    import nir

    if _uniform(name, "v_reset", node.v_reset) != 0.0:
        raise BadInputError(f"NIR node {name}: v_reset ≠ 0 is not supported")
    reset = Reset.SUBTRACT if (node.metadata or {}).get("reset") == "subtract" else Reset.ZERO
    threshold = _uniform(name, "v_threshold", node.v_threshold)
    if isinstance(node, nir.IF):
        return NeuronModel(NeuronKind.IF, reset), _uniform(name, "r", node.r) * dt, threshold
    if _uniform(name, "v_leak", node.v_leak) != 0.0:
        raise BadInputError(f"NIR node {name}: v_leak ≠ 0 is not supported")
    tau = _uniform(name, "tau", node.tau)
    gain = _uniform(name, "r", node.r) * dt / tau
    return NeuronModel(NeuronKind.LIF, reset, tau / dt), gain, threshold


def _projection(graph, chain: list[str], source: int, gain: float
                ) -> tuple[Projection, np.ndarray | float]:
    """One chain (forward order) as a projection, and the bias it adds (per neuron, or per
    channel for a convolution)."""
    import nir

    pool = None
    *prefix, last = chain
    for name in prefix:
        node = graph.nodes[name]
        if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)) and pool is None:
            if np.any(np.asarray(node.padding) != 0):
                raise BadInputError(f"NIR node {name}: pooling with padding is not supported")
            pool = Pool(_pair(node.kernel_size, 2), _pair(node.stride, 2),
                        average=isinstance(node, nir.AvgPool2d))
        elif isinstance(node, nir.Conv1d) and pool is None and _is_window(node):
            pool = Pool((int(node.weight.shape[2]),), _pair(node.stride, 1))
        elif not isinstance(node, nir.Flatten):
            raise BadInputError(f"NIR node {name}: {type(node).__name__} is not supported "
                                "between layers")
    node = graph.nodes[last]
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        dims = 1 if isinstance(node, nir.Conv1d) else 2
        if isinstance(node.padding, str):
            raise BadInputError(f"NIR node {last}: padding '{node.padding}' is not supported; "
                                "give it in numbers")
        padding = _pair(node.padding, dims)
        weight = np.asarray(node.weight, np.float64) * gain
        return (Projection(source, "conv", weight, _pair(node.stride, dims), padding * 2,
                           int(node.groups), _pair(node.dilation, dims), pool),
                np.asarray(node.bias, np.float64) * gain)
    if isinstance(node, (nir.Affine, nir.Linear)):
        bias = np.asarray(node.bias, np.float64) * gain if isinstance(node, nir.Affine) else 0.0
        return (Projection(source, "dense", np.asarray(node.weight, np.float64) * gain,
                           pool=pool), bias)
    raise BadInputError(f"NIR node {last}: {type(node).__name__} is not supported as a "
                        "synapse")


def network_from_nir(graph, dt: float | None = None) -> SpikingNetwork:
    """Rebuild a spiking network from a NIR graph (see the module docstring)."""
    import nir

    incoming: dict[str, list[str]] = {}
    for pre, post in graph.edges:
        incoming.setdefault(post, []).append(pre)
    metadata = dict(graph.metadata or {})
    dt = float(metadata.get("dt", dt if dt is not None else 1.0))
    inputs = [k for k, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise BadInputError(f"NIR graph has {len(inputs)} Input nodes, need exactly one")
    input_shape = tuple(int(d) for d in next(iter(graph.nodes[inputs[0]].input_type.values())))
    neurons = [k for k, node in graph.nodes.items() if isinstance(node, (nir.IF, nir.LIF))]
    unknown = [f"{k} ({type(n).__name__})" for k, n in graph.nodes.items()
               if isinstance(n, (nir.CubaLIF, nir.LI, nir.CubaLI, nir.I, nir.Delay,
                                 nir.Threshold, nir.Scale))]
    if unknown or not neurons:
        raise BadInputError("NIR graph: edgenn simulates IF and LIF neurons fed by pooling, "
                            "Flatten, Affine/Linear and Conv1d/Conv2d nodes; unsupported: "
                            + (", ".join(unknown) or "no IF/LIF node"))
    chains = {name: [_chain(graph, incoming, name, pre) for pre in incoming.get(name, [])]
              for name in neurons}
    order: list[str] = []
    while len(order) < len(neurons):  # topological order of the neuron nodes
        ready = [k for k in neurons if k not in order
                 and all(source in order or source == inputs[0] for source, _ in chains[k])]
        if not ready:
            raise BadInputError("NIR graph is recurrent or holds unsupported nodes")
        order += sorted(ready)
    index = {name: i for i, name in enumerate(order)}
    index[inputs[0]] = INPUT
    models, populations = set(), []
    for name in order:
        node = graph.nodes[name]
        model, gain, threshold = _neuron(name, node, dt)
        models.add(model)
        shape = tuple(np.asarray(node.v_threshold).shape)
        bias = np.zeros(int(np.prod(shape)))
        projections = []
        for source, chain in chains[name]:
            projection, extra = _projection(graph, chain, index[source], gain)
            projections.append(projection)
            extra = np.asarray(extra, np.float64)
            bias += np.repeat(extra, bias.size // extra.size) if extra.ndim else extra
        populations.append(Population((node.metadata or {}).get("name", name), shape, bias,
                                      threshold, tuple(projections)))
    if len(models) != 1:
        raise BadInputError("NIR graph mixes neuron models; edgenn simulates one per network")
    return SpikingNetwork(input_shape, float(metadata.get("input_scale", 1.0)),
                          tuple(populations),
                          int(metadata.get("grid_bits", DEFAULT_GRID_BITS)),
                          {"source": "nir", "dt": dt}, models.pop())


def _is_window(node) -> bool:
    """A Conv1d that sums each channel over a window: how edgenn writes 1-D pooling."""
    weight = np.asarray(node.weight)
    channels, _, width = weight.shape
    expected = np.einsum("oc,k->ock", np.eye(channels), np.ones(width))
    return (weight.shape[1] == channels and np.array_equal(weight, expected)
            and not np.any(np.asarray(node.bias)) and int(node.groups) == 1
            and np.all(np.asarray(node.padding) == 0) and np.all(np.asarray(node.dilation) == 1))


def _chain(graph, incoming, neuron: str, last: str) -> tuple[str, list[str]]:
    """Walk back from the synapse node `last` feeding `neuron` to the neuron or Input node
    it starts at; return (that node, the chain in forward order)."""
    import nir

    chain = [last]
    while True:
        pre = incoming.get(chain[0], [])
        if len(pre) != 1:
            raise BadInputError(f"NIR node {chain[0]} (into {neuron}) has {len(pre)} inputs")
        if isinstance(graph.nodes[pre[0]], (nir.IF, nir.LIF, nir.Input)):
            return pre[0], chain
        chain.insert(0, pre[0])
