"""1-D signals: Conv1d and AvgPool1d (padding, dilation, stride) through the converter,
both simulators, NIR (Conv1d nodes) and a NIR consumer, and a golden spiking trace.

Golden network: input x = [1, 0, 1, 0] (one channel); layer A = Conv1d(1→1, kernel
[.5, .25], dilation 2, padding 1) + bias .125, so A's currents are
    j0 = .5·0 + .25·0, j1 = .5·1 + .25·1, j2 = .5·0 + .25·0, j3 = .5·1 + .25·0  (+ .125)
     = [.125, .875, .125, .625];
layer B = one neuron fed by a sum pool of 2 (windows A0+A1, A2+A3) through [.5, .25].
IF, θ = 1, fire on v > 1, reset by subtraction, T = 8:
    A0, A2 (.125/step) never fire; A1 fires at t = 2…7 (v = .875, 1.75, 1.625, …, 1.0);
    A3 fires at t = 2, 4, 5, 7 (v = .625, 1.25, .875, 1.5, 1.125, .75, 1.375, 1.0);
    B's J = 0, .75, .5, .75, .75, .5, .75, 0 → v = 0, .75, 1.25→.25, 1.0, 1.75→.75,
    1.25→.25, 1.0, 1.0: spikes at t = 3, 5, 6.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edgenn.targets.snn.coding import Coding, prepare_drive
from edgenn.targets.snn.convert import convert_onnx
from edgenn.targets.snn.fast import simulate_fast
from edgenn.targets.snn.ir import INPUT, NeuronModel, Pool, Population, Projection, SpikingNetwork

B_V = [0.0, 0.75, 0.25, 1.0, 0.75, 0.25, 1.0, 1.0]
B_COUNTS = [0, 0, 1, 1, 2, 3, 3, 3]


def golden_network() -> SpikingNetwork:
    conv = Projection(INPUT, "conv", np.array([[[0.5, 0.25]]]), stride=(1,), pads=(1, 1),
                      dilation=(2,))
    layer_a = Population("a", (1, 4), np.full(4, 0.125), 1.0, (conv,))
    layer_b = Population("b", (1,), np.zeros(1), 1.0,
                         (Projection(0, "dense", np.array([[0.5, 0.25]]),
                                     pool=Pool((2,), (2,))),))
    return SpikingNetwork((1, 4), 1.0, (layer_a, layer_b))


@pytest.mark.parametrize("simulator", ["fast", "brian2"])
def test_conv1d_golden_trace(simulator):
    network = golden_network()
    drive = prepare_drive(network, np.array([[[1, 0, 1, 0]]], np.float32), 8)
    assert drive.currents[0].tolist() == [[0.125, 0.875, 0.125, 0.625]]
    if simulator == "fast":
        result = simulate_fast(network, drive, steps_per_chunk=3)
    else:
        pytest.importorskip("brian2")
        from edgenn.targets.snn.brian2_sim import simulate_brian2

        result = simulate_brian2(network, drive)
    assert result.counts[0].tolist() == [[0, 6, 0, 4]]
    assert result.output_v[:, 0, 0].tolist() == B_V
    assert result.output_counts[:, 0, 0].tolist() == B_COUNTS


def signal_model(tmp_path):
    """A 1-D CNN built by hand in torch, exported to ONNX: Conv1d (dilation 2, padding 2)
    → ReLU → AvgPool1d(2) → Conv1d (stride 2, padding 1) → BN → ReLU → Flatten → Linear."""
    import torch
    from torch import nn

    from edgenn.exporters.onnx import export_onnx

    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=2, dilation=2), nn.ReLU(), nn.AvgPool1d(2),
        nn.Conv1d(4, 6, 3, stride=2, padding=1), nn.BatchNorm1d(6), nn.ReLU(),
        nn.Flatten(), nn.Linear(6 * 4, 3)).eval()
    with torch.no_grad():
        model[4].running_mean.uniform_(-0.1, 0.1)
        model[4].running_var.uniform_(0.5, 1.5)
    # inputs on a 2**-8 grid: W·x is then exact in float64 in any summation order
    x = (np.round(np.random.default_rng(1).random((64, 2, 16)) * 256) / 256).astype(np.float32)
    return export_onnx(model, x[:2], tmp_path / "signal.onnx").path, x


def test_conv1d_and_avgpool1d_convert_and_spike_identically(tmp_path):
    path, x = signal_model(tmp_path)
    network = convert_onnx(path, x)  # checks the ANN view against ONNX Runtime
    first, second, output = network.populations
    conv = first.projections[0]
    assert conv.kind == "conv" and conv.weight.shape == (4, 2, 3)
    assert conv.dilation == (2,) and conv.pads == (2, 2) and first.shape == (4, 16)
    pooled = second.projections[0]
    assert pooled.pool == Pool((2,), (2,)) and pooled.stride == (2,) and second.shape == (6, 4)
    assert output.projections[0].kind == "dense"
    pytest.importorskip("brian2")
    from edgenn.targets.snn.brian2_sim import simulate_brian2

    for neuron in (NeuronModel("if", "subtract"), NeuronModel("lif", "zero", tau=8.0)):
        variant = replace(network, neuron=neuron)
        for coding in (Coding.CONSTANT, Coding.POISSON):
            drive = prepare_drive(variant, x[:10], 24, coding, seed=2)
            fast = simulate_fast(variant, drive)
            reference = simulate_brian2(variant, drive, codegen="numpy")  # small: no compile
            for ours, theirs in zip(fast.counts, reference.counts, strict=True):
                assert np.array_equal(ours, theirs), (neuron, coding)
            assert np.array_equal(fast.output_v, reference.output_v)
            assert sum(int(c.sum()) for c in fast.counts) > 0


def test_conv1d_nir_nodes_round_trip_and_run_in_spikingjelly(tmp_path):
    import nir

    from edgenn.targets.snn.nir_io import network_from_nir, read_nir, write_nir

    path, x = signal_model(tmp_path)
    network = replace(convert_onnx(path, x), neuron=NeuronModel("if", "zero"))
    graph = read_nir(write_nir(network, tmp_path / "signal.nir"))
    convs = {k: n for k, n in graph.nodes.items() if isinstance(n, nir.Conv1d)}
    assert sorted(convs) == ["p0_0", "p1_0", "p1_0_0"]  # conv, pool window, conv
    assert convs["p0_0"].dilation == 2 and convs["p0_0"].padding == 2
    assert convs["p1_0"].stride == 2
    window = convs["p1_0_0"].weight  # AvgPool1d(2): a sum over 2, 1/2 in the next weights
    assert window.shape == (4, 4, 2) and np.array_equal(window[:, :, 0], np.eye(4))
    rebuilt = network_from_nir(graph)
    assert rebuilt.populations[1].projections[0].pool == Pool((2,), (2,))
    drive = prepare_drive(network, x[:16], 32)
    ours = simulate_fast(network, drive)
    again = simulate_fast(rebuilt, prepare_drive(rebuilt, x[:16], 32))
    for a, b in zip(ours.counts, again.counts, strict=True):
        assert np.array_equal(a, b)
    pytest.importorskip("spikingjelly")
    import torch
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    for node in graph.nodes.values():  # spikingjelly fires on v ≥ θ (see test_nir_consumers)
        if isinstance(node, nir.IF):
            node.v_threshold = np.nextafter(node.v_threshold, np.inf)
    module = import_from_nir(graph, dt=1.0, dtype=torch.float64)
    state, outputs = None, []
    with torch.no_grad():
        for _ in range(32):
            out, state = module(torch.from_numpy(x[:16].astype(np.float64)), state)
            outputs.append(out.numpy())
    theirs = np.cumsum(np.stack(outputs), axis=0)
    assert np.array_equal(theirs, ours.output_counts)
