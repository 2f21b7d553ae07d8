"""cpu target: ONNX Runtime with the CPU execution provider.

`compile` applies ONNX Runtime's graph optimisations once and saves the optimised model
as the compiled artifact (with its weights in an external data file of its own when the
source keeps them outside the model); `load` opens a session on it with the requested
threads. A model whose input fixes the batch size runs larger batches in chunks.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgenn.core import Artifact, BadInputError, RunOptions
from edgenn.core.samples import Samples
from edgenn.core.target import (
    brought_by_user,
    fixed_batch_size,
    model_feed,
    run_in_fixed_batches,
)

log = logging.getLogger(__name__)

# Session config keys (onnxruntime_session_options_config_keys.h) that make ORT write the
# optimised model's initializers to an external data file instead of inside the model.
EXTERNAL_DATA_FILE_KEY = "session.optimized_model_external_initializers_file_name"
EXTERNAL_DATA_MIN_BYTES_KEY = "session.optimized_model_external_initializers_min_size_in_bytes"
EXTERNAL_DATA_MIN_BYTES = 1024  # ORT's own default: smaller tensors stay in the model


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
        return [a for a in artifacts if a.format == "onnx"
                and (a.variant != "fp16" or brought_by_user(a))]

    def compile(self, artifact: Artifact, workdir: Path) -> Artifact:
        import onnxruntime as ort

        if artifact.format not in self.accepts:
            raise BadInputError(f"cpu target takes ONNX, got {artifact.format}")
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        out = workdir / f"{artifact.path.stem}.cpu.onnx"
        data = out.with_name(f"{out.name}.data")
        levels = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                  "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                  "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
        options = ort.SessionOptions()
        options.graph_optimization_level = levels[self.optimization]
        # Written under the final names in a private folder (the model names its data file),
        # then moved: nothing half-written ever sits under a final name.
        with tempfile.TemporaryDirectory(prefix=".cpu-", dir=workdir) as staging_name:
            staged = Path(staging_name) / out.name
            options.optimized_model_filepath = str(staged)
            if artifact.extra_files:
                # The source keeps its weights outside the model (protobuf stops at 2 GiB):
                # so does the optimised model, in a data file of its own beside it.
                options.add_session_config_entry(EXTERNAL_DATA_FILE_KEY, data.name)
                options.add_session_config_entry(EXTERNAL_DATA_MIN_BYTES_KEY,
                                                 str(EXTERNAL_DATA_MIN_BYTES))
            ort.InferenceSession(str(artifact.path), options,
                                 providers=["CPUExecutionProvider"])
            staged_data = staged.with_name(data.name)
            extra_files = [data] if staged_data.is_file() else []
            if extra_files:  # data first: a model under its final name finds its weights
                os.replace(staged_data, data)
            os.replace(staged, out)
        if not extra_files and data.exists():  # an earlier compile's, that no model names
            data.unlink()
        return artifact.derive(out, "compile:cpu", extra_files=extra_files,
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
        inputs = self.session.get_inputs()
        first = inputs[0]
        self.input_name = first.name
        self.input_dtype = np.dtype(ORT_TYPES.get(first.type, np.float32))
        self.inputs = [(i.name, np.dtype(ORT_TYPES.get(i.type, np.float32))) for i in inputs]
        self.batch_size = fixed_batch_size(first.shape)  # None: any batch runs at once
        self.threads = threads
        self._session_run = self.session.run  # bound once: run() sits inside timed loops

    def run(self, batch: Samples) -> np.ndarray:
        if self.batch_size is None and not isinstance(batch, dict):
            # the common case stays one call, no helper: run() is what the harness times
            if batch.dtype is not self.input_dtype and batch.dtype != self.input_dtype:
                batch = batch.astype(self.input_dtype)
            return self._session_run(None, {self.input_name: batch})[0]
        return run_in_fixed_batches(self._run_once, batch, self.batch_size)

    def _run_once(self, batch: Samples) -> np.ndarray:
        return self._session_run(None, model_feed(batch, self.inputs))[0]

    def metrics(self) -> dict:
        return {"providers": self.session.get_providers()}


ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
              "tensor(double)": np.float64, "tensor(int64)": np.int64,
              "tensor(int32)": np.int32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}
