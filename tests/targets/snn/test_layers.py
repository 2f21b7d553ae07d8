"""Per-layer cost of a simulated spiking network adds up to the network's totals, and the
rates stand for the ANN's activations."""

from __future__ import annotations

import numpy as np
import pytest

from edgenn.core import RunOptions
from edgenn.targets.snn.coding import Simulator
from edgenn.targets.snn.convert import ann_forward
from edgenn.targets.snn.layers import layer_costs, rate_activations
from edgenn.targets.snn.metrics import activity, energy_estimates, synaptic_operations
from edgenn.targets.snn.target import FastSnnTarget, simulate


@pytest.fixture(scope="module")
def simulated(cnn_snn_artifacts, digits, tmp_path_factory):
    target = FastSnnTarget(timesteps=64)
    compiled = target.compile(cnn_snn_artifacts[1], tmp_path_factory.mktemp("snn-layers"))
    runner = target.load(compiled, RunOptions(threads=2))
    x = digits.x_test[:16]
    return runner, x, simulate(runner.network, x, runner.timesteps, Simulator.FAST,
                               runner.coding, runner.seed, 2, record=True)


def test_layer_costs_add_up_to_the_network_totals(simulated):
    runner, x, result = simulated
    costs = layer_costs(runner.network, result, x, runner.coding, runner.energy)
    assert [c["layer"] for c in costs] == [p.name for p in runner.network.populations]
    totals = synaptic_operations(runner.network, result, x, runner.coding)
    assert sum(c["synops"] for c in costs) == pytest.approx(totals["effective_acs"])
    assert sum(c["macs"] for c in costs) == pytest.approx(totals["effective_macs"])
    overall = activity(runner.network, result)
    assert sum(c["spikes"] for c in costs) == pytest.approx(overall["spikes_per_sample"])
    assert sum(c["updates"] for c in costs) == pytest.approx(overall["membrane_updates"])
    energy = energy_estimates(runner.network, totals, result.timesteps, runner.energy,
                              overall["membrane_updates"])
    assert sum(c["energy_uj"] for c in costs) == pytest.approx(energy["snn_uj"])
    assert all(0 <= c["rate"] <= 1 for c in costs)


def test_rates_times_threshold_and_scale_track_the_ann(simulated):
    runner, x, result = simulated
    ann = ann_forward(runner.network, x)  # the normalised network's own ANN view
    scales = runner.network.metadata["scales"]
    for (name, rates), population, act, scale in zip(
            rate_activations(runner.network, result), runner.network.populations, ann[:-1],
            scales, strict=False):
        assert name == population.name and rates.shape == (len(x), *population.shape)
        expected = np.clip(act, 0, 1).reshape(rates.shape) * scale  # rates cap at 1
        error = np.sum((rates - expected) ** 2) / np.sum(expected ** 2)
        assert error < 0.1, name  # rate coding at T = 64 stays within ~10 dB
