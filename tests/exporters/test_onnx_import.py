"""ONNX files made elsewhere: `load_onnx_artifact` names their variant from the graph
(int8 static/dynamic, fp16, fp32) with the evidence, and keeps external data and symbolic
dimensions as they are."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from edgenn.exporters.onnx import detect_variant, load_onnx_artifact


def _tiny_cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(256, 10)).eval()


@pytest.fixture(scope="module")
def torchscript_onnx(tmp_path_factory):
    """A small CNN exported by the TorchScript exporter (dynamo=False), dynamic batch."""
    path = tmp_path_factory.mktemp("import") / "cnn.onnx"
    torch.onnx.export(_tiny_cnn(), (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False,
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
    return path


class _Calibration:
    """onnxruntime.quantization's data reader protocol over a few random batches."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.batches = iter([{"x": rng.random((4, 1, 8, 8), dtype=np.float32)}
                             for _ in range(4)])

    def get_next(self):
        return next(self.batches, None)


def test_fp32_model_from_torchscript_exporter(torchscript_onnx):
    artifact = load_onnx_artifact(torchscript_onnx)
    assert artifact.variant == "fp32" and artifact.lineage == ("import:onnx",)
    assert artifact.metadata["quantization_detected"] == {
        "operators": {}, "activation_quantizers": {"static": 0, "dynamic": 0},
        "float16_tensors": 0}
    assert artifact.inputs[0].shape == ("batch", 1, 8, 8)


@pytest.mark.parametrize("quant_format, expected_op", [("QDQ", "QuantizeLinear"),
                                                        ("QOperator", "QLinearConv")])
def test_quantize_static_is_int8_static(torchscript_onnx, tmp_path, quant_format, expected_op):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    out = tmp_path / f"cnn.{quant_format}.onnx"
    quantize_static(str(torchscript_onnx), str(out), _Calibration(),
                    quant_format=QuantFormat[quant_format], activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    artifact = load_onnx_artifact(out)
    evidence = artifact.metadata["quantization_detected"]
    assert artifact.variant == "int8-static", evidence
    assert evidence["operators"][expected_op] >= 1
    if quant_format == "QDQ":
        assert evidence["activation_quantizers"]["static"] >= 1
        assert evidence["operators"]["DequantizeLinear"] >= evidence["operators"][expected_op]
    assert evidence["activation_quantizers"]["dynamic"] == 0


def test_quantize_dynamic_is_int8_dynamic(torchscript_onnx, tmp_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = tmp_path / "cnn.dynamic.onnx"
    quantize_dynamic(str(torchscript_onnx), str(out), weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul", "Gemm", "Conv"])
    artifact = load_onnx_artifact(out)
    evidence = artifact.metadata["quantization_detected"]
    assert artifact.variant == "int8-dynamic", evidence
    assert evidence["operators"]["DynamicQuantizeLinear"] >= 1
    assert {"MatMulInteger", "ConvInteger"} & set(evidence["operators"]), evidence
    assert evidence["activation_quantizers"] == {"static": 0, "dynamic": 0}


def test_fp16_conversion_is_fp16(torchscript_onnx, tmp_path):
    from edgenn.quantize.fp16 import convert_fp16

    converted = convert_fp16(load_onnx_artifact(torchscript_onnx), tmp_path / "cnn.fp16.onnx")
    artifact = load_onnx_artifact(converted.path)
    evidence = artifact.metadata["quantization_detected"]
    assert artifact.variant == "fp16"
    assert evidence["float16_tensors"] >= 4 and evidence["operators"] == {}


def _graph(nodes, initializers, inputs=None) -> onnx.ModelProto:
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])]
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    graph = helper.make_graph(nodes, "g", inputs, [output], initializer=initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])


def _weights():
    return [numpy_helper.from_array(np.arange(16, dtype=np.int8).reshape(4, 4), "w_q"),
            numpy_helper.from_array(np.array(0.1, np.float32), "scale"),
            numpy_helper.from_array(np.array(0, np.int8), "zero")]


def test_dequantized_weights_alone_are_weight_only():
    model = _graph([helper.make_node("DequantizeLinear", ["w_q", "scale", "zero"], ["w"]),
                    helper.make_node("MatMul", ["x", "w"], ["y"])], _weights())
    variant, evidence = detect_variant(model)
    assert variant == "int8-weight-only"
    assert evidence["operators"] == {"DequantizeLinear": 1}


def test_activations_quantized_with_computed_scales_are_dynamic():
    nodes = [helper.make_node("ReduceMax", ["x"], ["x_max"], keepdims=0),
             helper.make_node("Div", ["x_max", "scale"], ["x_scale"]),
             helper.make_node("QuantizeLinear", ["x", "x_scale", "zero"], ["x_q"]),
             helper.make_node("DequantizeLinear", ["x_q", "x_scale", "zero"], ["x_dq"]),
             helper.make_node("DequantizeLinear", ["w_q", "scale", "zero"], ["w"]),
             helper.make_node("MatMul", ["x_dq", "w"], ["y"])]
    variant, evidence = detect_variant(_graph(nodes, _weights()))
    assert variant == "int8-dynamic"
    assert evidence["activation_quantizers"] == {"static": 0, "dynamic": 1}


def test_quantized_operators_inside_subgraphs_count():
    then_branch = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["x_q"]),
         helper.make_node("DequantizeLinear", ["x_q", "scale", "zero"], ["y_then"])],
        "then", [], [helper.make_tensor_value_info("y_then", TensorProto.FLOAT, None)])
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y_else"])],
        "else", [], [helper.make_tensor_value_info("y_else", TensorProto.FLOAT, None)])
    condition = numpy_helper.from_array(np.array(True), "condition")
    nodes = [helper.make_node("If", ["condition"], ["y"], then_branch=then_branch,
                              else_branch=else_branch)]
    variant, evidence = detect_variant(_graph(nodes, [*_weights(), condition]))
    assert variant == "int8-static"
    assert evidence["operators"] == {"DequantizeLinear": 1, "QuantizeLinear": 1}


def test_float16_inputs_alone_make_fp16():
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["batch", 4])]
    model = _graph([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)], [], inputs)
    assert detect_variant(model) == ("fp16", {"operators": {},
                                              "activation_quantizers": {"static": 0,
                                                                        "dynamic": 0},
                                              "float16_tensors": 1})


def test_external_data_and_symbolic_dims_are_kept(tmp_path):
    model = _graph([helper.make_node("DequantizeLinear", ["w_q", "scale", "zero"], ["w"]),
                    helper.make_node("MatMul", ["x", "w"], ["y"])], _weights(),
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "features"])])
    folder = tmp_path / "user"
    folder.mkdir()
    onnx.save_model(model, str(folder / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=0)
    artifact = load_onnx_artifact(folder / "model.onnx")
    assert artifact.extra_files == (folder / "model.onnx.data",)
    assert artifact.inputs[0].shape == (1, "features")
    assert artifact.variant == "int8-weight-only"
    assert artifact.size_bytes() == sum(p.stat().st_size for p in folder.iterdir())
