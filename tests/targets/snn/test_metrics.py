"""NeuroBench's metric definitions on small networks counted by hand.

NeuroBench (neurobench.metrics v2): SynapticOperations binarises each connection layer's
weights and inputs and runs it again — Effective ops are non-zero input × non-zero weight
(MACs when the input is not binary, ACs when it is spikes), Dense counts every weight ×
input except taps on padding, all summed over the timesteps of a sample; pooling and bias
are not counted. ActivationSparsity, ConnectionSparsity, Footprint and MembraneUpdates as
documented in `edgenn.targets.snn.metrics`.
"""

from __future__ import annotations

import numpy as np

from edgenn.targets.snn.coding import Coding, prepare_drive
from edgenn.targets.snn.fast import simulate_fast
from edgenn.targets.snn.ir import INPUT, Pool, Population, Projection, SpikingNetwork
from edgenn.targets.snn.metrics import activity, dense_per_timestep, synaptic_operations


def two_layers() -> SpikingNetwork:
    """A: 2 IF neurons, W_A = [[.5, 0], [0, .25]], b = [.25, 0]; B: 1 neuron, W_B = [.5, .75],
    b = −.125; θ = 1, reset by subtraction."""
    layer_a = Population("a", (2,), np.array([0.25, 0.0]), 1.0,
                         (Projection(INPUT, "dense", np.array([[0.5, 0.0], [0.0, 0.25]])),))
    layer_b = Population("b", (1,), np.array([-0.125]), 1.0,
                         (Projection(0, "dense", np.array([[0.5, 0.75]])),))
    return SpikingNetwork((2,), 1.0, (layer_a, layer_b))


def run(network: SpikingNetwork, x: np.ndarray, steps: int, coding=Coding.CONSTANT):
    return simulate_fast(network, prepare_drive(network, x, steps, coding), record=True)


def test_hand_counted_two_layer_network():
    # x = [1, .5] (not binary): A's currents .5·1 + .25 = .75 and .25·.5 = .125.
    # A0 fires at t = 2, 3, 5, 6, 7 (v = .75, 1.5, 1.25, 1.0, 1.75, …); A1 never (v = t/8).
    # B: J = −.125 + .5·s_A0; v = −.125, .25, .625, .5, .875, 1.25 → spike, .625, .5.
    network, x = two_layers(), np.array([[1.0, 0.5]], np.float32)
    result = run(network, x, 8)
    assert result.counts[0].tolist() == [[5, 0]] and result.counts[1].tolist() == [[1]]
    ops = synaptic_operations(network, result, x, Coding.CONSTANT)
    # MACs: 2 non-zero inputs × their 1 non-zero weight each, every one of 8 timesteps
    assert ops["effective_macs"] == 2 * 8 and ops["effective_macs_per_timestep"] == 2
    # ACs: 5 spikes of A0 × 1 non-zero synapse into B (A1 never fires)
    assert ops["effective_acs"] == 5
    # Dense: 2×2 + 1×2 = 6 per timestep, 48 over the run; the ANN runs it once
    assert ops["dense_per_timestep"] == 6 and ops["dense"] == 48
    assert ops["ann_dense_macs"] == 6
    stats = activity(network, result)
    assert stats["activation_sparsity"] == 1 - 6 / (3 * 8)  # 6 spikes, 3 neurons, 8 steps
    assert stats["connection_sparsity"] == 2 / 6  # two zeros in W_A, none in W_B
    # Footprint: 6 weights + 3 biases (float32), 2 thresholds, 3 membrane potentials
    assert stats["footprint_bytes"] == 9 * 4 + 2 * 4 + 3 * 4
    # every v changes every step here (A0, A1 and B all get a non-zero J each step)
    assert stats["membrane_updates"] == 3 * 8


def test_binary_input_counts_as_accumulates_and_unchanged_potentials_do_not_update():
    # x = [1, 0]: binary, so NeuroBench counts the first layer as ACs. A1 gets J = 0 and
    # never moves: after the first step (where NeuroBench counts every neuron) it is not
    # an update. A0: J = .75 as before.
    network, x = two_layers(), np.array([[1.0, 0.0]], np.float32)
    result = run(network, x, 8)
    ops = synaptic_operations(network, result, x, Coding.CONSTANT)
    assert ops["effective_macs"] == 0 and ops["effective_acs"] == 1 * 8 + 5
    assert activity(network, result)["membrane_updates"] == 8 + 1 + 8


def pooled_network() -> SpikingNetwork:
    """P0: 1×2×4 IF neurons, a 1×1 convolution of weight 1 on the input; P1: one neuron
    fed by a 2×2 sum pool of P0 (two windows) through W = [.5, .25]."""
    p0 = Population("p0", (1, 2, 4), np.zeros(8), 1.0,
                    (Projection(INPUT, "conv", np.ones((1, 1, 1, 1)), (1, 1), (0, 0, 0, 0)),))
    p1 = Population("p1", (1,), np.zeros(1), 1.0,
                    (Projection(0, "dense", np.array([[0.5, 0.25]]),
                                pool=Pool((2, 2), (2, 2))),))
    return SpikingNetwork((1, 2, 4), 1.0, (p0, p1))


def test_pooling_is_not_counted_and_pooled_counts_are_macs():
    # inputs 1.0 at (0,0), .6 at (0,1) and (1,1), 0 elsewhere; T = 4, θ = 1, v > θ fires:
    # x = 1.0 fires at t = 2, 3, 4; x = .6 at t = 2, 4 (v = .6, 1.2, .8, 1.4).
    # Window 1 holds 3, 1, 3 spikes at t = 2, 3, 4 (non-zero 3 times); window 2 never.
    network = pooled_network()
    x = np.zeros((1, 1, 2, 4), np.float32)
    x[0, 0, 0, 0], x[0, 0, 0, 1], x[0, 0, 1, 1] = 1.0, 0.6, 0.6
    result = run(network, x, 4)
    assert result.counts[0].reshape(2, 4).tolist() == [[3, 2, 0, 0], [0, 2, 0, 0]]
    assert result.pooled_active[(1, 0)].tolist() == [[3, 0]]
    ops = synaptic_operations(network, result, x, Coding.CONSTANT)
    # first layer: 3 non-zero pixels × 1 tap × 4 steps; pooled layer: 3 × 1 (window 1)
    assert ops["effective_macs"] == 12 + 3 and ops["effective_acs"] == 0
    assert ops["dense_per_timestep"] == 8 + 2  # 8 pixels × 1 tap; 2 pooled values × 1


def test_dense_skips_taps_on_padding():
    # a 3×3 kernel, padding 1, on a 3×3 image: corners see 4 taps, edges 6, the centre 9
    conv = Projection(INPUT, "conv", np.ones((1, 1, 3, 3)), (1, 1), (1, 1, 1, 1))
    network = SpikingNetwork((1, 3, 3), 1.0,
                             (Population("c", (1, 3, 3), np.zeros(9), 1.0, (conv,)),))
    assert dense_per_timestep(network) == 4 * 4 + 4 * 6 + 9  # 49, not 81


def test_poisson_input_spikes_are_accumulates():
    network, x = two_layers(), np.array([[1.0, 0.5]], np.float32)
    result = run(network, x, 16, Coding.POISSON)
    ops = synaptic_operations(network, result, x, Coding.POISSON)
    # each input spike reaches its one non-zero weight; each A spike its synapse into B
    assert ops["effective_macs"] == 0
    assert ops["effective_acs"] == result.input_counts.sum() + result.counts[0].sum()
