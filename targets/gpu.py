"""gpu target: ONNX Runtime with TensorRT, falling back to CUDA, on an NVIDIA GPU.

`compile` copies the model into the build directory and, for TensorRT, builds the engine
once into a cache beside it, so engine building never enters latency. `load` binds
inputs and outputs on the device (IO binding): `run()` includes the host↔device copies,
and the runner also reports a device-only figure (`device_latency_ms`) that excludes them.
A model whose input fixes the batch size runs larger batches in chunks.

No GPU exists on the machines edgenn is developed and tested on: `available()` says which
piece is missing (driver, onnxruntime-gpu, provider) and how to install it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from enum import Enum
from importlib import metadata
from pathlib import Path

import numpy as np

from edgenn.core import (
    Artifact,
    BadInputError,
    RunOptions,
    TargetUnavailableError,
    parse_enum,
    samples,
)
from edgenn.core.artifact import TensorSpec
from edgenn.core.samples import Samples
from edgenn.core.target import (
    batch_size_of,
    brought_by_user,
    check_streamable,
    fixed_size_chunks,
    model_feed,
    run_in_fixed_batches,
    run_streaming,
    streamed,
)

log = logging.getLogger(__name__)

TRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
INSTALL = ('pip uninstall -y onnxruntime && pip install "edgenn[gpu]" '
           "(onnxruntime-gpu replaces onnxruntime; both install the same module)")


class Provider(str, Enum):
    AUTO = "auto"  # TensorRT when present, else CUDA
    TENSORRT = "tensorrt"
    CUDA = "cuda"


def nvidia_driver() -> str | None:
    """The NVIDIA driver version, or None when no driver is loaded."""
    version_file = Path("/proc/driver/nvidia/version")
    if version_file.exists():
        first = version_file.read_text(errors="replace").splitlines()[:1]
        return first[0].strip() if first else "present"
    if shutil.which("nvidia-smi"):
        import subprocess

        try:
            result = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                                     "--format=csv,noheader"], capture_output=True, text=True,
                                    timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if result.returncode == 0 and result.stdout.strip():
            return result.stdout.strip().splitlines()[0]
    return None


def missing_piece(driver: str | None, gpu_package: bool, providers: Sequence[str],
                  wanted: Provider) -> str | None:
    """Why the gpu target cannot run, from what was found; None when it can."""
    if not gpu_package:
        return f"onnxruntime-gpu is not installed; install it with: {INSTALL}"
    if driver is None:
        return ("no NVIDIA driver found (no /proc/driver/nvidia/version, no nvidia-smi); "
                "install the NVIDIA driver and CUDA 12 runtime for your GPU")
    needed = {Provider.AUTO: (TRT, CUDA), Provider.TENSORRT: (TRT,), Provider.CUDA: (CUDA,)}
    if not any(p in providers for p in needed[wanted]):
        return (f"onnxruntime-gpu has no {' or '.join(needed[wanted])} "
                f"(available: {', '.join(providers)}); install a matching CUDA/cuDNN "
                f"(and TensorRT for tensorrt) or reinstall: {INSTALL}")
    return None


def choose_providers(available: Sequence[str], wanted: Provider, fp16: bool,
                     cache_dir: Path | None) -> list:
    """Execution providers in priority order, with TensorRT's options; CPU last."""
    chosen: list = []
    if TRT in available and wanted in (Provider.AUTO, Provider.TENSORRT):
        trt_options = {"trt_fp16_enable": bool(fp16), "trt_max_workspace_size": 2 << 30}
        if cache_dir is not None:
            trt_options.update({"trt_engine_cache_enable": True,
                                "trt_engine_cache_path": str(cache_dir),
                                "trt_timing_cache_enable": True,
                                "trt_timing_cache_path": str(cache_dir)})
        chosen.append((TRT, trt_options))
    if CUDA in available and wanted in (Provider.AUTO, Provider.CUDA, Provider.TENSORRT):
        chosen.append((CUDA, {"device_id": 0}))
    if not chosen:
        raise TargetUnavailableError(f"no GPU execution provider among {list(available)}")
    chosen.append(CPU)
    return chosen


class GpuTarget:
    name = "gpu"
    accepts = ("onnx",)
    description = "ONNX Runtime on an NVIDIA GPU: TensorRT (engine cache, fp16) or CUDA"
    install_hint = INSTALL

    def __init__(self, provider: str = "auto", fp16: bool = False) -> None:
        self.provider = parse_enum(Provider, provider, "gpu provider")
        self.fp16 = bool(fp16)

    def available(self) -> str | None:
        try:
            metadata.version("onnxruntime-gpu")
            gpu_package = True
        except metadata.PackageNotFoundError:
            gpu_package = False
        providers: list[str] = []
        if gpu_package:
            try:
                import onnxruntime as ort

                providers = ort.get_available_providers()
            except ImportError as exc:
                return f"onnxruntime-gpu does not import ({exc}); reinstall: {INSTALL}"
        return missing_piece(nvidia_driver(), gpu_package, providers, self.provider)

    def select(self, artifacts: Sequence[Artifact]) -> list[Artifact]:
        return [a for a in artifacts if a.format == "onnx"
                and (a.variant in ("fp32", "fp16", "int8-static") or brought_by_user(a))]

    def compile(self, artifact: Artifact, workdir: Path) -> Artifact:
        import onnxruntime as ort

        if artifact.format != "onnx":
            raise BadInputError(f"gpu target takes ONNX, got {artifact.format}")
        reason = self.available()
        if reason:
            raise TargetUnavailableError(f"gpu: {reason}")
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        out = workdir / f"{artifact.path.stem}.gpu.onnx"
        extra = copy_with_external_data(artifact, out)
        cache = workdir / f"{artifact.path.stem}.trt-cache"
        cache.mkdir(exist_ok=True)
        providers = choose_providers(ort.get_available_providers(), self.provider,
                                     self.fp16 or artifact.variant == "fp16", cache)
        started = time.perf_counter()
        session = ort.InferenceSession(str(out), providers=providers)  # builds TRT engine
        build_s = time.perf_counter() - started
        engines = [p for p in cache.iterdir()] if cache.exists() else []
        return artifact.derive(out, "compile:gpu", extra_files=[*extra, *engines],
                               providers=session.get_providers(), engine_build_s=build_s,
                               trt_cache=str(cache), fp16=self.fp16)

    def load(self, artifact: Artifact, options: RunOptions) -> GpuRunner:
        import onnxruntime as ort

        cache = Path(str(artifact.metadata.get("trt_cache", ""))) or None
        providers = choose_providers(ort.get_available_providers(), self.provider,
                                     self.fp16 or artifact.variant == "fp16", cache)
        return GpuRunner(artifact.path, providers, options.threads, artifact.inputs)

    def profile(self, artifact: Artifact, batches: Sequence[np.ndarray], threads: int
                ) -> list[dict]:
        """Per-node kernel times from ONNX Runtime's profiler on the GPU providers (a
        TensorRT engine shows as one node: TensorRT does not break its time down)."""
        import onnxruntime as ort

        from edgenn.targets.cpu import profile_nodes, session_feeds

        cache = Path(str(artifact.metadata.get("trt_cache", ""))) or None
        providers = choose_providers(ort.get_available_providers(), self.provider,
                                     self.fp16 or artifact.variant == "fp16", cache)
        return profile_nodes(
            artifact.path, session_feeds(artifact.path, batches, providers, artifact.inputs),
            threads, providers)


def copy_with_external_data(artifact: Artifact, out: Path) -> list[Path]:
    """Copy the model to `out` and its external data files beside it, at the locations the
    model names (relative to its folder); return the data files' new paths.

    Copies are made in a private folder and moved into place, data first: nothing
    half-copied sits under a final name, and the model never names a missing file.
    """
    with tempfile.TemporaryDirectory(prefix=".gpu-", dir=out.parent) as staging_name:
        staging = Path(staging_name)
        moves = []
        for file in artifact.extra_files:
            try:
                location = file.relative_to(artifact.path.parent)
            except ValueError:
                location = Path(file.name)
            staged = staging / location
            staged.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, staged)
            moves.append((staged, out.parent / location))
        shutil.copyfile(artifact.path, staging / out.name)
        for staged, final in moves:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)
        os.replace(staging / out.name, out)
    return [final for _, final in moves]


class GpuRunner:
    """IO-bound session: inputs copied to the device, outputs copied back, per run."""

    def __init__(self, path: Path, providers: list, threads: int,
                 specs: Sequence[TensorSpec] = ()) -> None:
        import onnxruntime as ort

        from edgenn.targets.cpu import session_inputs

        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = threads
        session_options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), session_options, providers=providers)
        self.inputs = session_inputs(self.session, specs)  # each fed in its layout
        self.batch_size = batch_size_of(self.inputs)  # None: any batch runs at once
        self.output_names = [o.name for o in self.session.get_outputs()]
        check_streamable(self.inputs, self.output_names)
        # a stream runs one sample at a time through session.run (host copies included)
        self._carried: dict[str, np.ndarray] | None = {} if streamed(self.inputs) else None
        self._last_batch: Samples | None = None

    def _bind(self, batch: Samples):
        """An IO binding with every input of `batch` copied to the device and outputs
        left there."""
        import onnxruntime as ort

        binding = self.session.io_binding()
        device_inputs = []
        for name, array in model_feed(batch, self.inputs).items():
            device_input = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array),
                                                            "cuda", 0)
            binding.bind_ortvalue_input(name, device_input)
            device_inputs.append(device_input)
        for name in self.output_names:
            binding.bind_output(name, "cuda", 0)
        return binding, device_inputs  # the OrtValues must outlive the binding's use

    def run(self, batch: Samples) -> np.ndarray:
        if self._carried is not None:
            return np.asarray(run_streaming(lambda feed: self.session.run(None, feed), batch,
                                            self.inputs, self.output_names, self._carried),
                              dtype=np.float32)
        self._last_batch = batch
        return run_in_fixed_batches(self._run_once, batch, self.batch_size)

    def _run_once(self, batch: Samples) -> np.ndarray:
        binding, _device_inputs = self._bind(batch)
        self.session.run_with_iobinding(binding)
        return np.asarray(binding.copy_outputs_to_cpu()[0], dtype=np.float32)

    def device_bound_batch(self, batch: Samples) -> Samples:
        """What one device run takes of `batch`: all of it, or one chunk of a fixed batch."""
        if self.batch_size is None or samples.count(batch) == self.batch_size:
            return batch
        return next(fixed_size_chunks(batch, self.batch_size))[0]

    def device_latency_ms(self, batch: Samples, runs: int = 100) -> list[float]:
        """Latency with input and output left on the device: no host↔device copies. For a
        model that fixes its batch size, that of one chunk (see `device_bound_batch`)."""
        binding, _device_inputs = self._bind(self.device_bound_batch(batch))
        for _ in range(10):
            self.session.run_with_iobinding(binding)
        timings = []
        for _ in range(runs):
            binding.synchronize_inputs()
            start = time.perf_counter()
            self.session.run_with_iobinding(binding)
            binding.synchronize_outputs()
            timings.append((time.perf_counter() - start) * 1000.0)
        return timings

    def metrics(self) -> dict:
        figures: dict = {"providers": self.session.get_providers()}
        if self._last_batch is not None:
            timings = self.device_latency_ms(self._last_batch)
            figures["device_latency_ms"] = {
                "p50": float(np.percentile(timings, 50)),
                "p90": float(np.percentile(timings, 90)), "runs": len(timings),
                "batch_size": samples.count(self.device_bound_batch(self._last_batch))}
        return figures
