"""fp16 conversion of an ONNX model, for the GPU target.

Weights and arithmetic become float16; with `keep_io_types` (the default) the graph's
inputs and outputs stay float32 with a Cast at each end, so every runner feeds the same
float32 batches and compares logits on the same scale. ORT's CPU provider runs most fp16
operators through casts, so the cpu target does not select this variant.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from edgenn.core import Artifact, BadInputError, atomic_path
from edgenn.core.graph import sort_topologically

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fp16Config:
    keep_io_types: bool = True  # float32 inputs/outputs, casts inside the graph
    op_block_list: tuple[str, ...] = ()  # operator types kept in float32 (beyond ORT's list)
    strip_debug_metadata: bool = True


def convert_fp16(artifact: Artifact, out_path: str | os.PathLike[str],
                 config: Fp16Config = Fp16Config()) -> Artifact:
    """`artifact` (ONNX, float32) converted to float16 at `out_path`; variant "fp16"."""
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    if artifact.format != "onnx":
        raise BadInputError(f"fp16 conversion takes an ONNX artifact, got {artifact.format}")
    if not artifact.path.is_file():
        raise BadInputError(f"model file not found: {artifact.path}")
    out = Path(out_path)
    proto = onnx.load(str(artifact.path))
    block = list(DEFAULT_OP_BLOCK_LIST) + [op for op in config.op_block_list
                                           if op not in DEFAULT_OP_BLOCK_LIST]
    converted = convert_float_to_float16(proto, keep_io_types=config.keep_io_types,
                                         op_block_list=block)
    sort_topologically(converted.graph)  # the converter appends its input casts last
    if config.strip_debug_metadata:
        for node in converted.graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
    onnx.checker.check_model(converted)
    with atomic_path(out) as tmp:
        onnx.save(converted, str(tmp))
    inputs, outputs = artifact.inputs, artifact.outputs
    if not config.keep_io_types:
        inputs = tuple(dataclasses.replace(t, dtype="float16") for t in inputs)
        outputs = tuple(dataclasses.replace(t, dtype="float16") for t in outputs)
    return artifact.derive(out, "quantize:fp16", inputs=inputs, outputs=outputs,
                           extra_files=(), variant="fp16",
                           quantization={"keep_io_types": config.keep_io_types,
                                         "op_block_list": list(config.op_block_list)})
