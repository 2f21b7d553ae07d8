"""Preparing a .tflite made elsewhere for ai-edge-quantizer: the steps, each recorded.

`.tflite` files that other projects ship (MediaPipe's detectors and segmenters) differ
from the ones litert-torch writes in two ways that stop ai-edge-quantizer:

- **no signature**: the quantizer calibrates and quantizes through signature runners, and
  a model with none has nothing to run; a `serving_default` signature over the main
  subgraph's inputs and outputs (by tensor name) is added;
- **float16 weights behind DEQUANTIZE**: the weights are stored as float16 constants that
  a DEQUANTIZE op widens at run time; the quantizer does not look behind it, so nothing
  would be quantized. Each such constant becomes the float32 tensor the op produced
  (the same values, exactly) and the op is dropped.

The file given stays as it is (the fp32 reference); the prepared copy goes to `out`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def prepare_tflite(path: str | Path, out: str | Path) -> tuple[Path, tuple[str, ...]]:
    """(the file the quantizer should read, the steps that made it): `path` itself when
    nothing needs changing, else the prepared copy written to `out`."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    steps = []
    if add_signature(model):
        steps.append("a serving_default signature added (the file has none)")
    widened = widen_float16_constants(model)
    if widened:
        steps.append(f"{widened} float16 weight tensor(s) widened to float32 (their "
                     "DEQUANTIZE ops dropped)")
    if not steps:
        return Path(path), ()
    flatbuffer_utils.write_model(model, str(out))
    return Path(out), tuple(steps)


def add_signature(model) -> bool:
    """Give a model without signatures one over its main subgraph (in place)."""
    from ai_edge_litert import schema_py_generated as schema

    if model.signatureDefs:
        return False
    graph = model.subgraphs[0]

    def mapped(index: int):
        entry = schema.TensorMapT()
        entry.name = graph.tensors[index].name
        entry.tensorIndex = index
        return entry

    signature = schema.SignatureDefT()
    signature.signatureKey = "serving_default"
    signature.subgraphIndex = 0
    signature.inputs = [mapped(i) for i in graph.inputs]
    signature.outputs = [mapped(i) for i in graph.outputs]
    model.signatureDefs = [signature]
    return True


def widen_float16_constants(model) -> int:
    """Replace every DEQUANTIZE of a float16 constant by the float32 constant it makes (in
    place, in every subgraph); returns how many were replaced."""
    from ai_edge_litert import schema_py_generated as schema

    dequantize = {index for index, code in enumerate(model.operatorCodes)
                  if max(code.builtinCode, code.deprecatedBuiltinCode)
                  == schema.BuiltinOperator.DEQUANTIZE}
    widened = 0
    for graph in model.subgraphs:
        kept = []
        for op in graph.operators:
            source = graph.tensors[op.inputs[0]] if op.opcodeIndex in dequantize else None
            data = model.buffers[source.buffer].data if source is not None else None
            if source is None or source.type != schema.TensorType.FLOAT16 or data is None \
                    or not len(data) or op.outputs[0] in graph.outputs:
                kept.append(op)
                continue
            values = np.frombuffer(np.asarray(data, dtype=np.uint8).tobytes(), np.float16)
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(values.astype(np.float32).tobytes(), np.uint8)
            model.buffers.append(buffer)
            graph.tensors[op.outputs[0]].buffer = len(model.buffers) - 1
            widened += 1
        graph.operators = kept
    return widened


def quantized_tensor_count(path: str | Path) -> int:
    """How many int8/int16 tensors hold data or activations in a .tflite (0: the quantizer
    left the model in float)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    integer = {schema.TensorType.INT8, schema.TensorType.UINT8, schema.TensorType.INT16}
    return sum(tensor.type in integer for graph in model.subgraphs for tensor in graph.tensors)
