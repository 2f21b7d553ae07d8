"""Spiking metrics with NeuroBench's definitions and names, and the one energy model.

NeuroBench (neurobench.metrics, v2.x) counts per model execution — here one sample run
for T timesteps — averaged over samples, on the connection layers (Linear, Conv; pooling
and normalisation are not counted, bias is not a synaptic operation):
- `dense` (NeuroBench `Dense`): every weight × every input of every connection layer, at
  every timestep, zero or not, but never a tap that falls on padding.
- `effective_macs` / `effective_acs` (`Effective_MACs`/`Effective_ACs`): operations with
  non-zero input and non-zero weight; inputs that are not binary make MACs (the analogue
  input under constant coding, T times, unless it holds only 0 and ±1; a pooled window
  of spikes, a count), binary ones (spikes) make ACs. Each is also given per timestep
  (`…_per_timestep`).
- `activation_sparsity` (`ActivationSparsity`): zero outputs of all neurons over all
  timesteps and samples / (neurons × timesteps × samples).
- `connection_sparsity` (`ConnectionSparsity`): zero weights / weights of the spiking
  network's connection layers (after conversion and any weight quantisation).
- `footprint_bytes` (`Footprint`): parameters and buffers: weights and biases at their
  stored precision (float32, or `weight_bits` when quantised), one threshold per
  population, one float32 membrane potential per neuron.
- `membrane_updates` (`MembraneUpdates`): neuron-timesteps whose membrane potential
  changed (all neurons at the first timestep, as NeuroBench counts), per sample.
`ann_dense_macs` is the ANN's Dense count (the same layers, run once).

Energy is an estimate, not a measurement: operations × energy per operation (45 nm
figures of Horowitz, ISSCC 2014) plus memory traffic × energy per byte (an 8 kB SRAM,
64-bit access ≈ 10 pJ in the same table). The constants live in
`edgenn.core.energy.EnergyModel` only: the ANN rows of a report use the same.
"""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np

from edgenn.core.energy import EnergyModel

from .coding import Coding, SimulationResult
from .ir import INPUT, Projection, SpikingNetwork, dense_matrix
from .projection import apply_projection


def fan_outs(network: SpikingNetwork) -> list[list[np.ndarray]]:
    """Per population, per projection: outgoing non-zero synapses of each source neuron."""
    result = []
    for population in network.populations:
        result.append([
            np.count_nonzero(dense_matrix(p, network.source_shape(p.source), population.size),
                             axis=0)
            for p in population.projections])
    return result


def _binary_ops(projection: Projection, activity: np.ndarray, source_shape,
                all_ones: bool = False) -> np.ndarray:
    """Σ over outputs of the binarised connection layer applied to `activity` (N, n_pre
    after pooling): NeuroBench's operation count for one input (activity = 1/0), or over
    time when activity counts timesteps (the layer is linear)."""
    weight = np.ones_like(projection.weight) if all_ones else \
        (projection.weight != 0).astype(np.float64)
    layer = replace(projection, weight=weight, pool=None)
    pre_shape = projection.pre_shape(source_shape)
    return apply_projection(layer, activity, pre_shape).sum(axis=1)


def dense_per_timestep(network: SpikingNetwork) -> float:
    """NeuroBench Dense of one timestep (padding taps excluded): all-ones weights and
    inputs through every connection layer."""
    total = 0.0
    for population in network.populations:
        for projection in population.projections:
            shape = network.source_shape(projection.source)
            ones = np.ones((1, int(np.prod(projection.pre_shape(shape)))))
            total += float(_binary_ops(projection, ones, shape, all_ones=True)[0])
    return total


def operations_per_population(network: SpikingNetwork, result: SimulationResult,
                              x: np.ndarray, coding: Coding) -> list[dict[str, np.ndarray]]:
    """Per population (network order): NeuroBench effective ACs and MACs of its incoming
    connection layers over the run, per sample ({"acs": (N,), "macs": (N,)}). Pooled
    projections need `result.pooled_active` (the fast simulator's `record=True`)."""
    n, steps = len(x), result.timesteps
    flat_input = np.asarray(x).reshape(n, -1)
    binary_input = bool(np.all(np.isin(flat_input, (-1.0, 0.0, 1.0))))
    layers = []
    for index, population in enumerate(network.populations):
        acs, macs = np.zeros(n), np.zeros(n)
        for k, projection in enumerate(population.projections):
            shape = network.source_shape(projection.source)
            if projection.pool is not None:
                if result.pooled_active is None:
                    raise ValueError("pooled projections need a result recorded with "
                                     "simulate_fast(..., record=True)")
                active = result.pooled_active[(index, k)]
                macs += _binary_ops(projection, active, shape)  # counts: not binary
            elif projection.source != INPUT:
                acs += _binary_ops(projection, result.counts[projection.source], shape)
            elif coding is Coding.CONSTANT:  # the input itself, every timestep
                ops = steps * _binary_ops(projection, (flat_input != 0) * 1.0, shape)
                if binary_input:  # NeuroBench: inputs of only 0 and ±1 are spikes
                    acs += ops
                else:
                    macs += ops
            else:
                acs += _binary_ops(projection, result.input_counts, shape)
        layers.append({"acs": acs, "macs": macs})
    return layers


def synaptic_operations(network: SpikingNetwork, result: SimulationResult, x: np.ndarray,
                        coding: Coding) -> dict[str, float]:
    """NeuroBench Effective_MACs, Effective_ACs and Dense per sample (T timesteps), and
    per timestep."""
    steps = result.timesteps
    layers = operations_per_population(network, result, x, coding)
    acs = float(sum(layer["acs"] for layer in layers).mean())
    macs = float(sum(layer["macs"] for layer in layers).mean())
    dense = dense_per_timestep(network)
    return {"effective_macs": macs, "effective_acs": acs, "dense": dense * steps,
            "effective_macs_per_timestep": macs / steps,
            "effective_acs_per_timestep": acs / steps, "dense_per_timestep": dense,
            "ann_dense_macs": dense}


def activity(network: SpikingNetwork, result: SimulationResult) -> dict:
    """Spikes per layer and per neuron per timestep, activation and connection sparsity,
    membrane updates, footprint."""
    steps = result.timesteps
    neurons = sum(p.size for p in network.populations)
    per_layer = {p.name: float(c.sum(axis=1).mean())
                 for p, c in zip(network.populations, result.counts, strict=True)}
    spikes = float(sum(per_layer.values()))
    rate = spikes / (neurons * steps)
    weights = [q.weight for p in network.populations for q in p.projections]
    total = sum(w.size for w in weights)
    zeros = sum(int(np.count_nonzero(w == 0)) for w in weights)
    report = {"spikes_per_sample": spikes, "spikes_per_layer": per_layer, "neurons": neurons,
              "spikes_per_neuron_per_timestep": rate, "activation_sparsity": 1.0 - rate,
              "connection_sparsity": zeros / total if total else 0.0,
              "footprint_bytes": footprint_bytes(network)}
    if result.membrane_updates is not None:
        report["membrane_updates"] = float(sum(u for u in result.membrane_updates).mean())
    return report


def footprint_bytes(network: SpikingNetwork) -> int:
    """NeuroBench Footprint: parameters (weights, biases, thresholds) and buffers (one
    membrane potential per neuron)."""
    bits = network.metadata.get("weight_bits") or 32
    weights = sum(q.weight.size for p in network.populations for q in p.projections)
    biases = sum(p.size for p in network.populations)
    parameters = (weights + biases) * bits / 8 + 4 * len(network.populations)
    return int(np.ceil(parameters)) + 4 * biases


def energy_estimates(network: SpikingNetwork, ops: dict[str, float], timesteps: int,
                     model: EnergyModel | None = None,
                     membrane_updates: float | None = None) -> dict:
    """Estimated energy per inference (µJ) of the ANN in fp32 and int8 and of the SNN."""
    model = model or EnergyModel()
    weights = float(network.metadata.get("ann_weights") or sum(
        q.weight.size for p in network.populations for q in p.projections))
    activations = float(network.input_size + sum(p.size for p in network.populations))
    dense = ops["ann_dense_macs"]
    mac32 = model.mac_pj("fp32")
    mac8 = model.mac_pj("int8")
    # ANN: every weight read once, every activation written and read once.
    ann32 = dense * mac32 + (4 * weights + 2 * 4 * activations) * model.sram_pj_per_byte
    ann8 = dense * mac8 + (weights + 2 * activations) * model.sram_pj_per_byte
    # SNN: each operation reads its weight; each membrane update reads and writes v.
    updates = membrane_updates if membrane_updates is not None else \
        float(sum(p.size for p in network.populations)) * timesteps
    snn = model.snn_pj(ops["effective_acs"], ops["effective_macs"], updates)
    return {"estimate": True, "unit": "uJ per inference", "ann_fp32_uj": ann32 * 1e-6,
            "ann_int8_uj": ann8 * 1e-6, "snn_uj": snn * 1e-6, "constants": asdict(model),
            "model": "ops × energy/op + bytes moved × energy/byte; SNN: effective ACs and "
                     "membrane updates as fp32 adds, effective MACs as fp32 MACs"}


CHECKPOINTS = (8, 16, 32, 64, 128)  # timesteps accuracy is read out at


def accuracy_at(predictions: np.ndarray, y: np.ndarray, steps: int,
                checkpoints: tuple[int, ...] = CHECKPOINTS) -> dict[int, float]:
    """Accuracy after each checkpoint ≤ `steps` and after `steps`, from predictions over
    time (T, N): one run to `steps` gives every shorter T (a shorter run is a prefix)."""
    marks = sorted({t for t in checkpoints if t <= steps} | {steps})
    return {int(t): float(np.mean(predictions[t - 1] == y)) for t in marks}


def timestep_analysis(result: SimulationResult, y: np.ndarray,
                      checkpoints: tuple[int, ...] = CHECKPOINTS) -> dict:
    """Accuracy after each checkpoint ≤ T (and T), and when each decision settles."""
    predictions = result.predictions_over_time()  # (T, N)
    steps = result.timesteps
    accuracy = accuracy_at(predictions, y, steps, checkpoints)
    final = predictions[-1]
    changed = predictions != final[None]
    # settle step (1-based): one past the last step whose prediction differs from the end
    last_change = np.where(changed.any(axis=0),
                           steps - np.argmax(changed[::-1], axis=0), 0)
    settle = last_change + 1
    curve = np.mean(predictions == y[None], axis=1)
    return {"accuracy_vs_timesteps": accuracy,
            "accuracy_curve": [round(float(a), 6) for a in curve],  # after every timestep
            "settle_timestep": {"mean": float(settle.mean()), "median": float(np.median(settle)),
                                "p90": float(np.percentile(settle, 90)),
                                "max": int(settle.max())},
            "settle_timesteps": settle.astype(int).tolist()}
