"""cpu target: ONNX Runtime with the CPU execution provider.

`compile` applies ONNX Runtime's graph optimisations once and saves the optimised model
as the compiled artifact; `load` opens a session on it with the requested threads.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgenn.core import Artifact, BadInputError, RunOptions, atomic_path

log = logging.getLogger(__name__)


class CpuTarget:
    name = "cpu"
    accepts = ("onnx",)
    description = "ONNX Runtime, CPU execution provider"
    install_hint = "pip install onnxruntime"

    def __init__(self, optimization: str = "extended") -> None:
        # "extended" is the highest level whose saved model stays portable across CPUs
        # (ORT docs: layout optimisations of "all" are hardware-specific); "all" is
        # still applied at load time.
        if optimization not in ("basic", "extended", "all"):
            raise BadInputError(f"optimization '{optimization}' is not one of: basic, "
                                "extended, all")
        self.optimization = optimization

    def available(self) -> str | None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return f"onnxruntime is not installed ({self.install_hint})"
        return None

    def select(self, artifacts: Sequence[Artifact]) -> list[Artifact]:
        # fp16 is for GPUs: ORT's CPU provider runs most fp16 ops through casts.
        return [a for a in artifacts if a.format == "onnx" and a.variant != "fp16"]

    def compile(self, artifact: Artifact, workdir: Path) -> Artifact:
        import onnxruntime as ort

        if artifact.format not in self.accepts:
            raise BadInputError(f"cpu target takes ONNX, got {artifact.format}")
        out = Path(workdir) / f"{artifact.path.stem}.cpu.onnx"
        levels = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                  "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                  "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
        with atomic_path(out) as tmp:
            options = ort.SessionOptions()
            options.graph_optimization_level = levels[self.optimization]
            options.optimized_model_filepath = str(tmp)
            ort.InferenceSession(str(artifact.path), options, providers=["CPUExecutionProvider"])
        return artifact.derive(out, "compile:cpu", extra_files=(),
                               optimization=self.optimization)

    def load(self, artifact: Artifact, options: RunOptions) -> CpuRunner:
        return CpuRunner(artifact.path, options.threads)


def open_session(path: Path, threads: int, providers: list | None = None):
    """An ONNX Runtime session with full graph optimisation and fixed thread counts."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options,
                                providers=providers or ["CPUExecutionProvider"])


class CpuRunner:
    def __init__(self, path: Path, threads: int) -> None:
        self.session = open_session(path, threads)
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.input_dtype = np.dtype(_ORT_TYPES.get(first.type, np.float32))
        self.threads = threads
        self._session_run = self.session.run  # bound once: run() sits inside timed loops

    def run(self, batch: np.ndarray) -> np.ndarray:
        if batch.dtype is not self.input_dtype and batch.dtype != self.input_dtype:
            batch = batch.astype(self.input_dtype)
        return self._session_run(None, {self.input_name: batch})[0]

    def metrics(self) -> dict:
        return {"providers": self.session.get_providers()}


_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
              "tensor(double)": np.float64, "tensor(int64)": np.int64,
              "tensor(int32)": np.int32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}
