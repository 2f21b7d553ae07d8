"""Hardware constraints: integer weights of N bits, and the fan-in a chip can wire.

`quantize_weights` puts every population on integers the way neuromorphic chips take
them (Loihi, SpiNNaker2, Xylo: N-bit signed synaptic weights, an integer threshold, a
bias current of more bits): per population one scale s = max|W_in| / (2**(N−1) − 1)
over all its incoming weights, then W ← round(W / s), bias ← round(b / s) and
θ ← round(θ / s). The network computes what it did up to that rounding, now in integer
units, so both simulators and every NIR consumer stay exact on it.

`accuracy_by_bits` is the (weight bits × timesteps) accuracy table: T plays the part of
the activation bit-width (a rate over T timesteps takes T + 1 levels of the population's
full scale λ, ≈ log2 T bits; int8 takes 256 levels of the same λ, see
`edgenn.core.calibration`).

`fan_in` counts each neuron's incoming synapses from source neurons (a pooled source
contributes every neuron in the window) and checks them against a limit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edgenn.core import BadInputError

from .coding import Coding, SimulationResult, prepare_drive
from .ir import Projection, SpikingNetwork
from .metrics import accuracy_at
from .projection import apply_projection


@dataclass(frozen=True)
class HardwareProfile:
    """Constraints of a target chip; None: unconstrained."""

    weight_bits: int | None = None  # signed integer weights of this many bits
    fan_in_limit: int | None = None  # incoming synapses a neuron may have

    def __post_init__(self) -> None:
        if self.weight_bits is not None and not 2 <= self.weight_bits <= 16:
            raise BadInputError(f"weight_bits must be in [2, 16], got {self.weight_bits}")
        if self.fan_in_limit is not None and self.fan_in_limit < 1:
            raise BadInputError(f"fan_in_limit must be ≥ 1, got {self.fan_in_limit}")


# named profiles: `profile="chip"` is 8-bit weights and a 4096 fan-in (Loihi 2's synapse
# memory per core allows a few thousand inputs per neuron; Xylo: 8-bit weights too)
PROFILES = {"chip": HardwareProfile(weight_bits=8, fan_in_limit=4096)}


def quantize_weights(network: SpikingNetwork, bits: int) -> SpikingNetwork:
    """The network with N-bit integer weights per population (see the module doc)."""
    largest = (1 << (bits - 1)) - 1
    populations = []
    for population in network.populations:
        peak = max((float(np.abs(p.weight).max()) for p in population.projections
                    if p.weight.size), default=0.0)
        scale = peak / largest if peak > 0 else 1.0
        projections = tuple(replace(p, weight=np.round(p.weight / scale))
                            for p in population.projections)
        populations.append(replace(population, projections=projections,
                                   bias=np.round(population.bias / scale),
                                   threshold=float(max(1.0, round(population.threshold
                                                                  / scale)))))
    metadata = {**network.metadata, "weight_bits": bits}
    return replace(network, populations=tuple(populations), metadata=metadata)


TABLE_BITS = (8, 4)  # weight bits of the table's rows, beside full precision
CHUNK = 128  # samples simulated at once for the table


def accuracy_by_bits(full: SpikingNetwork, x: np.ndarray, y: np.ndarray, steps: int,
                     coding: Coding, seed: int = 0, threads: int = 2,
                     bits: tuple[int, ...] = TABLE_BITS,
                     known: dict[int | None, SimulationResult] | None = None) -> dict:
    """Accuracy after each T ≤ `steps` (metrics.CHECKPOINTS and `steps`) of `full` (the
    full-precision network) and of it with N-bit weights for each of `bits`; `known`:
    results simulated already for `steps`, by weight bits (None = full precision). One
    fast run of `steps` gives every shorter T (a shorter run is a prefix)."""
    from .fast import simulate_fast

    rows, marks = [], []
    for width in (None, *sorted(set(bits), reverse=True)):
        result = (known or {}).get(width)
        if result is not None and result.timesteps == steps:
            predictions = result.predictions_over_time()
        else:  # in chunks: an integer-weight network simulates in float64 (memory); a
            # random code draws for the whole split at once, as the row's own run does
            network = full if width is None else quantize_weights(full, width)
            chunk = len(x) if Coding(coding) is Coding.POISSON else CHUNK
            predictions = np.concatenate([
                simulate_fast(network, prepare_drive(network, x[i:i + chunk], steps, coding,
                                                     seed), threads).predictions_over_time()
                for i in range(0, len(x), chunk)], axis=1)
        accuracy = accuracy_at(predictions, y, steps)
        marks = list(accuracy)
        rows.append({"weight_bits": width, "accuracy": list(accuracy.values())})
    return {"timesteps": marks, "coding": Coding(coding).value, "samples": int(len(y)),
            "rows": rows}


def _fan_in(projection: Projection, source_shape: tuple[int, ...]) -> np.ndarray:
    """Incoming synapses of each target neuron from source neurons (pooling included)."""
    binary = replace(projection, weight=(projection.weight != 0).astype(np.float64))
    ones = np.ones((1, int(np.prod(source_shape))))
    return apply_projection(binary, ones, source_shape)[0]


def fan_in(network: SpikingNetwork, limit: int | None = None) -> dict:
    """Largest fan-in per layer and overall, and the neurons over `limit`."""
    per_layer, over = {}, 0
    for population in network.populations:
        counts = sum(_fan_in(p, network.source_shape(p.source)) for p in population.projections)
        counts = np.asarray(counts)
        per_layer[population.name] = int(counts.max()) if counts.size else 0
        if limit is not None:
            over += int(np.count_nonzero(counts > limit))
    return {"max": max(per_layer.values(), default=0), "per_layer": per_layer,
            "limit": limit, "neurons_over_limit": over if limit is not None else None,
            "within_limit": None if limit is None else over == 0}
