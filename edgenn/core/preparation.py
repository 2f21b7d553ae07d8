"""Preparing an ONNX model for ONNX Runtime's quantizer: the standard steps, each recorded.

Models that other projects ship trip `onnxruntime.quantization` where the models edgenn
exports do not. Each step below fixes one class of them, works on a copy (the user's
file stays the fp32 reference) and says what it did, so a report row can tell which
steps its int8 model needed:

- **weights in `Constant` nodes** (Paddle's exporter): moved into initializers, where the
  quantizer looks for weights;
- **old opsets** (< 13): upgraded with onnx's version converter, since per-channel
  QuantizeLinear/DequantizeLinear need opset 13's `axis`; an opset-11 model quantized
  per channel is invalid;
- **ORT's pre-processing** (`quant_pre_process`: symbolic shape inference, graph
  optimisation, ONNX shape inference) fails on real graphs (an assert on a Concat axis,
  "Incomplete symbolic shape inference"): it falls back to pre-processing without
  symbolic shape inference, then to none.

The library calls run with the working directory in a private scratch folder: symbolic
shape inference writes `sym_shape_infer_temp.onnx` and its external data into the
current directory when it gives up, and nothing may be left in the user's folder.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edgenn.core.errors import first_line, node_in_traceback

log = logging.getLogger(__name__)

MIN_OPSET = 13  # per-channel QuantizeLinear/DequantizeLinear (axis) need it


@dataclass(frozen=True)
class Prepared:
    """The model the quantizer should read, and the steps that made it."""

    path: Path
    steps: tuple[str, ...] = ()  # e.g. "opset 11 → 13", "pre-processing without …"


@contextmanager
def working_directory(path: str | os.PathLike[str]) -> Iterator[None]:
    """Run the block with `path` as the working directory (libraries that write scratch
    files into the current directory write them there instead)."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def prepare(model_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
            preprocess: bool = True, min_opset: int = MIN_OPSET) -> Prepared:
    """The copy of `model_path` the quantizer reads, written into `out_dir` (a scratch
    folder the caller removes); the model itself when no step changes it."""
    import onnx

    source, out_dir = Path(model_path).resolve(), Path(out_dir).resolve()
    proto = onnx.load(str(source))
    steps: list[str] = []
    folded = fold_constants(proto)
    if folded:
        steps.append(f"{folded} Constant node(s) moved into initializers")
    upgraded = upgrade_opset(proto, min_opset)
    if upgraded is not None:
        proto, step = upgraded
        steps.append(step)
    current = source
    if steps:
        current = out_dir / "prepared.onnx"
        _save(proto, current, large=_has_external_data(source))
    del proto
    if preprocess:
        current, step = _preprocess(current, out_dir)
        steps.append(step)
    return Prepared(current, tuple(steps))


def fold_constants(proto) -> int:
    """Move the main graph's `Constant` nodes that hold a tensor into initializers (in
    place); returns how many moved. Graph outputs stay nodes (an initializer cannot be
    one in every IR version)."""
    from onnx import numpy_helper

    outputs = {o.name for o in proto.graph.output}
    kept, moved = [], 0
    for node in proto.graph.node:
        tensor = _constant_tensor(node) if node.op_type == "Constant" and \
            node.domain in ("", "ai.onnx") and node.output[0] not in outputs else None
        if tensor is None:
            kept.append(node)
            continue
        initializer = numpy_helper.from_array(numpy_helper.to_array(tensor), node.output[0])
        proto.graph.initializer.append(initializer)
        moved += 1
    if moved:
        del proto.graph.node[:]
        proto.graph.node.extend(kept)
    return moved


def _constant_tensor(node):
    """The tensor a Constant node holds (from any of its value attributes), or None."""
    import numpy as np
    from onnx import helper, numpy_helper

    for attribute in node.attribute:
        if attribute.name == "value" and attribute.HasField("t"):
            return attribute.t
        value = helper.get_attribute_value(attribute)
        if attribute.name in ("value_float", "value_floats"):
            return numpy_helper.from_array(np.asarray(value, dtype=np.float32))
        if attribute.name in ("value_int", "value_ints"):
            return numpy_helper.from_array(np.asarray(value, dtype=np.int64))
    return None  # sparse or string values stay nodes


def upgrade_opset(proto, min_opset: int = MIN_OPSET):
    """(the model at `min_opset`, the step) when its ai.onnx opset is older; None when it
    is new enough or the converter cannot upgrade it (the step says so then)."""
    import onnx
    from onnx import version_converter

    version = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
                   None)
    if version is None or version >= min_opset:
        return None
    try:
        upgraded = version_converter.convert_version(proto, min_opset)
        onnx.checker.check_model(upgraded)
    except Exception as exc:  # the converter lacks an adapter for one of its operators
        log.info("opset upgrade failed", exc_info=True)
        return proto, f"opset {version} kept (upgrade to {min_opset} failed: {_first(exc)})"
    return upgraded, f"opset {version} → {min_opset} (a copy; the original is the reference)"


# ORT's pre-processing, from the most thorough to none: the first that succeeds is used
PLAIN_PREPROCESSING = "pre-processing (symbolic shape inference, optimisation)"
_PREPROCESSING = (
    (PLAIN_PREPROCESSING, {}),
    ("pre-processing without symbolic shape inference", {"skip_symbolic_shape": True}),
)


def _preprocess(model: Path, out_dir: Path) -> tuple[Path, str]:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    failures = []
    large = _has_external_data(model)
    for index, (name, options) in enumerate(_PREPROCESSING):
        out = out_dir / f"pre{index}.onnx"
        external = {"save_as_external_data": True, "all_tensors_to_one_file": True,
                    "external_data_location": f"{out.name}.data"} if large else {}
        scratch = Path(tempfile.mkdtemp(prefix=".scratch-", dir=out_dir))
        try:
            with working_directory(scratch), _optimizer_errors_quiet():
                quant_pre_process(str(model), str(out), **options, **external)
        except Exception as exc:  # ORT asserts and raises bare Exceptions here
            log.info("%s failed", name, exc_info=True)
            failures.append(_first(exc))
            continue
        finally:
            _remove_tree(scratch)
        if index == 0:
            return out, name
        return out, f"{name} (with it: {failures[0]})"
    return model, f"no pre-processing (ORT's failed: {'; '.join(dict.fromkeys(failures))})"


@contextmanager
def _optimizer_errors_quiet() -> Iterator[None]:
    """quant_pre_process logs a traceback at ERROR when its optimiser fails and goes on;
    the step's outcome is what counts (`--verbose` shows the library's logs)."""
    quiet = not logging.getLogger("edgenn").isEnabledFor(logging.DEBUG)
    library = logging.getLogger("onnxruntime.quantization.shape_inference")
    level = library.level
    if quiet:
        library.setLevel(logging.CRITICAL)
    try:
        with runtime_warnings_quiet():
            yield
    finally:
        library.setLevel(level)


@contextmanager
def runtime_warnings_quiet() -> Iterator[None]:
    """ONNX Runtime's own C++ warnings (an initializer it drops, a shape it merges) for the
    sessions a library opens inside the block, where edgenn cannot pass session options:
    errors only, unless `--verbose`."""
    import onnxruntime

    if logging.getLogger("edgenn").isEnabledFor(logging.DEBUG):
        yield
        return
    onnxruntime.set_default_logger_severity(3)
    try:
        yield
    finally:
        onnxruntime.set_default_logger_severity(2)  # ONNX Runtime's default: warnings


def _save(proto, path: Path, large: bool) -> None:
    import onnx

    if large or proto.ByteSize() > 1_900_000_000:  # protobuf's 2 GB limit
        onnx.save_model(proto, str(path), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=f"{path.name}.data")
    else:
        onnx.save(proto, str(path))


def _has_external_data(path: Path) -> bool:
    import onnx
    from onnx.external_data_helper import uses_external_data

    graph = onnx.load(str(path), load_external_data=False).graph
    return any(uses_external_data(t) for t in graph.initializer)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _first(exc: BaseException) -> str:
    """One line for a library's exception: its type, first line, and the graph node it
    was working on when its traceback shows one."""
    node = node_in_traceback(exc)
    where = f" at {node.op_type} node '{node.name}'" if node is not None else ""
    return f"{first_line(exc, 200)}{where}"
