"""Conversion of small hand-built ONNX graphs: unsupported nodes, BN folding, residual
adds, NIR round trip, files. Each graph is checked against ONNX Runtime by the converter.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgenn.core import BadInputError, UnsupportedOperatorError
from edgenn.targets.snn.coding import Coding, prepare_drive
from edgenn.targets.snn.convert import ConversionConfig, convert_onnx
from edgenn.targets.snn.fast import simulate_fast
from edgenn.targets.snn.ir import load_network, save_network


def _save(tmp_path, nodes, initialisers, shape=(1, 4, 4), out_dim=3, name="m.onnx"):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", out_dim])],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in initialisers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def residual_model(tmp_path):
    """conv-BN-ReLU → conv + skip → ReLU → global average pool → flatten → gemm."""
    rng = np.random.default_rng(0)
    init = {"w1": rng.normal(0, 0.5, (2, 1, 3, 3)), "w2": rng.normal(0, 0.5, (2, 2, 3, 3)),
            "g": [1.5, 0.7], "b": [0.1, -0.1], "m": [0.2, 0.1], "v": [0.5, 2.0],
            "fc": rng.normal(0, 1, (3, 2)), "fcb": [0.1, 0.0, -0.1]}
    nodes = [
        helper.make_node("Conv", ["input", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g", "b", "m", "v"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["a"]),
        helper.make_node("Conv", ["a", "w2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "a"], ["sum"]),
        helper.make_node("Relu", ["sum"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc", "fcb"], ["logits"], transB=1),
    ]
    return _save(tmp_path, nodes, init)


def test_unsupported_nodes_are_all_listed(tmp_path):
    init = {"w": np.ones((2, 1, 3, 3)), "fc": np.ones((3, 2)), "W": np.ones((1, 12, 2)),
            "R": np.ones((1, 12, 3))}
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["c"], name="conv"),
        helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], name="pool"),
        helper.make_node("Softmax", ["p"], ["s"], axis=1, name="mid_softmax"),
        helper.make_node("GlobalAveragePool", ["s"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flat"),
        helper.make_node("LSTM", ["f", "W", "R"], ["l"], hidden_size=3, name="lstm"),
        helper.make_node("Gemm", ["l", "fc"], ["logits"], transB=1, name="fc"),
    ]
    path = _save(tmp_path, nodes, init)
    with pytest.raises(UnsupportedOperatorError) as info:
        convert_onnx(path, np.zeros((4, 1, 4, 4), np.float32))
    message = str(info.value)
    assert "MaxPool (pool)" in message
    assert "Softmax in the middle of the network (mid_softmax)" in message
    assert "LSTM (lstm)" in message
    assert info.value.operators == ["MaxPool (pool)",
                                    "Softmax in the middle of the network (mid_softmax)",
                                    "LSTM (lstm)"]
    assert info.value.nodes == info.value.operators
    assert "replace max pooling by average pooling" in message


def test_unsupported_nodes_are_counted_by_type(tmp_path):
    """A real network repeats its activation: the message names each operator type once,
    with its count and first node, and keeps every node on the error."""
    init = {"fc": np.eye(3, 16), "lo": np.zeros(()), "hi": np.full((), 6.0),
            "k": np.full((), 0.5)}
    nodes = [helper.make_node("Flatten", ["input"], ["t0"])]
    for i in range(5):
        nodes.append(helper.make_node("Clip", [f"t{2 * i}", "lo", "hi"], [f"t{2 * i + 1}"],
                                      name=f"clip{i}"))
        nodes.append(helper.make_node("Mul", [f"t{2 * i + 1}", "k"], [f"t{2 * i + 2}"],
                                      name=f"mul{i}") if i < 3 else
                     helper.make_node("Tanh", [f"t{2 * i + 1}"], [f"t{2 * i + 2}"]))
    nodes.append(helper.make_node("Sigmoid", ["t10"], ["s"], name="gate"))
    nodes.append(helper.make_node("Gemm", ["s", "fc"], ["logits"], transB=1, name="fc"))
    path = _save(tmp_path, nodes, init)
    with pytest.raises(UnsupportedOperatorError) as info:
        convert_onnx(path, np.zeros((4, 1, 4, 4), np.float32))
    assert str(info.value).startswith(
        "snn conversion: unsupported operator(s): Clip ×5 (first: clip0), "
        "Mul ×3 (first: mul0), Tanh ×2 (first: t8), Sigmoid (gate) (")
    assert "clip3" not in str(info.value)
    assert len(info.value.nodes) == 11 and "Clip (clip4)" in info.value.nodes


def test_a_final_softmax_is_accepted(tmp_path):
    init = {"fc": np.eye(3, 16)}
    nodes = [helper.make_node("Flatten", ["input"], ["f"]),
             helper.make_node("Gemm", ["f", "fc"], ["z"], transB=1),
             helper.make_node("Softmax", ["z"], ["logits"], axis=1)]
    path = _save(tmp_path, nodes, init)
    # the converter compares its ANN view with ONNX Runtime, so skip parity here: the
    # softmax output is not on the logits' scale
    network = convert_onnx(path, np.random.default_rng(0).random((8, 1, 4, 4)),
                           ConversionConfig(parity_atol=1e9))
    assert [p.size for p in network.populations] == [3]


def test_bn_folds_into_conv_and_residual_add_sums_projections(tmp_path):
    path = residual_model(tmp_path)
    x = np.random.default_rng(1).random((64, 1, 4, 4)).astype(np.float32)
    network = convert_onnx(path, x)  # raises if the ANN view differs from ONNX Runtime
    first, second, output = network.populations
    assert [p.kind for p in first.projections] == ["conv"]  # BN folded, still a conv
    assert [(p.source, p.kind) for p in second.projections] == [(0, "conv"), (0, "dense")]
    assert [(p.source, p.kind) for p in output.projections] == [(1, "dense")]
    for population in network.populations:  # every weight on the grid
        for projection in population.projections:
            grid = projection.weight * 2**network.grid_bits
            assert np.array_equal(grid, np.round(grid))
    import onnxruntime as ort

    logits = ort.InferenceSession(str(path)).run(None, {"input": x})[0]
    result = simulate_fast(network, prepare_drive(network, x, 512))
    agreement = np.mean(result.scores().argmax(1) == logits.argmax(1))
    assert agreement >= 0.9


@pytest.mark.slow
def test_residual_network_spikes_identically_in_brian2_for_every_neuron_choice(tmp_path):
    """Every neuron model × reset × input coding, and 8-bit integer weights: brian2 and the
    fast simulator give the same spikes and the same output potentials."""
    pytest.importorskip("brian2")
    from dataclasses import replace

    from edgenn.targets.snn.brian2_sim import simulate_brian2
    from edgenn.targets.snn.hardware import quantize_weights
    from edgenn.targets.snn.ir import NeuronKind, NeuronModel, Reset

    path = residual_model(tmp_path)
    x = np.random.default_rng(2).random((6, 1, 4, 4)).astype(np.float32)
    network = convert_onnx(path, x)
    variants = [replace(network, neuron=NeuronModel(kind, reset, tau=4.0))
                for kind in NeuronKind for reset in Reset]
    cases = [(variant, coding) for variant in variants for coding in Coding]
    cases.append((quantize_weights(network, 8), Coding.CONSTANT))
    for variant, coding in cases:
        drive = prepare_drive(variant, x, 24, coding, seed=3)
        fast = simulate_fast(variant, drive)
        reference = simulate_brian2(variant, drive, codegen="numpy")  # small: no compiling
        for ours, theirs in zip(fast.counts, reference.counts, strict=True):
            assert np.array_equal(ours, theirs), (variant.neuron, coding)
        assert np.array_equal(fast.output_v, reference.output_v)
        if coding is Coding.CONSTANT:  # not vacuous: the network is active
            assert sum(int(c.sum()) for c in fast.counts) > 0


def test_network_file_round_trip(tmp_path):
    network = convert_onnx(residual_model(tmp_path), np.ones((4, 1, 4, 4), np.float32))
    loaded = load_network(save_network(network, tmp_path / "n.snn.npz"))
    assert loaded.input_shape == network.input_shape
    assert loaded.metadata == network.metadata
    for a, b in zip(network.populations, loaded.populations, strict=True):
        assert (a.name, a.shape, a.threshold) == (b.name, b.shape, b.threshold)
        assert np.array_equal(a.bias, b.bias)
        for p, q in zip(a.projections, b.projections, strict=True):
            assert (p.source, p.kind, p.stride, p.pads, p.groups) == \
                (q.source, q.kind, q.stride, q.pads, q.groups)
            assert np.array_equal(p.weight, q.weight)


def test_nir_round_trip(tmp_path):
    import nir

    from edgenn.targets.snn.nir_io import graphs_equal, to_nir, write_nir

    network = convert_onnx(residual_model(tmp_path), np.ones((4, 1, 4, 4), np.float32))
    written = to_nir(network)
    path = write_nir(network, tmp_path / "n.nir")
    read = nir.read(str(path))
    assert graphs_equal(written, read) == []
    assert isinstance(read.nodes["p0_0"], nir.Conv2d)
    assert np.array_equal(read.nodes["p0_0"].weight, network.populations[0].projections[0].weight)
    # the residual skip is a dense identity in the IR; NIR gets it as a 1×1 convolution
    assert isinstance(read.nodes["p1_1"], nir.Conv2d)
    kernel = read.nodes["p1_1"].weight[:, :, 0, 0]  # identity × λ_source / λ_target
    assert kernel[0, 1] == kernel[1, 0] == 0 and kernel[0, 0] == kernel[1, 1] > 0
    assert ("if0", "p1_1") in read.edges and ("p1_1", "if1") in read.edges
    assert read.nodes["if2"].metadata["reset"] == "subtract"
    # read back into a network that spikes exactly like the original
    from edgenn.targets.snn.nir_io import network_from_nir

    rebuilt = network_from_nir(read)
    x = np.random.default_rng(4).random((5, 1, 4, 4)).astype(np.float32)
    ours = simulate_fast(network, prepare_drive(network, x, 32))
    theirs = simulate_fast(rebuilt, prepare_drive(rebuilt, x, 32))
    for a, b in zip(ours.counts, theirs.counts, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(ours.output_v, theirs.output_v)
    # a changed weight is noticed
    read.nodes["p2_0"].weight[0, 0] += 1.0
    assert graphs_equal(written, read) == ["p2_0.weight differs"]


def test_bad_calibration_shape_and_missing_file(tmp_path):
    path = residual_model(tmp_path)
    with pytest.raises(BadInputError, match=r"calibration data has shape \(4, 16\)"):
        convert_onnx(path, np.ones((4, 16), np.float32))
    with pytest.raises(BadInputError, match="ONNX model not found"):
        convert_onnx(tmp_path / "missing.onnx", np.ones((4, 1, 4, 4), np.float32))
    with pytest.raises(BadInputError, match="percentile must be in"):
        ConversionConfig(percentile=0)


def test_pruned_weights_are_absent_synapses(tmp_path):
    from edgenn.targets.snn.brian2_sim import sparse_connectivity
    from edgenn.targets.snn.metrics import fan_outs

    path = residual_model(tmp_path)
    model = onnx.load(str(path))
    fc = next(t for t in model.graph.initializer if t.name == "fc")
    weights = numpy_helper.to_array(fc).copy()
    weights[:, 0] = 0.0  # unstructured pruning: one input of the classifier is cut
    fc.CopyFrom(numpy_helper.from_array(weights, "fc"))
    pruned = tmp_path / "pruned.onnx"
    onnx.save(model, str(pruned))
    x = np.random.default_rng(5).random((32, 1, 4, 4)).astype(np.float32)
    dense, sparse = convert_onnx(path, x), convert_onnx(pruned, x)
    total = dense.metadata["ann_weights"]
    assert sparse.metadata["ann_zero_weights"] == 3 + dense.metadata["ann_zero_weights"]
    assert total == sparse.metadata["ann_weights"] == 18 + 36 + 6
    # the classifier reads a global average: each of its 3 outputs loses 16 synapses
    assert len(sparse_connectivity(sparse)[2][0][0]) == len(sparse_connectivity(dense)[2][0][0]) \
        - 3 * 16
    assert fan_outs(sparse)[2][0][:16].tolist() == [0] * 16


def test_average_pool_without_strides_moves_one_step(tmp_path):
    """ONNX's AveragePool strides default to 1, not the kernel size."""
    rng = np.random.default_rng(1)
    nodes = [helper.make_node("Relu", ["input"], ["r"]),
             helper.make_node("AveragePool", ["r"], ["p"], kernel_shape=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc"], ["logits"], transB=1)]
    path = _save(tmp_path, nodes, {"fc": rng.normal(0, 1, (3, 9))})
    x = rng.uniform(0, 1, (16, 1, 4, 4)).astype(np.float32)
    network = convert_onnx(path, x)  # checked against ONNX Runtime inside
    assert network is not None
