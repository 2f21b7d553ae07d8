"""The fast simulator: the whole batch advanced one timestep at a time with torch ops.

Convolutions stay convolutions, pooling is a sum and dense projections are matrix
products, in float64 on grid-valued weights, so its spikes equal brian2's exactly (see
ir.py): both compute J exactly and then the same v = β·v + J.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from .coding import Drive, SimulationResult
from .ir import INPUT, NeuronKind, Projection, Reset, SpikingNetwork, torch_pool
from .projection import apply_projection as apply_projection  # re-export: it lived here
from .projection import torch_projection

log = logging.getLogger(__name__)


def exact_in_float32(projection: Projection, grid_bits: int) -> bool:
    """Whether W · s (s binary) is exact in float32: every partial sum of grid values stays
    below 2**(24 - grid_bits) when the largest fan-in L1 norm does."""
    weight = np.abs(projection.weight)
    fan_in = weight.reshape(weight.shape[0], -1).sum(axis=1).max() if weight.size else 0.0
    pool = projection.pool
    if pool is not None:
        if pool.average and pool.window & (pool.window - 1):
            return False  # a division by 9 rounds differently in float32
        fan_in *= pool.window
    return bool(fan_in < 2.0 ** (24 - grid_bits))


def grid_bits_of(arrays, at_least: int, at_most: int = 30) -> int | None:
    """The fewest fractional bits g ≥ `at_least` that put every value on the 2**-g grid."""
    for bits in range(at_least, at_most + 1):
        scale = float(2**bits)
        if all(np.array_equal(np.round(a * scale), a * scale) for a in arrays):
            return bits
    return None


def _input_bounds(network: SpikingNetwork, index: int, current: np.ndarray, poisson: bool
                  ) -> tuple[float, float]:
    """Largest rise and fall of any neuron's v in one timestep: (I + Σ W⁺, −(I + Σ W⁻))."""
    population = network.populations[index]
    rise, fall = current.copy(), current.copy()
    for projection in population.projections:
        if projection.source == INPUT and not poisson:
            continue
        weight = projection.weight
        if projection.pool is not None:  # a pooled source sums up to `window` spikes
            weight = weight * projection.pool.window
        if projection.kind == "conv":  # per output channel, ignoring borders: an upper bound
            per_channel = population.size // weight.shape[0]
            rise += np.repeat(np.maximum(weight, 0).reshape(len(weight), -1).sum(1), per_channel)
            fall += np.repeat(np.minimum(weight, 0).reshape(len(weight), -1).sum(1), per_channel)
        else:
            rise += np.maximum(weight, 0).sum(axis=1)
            fall += np.minimum(weight, 0).sum(axis=1)
    return float(max(rise.max(), 0.0)), float(max(-fall.min(), 0.0))


def simulate_fast(network: SpikingNetwork, drive: Drive, threads: int = 2,
                  steps_per_chunk: int = 32, record: bool = False) -> SimulationResult:
    """Run `drive` through `network` (`record`: also count membrane updates and active
    pooled values, for the cost metrics).

    The network is feed-forward and spikes cross it within a timestep, so a population's
    synaptic input for a block of timesteps is known once its sources have run through
    that block: each projection is one large product over (timesteps × samples), and
    only the neuron update loops over time. IF networks whose currents lie on a grid run
    in float32 while that is provably exact (products: fan-in L1 norm; membrane
    potentials: a bound on how far v can move within the block, checked before each
    block), and switch a population to float64 for good once it might not be; LIF
    (v·β rounds) and off-grid currents run in float64 throughout, like brian2.
    """
    import torch

    torch.set_num_threads(max(1, threads))
    n = drive.currents[0].shape[0]
    steps = drive.timesteps
    populations = network.populations
    decay = network.neuron.decay
    zero_reset = network.neuron.reset is Reset.ZERO
    # per population: |v| below its limit is exact in float32 (0: never float32)
    limits = []
    for index, population in enumerate(populations):
        bits = None if network.neuron.kind is not NeuronKind.IF else grid_bits_of(
            [drive.currents[index], *(q.weight for q in population.projections)],
            network.grid_bits)
        limits.append(0.0 if bits is None else 2.0 ** (24 - bits))
    poisson = drive.input_spikes is not None
    bounds = [_input_bounds(network, k, c, poisson) for k, c in enumerate(drive.currents)]
    currents = [torch.from_numpy(c) for c in drive.currents]
    currents32 = [c.to(torch.float32) for c in currents]
    v = [torch.zeros(n, p.size, dtype=torch.float32 if limit else torch.float64)
         for p, limit in zip(populations, limits, strict=True)]
    counts = [torch.zeros(n, p.size, dtype=torch.int64) for p in populations]
    dtypes = [[torch.float32 if limit and exact_in_float32(q, network.grid_bits)
               else torch.float64 for q in p.projections]
              for p, limit in zip(populations, limits, strict=True)]
    casts = [[_cast(q, dtype) for q, dtype in zip(p.projections, kinds, strict=True)]
             for p, kinds in zip(populations, dtypes, strict=True)]
    last = len(populations) - 1
    out_counts = np.zeros((steps, n, populations[-1].size), dtype=np.int64)
    out_v = np.zeros((steps, n, populations[-1].size), dtype=np.float64)
    input_spikes = None if drive.input_spikes is None else torch.from_numpy(drive.input_spikes)
    updates = [torch.zeros(n, dtype=torch.int64) for _ in populations]
    pooled: dict[tuple[int, int], torch.Tensor] = {}
    with torch.no_grad():
        for start in range(0, steps, steps_per_chunk):
            block = min(steps_per_chunk, steps - start)
            fired_block: list = [None] * len(populations)
            for index, population in enumerate(populations):
                vp = v[index]
                rise, fall = bounds[index]
                limit = limits[index]
                if vp.dtype == torch.float32 and not (
                        float(vp.max()) + block * rise < limit
                        and float(vp.min()) - block * fall > -limit):
                    vp = v[index] = vp.to(torch.float64)  # exact so far: widen for good
                    log.debug("population %s: float64 from timestep %d", population.name, start)
                current = currents32[index] if vp.dtype == torch.float32 else currents[index]
                inputs = None
                for k, projection in enumerate(casts[index]):
                    if projection.source == INPUT:
                        if input_spikes is None:
                            continue  # constant coding: already in the current
                        source = input_spikes[start:start + block].reshape(block * n, -1)
                    else:
                        source = fired_block[projection.source]
                    if source.dtype != dtypes[index][k]:
                        source = source.to(dtypes[index][k])
                    if record and projection.pool is not None:
                        _count_pooled(pooled, (index, k), projection, source, block, n,
                                      network.source_shape(projection.source))
                    product = torch_projection(projection, source,
                                                network.source_shape(projection.source))
                    product = product.reshape(block, n, population.size).to(vp.dtype)
                    if inputs is None:
                        inputs = product
                    else:
                        inputs += product
                if inputs is None:
                    inputs = current.expand(block, n, population.size)
                else:
                    inputs += current  # exact: within the bound checked above
                # spikes are stored as 0.0 / 1.0 in v's dtype: no conversions in the loop
                fired = torch.empty(block, n, population.size, dtype=vp.dtype)
                threshold = population.threshold
                for step in range(block):
                    before = vp.clone() if record else None
                    if decay != 1.0:
                        vp.mul_(decay)
                    vp += inputs[step]
                    torch.gt(vp, threshold, out=fired[step])
                    if zero_reset:
                        vp.masked_fill_(fired[step] > 0, 0.0)
                    else:
                        vp.sub_(fired[step], alpha=threshold)
                    if before is not None:  # NeuroBench counts every neuron at step 1
                        updates[index] += population.size if start + step == 0 else \
                            (vp != before).sum(dim=1)
                    if index == last:
                        counts[index] += fired[step].to(torch.int64)
                        out_counts[start + step] = counts[index].numpy()
                        out_v[start + step] = vp.numpy()
                if index != last:
                    counts[index] += fired.sum(dim=0).to(torch.int64)  # exact: < 2**24
                fired_block[index] = fired.reshape(block * n, population.size)
    input_counts = None if drive.input_spikes is None else drive.input_spikes.sum(axis=0)
    return SimulationResult(tuple(c.numpy() for c in counts), out_counts, out_v, input_counts,
                            populations[-1].threshold,
                            tuple(u.numpy() for u in updates) if record else None,
                            {key: value.numpy() for key, value in pooled.items()}
                            if record else None)


def _count_pooled(pooled: dict, key: tuple[int, int], projection: Projection, source,
                  block: int, n: int, source_shape: tuple[int, ...]) -> None:
    """Add, per sample, how many timesteps each pooled value of `source` was non-zero."""
    import torch

    values = torch_pool(projection.pool, source, source_shape)
    active = (values != 0).reshape(block, n, -1).sum(dim=0).to(torch.int64)
    pooled[key] = pooled.get(key, 0) + active


def _cast(projection: Projection, dtype) -> Projection:
    import torch

    if dtype == torch.float64:
        return projection
    return replace(projection, weight=projection.weight.astype(np.float32))
