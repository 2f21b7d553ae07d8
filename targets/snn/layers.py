"""Per-layer view of a simulated spiking network: cost per population, and the activation
each population's firing rate stands for.

Cost per layer uses the same definitions (NeuroBench's, `metrics`) and the same
`EnergyModel` as the network's totals, which the layers add up to: a population's
effective ACs and MACs are those of its incoming connection layers
(`metrics.operations_per_population`), its membrane updates are the recorded ones (all
neurons × timesteps without a recording), and its energy is

    E_layer = (ACs + updates)·E_add + MACs·(E_add + E_mult)
              + (4·(ACs + MACs) + 16·updates)·E_byte

Rate coding: after normalisation a neuron firing r spikes per timestep stands for the ANN
activation r · θ · λ_layer (θ its threshold, λ the layer's normalisation scale recorded at
conversion), which is what per-layer divergence compares with PyTorch.
"""

from __future__ import annotations

import numpy as np

from .coding import Coding, SimulationResult
from .ir import SpikingNetwork
from .metrics import EnergyModel, operations_per_population


def layer_costs(network: SpikingNetwork, result: SimulationResult, x: np.ndarray,
                coding: Coding, energy: EnergyModel | None = None) -> list[dict]:
    """One dict per population (network order), averaged per sample: `layer` (the ONNX
    tensor it replaces), `neurons`, `spikes`, `rate` (spikes per neuron per timestep),
    `synops` (effective ACs), `macs` (effective MACs), `updates` (membrane updates),
    `energy_uj` (an estimate, `EnergyModel`). Pooled projections need `result` recorded
    (`simulate(..., record=True)`)."""
    energy = energy or EnergyModel()
    steps = result.timesteps
    operations = operations_per_population(network, result, x, coding)
    layers = []
    for index, (population, ops) in enumerate(zip(network.populations, operations,
                                                  strict=True)):
        spikes = float(result.counts[index].sum(axis=1).mean())
        updates = float(result.membrane_updates[index].mean()) \
            if result.membrane_updates is not None else float(population.size * steps)
        synops, macs = float(ops["acs"].mean()), float(ops["macs"].mean())
        picojoules = energy.snn_pj(synops, macs, updates)
        layers.append({"layer": population.name, "neurons": population.size,
                       "spikes": spikes, "rate": spikes / (population.size * steps),
                       "synops": synops, "macs": macs, "updates": updates,
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
