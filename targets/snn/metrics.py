"""Spiking metrics after NeuroBench, and the one documented energy model.

Definitions (per sample, averaged over the batch):
- effective ACs: accumulates actually triggered by spikes — every spike of a source
  neuron costs one add per outgoing (non-zero) synapse (NeuroBench `SynapticOperations`,
  Effective_ACs). Under constant-current coding the first layer sees real-valued input:
  its W·x is computed once per sample and counted as effective MACs (non-zero inputs ×
  fan-out).
- dense MACs: the ANN's multiply-accumulates of Conv/Gemm/MatMul (NeuroBench Dense).
- activation sparsity: 1 − spikes / (neurons × timesteps) (NeuroBench ActivationSparsity).
- spikes per neuron per timestep: spikes / (neurons × timesteps).
- connection sparsity: the fraction of zero weights of the ANN (NeuroBench).

Energy is an estimate, not a measurement: operations × energy per operation (45 nm
figures of Horowitz, ISSCC 2014) plus memory traffic × energy per byte (an 8 kB SRAM,
64-bit access ≈ 10 pJ in the same table). The constants live in `EnergyModel` only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .coding import Coding, SimulationResult
from .ir import INPUT, SpikingNetwork, dense_matrix


@dataclass(frozen=True)
class EnergyModel:
    """Energy per operation and per byte moved, in picojoules (override any field)."""

    fp32_add_pj: float = 0.9
    fp32_mult_pj: float = 3.7
    int8_add_pj: float = 0.03
    int8_mult_pj: float = 0.2
    sram_pj_per_byte: float = 1.25  # 8 kB SRAM, 64-bit access ≈ 10 pJ
    source: str = "Horowitz, ISSCC 2014 (45 nm); memory: 8 kB SRAM 64-bit access 10 pJ"


def fan_outs(network: SpikingNetwork) -> list[list[np.ndarray]]:
    """Per population, per projection: outgoing non-zero synapses of each source neuron."""
    result = []
    for population in network.populations:
        result.append([
            np.count_nonzero(dense_matrix(p, network.source_shape(p.source), population.size),
                             axis=0)
            for p in population.projections])
    return result


def synaptic_operations(network: SpikingNetwork, result: SimulationResult, x: np.ndarray,
                        coding: Coding, fanouts: list[list[np.ndarray]]) -> dict[str, float]:
    """Effective ACs and MACs per sample, and the ANN's dense MACs."""
    n = len(x)
    flat_input = np.asarray(x).reshape(n, -1)
    acs = np.zeros(n)
    macs = np.zeros(n)
    for population, outs in zip(network.populations, fanouts, strict=True):
        for projection, fanout in zip(population.projections, outs, strict=True):
            if projection.source == INPUT:
                if coding is Coding.CONSTANT:
                    macs += (flat_input != 0) @ fanout
                else:
                    acs += result.input_counts @ fanout
            else:
                acs += result.counts[projection.source] @ fanout
    return {"effective_acs": float(acs.mean()), "effective_macs": float(macs.mean()),
            "dense_macs": float(network.metadata.get("dense_macs", 0))}


def activity(network: SpikingNetwork, result: SimulationResult) -> dict:
    """Spikes per layer, spikes per neuron per timestep, activation sparsity."""
    steps = result.timesteps
    neurons = sum(p.size for p in network.populations)
    per_layer = {p.name: float(c.sum(axis=1).mean())
                 for p, c in zip(network.populations, result.counts, strict=True)}
    spikes = float(sum(per_layer.values()))
    rate = spikes / (neurons * steps)
    zeros = network.metadata.get("ann_zero_weights", 0)
    weights = network.metadata.get("ann_weights", 0)
    return {"spikes_per_sample": spikes, "spikes_per_layer": per_layer, "neurons": neurons,
            "spikes_per_neuron_per_timestep": rate, "activation_sparsity": 1.0 - rate,
            "connection_sparsity": float(zeros / weights) if weights else 0.0}


def energy_estimates(network: SpikingNetwork, ops: dict[str, float], timesteps: int,
                     model: EnergyModel = EnergyModel()) -> dict:
    """Estimated energy per inference (µJ) of the ANN in fp32 and int8 and of the SNN."""
    weights = float(network.metadata.get("ann_weights", 0))
    activations = float(network.input_size + sum(p.size for p in network.populations))
    dense = ops["dense_macs"]
    mac32 = model.fp32_add_pj + model.fp32_mult_pj
    mac8 = model.int8_add_pj + model.int8_mult_pj
    # ANN: every weight read once, every activation written and read once.
    ann32 = dense * mac32 + (4 * weights + 2 * 4 * activations) * model.sram_pj_per_byte
    ann8 = dense * mac8 + (weights + 2 * activations) * model.sram_pj_per_byte
    # SNN: each accumulate reads its weight; each neuron update reads and writes v.
    updates = float(sum(p.size for p in network.populations)) * timesteps
    snn = ((ops["effective_acs"] + updates) * model.fp32_add_pj + ops["effective_macs"] * mac32
           + (4 * ops["effective_acs"] + 2 * 8 * updates) * model.sram_pj_per_byte)
    return {"estimate": True, "unit": "uJ per inference", "ann_fp32_uj": ann32 * 1e-6,
            "ann_int8_uj": ann8 * 1e-6, "snn_uj": snn * 1e-6, "constants": asdict(model),
            "model": "ops × energy/op + bytes moved × energy/byte; SNN: effective ACs and "
                     "neuron updates as fp32 adds, first-layer MACs as fp32 MACs"}


def timestep_analysis(result: SimulationResult, y: np.ndarray,
                      checkpoints: tuple[int, ...] = (8, 16, 32, 64, 128)) -> dict:
    """Accuracy after each checkpoint ≤ T (and T), and when each decision settles."""
    predictions = result.predictions_over_time()  # (T, N)
    steps = result.timesteps
    marks = sorted({t for t in checkpoints if t <= steps} | {steps})
    accuracy = {int(t): float(np.mean(predictions[t - 1] == y)) for t in marks}
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
