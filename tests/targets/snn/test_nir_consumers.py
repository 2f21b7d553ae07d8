"""edgenn's .nir in other NIR consumers, and another tool's NIR graph in edgenn.

The digits CNN converted with reset to zero (NIR's own reset) is written as .nir, loaded
by spikingjelly and norse, run by them in float64 on the whole digits test split, and
their output spikes compared with edgenn's after every timestep. Where a consumer
deviates from the NIR spec the test says so, shows it on one neuron, and corrects it:
- spikingjelly fires on v ≥ θ (NIR: v > θ): its thresholds are raised to the next float
  above θ, which on grid-valued potentials is the same rule;
- norse applies `Flatten.start_dim` to the batched tensor (NIR counts it from the first
  per-sample axis) and reads no `AvgPool2d`: its Flatten modules are shifted by one axis
  and it gets the file written with `pooling="sum"` (`SumPool2d`).
snnTorch is not compared: its importer makes NIR's IF a leaky neuron with subtract
reset (shown below).
The other way round: a network built and exported by spikingjelly
(`export_to_nir`) is simulated by edgenn's fast simulator and brian2 and compared with
spikingjelly's own run.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edgenn.targets.snn.coding import prepare_drive
from edgenn.targets.snn.fast import simulate_fast
from edgenn.targets.snn.ir import NeuronModel
from edgenn.targets.snn.nir_io import read_nir, write_nir

TIMESTEPS = 32


def _run_stepwise(module, x: np.ndarray, steps: int) -> np.ndarray:
    """(T, N, classes) cumulative output spikes of a module called as module(x, state)."""
    import torch

    inputs = torch.from_numpy(np.asarray(x, np.float64))
    state, outputs = None, []
    with torch.no_grad():
        for _ in range(steps):
            out, state = module(inputs, state)
            outputs.append(out.reshape(len(x), -1).numpy())
    return np.cumsum(np.stack(outputs), axis=0).astype(np.int64)


def _identical_samples(theirs: np.ndarray, ours: np.ndarray) -> int:
    return int(sum(np.array_equal(theirs[:, i], ours[:, i]) for i in range(ours.shape[1])))


@pytest.fixture(scope="module")
def exported(snn, tmp_path_factory):
    """The digits network with reset to zero, its .nir files and edgenn's own spikes."""
    network = replace(snn.network, neuron=NeuronModel("if", "zero"))
    folder = tmp_path_factory.mktemp("nir")
    avg = write_nir(network, folder / "cnn.nir")
    summed = write_nir(network, folder / "cnn_sum.nir", pooling="sum")
    ours = simulate_fast(network, prepare_drive(network, snn.x, TIMESTEPS))
    return network, avg, summed, ours


def test_the_file_says_what_edgenn_simulates(exported):
    import nir

    network, avg, summed, _ = exported
    graph, graph_sum = read_nir(avg), read_nir(summed)
    assert graph.metadata["dt"] == 1.0 and graph.metadata["exact"]
    assert graph.metadata["reset"] == "zero"
    neurons = [n for n in graph.nodes.values() if isinstance(n, nir.IF)]
    assert len(neurons) == 4
    for node in neurons:  # v += r·dt·I per step, reset to 0, fire on v > θ
        assert np.all(node.r == 1.0) and np.all(node.v_reset == 0.0)
        assert np.all(node.v_threshold == 1.0)
    # the 2×2 average pool is a pooling node, not a dense 2048 → 64 matrix
    pools = [n for n in graph.nodes.values() if isinstance(n, nir.AvgPool2d)]
    assert len(pools) == 1 and pools[0].kernel_size.tolist() == [2, 2]
    assert [n for n in graph_sum.nodes.values() if isinstance(n, nir.SumPool2d)]
    affines = sorted(n.weight.shape for n in graph.nodes.values() if isinstance(n, nir.Affine))
    assert affines == [(10, 64), (64, 512)]
    # AvgPool2d then W·4 is SumPool2d then W: the same numbers, exactly
    dense = network.populations[2].projections[0].weight
    assert np.array_equal(graph.nodes["p2_0"].weight, dense * 4)
    assert np.array_equal(graph_sum.nodes["p2_0"].weight, dense)


@pytest.mark.slow
def test_spikingjelly_spikes_like_edgenn_on_the_test_split(snn, exported):
    pytest.importorskip("spikingjelly")
    import nir
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    _, avg, _, ours = exported
    graph = read_nir(avg)
    for node in graph.nodes.values():  # spikingjelly fires on v ≥ θ; NIR on v > θ
        if isinstance(node, nir.IF):
            node.v_threshold = np.nextafter(node.v_threshold, np.inf)
    import torch

    module = import_from_nir(graph, dt=graph.metadata["dt"], dtype=torch.float64)
    theirs = _run_stepwise(module, snn.x, TIMESTEPS)
    assert _identical_samples(theirs, ours.output_counts) == len(snn.x) == 360
    assert theirs[-1].sum() > 0


def test_spikingjelly_fires_at_the_threshold_itself():
    """The deviation the test above corrects: v = θ exactly fires in spikingjelly."""
    pytest.importorskip("spikingjelly")
    import torch
    from spikingjelly.activation_based import neuron

    node = neuron.IFNode(v_threshold=1.0, v_reset=0.0)
    assert node(torch.tensor([1.0])).item() == 1.0  # NIR: 1.0 > 1.0 is false, no spike


@pytest.mark.slow
def test_norse_spikes_like_edgenn_on_the_test_split(snn, exported):
    pytest.importorskip("norse")
    import norse.torch
    import torch

    _, _, summed, ours = exported
    graph = read_nir(summed)
    module = norse.torch.from_nir(graph, dt=graph.metadata["dt"]).double()
    flattens = [m for m in module.modules() if isinstance(m, torch.nn.Flatten)]
    assert [m.start_dim for m in flattens] == [0]  # the deviation: it would flatten the batch
    for flatten in flattens:
        flatten.start_dim += 1
    theirs = _run_stepwise(module, snn.x, TIMESTEPS)
    assert _identical_samples(theirs, ours.output_counts) == len(snn.x)


def test_a_spikingjelly_network_simulated_by_edgenn(tmp_path):
    """spikingjelly builds and exports the graph; edgenn reads it and spikes like it."""
    pytest.importorskip("spikingjelly")
    import torch
    from spikingjelly.activation_based import layer, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    from edgenn.targets.snn.nir_io import network_from_nir

    torch.manual_seed(3)
    net = torch.nn.Sequential(
        layer.Conv2d(1, 4, 3, padding=1), neuron.IFNode(v_threshold=1.0, v_reset=0.0),
        layer.AvgPool2d(2), layer.Flatten(), layer.Linear(64, 10),
        neuron.IFNode(v_threshold=1.0, v_reset=0.0)).double()
    x = torch.rand(24, 1, 8, 8, dtype=torch.float64) * 2
    dt = 1e-3
    graph = export_to_nir(net, x[:1], tmp_path / "sj.nir", dt=dt)
    network = network_from_nir(read_nir(tmp_path / "sj.nir"), dt=dt)
    assert network.neuron.reset.value == "zero" and network.populations[1].shape == (10,)
    assert graph.nodes  # spikingjelly's own graph object, written to the file we read
    with torch.no_grad():
        outputs = [net(x).numpy() for _ in range(TIMESTEPS)]
    theirs = np.cumsum(np.stack(outputs), axis=0).astype(np.int64)
    drive = prepare_drive(network, x.numpy(), TIMESTEPS)
    ours = simulate_fast(network, drive)
    assert theirs[-1].sum() > 0
    assert _identical_samples(theirs, ours.output_counts) == len(x)
    pytest.importorskip("brian2")
    from edgenn.targets.snn.brian2_sim import simulate_brian2

    assert np.array_equal(simulate_brian2(network, drive).output_counts, ours.output_counts)


def test_snntorch_imports_nir_if_as_a_leaky_neuron():
    """Why snnTorch is not among the consumers above: its importer turns NIR's IF (no
    leak, reset to v_reset) into `Leaky(beta=0.9)` resetting by subtraction."""
    pytest.importorskip("snntorch")
    import nir
    import snntorch
    from snntorch.import_nir import import_from_nir

    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([2])}),
               "fc": nir.Affine(weight=np.eye(2), bias=np.zeros(2)),
               "if": nir.IF(r=np.ones(2), v_threshold=np.ones(2), v_reset=np.zeros(2)),
               "output": nir.Output(output_type={"output": np.array([2])})},
        edges=[("input", "fc"), ("fc", "if"), ("if", "output")])
    neurons = [m for m in import_from_nir(graph).modules() if isinstance(m, snntorch.Leaky)]
    assert len(neurons) == 1
    assert float(neurons[0].beta) == pytest.approx(0.9)  # NIR's IF has no leak
    assert neurons[0].reset_mechanism == "subtract"  # NIR's IF resets to v_reset
