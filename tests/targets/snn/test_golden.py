"""Golden traces: tiny networks whose membrane potentials are computed by hand, for every
neuron model (IF, LIF) and reset (by subtraction, to zero), in both simulators.

Network: input x = [1, 1]; population A (2 neurons) gets the constant current
W_A·x + b_A = [0.75, 0.25]; population B (1 neuron) gets 0.5·s_A0 + 0.75·s_A1 − 0.125 in
the same timestep. θ = 1 everywhere; a neuron fires when v > θ (NIR's rule: v = 1.0
exactly does not fire).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edgenn.targets.snn.coding import prepare_drive
from edgenn.targets.snn.fast import simulate_fast
from edgenn.targets.snn.ir import INPUT, NeuronModel, Population, Projection, SpikingNetwork

# IF, reset by subtraction (t = 1 … 8):
# A0 (I = .75): v = .75, 1.5→.5 (spike), 1.25→.25 (spike), 1.0 (no spike: not > 1),
#               1.75→.75, 1.5→.5, 1.25→.25 (spikes), 1.0     → spikes at t = 2, 3, 5, 6, 7
# A1 (I = .25): v = .25, .5, .75, 1.0, 1.25→.25 (spike), .5, .75, 1.0 → spike at t = 5
# B: J = −.125, .375, .375, −.125, 1.125, .375, .375, −.125
SUBTRACT = {"b_v": [-0.125, 0.25, 0.625, 0.5, 0.625, 1.0, 0.375, 0.25],
            "b_counts": [0, 0, 0, 0, 1, 1, 2, 2], "a_counts": [5, 1], "b_total": 2}
# IF, reset to zero:
# A0: .75, 1.5→0 (spike), .75, 1.5→0, …                   → spikes at t = 2, 4, 6, 8
# A1: .25, .5, .75, 1.0, 1.25→0 (spike), .25, .5, .75     → spike at t = 5
# B: J = −.125, .375, −.125, .375, .625, .375, −.125, .375; v = 1.125 at t = 5 → 0
ZERO = {"b_v": [-0.125, 0.25, 0.125, 0.5, 0.0, 0.375, 0.25, 0.625],
        "b_counts": [0, 0, 0, 0, 1, 1, 1, 1], "a_counts": [4, 1], "b_total": 1}
# One LIF neuron, τ = 2 (v = v/2 + J), J = .75:
# subtract: .75, 1.125→.125 (spike), .8125, 1.15625→.15625, .828125, 1.1640625→.1640625,
#           .83203125, 1.166015625→.166015625
# zero:     .75, 1.125→0 (spike), .75, 1.125→0, …
LIF_SUBTRACT = [0.75, 0.125, 0.8125, 0.15625, 0.828125, 0.1640625, 0.83203125, 0.166015625]
LIF_ZERO = [0.75, 0.0] * 4
LIF_COUNTS = [0, 1, 1, 2, 2, 3, 3, 4]


def tiny_network(reset: str = "subtract") -> SpikingNetwork:
    layer_a = Population("a", (2,), np.array([0.25, 0.0]), 1.0,
                         (Projection(INPUT, "dense", np.array([[0.5, 0.0], [0.0, 0.25]])),))
    layer_b = Population("b", (1,), np.array([-0.125]), 1.0,
                         (Projection(0, "dense", np.array([[0.5, 0.75]])),))
    return SpikingNetwork((2,), 1.0, (layer_a, layer_b), neuron=NeuronModel("if", reset))


def lif_neuron(reset: str) -> SpikingNetwork:
    layer = Population("a", (1,), np.array([0.25]), 1.0,
                       (Projection(INPUT, "dense", np.array([[0.5]])),))
    return SpikingNetwork((1,), 1.0, (layer,), neuron=NeuronModel("lif", reset, tau=2.0))


def simulator_named(name: str):
    if name == "fast":
        return lambda network, drive: simulate_fast(network, drive, steps_per_chunk=3)
    pytest.importorskip("brian2")
    from edgenn.targets.snn.brian2_sim import simulate_brian2

    return simulate_brian2


@pytest.mark.parametrize("simulator", ["fast", "brian2"])
@pytest.mark.parametrize("reset, expected", [("subtract", SUBTRACT), ("zero", ZERO)])
def test_if_network_follows_the_hand_computed_trace(simulator, reset, expected):
    simulate = simulator_named(simulator)
    network = tiny_network(reset)
    result = simulate(network, prepare_drive(network, np.ones((1, 2), np.float32), 8))
    assert result.output_counts[:, 0, 0].tolist() == expected["b_counts"]
    assert result.output_v[:, 0, 0].tolist() == expected["b_v"]
    assert result.counts[0].tolist() == [expected["a_counts"]]
    assert result.counts[1].tolist() == [[expected["b_total"]]]


@pytest.mark.parametrize("simulator", ["fast", "brian2"])
@pytest.mark.parametrize("reset, trace", [("subtract", LIF_SUBTRACT), ("zero", LIF_ZERO)])
def test_lif_neuron_follows_the_hand_computed_trace(simulator, reset, trace):
    simulate = simulator_named(simulator)
    network = lif_neuron(reset)
    result = simulate(network, prepare_drive(network, np.ones((1, 1), np.float32), 8))
    assert result.output_v[:, 0, 0].tolist() == trace
    assert result.output_counts[:, 0, 0].tolist() == LIF_COUNTS


def test_batched_samples_do_not_interact():
    network = tiny_network()
    x = np.array([[1, 1], [0, 0], [1, 1]], np.float32)
    result = simulate_fast(network, prepare_drive(network, x, 8))
    assert result.output_counts[:, 0, 0].tolist() == SUBTRACT["b_counts"]
    assert result.output_counts[:, 2, 0].tolist() == SUBTRACT["b_counts"]
    assert result.counts[0][1].tolist() == [1, 0]  # bias 0.25 alone: v = 1.25 at t = 5


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


def test_the_first_layer_current_is_not_rounded():
    # 1/3 is on no binary grid: the drive keeps W·x as computed (what a NIR consumer does)
    network = replace(tiny_network(), input_scale=3.0)
    drive = prepare_drive(network, np.ones((1, 2), np.float32), 4)
    assert drive.currents[0].tolist() == [[0.5 / 3 + 0.25, 0.25 / 3]]


def test_time_to_first_spike_input_by_hand():
    # x̂ = 1, .5, 0, .25 and T = 5: one spike at round((1 − x̂)·4) = step 0, 2, never, 3
    from edgenn.targets.snn.coding import Coding

    layer = Population("a", (1,), np.zeros(1), 1.0,
                       (Projection(INPUT, "dense", np.array([[0.5, 0.5, 0.5, 0.5]])),))
    network = SpikingNetwork((4,), 1.0, (layer,))
    drive = prepare_drive(network, np.array([[1.0, 0.5, 0.0, 0.25]], np.float32), 5,
                          Coding.TTFS)
    assert drive.input_spikes[:, 0].astype(int).tolist() == [
        [1, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert drive.currents[0].tolist() == [[0.0]]  # the input arrives as spikes only
    # v = .5, .5, 1.0, 1.5 → spike (v > 1) → .5, .5
    result = simulate_fast(network, drive)
    assert result.output_v[:, 0, 0].tolist() == [0.5, 0.5, 1.0, 0.5, 0.5]
    assert result.output_counts[:, 0, 0].tolist() == [0, 0, 0, 1, 1]
