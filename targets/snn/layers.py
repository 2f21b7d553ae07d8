"""Per-layer view of a simulated spiking network: cost per population, and the activation
each population's firing rate stands for.

Cost per layer uses the same definitions and the same `EnergyModel` as `metrics` (whose
totals the layers add up to): a population's synaptic operations are the accumulates its
incoming synapses perform (every spike of a source neuron × its non-zero fan-out into this
population; under constant-current coding the first layer's W·x counts as MACs), its
neuron updates are size × timesteps, and its energy is

    E_layer = (ACs + updates)·E_add + MACs·(E_add + E_mult) + (4·ACs + 16·updates)·E_byte

Rate coding: after normalisation a neuron firing r spikes per timestep stands for the ANN
activation r · θ · λ_layer (θ its threshold, λ the layer's normalisation scale recorded at
conversion), which is what per-layer divergence compares with PyTorch.
"""

from __future__ import annotations

import numpy as np

from .coding import Coding, SimulationResult
from .ir import INPUT, SpikingNetwork
from .metrics import EnergyModel, fan_outs


def layer_costs(network: SpikingNetwork, result: SimulationResult, x: np.ndarray,
                coding: Coding, energy: EnergyModel | None = None,
                fanouts: list[list[np.ndarray]] | None = None) -> list[dict]:
    """One dict per population (network order), averaged per sample: `layer` (the ONNX
    tensor it replaces), `neurons`, `spikes`, `rate` (spikes per neuron per timestep),
    `synops` (effective accumulates), `macs` (first layer under constant coding),
    `updates`, `energy_uj` (an estimate, `EnergyModel`)."""
    fanouts = fan_outs(network) if fanouts is None else fanouts
    energy = energy or EnergyModel()
    steps = result.timesteps
    n = len(x)
    flat_input = np.asarray(x).reshape(n, -1)
    mac = energy.fp32_add_pj + energy.fp32_mult_pj
    layers = []
    for index, (population, outs) in enumerate(zip(network.populations, fanouts, strict=True)):
        acs = np.zeros(n)
        macs = np.zeros(n)
        for projection, fanout in zip(population.projections, outs, strict=True):
            if projection.source != INPUT:
                acs += result.counts[projection.source] @ fanout
            elif coding is Coding.CONSTANT:
                macs += (flat_input != 0) @ fanout
            else:
                acs += result.input_counts @ fanout
        spikes = float(result.counts[index].sum(axis=1).mean())
        updates = float(population.size * steps)
        synops, first_macs = float(acs.mean()), float(macs.mean())
        picojoules = ((synops + updates) * energy.fp32_add_pj + first_macs * mac
                      + (4 * synops + 16 * updates) * energy.sram_pj_per_byte)
        layers.append({"layer": population.name, "neurons": population.size,
                       "spikes": spikes, "rate": spikes / (population.size * steps),
                       "synops": synops, "macs": first_macs, "updates": updates,
                       "energy_uj": picojoules * 1e-6})
    return layers


def rate_activations(network: SpikingNetwork, result: SimulationResult
                     ) -> list[tuple[str, np.ndarray]]:
    """(population name, (N, *shape) activation it encodes: rate · θ · λ) per population."""
    scales = network.metadata.get("scales") or [1.0] * len(network.populations)
    steps = result.timesteps
    return [(population.name,
             (counts / steps * population.threshold * scale).reshape(
                 len(counts), *population.shape).astype(np.float32))
            for population, counts, scale in zip(network.populations, result.counts, scales,
                                                 strict=True)]
