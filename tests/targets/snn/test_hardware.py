"""Hardware constraints: N-bit integer weights (values checked by hand), fan-in counted
by hand, and the chip profile through the target (accuracy cost and fan-in reported)."""

from __future__ import annotations

import numpy as np
import pytest

from edgenn.core import BadInputError
from edgenn.targets.snn.hardware import HardwareProfile, fan_in, quantize_weights
from edgenn.targets.snn.ir import INPUT, Pool, Population, Projection, SpikingNetwork


def two_layers() -> SpikingNetwork:
    layer_a = Population("a", (2,), np.array([0.25, 0.0]), 1.0,
                         (Projection(INPUT, "dense", np.array([[0.5, 0.0], [0.0, 0.25]])),))
    layer_b = Population("b", (1,), np.array([-0.125]), 1.0,
                         (Projection(0, "dense", np.array([[0.5, 0.75]])),))
    return SpikingNetwork((2,), 1.0, (layer_a, layer_b))


def test_four_bit_weights_by_hand():
    # A: peak .5 → s = .5/7: W = [7, 0; 0, 3.5→4], bias .25/s = 3.5 → 4, θ = 1/s = 14.
    # B: peak .75 → s = .75/7: W = [4.67→5, 7], bias −.125/s = −1.17 → −1, θ = 9.33 → 9.
    # (numpy rounds halves to even)
    quantised = quantize_weights(two_layers(), 4)
    a, b = quantised.populations
    assert a.projections[0].weight.tolist() == [[7, 0], [0, 4]]
    assert a.bias.tolist() == [4, 0] and a.threshold == 14
    assert b.projections[0].weight.tolist() == [[5, 7]]
    assert b.bias.tolist() == [-1] and b.threshold == 9
    assert quantised.metadata["weight_bits"] == 4


def test_eight_bit_weights_stay_in_range():
    rng = np.random.default_rng(0)
    layer = Population("a", (5,), rng.normal(0, 0.1, 5), 1.0,
                       (Projection(INPUT, "dense", rng.normal(0, 1, (5, 7))),))
    quantised = quantize_weights(SpikingNetwork((7,), 1.0, (layer,)), 8)
    weight = quantised.populations[0].projections[0].weight
    assert np.all(weight == np.round(weight)) and np.abs(weight).max() == 127


def test_fan_in_counts_source_neurons_through_pooling_and_padding():
    # a 3×3 convolution, padding 1, on 1×3×3: the centre neuron sees 9 inputs, a corner 4;
    # a dense 9 → 8 layer: 9 each; a 1×2×4 layer pooled 2×2 (two windows of 4) into one
    # neuron with both weights non-zero: 8 source neurons. Over a limit of 8: the conv
    # centre and all 8 dense neurons.
    conv = Projection(INPUT, "conv", np.ones((1, 1, 3, 3)), (1, 1), (1, 1, 1, 1))
    p0 = Population("conv", (1, 3, 3), np.zeros(9), 1.0, (conv,))
    grid = Population("grid", (1, 2, 4), np.zeros(8), 1.0,
                      (Projection(0, "dense", np.ones((8, 9))),))
    pooled = Population("pooled", (1,), np.zeros(1), 1.0,
                        (Projection(1, "dense", np.array([[0.5, 0.25]]),
                                    pool=Pool((2, 2), (2, 2))),))
    network = SpikingNetwork((1, 3, 3), 1.0, (p0, grid, pooled))
    report = fan_in(network, limit=8)
    assert report["per_layer"] == {"conv": 9, "grid": 9, "pooled": 8}
    assert report["max"] == 9 and report["neurons_over_limit"] == 1 + 8
    assert report["within_limit"] is False
    assert fan_in(network)["neurons_over_limit"] is None


def test_profile_values_are_checked():
    with pytest.raises(BadInputError, match="weight_bits must be in"):
        HardwareProfile(weight_bits=1)
    with pytest.raises(BadInputError, match="fan_in_limit must be"):
        HardwareProfile(fan_in_limit=0)


def test_a_recipe_chooses_the_neuron_and_the_hardware(tmp_path):
    from edgenn.core.registry import create_target
    from edgenn.run.recipe import build_config

    recipe = tmp_path / "recipe.toml"
    recipe.write_text('[targets.options]\nsnn-fast = { neuron = "lif", reset = "zero", '
                      'tau = 8, profile = "chip", fan_in_limit = 1000 }\n')
    options = build_config(recipe).target_options["snn-fast"]
    target = create_target("snn-fast", **options)
    assert target.conversion.neuron.to_json() == {"kind": "lif", "reset": "zero", "tau": 8.0}
    assert target.hardware == HardwareProfile(weight_bits=8, fan_in_limit=1000)


def test_the_bits_by_timesteps_table_is_each_network_simulated_and_read_at_each_t(snn):
    """Rows: full precision, 8 and 4 bits; columns: T ≤ steps; chunked runs (150 samples,
    chunks of 128) give what one whole-split run gives; a result given as known is used."""
    from edgenn.targets.snn.coding import Coding, prepare_drive
    from edgenn.targets.snn.fast import simulate_fast
    from edgenn.targets.snn.hardware import accuracy_by_bits

    x, y = snn.x[:150], snn.y[:150]
    table = accuracy_by_bits(snn.network, x, y, 20, Coding.CONSTANT)
    assert table["timesteps"] == [8, 16, 20] and table["samples"] == 150
    assert [r["weight_bits"] for r in table["rows"]] == [None, 8, 4]
    for row in table["rows"]:
        bits = row["weight_bits"]
        network = snn.network if bits is None else quantize_weights(snn.network, bits)
        whole = simulate_fast(network, prepare_drive(network, x, 20)).predictions_over_time()
        assert row["accuracy"] == [float(np.mean(whole[t - 1] == y)) for t in (8, 16, 20)]
    # a known result stands in for the simulation of its row
    four = quantize_weights(snn.network, 4)
    known = simulate_fast(four, prepare_drive(four, x, 20))
    reused = accuracy_by_bits(snn.network, x, y, 20, Coding.CONSTANT, bits=(),
                              known={None: known})
    assert reused["rows"][0]["accuracy"] == table["rows"][2]["accuracy"]
