"""`edgenn profile` and `edgenn diverge` on models edgenn did not build."""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgenn.cli import main


def named_mlp(path, scale: float = 1.0, batch: int | str = "n"):
    """A two-layer MLP written by hand (named nodes, no PyTorch scopes)."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(size=(6, 16)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array((scale * rng.normal(size=(16, 3))).astype(np.float32), "w2")
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="hidden"),
             helper.make_node("Relu", ["h"], ["r"], name="act"),
             helper.make_node("MatMul", ["r", "w2"], ["scores"], name="head")]
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 6])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, 3])], [w1, w2])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def data(path, n: int = 16):
    np.savez(path, x=np.random.default_rng(1).normal(size=(n, 6)).astype(np.float32))
    return path


def test_profile_json_names_the_nodes_of_a_foreign_model(tmp_path, capsys):
    model, samples = named_mlp(tmp_path / "mlp.onnx"), data(tmp_path / "d.npz")
    code = main(["profile", str(model), "--data", str(samples), "--out", str(tmp_path / "o"),
                 "--runs", "3", "--json", "--targets", "cpu,tflite"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads((tmp_path / "o" / "profile.json").read_text())
    cpu = next(p for p in result["profiles"] if p["target"] == "cpu")
    assert {layer["layer"] for layer in cpu["layers"]} <= {"hidden", "act", "head"}
    hidden = next(layer for layer in cpu["layers"] if layer["layer"] == "hidden")
    assert hidden["macs"] == 6 * 16  # one sample per run, K = 6, 16 outputs
    tflite = next(p for p in result["profiles"] if p["target"] == "tflite")
    assert "unavailable" in tflite
    assert result["peak_gmacs"] > 0


def test_diverge_names_the_first_layer_under_the_threshold(tmp_path, capsys):
    reference = named_mlp(tmp_path / "ref.onnx")
    changed = named_mlp(tmp_path / "head_changed.onnx", scale=1.3)
    samples = data(tmp_path / "d.npz")
    assert main(["diverge", str(reference), str(reference), str(changed), "--data",
                 str(samples), "--out", str(tmp_path / "o"), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    rows = {row["variant"]: row for row in table["variants"]}
    assert table["layers"] == ["hidden", "act", "head"]
    assert rows["ref.onnx"]["first_below"] is None
    assert rows["head_changed.onnx"]["layers"]["act"]["snr_db"] == 100.0
    assert rows["head_changed.onnx"]["first_below"] == "head"


def test_bad_input_is_exit_2_with_one_line(tmp_path, capsys):
    samples = data(tmp_path / "d.npz")
    assert main(["diverge", str(tmp_path / "missing.onnx"), str(tmp_path / "v.onnx"),
                 "--data", str(samples)]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert main(["profile", str(tmp_path / "missing.onnx"), "--data", str(samples),
                 "--out", str(tmp_path / "o")]) == 2


def test_a_fixed_batch_model_runs_in_chunks_and_a_large_one_compares_fewer_samples(
        tmp_path, monkeypatch):
    from edgenn.run.layers import analyse, diverge

    fixed = named_mlp(tmp_path / "fixed.onnx", batch=1)
    x = np.random.default_rng(2).normal(size=(5, 6)).astype(np.float32)
    names = diverge.reference_names(fixed)
    outputs = diverge.onnx_layer_outputs(fixed, x, names)
    assert outputs["hidden"].shape == (5, 16) and outputs["head"].shape == (5, 3)
    np.testing.assert_allclose(outputs["act"], np.maximum(outputs["hidden"], 0))
    monkeypatch.setattr(analyse, "LAYER_BYTES", 300)  # room for two samples' layers
    table = analyse.diverge_files(fixed, [fixed], x, threshold_db=30.0)
    assert table["samples"] == 2  # each sample holds (16 + 16 + 3) × 4 bytes of layers


def test_constants_and_shapes_are_not_layers(tmp_path):
    from edgenn.run.layers import analyse, diverge

    nodes = [helper.make_node("Constant", [], ["c"], name="const",
                              value=numpy_helper.from_array(np.ones(6, np.float32))),
             helper.make_node("Add", ["x", "c"], ["shifted"], name="shift"),
             helper.make_node("Shape", ["shifted"], ["shape"], name="shape_of"),
             helper.make_node("Reshape", ["shifted", "shape"], ["same"], name="reshape"),
             helper.make_node("Relu", ["same"], ["y"], name="act")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 6])])
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    assert diverge.reference_names(path).order == ["shift", "reshape", "act"]
    x = np.random.default_rng(3).normal(size=(4, 6)).astype(np.float32)
    table = analyse.diverge_files(path, [path], x, threshold_db=30.0)
    assert table["layers"] == ["shift", "reshape", "act"]
