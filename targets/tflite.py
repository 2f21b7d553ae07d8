"""tflite target: the TFLite (LiteRT) interpreter with XNNPACK, as on a phone's CPU.

The interpreter comes from `ai_edge_litert.interpreter` (maintained, NumPy 2) and falls
back to `tflite_runtime.interpreter` (the last release, 2.14, needs NumPy < 2) when that
is what is installed; both have the same `Interpreter` API. `compile` checks that the
file loads and copies it into the target's folder; `load` opens the interpreter.

The runner takes float32 batches of any size: a .tflite has a fixed batch (litert-torch
traces one), so it feeds the batch in chunks of it. A full-integer model has int8 input
and output tensors; the runner quantizes the input with the tensor's scale and zero
point and dequantizes the output, so callers always see float logits.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
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


def layer_outputs(path: Path, x: np.ndarray, runtime: Runtime = Runtime.AUTO
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
    runner = TfliteRunner.__new__(TfliteRunner)  # reuse its input quantization only
    detail = interpreter.get_input_details()[0]
    runner.input = detail
    runner.input_scale, runner.input_zero_point = _quantization(Path(path), detail, "input")
    size = int(detail["shape"][0])
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]
    values: dict[int, list[np.ndarray]] = {}
    feed = runner.quantize_input(np.asarray(x))
    for start in range(0, len(feed), size):
        chunk = feed[start:start + size]
        count = len(chunk)
        if count < size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], size - count, axis=0)])
        interpreter.set_tensor(detail["index"], np.ascontiguousarray(chunk))
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


class TfliteRunner:
    """One interpreter; `run` maps float32 (N, *sample_shape) to float32 (N, classes)."""

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
        if len(inputs) != 1 or len(outputs) != 1:
            raise BadInputError(f"{path}: edgenn runs models with one input and one output; "
                                f"this one has {len(inputs)} and {len(outputs)}")
        self.input, self.output = inputs[0], outputs[0]
        self.path, self.threads, self.xnnpack = path, threads, xnnpack
        self.batch_size = int(self.input["shape"][0])
        self.sample_shape = tuple(int(d) for d in self.input["shape"][1:])
        if self.runtime.startswith(Runtime.TFLITE_RUNTIME.value) and _is_dynamic_range(
                self.interpreter, self.input):
            raise TargetUnavailableError(
                f"{path.name}: a dynamic-range int8 model (float input, per-channel int8 "
                "weights) runs wrong under tflite-runtime 2.14 (its hybrid kernels read "
                f"ai-edge-quantizer's weights differently); use ai-edge-litert: {INSTALL_HINT}")
        self.input_scale, self.input_zero_point = _quantization(path, self.input, "input")
        self.output_scale, self.output_zero_point = _quantization(path, self.output, "output")

    def run(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch)
        if tuple(batch.shape[1:]) != self.sample_shape:
            raise BadInputError(f"{self.path.name}: input of shape {tuple(batch.shape)} does "
                                f"not fit the model's samples {self.sample_shape}")
        feed = self.quantize_input(batch)
        size = self.batch_size
        results = []
        for start in range(0, len(feed), size):
            chunk = feed[start:start + size]
            count = len(chunk)
            if count < size:  # the last, short chunk: pad with zeros, drop their outputs
                pad = np.zeros((size - count, *chunk.shape[1:]), dtype=chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            self.interpreter.set_tensor(self.input["index"], np.ascontiguousarray(chunk))
            self.interpreter.invoke()
            results.append(self.interpreter.get_tensor(self.output["index"])[:count].copy())
        if not results:
            return np.zeros((0, *self.output["shape"][1:]), dtype=np.float32)
        return self.dequantize_output(np.concatenate(results))

    def quantize_input(self, batch: np.ndarray) -> np.ndarray:
        """Float samples → the input tensor's dtype (int8: x / scale + zero point)."""
        dtype = np.dtype(self.input["dtype"])
        if self.input_scale is None:
            return batch.astype(dtype, copy=False)
        info = np.iinfo(dtype)
        scaled = np.round(batch.astype(np.float32) / self.input_scale) + self.input_zero_point
        return np.clip(scaled, info.min, info.max).astype(dtype)

    def dequantize_output(self, raw: np.ndarray) -> np.ndarray:
        if self.output_scale is None:
            return raw.astype(np.float32, copy=False)
        return ((raw.astype(np.float32) - self.output_zero_point)
                * np.float32(self.output_scale)).astype(np.float32)

    def metrics(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "xnnpack": self.xnnpack,
                "input_dtype": np.dtype(self.input["dtype"]).name,
                "tflite_batch": self.batch_size}


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
