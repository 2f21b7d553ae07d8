"""Per-layer insight: module names from the ONNX file, profiles on the cpu target, and the
layers × variants divergence table against PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgenn.core import Artifact
from edgenn.run.layers import diverge, profile
from edgenn.run.layers.names import latest, onnx_layers, tflite_layers


def test_dynamo_export_names_every_node_after_its_module(cnn_artifacts):
    layers = onnx_layers(onnx.load(str(cnn_artifacts[1].path)))
    assert layers.named_by_module
    # Conv and BatchNorm are fused by the exporter: the conv node carries BN's scope
    assert layers.order[:3] == ["features.1", "features.2", "features.4"]
    assert set(layers.node_layer.values()) >= {"features.5", "classifier.2", "classifier.4"}
    assert layers.op_types["features.1"] == ["Conv"]
    assert layers.outputs["classifier.4"] == "logits"


def test_a_file_without_module_scopes_is_named_by_its_nodes():
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="act")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])])
    layers = onnx_layers(helper.make_model(graph))
    assert not layers.named_by_module and layers.order == ["act"]
    assert layers.kernel_layer("act_kernel_time") == "act"
    assert layers.kernel_layer("fused act") == "act" and layers.kernel_layer("y_nchwc") == "act"
    assert layers.kernel_layer("elsewhere") is None


def test_tflite_tensor_names_give_every_fused_module_and_the_last_one_wins():
    name = ("pkg.CNN/torch.nn.modules.container.Sequential_features/torch.nn.modules."
            "activation.ReLU_2;;pkg.CNN/torch.nn.modules.container.Sequential_features/"
            "torch.nn.modules.batchnorm.BatchNorm2d_1;1")
    assert tflite_layers(name) == ["features.2", "features.1"]
    assert tflite_layers("to_image/ToImage_to_image;") == ["to_image"]
    assert tflite_layers("serving_default_output_0_output") == []
    assert latest(["features.1", "features.2"], ["features.1", "features.2"]) == "features.2"
    assert latest(["classifier.2", "classifier.3"], ["classifier.3", "classifier.2"]) \
        == "classifier.2"


def test_kernel_macs_from_the_shapes_the_kernel_ran_on():
    conv = {"op_type": "FusedConv", "input_shapes": [[1, 16, 8, 8], [32, 16, 3, 3], [32]],
            "output_shapes": [[1, 32, 8, 8]]}
    gemm = {"op_type": "FusedGemm", "input_shapes": [[4, 512], [64]],
            "output_shapes": [[4, 64]]}
    qconv = {"op_type": "QLinearConv", "input_shapes": [[1, 3, 4, 4], [], [], [8, 3, 1, 1]],
             "output_shapes": [[1, 8, 4, 4]]}
    assert profile.kernel_macs(conv) == 32 * 8 * 8 * 16 * 9
    assert profile.kernel_macs(gemm) == 4 * 64 * 512
    assert profile.kernel_macs(qconv) == 8 * 16 * 3
    assert profile.kernel_macs({"op_type": "Relu", "input_shapes": [[4]],
                                "output_shapes": [[4]]}) == 0


def test_cpu_profile_names_layers_and_shares_add_up(cnn_artifacts, digits, tmp_path):
    from edgenn.targets.cpu import CpuTarget

    target = CpuTarget()
    compiled = target.compile(cnn_artifacts[1], tmp_path)
    result = profile.profile_artifact(target, compiled, cnn_artifacts[1].path,
                                      digits.x_test[:4], profile.ProfileSettings(runs=5),
                                      peak_gmacs=50.0)
    assert result["runs"] == 5 and result["total_ms"] > 0
    assert sum(o["share"] for o in result["operators"]) == pytest.approx(1.0)
    assert sum(layer["share"] for layer in result["layers"]) == pytest.approx(1.0)
    nodes = result["nodes"]  # the slowest kernels one by one, slowest first
    assert nodes and [n["ms"] for n in nodes] == sorted((n["ms"] for n in nodes), reverse=True)
    assert {n["layer"] for n in nodes} <= {layer["layer"] for layer in result["layers"]}
    by_layer = {layer["layer"]: layer for layer in result["layers"]}
    # the second conv block (16→32 channels, 3×3, 8×8 digits): MACs and a GMAC/s figure
    assert by_layer["features.4"]["macs"] == 32 * 8 * 8 * 16 * 9
    assert by_layer["features.4"]["gmacs_per_s"] > 0
    assert by_layer["features.4"]["of_peak"] == pytest.approx(
        by_layer["features.4"]["gmacs_per_s"] / 50.0)


def test_matmul_peak_is_a_positive_measured_figure():
    assert profile.matmul_peak_gmacs(threads=1, size=64, repeats=2) > 0


def test_compare_is_the_documented_snr_cosine_and_max_error():
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    noise = 0.01 * rng.standard_normal(reference.shape).astype(np.float32)
    result = diverge.compare(reference, reference + noise)
    expected = 10 * np.log10(np.sum(reference.astype(np.float64) ** 2)
                             / np.sum(noise.astype(np.float64) ** 2))
    assert result["snr_db"] == pytest.approx(expected, rel=1e-4)
    assert result["max_abs"] == pytest.approx(np.max(np.abs(noise)), rel=1e-4)
    assert 0.999 < result["cosine"] <= 1.0
    # TFLite's NHWC against NCHW, and a shape that does not fit (a pruned layer)
    assert diverge.compare(reference, reference.transpose(0, 2, 3, 1))["snr_db"] == 100.0
    assert diverge.compare(reference, reference[:, :2]) is None


def _scaled_layer(source: Path, out: Path, weight: str, factor: float) -> Path:
    model = onnx.load(str(source))
    for index, init in enumerate(model.graph.initializer):
        if init.name == weight:
            array = numpy_helper.to_array(init) * factor
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(array, weight))
    onnx.save(model, str(out))
    return out


def test_divergence_names_the_first_layer_a_variant_breaks(cnn_artifacts, trained_cnn, digits,
                                                           tmp_path):
    from edgenn.quantize.onnx_int8 import quantize_dynamic

    source = Path(cnn_artifacts[1].path)
    names = diverge.reference_names(source)
    x = digits.x_test[:16]
    reference = diverge.torch_layer_outputs(trained_cnn, x)
    second_conv = next(n for n in onnx.load(str(source)).graph.node
                       if names.node_layer.get(n.name) == "features.4" and n.op_type == "Conv")
    broken = _scaled_layer(source, tmp_path / "broken.onnx", second_conv.input[1], 1.5)
    int8 = quantize_dynamic(cnn_artifacts[1], tmp_path / "int8.onnx")
    variants = {name: diverge.onnx_layer_outputs(path, x, names) for name, path in
                [("fp32", source), ("broken", broken), ("int8", Path(int8.path))]}
    table = diverge.divergence(reference, variants, threshold_db=30.0)
    rows = {row["variant"]: row for row in table["variants"]}
    assert table["layers"].index("features.1") < table["layers"].index("features.4")
    assert rows["fp32"]["first_below"] is None
    assert min(v["snr_db"] for v in rows["fp32"]["layers"].values() if v) > 60
    # layers before the scaled conv are untouched; the conv itself drifts
    assert rows["broken"]["layers"]["features.1"]["snr_db"] > 60
    assert rows["broken"]["first_below"] == "features.4"
    assert rows["int8"]["layers"]["features.1"]["snr_db"] < 60  # quantized weights show


def test_qdq_models_are_read_after_their_dequantize(cnn_artifacts, digits, tmp_path):
    from edgenn.quantize.onnx_int8 import StaticConfig, quantize_static

    int8 = quantize_static(cnn_artifacts[1], tmp_path / "static.onnx", digits.x_train[:64],
                           StaticConfig())
    model = onnx.load(str(int8.path))
    pairs = diverge._dequantized_names(model)
    dequantize_outputs = {n.output[0] for n in model.graph.node
                          if n.op_type == "DequantizeLinear"}
    assert pairs and set(pairs.values()) <= dequantize_outputs
    names = diverge.reference_names(Path(cnn_artifacts[1].path))
    outputs = diverge.onnx_layer_outputs(Path(int8.path), digits.x_test[:8], names)
    # a conv's output feeds its ReLU inside one quantized kernel: only the ReLU's is seen
    assert outputs["features.5"].dtype == np.float32
    assert outputs["features.5"].shape == (8, 32, 8, 8)


def test_sensitivity_ranking_gets_layer_names(cnn_artifacts):
    from edgenn.run.layers.analyse import sensitivity_ranking

    source = Path(cnn_artifacts[1].path)
    names = diverge.reference_names(source)
    node = next(n for n, layer in names.node_layer.items() if layer == "features.4")
    artifact = Artifact(source, "onnx", metadata={"budget": {"sensitivity": [
        {"node": node, "op_type": "Conv", "loss_db": 3.0}]}})
    ranked = sensitivity_ranking([artifact], {"fp32": source})
    assert ranked == [{"node": node, "op_type": "Conv", "loss_db": 3.0, "variant": "fp32",
                       "layer": "features.4"}]


def test_a_quantized_variant_is_named_after_the_fp32_scopes(cnn_artifacts, digits, tmp_path):
    from edgenn.quantize.onnx_int8 import quantize_dynamic
    from edgenn.targets.cpu import CpuTarget

    int8 = quantize_dynamic(cnn_artifacts[1], tmp_path / "int8.onnx")
    assert not onnx_layers(onnx.load(str(int8.path))).named_by_module  # scopes dropped
    compiled = CpuTarget().compile(int8, tmp_path / "cpu")
    result = profile.profile_artifact(CpuTarget(), compiled, Path(int8.path),
                                      digits.x_test[:2], profile.ProfileSettings(runs=3),
                                      None, reference_onnx=Path(cnn_artifacts[1].path))
    named = {layer["layer"] for layer in result["layers"]}
    assert {"features.1", "features.4", "classifier.2"} <= named
