"""Golden trace: a 2 → 1 neuron network whose membrane potentials are computed by hand.

Input x = [1, 1]; population A (2 IF neurons) gets the constant current
W_A·x + b_A = [0.75, 0.25]; population B (1 neuron) gets 0.5·s_A0 + 0.75·s_A1 − 0.125
in the same timestep. θ = 1 everywhere, reset by subtraction.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgenn.targets.snn.coding import Coding, prepare_drive
from edgenn.targets.snn.fast import simulate_fast
from edgenn.targets.snn.ir import INPUT, Population, Projection, SpikingNetwork

# A0: v = .75, 1.5→.5 (spike), 1.25→.25, 1.0→0, .75, …  → spikes at t = 2, 3, 4, 6, 7, 8
# A1: v = .25, .5, .75, 1.0→0 (spike), …               → spikes at t = 4, 8
# B:  v after each step (spikes at t = 4, 6, 8):
B_V = [-0.125, 0.25, 0.625, 0.75, 0.625, 0.0, 0.375, 0.5]
B_COUNTS = [0, 0, 0, 1, 1, 2, 2, 3]


def tiny_network() -> SpikingNetwork:
    layer_a = Population("a", (2,), np.array([0.25, 0.0]), 1.0,
                         (Projection(INPUT, "dense", np.array([[0.5, 0.0], [0.0, 0.25]])),))
    layer_b = Population("b", (1,), np.array([-0.125]), 1.0,
                         (Projection(0, "dense", np.array([[0.5, 0.75]])),))
    return SpikingNetwork((2,), 1.0, (layer_a, layer_b))


def check_trace(result) -> None:
    assert result.output_counts[:, 0, 0].tolist() == B_COUNTS
    assert result.output_v[:, 0, 0].tolist() == B_V
    assert result.counts[0].tolist() == [[6, 2]]
    assert result.counts[1].tolist() == [[3]]


def test_fast_simulator_follows_the_hand_computed_trace():
    network = tiny_network()
    drive = prepare_drive(network, np.ones((1, 2), np.float32), 8, Coding.CONSTANT)
    check_trace(simulate_fast(network, drive, steps_per_chunk=3))


def test_brian2_follows_the_hand_computed_trace():
    pytest.importorskip("brian2")
    from edgenn.targets.snn.brian2_sim import simulate_brian2

    network = tiny_network()
    drive = prepare_drive(network, np.ones((1, 2), np.float32), 8, Coding.CONSTANT)
    check_trace(simulate_brian2(network, drive))


def test_batched_samples_do_not_interact():
    network = tiny_network()
    x = np.array([[1, 1], [0, 0], [1, 1]], np.float32)
    result = simulate_fast(network, prepare_drive(network, x, 8))
    assert result.output_counts[:, 0, 0].tolist() == B_COUNTS
    assert result.output_counts[:, 2, 0].tolist() == B_COUNTS
    assert result.counts[0][1].tolist() == [2, 0]  # bias 0.25 alone: spikes at t = 4, 8


def test_float32_fast_path_widens_to_float64_before_rounding():
    # v falls by 3000 + 2**-12 per step: from step 3 on it needs over 24 significant bits,
    # more than float32 has, so the simulator must switch to float64 up front.
    drop = -(3000 + 2.0**-12)
    layer = Population("a", (1,), np.array([drop]), 1.0,
                       (Projection(INPUT, "dense", np.zeros((1, 1))),))
    network = SpikingNetwork((1,), 1.0, (layer,))
    result = simulate_fast(network, prepare_drive(network, np.zeros((1, 1), np.float32), 8))
    assert result.output_v[:, 0, 0].tolist() == [drop * t for t in range(1, 9)]
    assert result.output_counts.sum() == 0
