"""cpu target: ONNX Runtime with the CPU execution provider.

`compile` applies ONNX Runtime's graph optimisations once and saves the optimised model
as the compiled artifact (with its weights in an external data file of its own when the
source keeps them outside the model); `load` opens a session on it with the requested
threads. A model whose input fixes the batch size runs larger batches in chunks; each
input is fed in its layout (the artifact's `TensorSpec.batch_axis`).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgenn.core import Artifact, BadInputError, RunOptions
from edgenn.core.artifact import TensorSpec
from edgenn.core.samples import Samples
from edgenn.core.target import (
    ModelInput,
    batch_size_of,
    brought_by_user,
    check_streamable,
    feed_inputs,
    fixed_size_chunks,
    model_feed,
    run_in_fixed_batches,
    run_streaming,
    samples_first_output,
    streamed,
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
        options.log_severity_level = 3  # errors only, as the measuring sessions
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
        return CpuRunner(artifact.path, options.threads, artifact.inputs)

    def profile(self, artifact: Artifact, batches: Sequence[Samples], threads: int
                ) -> list[dict]:
        """Per-node kernel times of `artifact` over `batches` (the first a warm-up) from
        ONNX Runtime's profiler, in a session of its own (see `profile_nodes`)."""
        return profile_nodes(artifact.path,
                             session_feeds(artifact.path, batches, None, artifact.inputs),
                             threads, None)


def open_session(path: Path, threads: int, providers: list | None = None,
                 profile_prefix: str | None = None):
    """An ONNX Runtime session with full graph optimisation and fixed thread counts;
    with `profile_prefix`, ORT's profiler writes its JSON trace under that prefix."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options,
                                providers=providers or ["CPUExecutionProvider"])


class CpuRunner:
    def __init__(self, path: Path, threads: int, specs: Sequence[TensorSpec] = ()) -> None:
        self.session = open_session(path, threads)
        self.inputs = session_inputs(self.session, specs)
        first = self.inputs[0]
        self.input_name = first.name
        self.input_dtype = first.dtype
        self.batch_size = batch_size_of(self.inputs)  # None: any batch runs at once
        # one input, samples on axis 0, any batch: fed as it comes
        self._plain = self.batch_size is None and len(self.inputs) == 1 and \
            first.batch_axis == 0
        self.output_names = [o.name for o in self.session.get_outputs()]
        check_streamable(self.inputs, self.output_names)
        self._carried: dict[str, np.ndarray] | None = {} if streamed(self.inputs) else None
        self.threads = threads
        self._session_run = self.session.run  # bound once: run() sits inside timed loops

    def run(self, batch: Samples) -> np.ndarray:
        if self._plain and not isinstance(batch, dict):
            # the common case stays one call, no helper: run() is what the harness times
            if batch.dtype is not self.input_dtype and batch.dtype != self.input_dtype:
                batch = batch.astype(self.input_dtype)
            output = self._session_run(None, {self.input_name: batch})[0]
            return output if output.shape[:1] == batch.shape[:1] else \
                samples_first_output(output, len(batch))
        if self._carried is not None:  # a stream: one sample at a time, state carried
            return run_streaming(lambda feed: self._session_run(None, feed), batch,
                                 self.inputs, self.output_names, self._carried)
        return run_in_fixed_batches(self._run_once, batch, self.batch_size)

    def _run_once(self, batch: Samples) -> np.ndarray:
        return self._session_run(None, model_feed(batch, self.inputs))[0]

    def metrics(self) -> dict:
        return {"providers": self.session.get_providers()}


def profile_nodes(path: Path, feeds: Sequence[dict[str, np.ndarray]], threads: int,
                  providers: list | None = None) -> list[dict]:
    """Per-node kernel times from ONNX Runtime's own profiler, one run per feed.

    The first feed is a warm-up (allocations, first-touch) and is not counted. Each entry:
    `node` (ORT's name for the kernel it ran, after fusion), `op_type`, `provider`, `us`
    (the median over the counted runs: one run preempted on a busy machine does not make a
    kernel look slow), `runs`, `input_shapes` and `output_shapes` (as run). A session of
    its own, so the timed runner's figures never include the profiler.
    """
    import json

    if len(feeds) < 2:
        raise BadInputError("profiling needs at least two runs (the first is a warm-up)")
    with tempfile.TemporaryDirectory(prefix="edgenn-profile-") as folder:
        session = open_session(Path(path), threads, providers,
                               profile_prefix=str(Path(folder) / "ort"))
        for feed in feeds:
            session.run(None, feed)
        trace = json.loads(Path(session.end_profiling()).read_text(encoding="utf-8"))
    nodes: dict[str, dict] = {}
    run_index = 0
    for event in trace:
        if event.get("cat") == "Session" and event.get("name") == "model_run":
            run_index += 1
            continue
        name = str(event.get("name", ""))
        if event.get("cat") != "Node" or not name.endswith("_kernel_time") or run_index == 0:
            continue
        args = event.get("args", {})
        node = name[:-len("_kernel_time")]
        entry = nodes.setdefault(node, {
            "node": node, "op_type": str(args.get("op_name", "?")),
            "provider": str(args.get("provider", "")), "durations": [],
            "input_shapes": _shapes(args.get("input_type_shape", [])),
            "output_shapes": _shapes(args.get("output_type_shape", []))})
        entry["durations"].append(float(event.get("dur", 0)))
    for entry in nodes.values():
        durations = entry.pop("durations")
        entry.update(us=float(np.median(durations)), runs=len(durations))
    return list(nodes.values())


def _shapes(typed: list) -> list[list[int]]:
    """[{"float": [1, 16, 8, 8]}, ...] (ORT's trace) → [[1, 16, 8, 8], ...]."""
    return [list(next(iter(entry.values()))) for entry in typed if isinstance(entry, dict)
            and entry]


def session_inputs(session, specs: Sequence[TensorSpec] = ()) -> list[ModelInput]:
    """How to feed an ONNX Runtime session's inputs: dtype, declared shape and the layout
    the artifact's specs give (else the one each shape implies)."""
    return feed_inputs([(i.name, ORT_TYPES.get(i.type, np.float32), i.shape)
                        for i in session.get_inputs()], specs)


def session_feeds(path: Path, batches: Sequence[Samples], providers: list | None,
                  specs: Sequence[TensorSpec] = ()) -> list[dict[str, np.ndarray]]:
    """One feed per batch for the model at `path`, cut to the batch its input fixes."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=providers or ["CPUExecutionProvider"])
    inputs = session_inputs(session, specs)
    fixed = batch_size_of(inputs)
    feeds = []
    for batch in batches:
        if fixed is not None:
            batch = next(fixed_size_chunks(batch, fixed))[0]
        feeds.append(model_feed(batch, inputs))
    return feeds


ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
              "tensor(double)": np.float64, "tensor(int64)": np.int64,
              "tensor(int32)": np.int32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}
