"""A .tflite made elsewhere (issue 25, class 7): MediaPipe ships its models without a
signature and with float16 weights widened by DEQUANTIZE ops, which stop ai-edge-quantizer.
The digits CNN's .tflite is rewritten that way here, then quantized."""

from __future__ import annotations

import numpy as np
import pytest

from edgenn.core import Artifact
from edgenn.quantize.tflite import quantize_tflite_dynamic, quantize_tflite_static
from edgenn.quantize.tflite_prepare import prepare_tflite, quantized_tensor_count


def mediapipe_style(source, out) -> int:
    """`source` rewritten as MediaPipe ships models: no signature, and every float32
    weight of two or more dimensions stored as float16 behind a DEQUANTIZE op. Returns how
    many weights were moved."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(source))
    model.signatureDefs = []
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.DEQUANTIZE
    code.version = 2
    model.operatorCodes.append(code)
    dequantize = len(model.operatorCodes) - 1
    graph = model.subgraphs[0]
    moved, ops = 0, []
    for index, tensor in enumerate(list(graph.tensors)):
        data = model.buffers[tensor.buffer].data
        if tensor.type != schema.TensorType.FLOAT32 or data is None or not len(data) \
                or len(tensor.shape) < 2:
            continue
        values = np.frombuffer(np.asarray(data, np.uint8).tobytes(), np.float32)
        half = schema.BufferT()
        half.data = np.frombuffer(values.astype(np.float16).tobytes(), np.uint8)
        model.buffers.append(half)
        stored = schema.TensorT()
        stored.name, stored.shape = tensor.name + b"_fp16", tensor.shape
        stored.type, stored.buffer = schema.TensorType.FLOAT16, len(model.buffers) - 1
        graph.tensors.append(stored)
        tensor.buffer = 0  # now computed by the DEQUANTIZE below
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = dequantize, [len(graph.tensors) - 1], [index]
        ops.append(op)
        moved += 1
    graph.operators = ops + list(graph.operators)
    flatbuffer_utils.write_model(model, str(out))
    return moved


@pytest.fixture(scope="module")
def foreign_tflite(cnn_mobile_artifacts, tmp_path_factory):
    fp32 = next(a for a in cnn_mobile_artifacts
                if a.format == "tflite" and a.variant == "fp32")
    out = tmp_path_factory.mktemp("mediapipe-style") / "foreign.tflite"
    assert mediapipe_style(fp32.path, out) >= 2
    return Artifact(out, "tflite", lineage=("import:tflite",), metadata={"variant": "fp32"})


def run(path, x):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(path))
    interpreter.allocate_tensors()
    [detail] = interpreter.get_input_details()
    outputs = []
    for sample in x:
        feed = sample[None]
        if detail["dtype"] != np.float32:  # full-integer input: quantize it
            scale, zero = detail["quantization"]
            feed = np.clip(np.round(feed / scale + zero), -128, 127).astype(detail["dtype"])
        interpreter.set_tensor(detail["index"], feed)
        interpreter.invoke()
        out = interpreter.get_output_details()[0]
        value = interpreter.get_tensor(out["index"]).astype(np.float32)
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            value = (value - zero) * scale
        outputs.append(value[0])
    return np.array(outputs)


def test_prepare_adds_a_signature_and_widens_float16_weights(foreign_tflite, tmp_path, digits):
    prepared, steps = prepare_tflite(foreign_tflite.path, tmp_path / "prepared.tflite")
    assert steps[0] == "a serving_default signature added (the file has none)"
    assert steps[1].endswith("float16 weight tensor(s) widened to float32 (their DEQUANTIZE "
                             "ops dropped)")
    x = digits.x_test[:16]
    np.testing.assert_array_equal(run(prepared, x), run(foreign_tflite.path, x))


def test_a_file_edgenn_made_needs_no_preparation(cnn_mobile_artifacts, tmp_path):
    fp32 = next(a for a in cnn_mobile_artifacts
                if a.format == "tflite" and a.variant == "fp32")
    assert prepare_tflite(fp32.path, tmp_path / "unused.tflite") == (fp32.path, ())
    assert not (tmp_path / "unused.tflite").exists()


def test_static_int8_of_a_mediapipe_style_file(foreign_tflite, tmp_path, digits):
    int8 = quantize_tflite_static(foreign_tflite, tmp_path / "foreign.int8.tflite",
                                  digits.x_train[:128])
    assert int8.metadata["preparation"][0].startswith("a serving_default signature added")
    assert quantized_tensor_count(int8.path) > 0
    x = digits.x_test[:64]
    reference = run(foreign_tflite.path, x)
    agreement = np.mean(run(int8.path, x).argmax(1) == reference.argmax(1))
    assert agreement >= 0.9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.int8.tflite"]


def test_dynamic_int8_of_a_mediapipe_style_file(foreign_tflite, tmp_path):
    int8 = quantize_tflite_dynamic(foreign_tflite, tmp_path / "foreign.dyn.tflite")
    assert quantized_tensor_count(int8.path) > 0
    assert len(int8.metadata["preparation"]) == 2
