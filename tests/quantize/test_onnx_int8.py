"""ONNX int8 (dynamic, static QDQ) and fp16 passes on the digits CNN, and their bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from edgenn.core import BadInputError


@pytest.fixture(scope="module")
def digits_onnx(tmp_path_factory):
    """The default CNN trained as `edgenn run` does (15 epochs) and its fp32 ONNX."""
    import torch

    from edgenn.exporters.onnx import export_onnx
    from edgenn.frontend.data import load_digits
    from edgenn.frontend.train import TrainConfig, train
    from edgenn.frontend.zoo import build_model

    torch.manual_seed(0)
    data = load_digits()
    model = build_model("cnn", (1, 8, 8), 10)
    train(model, data, TrainConfig(epochs=15))
    path = tmp_path_factory.mktemp("fp32") / "model.onnx"
    return data, export_onnx(model, data.x_train[:2], path)


def _accuracy(path, x, y) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return float(np.mean(session.run(None, {"input": x})[0].argmax(1) == y))


def _ops(path) -> list[str]:
    import onnx

    return [n.op_type for n in onnx.load(str(path)).graph.node]


def test_static_int8_within_half_a_point_and_under_three_tenths_size(digits_onnx, tmp_path):
    from edgenn.quantize.onnx_int8 import quantize_static

    data, fp32 = digits_onnx
    int8 = quantize_static(fp32, tmp_path / "m.int8.onnx", data.x_train[:256])
    assert int8.variant == "int8-static"
    assert int8.lineage[-1] == "quantize:int8-static"
    assert int8.metadata["quantization"]["activation_type"] == "uint8"
    assert int8.metadata["quantization"]["per_channel"] is True
    assert "QuantizeLinear" in _ops(int8.path) and "Conv" in _ops(int8.path)
    drop = _accuracy(fp32.path, data.x_test, data.y_test) - \
        _accuracy(int8.path, data.x_test, data.y_test)
    assert drop * 100 <= 0.5
    assert int8.size_bytes() <= 0.3 * fp32.size_bytes()


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_other_calibration_methods_keep_accuracy(digits_onnx, tmp_path, method):
    from edgenn.quantize.onnx_int8 import StaticConfig, quantize_static

    data, fp32 = digits_onnx
    int8 = quantize_static(fp32, tmp_path / "m.onnx", data.x_train[:128],
                           StaticConfig(method=method, activation_type="int8"))
    assert int8.metadata["quantization"]["method"] == method
    assert _accuracy(int8.path, data.x_test, data.y_test) >= 0.95


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_the_shared_calibration_table_gives_the_model_ort_makes_on_its_own(
        digits_onnx, tmp_path, method):
    """Every calibration method: with the build's table, static int8 is byte-identical to
    ONNX Runtime calibrating by itself; the second candidate reads the same table."""
    from edgenn.core.calibration import cache_supported
    from edgenn.quantize.onnx_int8 import StaticConfig, quantize_static

    if not cache_supported():
        pytest.skip("this onnxruntime has no calibration cache")
    data, fp32 = digits_onnx
    x, config = data.x_train[:128], StaticConfig(method=method)
    own = quantize_static(fp32, tmp_path / "own.onnx", x, config)
    shared = quantize_static(fp32, tmp_path / "shared.onnx", x, config,
                             ranges_dir=tmp_path / "ranges")
    assert own.path.read_bytes() == shared.path.read_bytes()
    table = shared.metadata["quantization"]["calibration_table"]
    assert own.metadata["quantization"]["calibration_table"] is None
    signed = quantize_static(fp32, tmp_path / "s8.onnx", x,
                             StaticConfig(method=method, activation_type="int8"),
                             ranges_dir=tmp_path / "ranges")
    assert signed.metadata["quantization"]["calibration_table"] == table
    assert [p.name for p in (tmp_path / "ranges").iterdir()] == [table]


def test_dynamic_int8_keeps_accuracy(digits_onnx, tmp_path):
    from edgenn.quantize.onnx_int8 import quantize_dynamic

    data, fp32 = digits_onnx
    int8 = quantize_dynamic(fp32, tmp_path / "m.dyn.onnx")
    assert int8.variant == "int8-dynamic"
    assert any(op in _ops(int8.path) for op in ("DynamicQuantizeLinear", "MatMulInteger",
                                                 "ConvInteger", "DynamicQuantizeMatMul"))
    assert _accuracy(int8.path, data.x_test, data.y_test) >= \
        _accuracy(fp32.path, data.x_test, data.y_test) - 0.01


def test_fp16_keeps_float32_io_and_matches(digits_onnx, tmp_path):
    import onnx
    import onnxruntime as ort

    from edgenn.quantize.fp16 import convert_fp16

    data, fp32 = digits_onnx
    half = convert_fp16(fp32, tmp_path / "m.fp16.onnx")
    graph = onnx.load(str(half.path)).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in graph.initializer)
    run = lambda p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(
        None, {"input": data.x_test[:64]})[0]
    np.testing.assert_allclose(run(half.path), run(fp32.path), atol=0.05, rtol=0.01)
    assert half.size_bytes() < 0.6 * fp32.size_bytes()


@pytest.mark.parametrize("calibration, message", [
    (np.zeros((4, 1, 7, 7), np.float32), "sample shape 1×7×7, the model expects 1×8×8"),
    (np.zeros((0, 1, 8, 8), np.float32), "calibration set is empty"),
    (np.zeros((4, 64), np.float32), "sample shape 64, the model expects 1×8×8"),
])
def test_bad_calibration_data_is_one_clear_error_and_writes_nothing(digits_onnx, tmp_path,
                                                                    calibration, message):
    from edgenn.quantize.onnx_int8 import quantize_static

    _, fp32 = digits_onnx
    with pytest.raises(BadInputError, match=message):
        quantize_static(fp32, tmp_path / "out" / "m.onnx", calibration)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_unknown_options_name_the_allowed_values():
    from edgenn.quantize.onnx_int8 import StaticConfig

    with pytest.raises(BadInputError, match="calibration method 'kl' is not one of: "
                                            "minmax, entropy, percentile"):
        StaticConfig(method="kl")
    with pytest.raises(BadInputError, match="activation type 'int4' is not one of"):
        StaticConfig(activation_type="int4")


def test_unknown_node_to_exclude_is_rejected(digits_onnx, tmp_path):
    from edgenn.quantize.onnx_int8 import StaticConfig, quantize_static

    data, fp32 = digits_onnx
    with pytest.raises(BadInputError, match="not found in the graph: no_such_node"):
        quantize_static(fp32, tmp_path / "m.onnx", data.x_train[:8],
                        StaticConfig(nodes_to_exclude=("no_such_node",)))
    assert not (tmp_path / "m.onnx").exists()


def test_cli_quantize_bad_method_exits_2(digits_onnx, tmp_path, capsys):
    from edgenn.cli import main

    _, fp32 = digits_onnx
    code = main(["quantize", "--model", str(fp32.path), "--method", "kl", "--out",
                 str(tmp_path / "q"), "-q"])
    assert code == 2
    assert "calibration method 'kl' is not one of" in capsys.readouterr().err
    assert not (tmp_path / "q").exists() or not any((tmp_path / "q").iterdir())


def test_cli_quantize_static_writes_model(digits_onnx, tmp_path, capsys):
    from edgenn.cli import main

    _, fp32 = digits_onnx
    code = main(["quantize", "--model", str(fp32.path), "--out", str(tmp_path / "q"),
                 "--calibration-samples", "64", "--max-accuracy-drop", "1"])
    assert code == 0
    assert (tmp_path / "q" / "model.int8-static.onnx").is_file()
    assert "drop" in capsys.readouterr().out
