"""The digits CNN through the spiking targets: accuracy against the ANN, brian2 == fast on
the whole test split, Poisson coding, metrics, the targets' protocol and `edgenn simulate`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgenn.core import Artifact, BadInputError, RunOptions
from edgenn.targets.snn.coding import Coding, SimulationResult, prepare_drive
from edgenn.targets.snn.fast import simulate_fast
from edgenn.targets.snn.metrics import EnergyModel, energy_estimates


def test_snn_accuracy_is_close_to_the_ann(snn):
    predictions = snn.result_128.predictions_over_time()
    at_64 = float(np.mean(predictions[63] == snn.y))
    at_128 = float(np.mean(predictions[127] == snn.y))
    assert snn.ann_accuracy >= 0.95
    assert at_64 >= snn.ann_accuracy - 0.01, (at_64, snn.ann_accuracy)
    assert at_128 >= snn.ann_accuracy - 0.005, (at_128, snn.ann_accuracy)


def test_a_shorter_run_is_a_prefix_of_a_longer_one(snn):
    short = simulate_fast(snn.network, prepare_drive(snn.network, snn.x, 16))
    assert np.array_equal(short.output_counts, snn.result_128.output_counts[:16])
    assert np.array_equal(short.output_v, snn.result_128.output_v[:16])


@pytest.mark.slow
def test_brian2_and_fast_spike_identically_on_the_whole_test_split(snn):
    pytest.importorskip("brian2")
    from edgenn.targets.snn.brian2_sim import simulate_brian2

    drive = prepare_drive(snn.network, snn.x, 64, Coding.CONSTANT)
    fast = simulate_fast(snn.network, drive)
    reference = simulate_brian2(snn.network, drive)
    assert len(reference.counts[0]) == len(snn.x) == 360
    for ours, theirs in zip(fast.counts, reference.counts, strict=True):
        assert np.array_equal(ours, theirs)  # every neuron of every sample
    assert np.array_equal(fast.output_counts, reference.output_counts)
    assert np.array_equal(fast.output_v, reference.output_v)
    assert sum(int(c.sum()) for c in fast.counts) > 0


def test_brian2_and_fast_agree_under_poisson_coding(snn):
    pytest.importorskip("brian2")
    from edgenn.targets.snn.brian2_sim import simulate_brian2

    drive = prepare_drive(snn.network, snn.x[:12], 16, Coding.POISSON, seed=5)
    fast, reference = simulate_fast(snn.network, drive), simulate_brian2(snn.network,
                                                                            drive, 8)
    for ours, theirs in zip(fast.counts, reference.counts, strict=True):
        assert np.array_equal(ours, theirs)


def test_poisson_coding_is_seeded(snn):
    x = snn.x[:100]

    def run(seed: int) -> SimulationResult:
        return simulate_fast(snn.network,
                             prepare_drive(snn.network, x, 64, Coding.POISSON, seed=seed))

    first, again, other = run(0), run(0), run(1)
    assert np.array_equal(first.input_counts, again.input_counts)
    assert np.array_equal(first.output_counts, again.output_counts)
    assert not np.array_equal(first.input_counts, other.input_counts)
    # rates follow the pixels: bright pixels fire, black ones never do
    assert np.all(first.input_counts[x.reshape(100, -1) == 0] == 0)
    assert np.mean(first.scores().argmax(1) == snn.y[:100]) >= 0.85


def test_evaluate_reports_neurobench_metrics(snn):
    from edgenn.targets.snn.target import FastSnnTarget

    target = FastSnnTarget(timesteps=32, evaluation_timesteps=64)
    runner = target.load(_compiled(target, snn), RunOptions())
    report = runner.evaluate(snn.x[:60], snn.y[:60])
    assert sorted(report["accuracy_vs_timesteps"]) == [8, 16, 32, 64]
    assert report["accuracy_vs_timesteps"][64] >= 0.9
    assert len(report["accuracy_curve"]) == 64
    assert report["accuracy_curve"][31] == pytest.approx(report["accuracy_vs_timesteps"][32])
    assert 1 <= report["settle_timestep"]["mean"] <= report["settle_timestep"]["max"] <= 64
    # NeuroBench Dense per timestep: a 3×3 kernel with padding 1 on 8×8 makes 22×22 valid
    # taps per channel pair (not 8·8·9); the pool is not counted; 512 → 64 and 64 → 10.
    per_step = 16 * 484 + 32 * 16 * 484 + 512 * 64 + 64 * 10
    assert report["ann_dense_macs"] == report["dense_per_timestep"] == per_step
    assert report["dense"] == 32 * per_step
    assert 0 < report["effective_acs"] < report["dense"]  # sparse activity
    # MACs: the analogue input at every timestep, and the pooled counts into the 512 → 64
    assert 0 < report["effective_macs"] <= 32 * (64 * 16 * 9 + 512 * 64)
    assert report["effective_macs_per_timestep"] * 32 == pytest.approx(report["effective_macs"])
    assert 0 < report["membrane_updates"] <= 32 * report["neurons"]
    assert report["footprint_bytes"] > 4 * (16 * 9 + 32 * 16 * 9 + 512 * 64 + 640)
    rate = report["spikes_per_neuron_per_timestep"]
    assert 0 < rate < 1 and report["activation_sparsity"] == pytest.approx(1 - rate)
    assert sum(report["spikes_per_layer"].values()) == pytest.approx(report["spikes_per_sample"])
    assert report["spikes_per_sample"] == pytest.approx(rate * report["neurons"] * 32)
    # an unpruned model: only the weights that round to 0 on the 2**-12 grid are zero
    weights = [q.weight for p in runner.network.populations for q in p.projections]
    zeros = sum(int(np.count_nonzero(w == 0)) for w in weights) / sum(w.size for w in weights)
    assert report["connection_sparsity"] == pytest.approx(zeros) and zeros < 0.05
    energy = report["energy"]
    assert energy["estimate"] is True and energy["constants"]["fp32_add_pj"] == 0.9
    assert energy["ann_int8_uj"] < energy["ann_fp32_uj"]
    ops = {k: report[k] for k in ("effective_acs", "effective_macs", "ann_dense_macs")}
    free_memory = EnergyModel(sram_pj_per_byte=0.0)
    halved = EnergyModel(fp32_add_pj=0.45, fp32_mult_pj=1.85, sram_pj_per_byte=0.0)
    full = energy_estimates(snn.network, ops, 32, free_memory)
    half = energy_estimates(snn.network, ops, 32, halved)
    assert half["snn_uj"] == pytest.approx(full["snn_uj"] / 2)
    assert half["ann_fp32_uj"] == pytest.approx(full["ann_fp32_uj"] / 2)


def _compiled(target, snn, tmp: Path | None = None) -> Artifact:
    workdir = tmp or snn.onnx.parent / target.name
    source = Artifact(snn.onnx, "onnx", metadata={"calibration_data": str(snn.calibration),
                                                     "variant": "fp32"})
    return target.compile(source, workdir)


@pytest.mark.parametrize("name", ["snn-fast", "snn-brian2"])
def test_registered_targets_compile_load_and_run(snn, tmp_path, name):
    from edgenn.core.registry import create_target

    target = create_target(name, timesteps=8)
    if target.available():
        pytest.skip(target.available())
    int8 = Artifact(snn.onnx, "onnx", metadata={"variant": "int8-static"})
    fp32 = Artifact(snn.onnx, "onnx", metadata={"variant": "fp32"})
    assert target.select([int8, fp32]) == [fp32]
    compiled = _compiled(target, snn, tmp_path)
    assert compiled.format == "snn" and compiled.lineage[-1] == f"compile:{name}"
    assert compiled.path.is_file() and compiled.extra_files[0].suffix == ".nir"
    runner = target.load(compiled, RunOptions(threads=1, seed=0))
    assert runner.comparable_outputs is False
    scores = runner.run(snn.x[:5])
    assert scores.shape == (5, 10) and scores.dtype == np.float32
    assert runner.run(snn.x[:1]).shape == (1, 10)
    network = runner.network  # the loaded .snn.npz, simulated by hand
    expected = simulate_fast(network, prepare_drive(network, snn.x[:5], 8))
    assert np.array_equal(scores, expected.scores().astype(np.float32))


def test_compile_without_calibration_data_says_what_is_missing(snn, tmp_path):
    from edgenn.targets.snn.target import FastSnnTarget

    with pytest.raises(BadInputError, match="needs calibration data: set the artifact's "
                                            "metadata 'calibration_data'"):
        FastSnnTarget().compile(Artifact(snn.onnx, "onnx"), tmp_path)
    with pytest.raises(BadInputError,
                       match="coding 'morse' is not one of: constant, poisson, ttfs"):
        FastSnnTarget(coding="morse")


@pytest.fixture()
def simulate_only(monkeypatch):
    """`edgenn.cli.program` with only the simulate command (the unit under test)."""
    from edgenn.cli import program as cli

    monkeypatch.setattr(cli, "COMMANDS", {"simulate": cli.COMMANDS["simulate"]})
    return cli.main


def test_simulate_command(snn, tmp_path, simulate_only, capsys):
    code = simulate_only(["simulate", str(snn.onnx), "--timesteps", "32", "--simulator",
                          "fast", "--samples", "80", "--out", str(tmp_path), "--json"])
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert set(results["accuracy_vs_timesteps"]) == {"8", "16", "32"}
    assert results["snn_accuracy"] >= results["ann_accuracy"] - 0.05
    assert Path(results["files"]["nir"]).is_file()
    assert (tmp_path / "snn" / "cnn.snn.npz").is_file()


def test_simulate_command_names_unsupported_nodes(tmp_path, simulate_only, capsys):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.ones((10, 16), np.float32), "fc")
    graph = helper.make_graph(
        [helper.make_node("MaxPool", ["input"], ["p"], kernel_shape=[2, 2], strides=[2, 2],
                          name="pool1"),
         helper.make_node("Flatten", ["p"], ["f"]),
         helper.make_node("Gemm", ["f", "fc"], ["logits"], transB=1)], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], [weights])
    path = tmp_path / "maxpool.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    code = simulate_only(["simulate", str(path), "--out", str(tmp_path), "-q"])
    assert code == 2
    error = capsys.readouterr().err
    assert "unsupported operator(s): MaxPool (pool1)" in error
    assert error.count("\n") == 1  # one clear line


def test_chip_profile_reports_the_accuracy_cost_and_fan_in(snn, tmp_path):
    from edgenn.targets.snn.target import FastSnnTarget

    target = FastSnnTarget(timesteps=32, evaluation_timesteps=32, profile="chip")
    assert (target.hardware.weight_bits, target.hardware.fan_in_limit) == (8, 4096)
    runner = target.load(_compiled(target, snn, tmp_path), RunOptions())
    weights = [q.weight for p in runner.network.populations for q in p.projections]
    assert all(np.array_equal(w, np.round(w)) and np.abs(w).max() <= 127 for w in weights)
    report = runner.evaluate(snn.x[:90], snn.y[:90])
    quantised = report["weight_quantization"]
    assert quantised["weight_bits"] == 8 and quantised["timesteps"] == 32
    assert quantised["accuracy"] == report["accuracy_vs_timesteps"][32]
    assert quantised["cost_pp"] == pytest.approx(
        100 * (quantised["accuracy_full_precision"] - quantised["accuracy"]), abs=1e-3)
    assert abs(quantised["cost_pp"]) <= 5
    # the pooled 512 → 64 layer: 512 pooled inputs × a 2×2 window = 2048 source neurons,
    # less the windows whose weight rounds to 0
    assert 2000 < report["fan_in"]["per_layer"]["relu_2"] <= 2048
    assert report["fan_in"]["within_limit"] is True and report["fan_in"]["limit"] == 4096
    assert report["footprint_bytes"] < 4 * sum(w.size for w in weights)  # 8-bit weights


def test_lif_reset_to_zero_writes_an_exact_nir_file(snn, tmp_path):
    import nir

    from edgenn.targets.snn.nir_io import read_nir
    from edgenn.targets.snn.target import FastSnnTarget

    target = FastSnnTarget(timesteps=16, neuron="lif", reset="zero", tau=8)
    compiled = _compiled(target, snn, tmp_path)
    assert compiled.metadata["neuron"] == {"kind": "lif", "reset": "zero", "tau": 8.0}
    graph = read_nir(compiled.extra_files[0])
    assert graph.metadata["exact"] and graph.metadata["dt"] == 1.0
    neurons = [n for n in graph.nodes.values() if isinstance(n, nir.LIF)]
    assert len(neurons) == 4
    assert all(np.all(n.tau == 8.0) and np.all(n.r == 8.0) for n in neurons)
    with pytest.raises(BadInputError, match="neuron 'adex' is not one of: if, lif"):
        FastSnnTarget(neuron="adex")
    with pytest.raises(BadInputError, match="profile 'loihi' is not one of: chip"):
        FastSnnTarget(profile="loihi")


def test_simulate_command_takes_neuron_and_hardware_options(snn, tmp_path, simulate_only,
                                                            capsys):
    code = simulate_only(["simulate", str(snn.onnx), "--timesteps", "16", "--simulator",
                          "fast", "--samples", "40", "--neuron", "lif", "--reset", "zero",
                          "--weight-bits", "4", "--fan-in-limit", "100", "--out",
                          str(tmp_path), "--json"])
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert results["neuron"] == {"kind": "lif", "reset": "zero", "tau": 16.0}
    assert results["weight_quantization"]["weight_bits"] == 4
    assert results["fan_in"]["limit"] == 100 and results["fan_in"]["within_limit"] is False
    assert results["dense"] == 16 * results["ann_dense_macs"]
