"""tflite target: the TFLite (LiteRT) interpreter with XNNPACK, as on a phone's CPU.

The interpreter comes from `ai_edge_litert.interpreter` (maintained, NumPy 2) and falls
back to `tflite_runtime.interpreter` (the last release, 2.14, needs NumPy < 2) when that
is what is installed; both have the same `Interpreter` API. `compile` checks that the
file loads and copies it into the target's folder; `load` opens the interpreter.

The runner takes float32 batches of any size: a .tflite has a fixed batch (litert-torch
traces one), so it feeds the batch in chunks of it. A full-integer model has int8 input
and output tensors; the runner quantizes the input with the tensor's scale and zero
point and dequantizes the output, so callers always see float logits.

A model with several inputs takes a dict {input tensor name: array} (`edgenn.core.samples`);
of several outputs the runner returns the first in the interpreter's order (the model's
own, which the signature's `output_0`, `output_1`, … follow), as the ONNX targets do.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from edgenn.core import (
    Artifact,
    BadInputError,
    RunOptions,
    TargetUnavailableError,
    atomic_path,
    parse_enum,
)
from edgenn.core.samples import Samples

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "edgenn[mobile]"'


class Runtime(str, Enum):
    AUTO = "auto"  # ai-edge-litert when installed, else tflite-runtime
    LITERT = "ai-edge-litert"
    TFLITE_RUNTIME = "tflite-runtime"


def interpreter_module(runtime: Runtime = Runtime.AUTO) -> tuple[Any, str]:
    """The `interpreter` module of the requested runtime and its name with version.

    Raises TargetUnavailableError naming the install command when none can be imported.
    """
    runtime = Runtime(runtime)
    order = [Runtime.LITERT, Runtime.TFLITE_RUNTIME] if runtime is Runtime.AUTO else [runtime]
    reasons = []
    for candidate in order:
        try:
            if candidate is Runtime.LITERT:
                from ai_edge_litert import interpreter
            else:
                # Built against NumPy 1: under NumPy 2 its import fails (with an
                # ImportError or, from the extension, another exception type).
                from tflite_runtime import interpreter
        except Exception as exc:  # noqa: BLE001 - any import failure means "not usable"
            reasons.append(f"{candidate.value}: {type(exc).__name__}: {exc}".splitlines()[0])
            continue
        return interpreter, f"{candidate.value} {_version(candidate)}"
    raise TargetUnavailableError(
        f"no TFLite interpreter can be imported ({'; '.join(reasons)}); {INSTALL_HINT}")


class TfliteTarget:
    name = "tflite"
    accepts = ("tflite",)
    description = "TFLite / LiteRT interpreter, XNNPACK on CPU (mobile)"
    install_hint = INSTALL_HINT

    def __init__(self, runtime: str = "auto", xnnpack: bool = True) -> None:
        self.runtime = parse_enum(Runtime, runtime, "runtime")
        self.xnnpack = bool(xnnpack)

    def available(self) -> str | None:
        try:
            interpreter_module(self.runtime)
        except TargetUnavailableError as exc:
            return str(exc)
        return None

    def select(self, artifacts: Sequence[Artifact]) -> list[Artifact]:
        return [a for a in artifacts if a.format == "tflite"]

    def compile(self, artifact: Artifact, workdir: Path) -> Artifact:
        if artifact.format not in self.accepts:
            raise BadInputError(f"tflite target takes a .tflite, got {artifact.format} "
                                f"({artifact.path})")
        check_tflite_file(artifact.path, self.runtime, self.xnnpack)
        out = Path(workdir) / artifact.path.name
        if out.resolve() != artifact.path.resolve():
            with atomic_path(out) as tmp:
                shutil.copyfile(artifact.path, tmp)
        return artifact.derive(out, "compile:tflite", extra_files=())

    def load(self, artifact: Artifact, options: RunOptions) -> TfliteRunner:
        return TfliteRunner(artifact.path, options.threads, self.runtime, self.xnnpack)

    def profile(self, artifact: Artifact, batches: Sequence[np.ndarray], threads: int
                ) -> list[dict]:
        """Not available: see `NO_OP_PROFILER` (nothing is estimated in its place)."""
        raise TargetUnavailableError(NO_OP_PROFILER)


# Checked in ai-edge-litert 2.3: the Interpreter takes
# `experimental_force_delegate_node_profiling` but cannot install a profiler or return its
# events, and CompiledModel's options have no profiling switch; libLiteRt.so has a C
# profiler (LiteRtCompiledModelGetProfiler, LiteRtGetProfilerEvents) with no Python binding.
NO_OP_PROFILER = ("LiteRT's Python package exposes no per-operator profiler (the C library's "
                  "profiler has no Python binding); LiteRT's benchmark_model tool with "
                  "--enable_op_profiling=true gives per-op times on the device")


def layer_outputs(path: Path, x: Samples, runtime: Runtime = Runtime.AUTO
                  ) -> list[tuple[str, str, np.ndarray]]:
    """(tensor name, op name, float value over all of `x`) for every operator's output, in
    execution order: the interpreter keeps every intermediate tensor
    (`experimental_preserve_all_tensors`) and runs its built-in kernels without XNNPACK,
    whose fused graph would keep them to itself. Integer tensors are dequantized."""
    import warnings

    module, _ = interpreter_module(runtime)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "preserve_all_tensors is for debugging": it is
        interpreter = module.Interpreter(
            model_path=str(path), experimental_preserve_all_tensors=True,
            experimental_op_resolver_type=module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    feeder = _Feeder(Path(path), interpreter.get_input_details())
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]
    values: dict[int, list[np.ndarray]] = {}
    for count in feeder.feed_chunks(interpreter, x, pad="repeat"):
        interpreter.invoke()
        for op in ops:
            for index in op["outputs"]:
                if index >= 0:
                    values.setdefault(index, []).append(
                        _dequantized(interpreter.get_tensor(index), tensors[index])[:count])
    return [(tensors[i]["name"], op["op_name"], np.concatenate(values[i]))
            for op in ops for i in op["outputs"] if i in values]


def _dequantized(value: np.ndarray, detail: dict) -> np.ndarray:
    if np.dtype(detail["dtype"]).kind == "f":
        return value.astype(np.float32)
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if not scale:
        return value.astype(np.float32)
    return ((value.astype(np.float32) - zero_point) * np.float32(scale)).astype(np.float32)


def check_tflite_file(path: Path, runtime: Runtime = Runtime.AUTO, xnnpack: bool = True) -> None:
    """Raise BadInputError in one line when `path` is missing, not a .tflite, or cannot be
    prepared with these kernels (XNNPACK takes some int8 models the reference kernels
    reject for their quantization scales)."""
    TfliteRunner(Path(path), threads=1, runtime=runtime, xnnpack=xnnpack)


class _Feeder:
    """The model's inputs: checks a batch against them, quantizes it (int8 inputs) and sets
    it on the interpreter one fixed-size chunk at a time."""

    def __init__(self, path: Path, inputs: list[dict]) -> None:
        self.path, self.inputs = path, inputs
        sizes = {int(d["shape"][0]) for d in inputs}
        if len(sizes) != 1:
            raise BadInputError(f"{path.name}: the inputs have different batch sizes "
                                f"({', '.join(_described(d) for d in inputs)}); edgenn feeds "
                                "one batch of samples to every input")
        self.batch_size = sizes.pop()
        self.quantization = [_quantization(path, d, "input") for d in inputs]

    @property
    def names(self) -> list[str]:
        return [d["name"] for d in self.inputs]

    def arrays(self, batch: Samples) -> list[np.ndarray]:
        """One array per input, in the interpreter's order, quantized to its dtype."""
        if isinstance(batch, Mapping):
            missing = [n for n in self.names if n not in batch]
            unknown = sorted(set(batch) - set(self.names))
            if missing or unknown:
                raise BadInputError(f"{self.path.name}: inputs by name do not match the "
                                    f"model's ({', '.join(self.names)}): missing "
                                    f"{missing or 'none'}, unknown {unknown or 'none'}")
            arrays = [np.asarray(batch[n]) for n in self.names]
        elif len(self.inputs) != 1:
            raise BadInputError(f"{self.path.name}: the model takes {len(self.inputs)} inputs "
                                f"({', '.join(self.names)}); give one array per input, named "
                                f"x.<input> (x.{self.names[0]}, …)")
        else:
            arrays = [np.asarray(batch)]
        counts = {len(a) for a in arrays}
        if len(counts) != 1:
            raise BadInputError(f"{self.path.name}: the inputs hold different numbers of "
                                f"samples ({', '.join(map(str, (len(a) for a in arrays)))})")
        for detail, array in zip(self.inputs, arrays, strict=True):
            shape = tuple(int(d) for d in detail["shape"][1:])
            if tuple(array.shape[1:]) != shape:
                where = f" ({detail['name']})" if len(self.inputs) > 1 else ""
                raise BadInputError(f"{self.path.name}: input{where} of shape "
                                    f"{tuple(array.shape)} does not fit the model's samples "
                                    f"{shape}")
        return [_quantized(array, detail, scale, zero_point) for array, detail,
                (scale, zero_point) in zip(arrays, self.inputs, self.quantization, strict=True)]

    def feed_chunks(self, interpreter, batch: Samples, pad: str = "zeros") -> Iterator[int]:
        """Set each fixed-size chunk of `batch` on the interpreter and yield how many of its
        rows are real (the last, short chunk is padded: with zeros, or by repeating its
        last sample — a preserved intermediate tensor then holds no values zeros produce)."""
        arrays = self.arrays(batch)
        size, rows = self.batch_size, len(arrays[0])
        for start in range(0, rows, size):
            count = min(size, rows - start)
            for detail, array in zip(self.inputs, arrays, strict=True):
                chunk = array[start:start + size]
                if count < size:
                    filler = (np.repeat(chunk[-1:], size - count, axis=0) if pad == "repeat"
                              else np.zeros((size - count, *chunk.shape[1:]), chunk.dtype))
                    chunk = np.concatenate([chunk, filler])
                interpreter.set_tensor(detail["index"], np.ascontiguousarray(chunk))
            yield count


class TfliteRunner:
    """One interpreter; `run` maps float32 (N, *sample_shape) — or {input name: array} for a
    model with several inputs — to its first output, float32 (N, classes)."""

    def __init__(self, path: Path, threads: int = 2, runtime: Runtime = Runtime.AUTO,
                 xnnpack: bool = True) -> None:
        module, self.runtime = interpreter_module(runtime)
        path = Path(path)
        if not path.is_file():
            raise BadInputError(f"model file not found: {path}")
        resolver = module.OpResolverType
        try:
            self.interpreter = module.Interpreter(
                model_path=str(path), num_threads=threads,
                experimental_op_resolver_type=(
                    resolver.AUTO if xnnpack else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
        except (ValueError, RuntimeError) as exc:
            raise BadInputError(f"{path}: not a valid .tflite model ({_first_line(exc)})"
                                ) from None
        try:
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise BadInputError(f"{path}: the model cannot be prepared for inference "
                                f"({_first_line(exc)})") from None
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if not inputs or not outputs:
            raise BadInputError(f"{path}: the model has {len(inputs)} input(s) and "
                                f"{len(outputs)} output(s); edgenn needs at least one of each")
        self.feeder = _Feeder(path, inputs)
        # The first output is the one scored (the ONNX targets score their first too).
        self.input, self.output = inputs[0], outputs[0]
        self.output_names = [o["name"] for o in outputs]
        self.path, self.threads, self.xnnpack = path, threads, xnnpack
        self.batch_size = self.feeder.batch_size
        self.sample_shape = tuple(int(d) for d in self.input["shape"][1:])
        if self.runtime.startswith(Runtime.TFLITE_RUNTIME.value) and _is_dynamic_range(
                self.interpreter, self.input):
            raise TargetUnavailableError(
                f"{path.name}: a dynamic-range int8 model (float input, per-channel int8 "
                "weights) runs wrong under tflite-runtime 2.14 (its hybrid kernels read "
                f"ai-edge-quantizer's weights differently); use ai-edge-litert: {INSTALL_HINT}")
        self.input_scale, self.input_zero_point = self.feeder.quantization[0]
        self.output_scale, self.output_zero_point = _quantization(path, self.output, "output")

    def run(self, batch: Samples) -> np.ndarray:
        results = []
        for count in self.feeder.feed_chunks(self.interpreter, batch):
            self.interpreter.invoke()
            results.append(self.interpreter.get_tensor(self.output["index"])[:count].copy())
        if not results:
            return np.zeros((0, *self.output["shape"][1:]), dtype=np.float32)
        return self.dequantize_output(np.concatenate(results))

    def quantize_input(self, batch: np.ndarray) -> np.ndarray:
        """Float samples → the (first) input tensor's dtype (int8: x / scale + zero point)."""
        return _quantized(batch, self.input, self.input_scale, self.input_zero_point)

    def dequantize_output(self, raw: np.ndarray) -> np.ndarray:
        if self.output_scale is None:
            return raw.astype(np.float32, copy=False)
        return ((raw.astype(np.float32) - self.output_zero_point)
                * np.float32(self.output_scale)).astype(np.float32)

    def metrics(self) -> dict[str, Any]:
        scored = {"scored_output": self.output["name"],
                  "outputs": len(self.output_names)} if len(self.output_names) > 1 else {}
        return {"runtime": self.runtime, "xnnpack": self.xnnpack,
                "input_dtype": np.dtype(self.input["dtype"]).name,
                "tflite_batch": self.batch_size, **scored}


def _quantized(batch: np.ndarray, detail: dict, scale: float | None, zero_point: int
               ) -> np.ndarray:
    """Float samples → the input tensor's dtype (int8: x / scale + zero point)."""
    dtype = np.dtype(detail["dtype"])
    if scale is None:
        return batch.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    scaled = np.round(batch.astype(np.float32) / scale) + zero_point
    return np.clip(scaled, info.min, info.max).astype(dtype)


def _described(detail: dict) -> str:
    return f"{detail['name']} {tuple(int(d) for d in detail['shape'])}"


def _quantization(path: Path, detail: dict, role: str) -> tuple[float | None, int]:
    """(scale, zero point) of an integer tensor; (None, 0) for a float one."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return None, 0
    if dtype.kind not in "iu":
        raise BadInputError(f"{path.name}: {role} tensor of type {dtype.name} is not supported")
    scale, zero_point = detail.get("quantization", (0.0, 0))
    scales = detail.get("quantization_parameters", {}).get("scales", np.zeros(0))
    if not scale or len(scales) > 1:
        raise BadInputError(
            f"{path.name}: the {dtype.name} {role} has no per-tensor quantization parameters "
            f"(scale, zero point), so float data cannot be fed to it or read from it")
    return float(scale), int(zero_point)


def _is_dynamic_range(interpreter, input_detail: dict) -> bool:
    """Float input and per-channel int8 weights: what ai-edge-quantizer's dynamic recipe
    writes (a full-integer model has an int8 input; an fp32 one has no int8 tensors)."""
    if np.dtype(input_detail["dtype"]).kind != "f":
        return False
    for tensor in interpreter.get_tensor_details():
        scales = tensor.get("quantization_parameters", {}).get("scales", ())
        if np.dtype(tensor["dtype"]) == np.int8 and len(scales) > 1:
            return True
    return False


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _version(runtime: Runtime) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(runtime.value)
    except PackageNotFoundError:
        return "?"
