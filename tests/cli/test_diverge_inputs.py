"""`edgenn diverge` on a model with two inputs (x.<name> arrays in the .npz) and its int8
variant, and the sample cap it reports when layer outputs would not fit in memory."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgenn.cli import main


def two_input_model(path):
    """scores = relu(image·W1 + extra·W2)·W3: two named inputs, named nodes."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)
               for name, shape in (("w1", (6, 16)), ("w2", (2, 16)), ("w3", (16, 3)))]
    nodes = [helper.make_node("MatMul", ["image", "w1"], ["a"], name="image_proj"),
             helper.make_node("MatMul", ["extra", "w2"], ["b"], name="extra_proj"),
             helper.make_node("Add", ["a", "b"], ["h"], name="mix"),
             helper.make_node("Relu", ["h"], ["r"], name="act"),
             helper.make_node("MatMul", ["r", "w3"], ["scores"], name="head")]
    graph = helper.make_graph(
        nodes, "two_inputs",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 6]),
         helper.make_tensor_value_info("extra", TensorProto.FLOAT, ["n", 2])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", 3])], weights)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def int8_of(source, path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(path), weight_type=QuantType.QInt8)
    return path


def two_input_data(path, n: int = 12):
    rng = np.random.default_rng(1)
    np.savez(path, **{"x.image": rng.normal(size=(n, 6)).astype(np.float32),
                      "x.extra": rng.normal(size=(n, 2)).astype(np.float32)})
    return path


def test_diverge_compares_a_two_input_model_and_its_int8(tmp_path, capsys):
    reference = two_input_model(tmp_path / "ref.onnx")
    int8 = int8_of(reference, tmp_path / "ref.int8.onnx")
    data = two_input_data(tmp_path / "d.npz")
    out = tmp_path / "o"
    assert main(["diverge", str(reference), str(reference), str(int8), "--data", str(data),
                 "--out", str(out), "--json", "--samples", "10"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table == json.loads((out / "diverge.json").read_text())
    assert table["samples"] == 10 and "samples_capped" not in table
    assert table["layers"] == ["image_proj", "extra_proj", "mix", "act", "head"]
    rows = {row["variant"]: row for row in table["variants"]}
    assert rows["ref.onnx"]["first_below"] is None
    assert rows["ref.onnx"]["layers"]["head"]["snr_db"] == 100.0
    head = rows["ref.int8.onnx"]["layers"]["head"]
    assert 15.0 < head["snr_db"] < 100.0  # int8 weights: close, not identical


def test_diverge_caps_the_samples_and_says_so(tmp_path, capsys, monkeypatch):
    from edgenn.run.layers import analyse

    reference = two_input_model(tmp_path / "ref.onnx")
    data = two_input_data(tmp_path / "d.npz")
    # each sample holds (16 + 16 + 16 + 16 + 3) × 4 = 268 bytes of layer outputs
    monkeypatch.setattr(analyse, "LAYER_BYTES", 3 * 268)
    assert main(["diverge", str(reference), str(reference), "--data", str(data),
                 "--out", str(tmp_path / "o")]) == 0
    shown = capsys.readouterr().out
    assert "compared the first 3 of 12 samples: every layer's output of one sample takes " \
           "268 B and a model's layer outputs are held in at most 804 B" in " ".join(
               shown.split())
    table = json.loads((tmp_path / "o" / "diverge.json").read_text())
    assert table["samples"] == 3
    assert table["samples_capped"]["given"] == 12 and table["samples_capped"]["compared"] == 3


def test_diverge_names_the_inputs_a_single_array_cannot_feed(tmp_path, capsys):
    reference = two_input_model(tmp_path / "ref.onnx")
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 6), np.float32))
    assert main(["diverge", str(reference), str(reference), "--data",
                 str(tmp_path / "d.npz")]) == 2
    error = capsys.readouterr().err
    assert "the model takes 2 inputs (image, extra); give one array per input, named " \
           "x.<input>" in error
    assert error.count("\n") == 1


def test_a_tflite_variant_with_two_inputs_is_fed_in_the_references_order(tmp_path):
    """litert-torch names its inputs args_0, args_1: matched by position."""
    pytest.importorskip("litert_torch")
    import litert_torch
    import torch

    from edgenn.run.layers import diverge

    class TwoInputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.image, self.extra = torch.nn.Linear(6, 3), torch.nn.Linear(2, 3)

        def forward(self, image, extra):
            return self.image(image) + self.extra(extra)

    torch.manual_seed(0)
    module = TwoInputs().eval()
    path = tmp_path / "two.tflite"
    litert_torch.convert(module, (torch.zeros(1, 6), torch.zeros(1, 2))).export(str(path))
    rng = np.random.default_rng(3)
    x = {"image": rng.normal(size=(4, 6)).astype(np.float32),
         "extra": rng.normal(size=(4, 2)).astype(np.float32)}
    outputs = diverge.tflite_layer_outputs(path, x, ["image", "extra", "out"])
    with torch.no_grad():
        want = module(torch.from_numpy(x["image"]), torch.from_numpy(x["extra"])).numpy()
    np.testing.assert_allclose(outputs["out"], want, rtol=1e-5, atol=1e-5)


def test_an_input_batched_on_axis_1_is_fed_in_its_layout(tmp_path, capsys):
    """A state [2, n, 4] (samples on axis 1) beside an image [n, 6]: the file holds the
    state as the model takes it, and every layer is compared over the same samples."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(size=(6, 5)).astype(np.float32), "w1"),
               numpy_helper.from_array(rng.normal(size=(8, 5)).astype(np.float32), "w2"),
               numpy_helper.from_array(np.array([-1, 8], np.int64), "flat")]
    nodes = [helper.make_node("MatMul", ["image", "w1"], ["a"], name="image_proj"),
             helper.make_node("Transpose", ["state"], ["t"], perm=[1, 0, 2], name="swap"),
             helper.make_node("Reshape", ["t", "flat"], ["s"], name="flatten"),
             helper.make_node("MatMul", ["s", "w2"], ["b"], name="state_proj"),
             helper.make_node("Add", ["a", "b"], ["scores"], name="mix")]
    graph = helper.make_graph(
        nodes, "stateful",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 6]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "n", 4])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", 5])], weights)
    model = tmp_path / "stateful.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model)
    np.savez(tmp_path / "d.npz", **{"x.image": rng.normal(size=(9, 6)).astype(np.float32),
                                    "x.state": rng.normal(size=(2, 9, 4)).astype(np.float32)})
    assert main(["diverge", str(model), str(model), "--data", str(tmp_path / "d.npz"),
                 "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["samples"] == 9
    [row] = table["variants"]
    assert {"image_proj", "state_proj", "mix"} <= set(table["layers"])
    assert all(value["snr_db"] == 100.0 for value in row["layers"].values())
