"""Input coding and simulation results shared by both simulators.

Both simulators take the same `Drive` (constant currents per population and, for Poisson
coding, the pre-drawn input spikes), so they see identical inputs by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from edgenn.core import BadInputError

from .ir import INPUT, SpikingNetwork
from .projection import apply_projection


class Coding(str, Enum):
    CONSTANT = "constant"  # the input is a constant current into the first layer(s)
    POISSON = "poisson"  # the input neurons fire Bernoulli spikes with p = x / input_scale
    # time-to-first-spike: each input neuron fires once, at step round((1 − x̂)·(T − 1)) for
    # x̂ = x / input_scale in (0, 1] (the brightest first), never for x̂ ≤ 0
    TTFS = "ttfs"


class Simulator(str, Enum):
    FAST = "fast"
    BRIAN2 = "brian2"


@dataclass(frozen=True)
class Drive:
    """What enters the network: per-population constant current, optional input spikes."""

    currents: tuple[np.ndarray, ...]  # (N, n_p) float64, bias included
    input_spikes: np.ndarray | None  # (T, N, n_input) bool: Poisson and TTFS coding
    timesteps: int
    coding: Coding


def prepare_drive(network: SpikingNetwork, x: np.ndarray, timesteps: int,
                  coding: Coding = Coding.CONSTANT, seed: int = 0) -> Drive:
    """Constant currents (bias, plus W·x under constant coding) and Poisson spikes."""
    if timesteps < 1:
        raise BadInputError(f"timesteps must be ≥ 1, got {timesteps}")
    x = np.asarray(x)
    if tuple(x.shape[1:]) != network.input_shape:
        raise BadInputError(f"batch has samples of shape {tuple(x.shape[1:])}, the spiking "
                            f"network takes {network.input_shape}")
    n = len(x)
    scaled = x.reshape(n, -1).astype(np.float64) / network.input_scale
    currents = []
    for population in network.populations:
        current = np.broadcast_to(population.bias, (n, population.size)).copy()
        if coding is Coding.CONSTANT:
            for projection in population.projections:
                if projection.source == INPUT:
                    # as computed, no rounding: a NIR consumer computes the same W·x + b
                    current += apply_projection(projection, scaled, network.input_shape)
        currents.append(current)
    spikes = None
    if coding is Coding.POISSON:
        rng = np.random.default_rng(seed)
        rates = np.clip(scaled, 0.0, 1.0)
        spikes = rng.random((timesteps, n, network.input_size)) < rates[None]
    elif coding is Coding.TTFS:
        spikes = ttfs_spikes(scaled, timesteps)
    return Drive(tuple(currents), spikes, timesteps, coding)


def ttfs_spikes(scaled: np.ndarray, timesteps: int) -> np.ndarray:
    """(T, N, n) one spike per positive input, at round((1 − x̂)·(T − 1))."""
    values = np.clip(scaled, 0.0, 1.0)
    when = np.rint((1.0 - values) * (timesteps - 1)).astype(np.int64)
    steps = np.arange(timesteps)[:, None, None]
    return (steps == when[None]) & (values[None] > 0)


@dataclass(frozen=True)
class SimulationResult:
    """Spike counts of every neuron and the output layer's trace over time."""

    counts: tuple[np.ndarray, ...]  # per population: (N, n_p) int64 spikes over the run
    output_counts: np.ndarray  # (T, N, classes) cumulative output spikes after each step
    output_v: np.ndarray  # (T, N, classes) output membrane potential after each step
    input_counts: np.ndarray | None  # (N, n_input) input spikes (Poisson coding)
    threshold: float  # of the output layer
    # recorded by the fast simulator when asked (`record=True`), for the cost metrics:
    # per population, (N,) timesteps × neurons whose v changed (NeuroBench MembraneUpdates)
    membrane_updates: tuple[np.ndarray, ...] | None = None
    # per (population, projection) with pooling: (N, n_pooled) timesteps each pooled value
    # was non-zero
    pooled_active: dict[tuple[int, int], np.ndarray] | None = None

    @property
    def timesteps(self) -> int:
        return int(self.output_counts.shape[0])

    def scores(self, step: int | None = None) -> np.ndarray:
        """Class scores after `step` timesteps (default: all): output spike counts, ties
        broken by the residual membrane potential (which never outweighs one spike)."""
        index = (step or self.timesteps) - 1
        residual = np.clip(self.output_v[index] / self.threshold, 0.0, 0.999)
        return self.output_counts[index].astype(np.float64) + residual

    def predictions_over_time(self) -> np.ndarray:
        """(T, N) predicted class after each timestep."""
        residual = np.clip(self.output_v / self.threshold, 0.0, 0.999)
        return np.argmax(self.output_counts + residual, axis=2)
