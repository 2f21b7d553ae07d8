"""Mobile target, ONNX Runtime Mobile side: .ort conversion of the fp32 and int8 ONNX,
the reduced-operator config beside it, and parity with ONNX Runtime on the ONNX."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from edgenn.core import Artifact, BadInputError, RunOptions
from edgenn.core.registry import create_target
from edgenn.targets.ort_mobile import OrtMobileTarget, required_operators


@pytest.fixture(scope="session")
def onnx_models(tmp_path_factory):
    """An fp32 ONNX of the digits CNN (untrained weights: parity needs none) and a QDQ
    int8 one made here with onnxruntime's quantize_static."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from edgenn.exporters.onnx import export_onnx
    from edgenn.frontend.data import load_digits
    from edgenn.frontend.zoo import build_model

    torch.manual_seed(0)
    data = load_digits()
    model = build_model("cnn", data.sample_shape, data.num_classes).eval()
    folder = tmp_path_factory.mktemp("ort-mobile")
    fp32 = export_onnx(model, data.x_train[:2], folder / "model.onnx")

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": data.x_train[i:i + 32]} for i in range(0, 256, 32)])

        def get_next(self):
            return next(self.batches, None)

    int8_path = folder / "model.int8.onnx"
    quantize_static(str(fp32.path), str(int8_path), Batches(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    per_channel=True)
    int8 = fp32.derive(int8_path, "quantize:int8-static", variant="int8-static")
    fp16 = fp32.derive(folder / "model.fp16.onnx", "quantize:fp16", variant="fp16")
    return {"fp32": fp32, "int8-static": int8, "fp16": fp16, "x": data.x_test[:50]}


def _onnx_outputs(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def test_selects_fp32_and_int8_static_only(onnx_models):
    target = create_target("ort-mobile")
    assert target.available() is None
    tflite = Artifact(path=onnx_models["fp32"].path.with_suffix(".tflite"), format="tflite")
    chosen = target.select([onnx_models["fp32"], onnx_models["int8-static"],
                            onnx_models["fp16"], tflite])
    assert [a.variant for a in chosen] == ["fp32", "int8-static"]


@pytest.mark.parametrize("variant", ["fp32", "int8-static"])
def test_compiles_to_ort_with_operator_config(onnx_models, tmp_path, variant):
    source = onnx_models[variant]
    compiled = OrtMobileTarget().compile(source, tmp_path)
    stem = source.path.stem
    assert compiled.format == "ort" and compiled.variant == variant
    assert compiled.path == tmp_path / f"{stem}.ort"
    config = tmp_path / f"{stem}.required_operators.config"
    assert compiled.extra_files == (config,)
    assert compiled.size_bytes() == compiled.path.stat().st_size + config.stat().st_size
    assert compiled.lineage[-1] == "compile:ort-mobile"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([compiled.path.name,
                                                                 config.name])
    assert str(compiled.path) in config.read_text()  # names the final model, not a temp
    operators = set().union(*required_operators(config).values())
    if variant == "int8-static":
        assert {"QLinearConv", "QuantizeLinear", "DequantizeLinear"} <= operators
    else:
        assert "FusedConv" in operators or "Conv" in operators
        assert not any(op.startswith("QLinear") for op in operators)


@pytest.mark.parametrize("variant", ["fp32", "int8-static"])
def test_ort_runner_matches_onnx_runtime(onnx_models, tmp_path, variant):
    source = onnx_models[variant]
    target = OrtMobileTarget()
    runner = target.load(target.compile(source, tmp_path), RunOptions(threads=2))
    x = onnx_models["x"]
    got = runner.run(x)
    want = _onnx_outputs(source.path, x)
    assert got.shape == (50, 10) and got.dtype == np.float32
    # int8: the .ort is optimised for ARM (QDQ kept as int8) where the ONNX session on
    # x86 fuses differently, so allow a couple of quantization steps.
    np.testing.assert_allclose(got, want, atol=1e-4 if variant == "fp32" else 0.05)
    assert np.array_equal(runner.run(x[:1]), got[:1])
    assert runner.metrics()["format"] == "ort"


def test_bad_inputs_are_one_line(onnx_models, tmp_path):
    target = OrtMobileTarget()
    with pytest.raises(BadInputError, match="ort-mobile target takes ONNX, got tflite"):
        target.compile(Artifact(tmp_path / "m.tflite", "tflite"), tmp_path)
    with pytest.raises(BadInputError, match="platform 'x86' is not one of: arm, amd64"):
        OrtMobileTarget(platform="x86")
    broken = tmp_path / "broken.ort"
    broken.write_bytes(b"\x00" * 64)
    with pytest.raises(BadInputError, match=r"broken.ort: not a valid .ort model"):
        target.load(Artifact(broken, "ort"), RunOptions())
    with pytest.raises(BadInputError, match="ort-mobile loads compiled .ort models, got onnx"):
        target.load(onnx_models["fp32"], RunOptions())
