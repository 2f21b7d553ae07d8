"""The reference simulator: brian2, one network per batch of samples.

Neuron index = sample × layer size + neuron; synapses are built with
`Synapses.connect(i=…, j=…)` from vectorised index arrays (pooling composed into the
weights, exactly), the synaptic effect is an `on_pre` add into `isyn` (a sum of grid
values: exact in any order), and the neuron update is clock-driven (`run_regularly`, no
differential equations). An explicit schedule in the `start` slot reproduces the fast
simulator's order within a timestep: for each population in topological order,
incoming synapses, `v = β·v + (I + isyn)`, threshold (v > θ), reset. Large batches are
split into chunks of `samples_per_network` (memory grows with samples × synapses); each
chunk is one network.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from edgenn.core import TargetUnavailableError

from .coding import Drive, SimulationResult
from .ir import INPUT, Reset, SpikingNetwork, dense_matrix

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "brian2>=2.7" "numpy<2.4"'
# brian2's default C flags include -ffast-math, which lets the compiler fuse β·v + J into
# one rounding (FMA) or reorder sums: compiled code must round like numpy and torch do.
EXACT_COMPILE_ARGS = ["-w", "-O3", "-fno-fast-math", "-ffp-contract=off"]


def import_brian2():
    try:
        import brian2
    except Exception as exc:  # ImportError, or numpy ≥ 2.4 (ndarray.ptp removed)
        raise TargetUnavailableError(f"brian2 cannot be imported ({exc}); {INSTALL_HINT}") \
            from None
    return brian2


@functools.lru_cache(maxsize=1)
def _cython_works() -> bool:
    import brian2 as b2
    from brian2.codegen.runtime.cython_rt import CythonCodeObject

    b2.prefs.codegen.cpp.extra_compile_args_gcc = EXACT_COMPILE_ARGS
    try:
        return bool(CythonCodeObject.is_available())
    except Exception:  # a missing compiler can surface as several error types
        return False


def codegen_target(preferred: str = "auto") -> str:
    """brian2's code generation: "cython" (compiled, needs Cython and a C++ compiler) or
    "numpy"; "auto" takes cython when a test compilation works, else numpy."""
    if preferred not in ("auto", "cython", "numpy"):
        raise ValueError(f"codegen must be auto, cython or numpy, got {preferred!r}")
    if preferred == "auto":
        return "cython" if _cython_works() else "numpy"
    return preferred


def sparse_connectivity(network: SpikingNetwork) -> list[list[tuple[np.ndarray, ...]]]:
    """Per population, per projection: (pre, post, weight) of the non-zero synapses."""
    result = []
    for population in network.populations:
        links = []
        for projection in population.projections:
            matrix = dense_matrix(projection, network.source_shape(projection.source),
                                  population.size)
            post, pre = np.nonzero(matrix)
            links.append((pre.astype(np.int32), post.astype(np.int32), matrix[post, pre]))
        result.append(links)
    return result


def simulate_brian2(network: SpikingNetwork, drive: Drive, samples_per_network: int = 64,
                    connectivity: list | None = None, codegen: str = "auto"
                    ) -> SimulationResult:
    """Run `drive` through `network` in brian2 (`codegen`: see `codegen_target`)."""
    b2 = import_brian2()
    b2.prefs.codegen.target = codegen_target(codegen)
    b2.prefs.codegen.cpp.extra_compile_args_gcc = EXACT_COMPILE_ARGS
    connectivity = connectivity or sparse_connectivity(network)
    n = drive.currents[0].shape[0]
    parts = []
    for start in range(0, n, samples_per_network):
        chunk = slice(start, min(n, start + samples_per_network))
        parts.append(_simulate_chunk(network, drive, chunk, connectivity))
    counts = tuple(np.concatenate([p[0][k] for p in parts]) for k in range(len(parts[0][0])))
    out_counts = np.concatenate([p[1] for p in parts], axis=1)
    out_v = np.concatenate([p[2] for p in parts], axis=1)
    input_counts = None if drive.input_spikes is None else drive.input_spikes.sum(axis=0)
    return SimulationResult(counts, out_counts, out_v, input_counts,
                            network.populations[-1].threshold)


def _simulate_chunk(network: SpikingNetwork, drive: Drive, chunk: slice, connectivity):
    import brian2 as b2

    b2.BrianLogger.suppress_hierarchy("brian2.codegen")
    batch = chunk.stop - chunk.start
    steps = drive.timesteps
    objects: list = []
    groups = []
    input_group = None
    clock = b2.Clock(dt=1 * b2.ms, name="snn_clock")
    if drive.input_spikes is not None:
        table = drive.input_spikes[:, chunk, :].reshape(steps, -1).astype(np.float64)
        spikes_in = b2.TimedArray(table, dt=1 * b2.ms, name="spikes_in")
        input_group = b2.NeuronGroup(table.shape[1], "", threshold="spikes_in(t, i) > 0.5",
                                     reset="", clock=clock, namespace={"spikes_in": spikes_in},
                                     name="input")
        input_group.thresholder["spike"].when = "start"
        input_group.thresholder["spike"].order = -1
        objects.append(input_group)
    decay = network.neuron.decay
    reset = "v = 0" if network.neuron.reset is Reset.ZERO else "v -= theta"
    # the same operations as the fast simulator: J = I + isyn (exact), v·β (LIF only), v + J;
    # one statement each, so that brian2's sympy pass cannot reorder the additions
    integrate = "J = I + isyn\n" + ("" if decay == 1.0 else "v = decay * v\n") + "v = v + J"
    for index, population in enumerate(network.populations):
        theta = float(population.threshold)
        variables = "v : 1\nI : 1\nisyn : 1\nJ : 1\ncount : 1"
        group = b2.NeuronGroup(batch * population.size, variables,
                               threshold="v > theta", reset=f"{reset}\ncount += 1",
                               clock=clock, namespace={"theta": theta, "decay": decay},
                               name=f"pop{index}")
        group.I = drive.currents[index][chunk].reshape(-1)
        update = group.run_regularly(f"{integrate}\nisyn = 0", when="start",
                                     order=4 * index + 1, name=f"pop{index}_update")
        group.thresholder["spike"].when = "start"
        group.thresholder["spike"].order = 4 * index + 2
        group.resetter["spike"].when = "start"
        group.resetter["spike"].order = 4 * index + 3
        objects += [group, update]
        for k, projection in enumerate(population.projections):
            if projection.source == INPUT and input_group is None:
                continue  # constant coding: the input is in I
            source = input_group if projection.source == INPUT else groups[projection.source]
            n_pre = network.source_size(projection.source)
            pre, post, weight = connectivity[index][k]
            offsets = np.arange(batch, dtype=np.int32)[:, None]  # brian2 indices are int32
            synapses = b2.Synapses(source, group, "w : 1", on_pre="isyn_post += w",
                                   clock=clock, name=f"syn{index}_{k}")
            synapses.connect(i=(offsets * n_pre + pre[None]).reshape(-1),
                             j=(offsets * population.size + post[None]).reshape(-1))
            synapses.w = np.tile(weight, batch)
            synapses.pre.when = "start"
            synapses.pre.order = 4 * index
            objects.append(synapses)
        groups.append(group)
    output = groups[-1]
    monitor = b2.StateMonitor(output, ["v", "count"], record=True, when="end", clock=clock,
                              name="output_monitor")
    objects.append(monitor)
    net = b2.Network(*objects)
    net.run(steps * b2.ms, namespace={})
    classes = network.populations[-1].size
    counts = [np.rint(g.count[:]).astype(np.int64).reshape(batch, -1) for g in groups]
    out_counts = np.rint(monitor.count[:]).astype(np.int64).T.reshape(steps, batch, classes)
    out_v = np.asarray(monitor.v[:]).T.reshape(steps, batch, classes)
    return counts, out_counts, out_v
