"""ort-mobile target: ONNX Runtime Mobile's .ort format, run through an ORT session.

`compile` converts an ONNX model with `onnxruntime.tools.convert_onnx_models_to_ort`
(graph optimisations applied and saved, as a mobile build loads them) and writes, beside
the .ort, the reduced-operator configuration a custom minimal ORT build needs
(`--include_ops_by_config`). Both files count in the artifact's size; the .ort holds all
the weights, external data of the ONNX included. The full onnxruntime package runs .ort
files too, which is how the rows are measured here. A model whose input fixes the batch
size runs larger batches in chunks.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from edgenn.core import Artifact, BadInputError, EdgeNNError, RunOptions, parse_enum
from edgenn.core.artifact import TensorSpec
from edgenn.core.samples import Samples
from edgenn.core.target import (
    batch_size_of,
    brought_by_user,
    check_streamable,
    model_feed,
    run_in_fixed_batches,
    run_streaming,
    streamed,
)
from edgenn.targets.cpu import profile_nodes, session_feeds, session_inputs

log = logging.getLogger(__name__)


class Platform(str, Enum):
    ARM = "arm"  # phones: keeps int8 QDQ nodes ORT's ARM kernels fuse; no x86 NCHWc layout
    AMD64 = "amd64"  # x86-64 devices: allows the NCHWc layout transformer


class OrtMobileTarget:
    name = "ort-mobile"
    accepts = ("onnx",)
    description = "ONNX Runtime Mobile (.ort format, reduced-operator config)"
    install_hint = 'pip install "edgenn[mobile]"'

    def __init__(self, platform: str = "arm", type_reduction: bool = False) -> None:
        self.platform = parse_enum(Platform, platform, "platform")
        self.type_reduction = bool(type_reduction)  # per-operator types in the config

    def available(self) -> str | None:
        try:
            import onnxruntime  # noqa: F401
            from onnxruntime.tools import convert_onnx_models_to_ort  # noqa: F401
        except ImportError as exc:
            return f"onnxruntime with its tools is not installed ({exc}; {self.install_hint})"
        return None

    def select(self, artifacts: Sequence[Artifact]) -> list[Artifact]:
        return [a for a in artifacts if a.format == "onnx"
                and (a.variant in ("fp32", "int8-static") or brought_by_user(a))]

    def compile(self, artifact: Artifact, workdir: Path) -> Artifact:
        """ONNX → `<stem>.ort` and `<stem>.required_operators.config` in `workdir`."""
        from onnxruntime.tools.convert_onnx_models_to_ort import (
            OptimizationStyle,
            convert_onnx_models_to_ort,
        )

        if artifact.format not in self.accepts:
            raise BadInputError(f"ort-mobile target takes ONNX, got {artifact.format} "
                                f"({artifact.path})")
        if not artifact.path.is_file():
            raise BadInputError(f"model file not found: {artifact.path}")
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        stem = artifact.path.stem
        config_kind = "required_operators_and_types" if self.type_reduction \
            else "required_operators"
        ort_path = workdir / f"{stem}.ort"
        config_path = workdir / f"{stem}.{config_kind}.config"
        # Convert in a private folder: the tool names its outputs after the input and
        # would otherwise leave partial files under the final names on failure.
        with tempfile.TemporaryDirectory(prefix=".ort-", dir=workdir) as staging_name:
            staging = Path(staging_name)
            source = staging / "in" / artifact.path.name
            for file in artifact.files():  # external data where the model's locations say
                copy = source.parent / external_location(file, artifact.path.parent)
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, copy)
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    convert_onnx_models_to_ort(
                        source, output_dir=staging / "out",
                        optimization_styles=[OptimizationStyle.Fixed],
                        target_platform=self.platform.value,
                        enable_type_reduction=self.type_reduction)
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise EdgeNNError(f"{artifact.path.name}: conversion to .ort failed "
                                  f"({type(exc).__name__}: {first})") from None
            made_ort = staging / "out" / f"{stem}.ort"
            made_config = staging / "out" / f"{stem}.{config_kind}.config"
            for made in (made_ort, made_config):
                if not made.is_file():
                    raise EdgeNNError(f"{artifact.path.name}: the .ort converter did not "
                                      f"write {made.name}")
            # The config names the model it came from: name the final file, not ours.
            made_config.write_text(made_config.read_text(encoding="utf-8").replace(
                str(made_ort), str(ort_path)), encoding="utf-8")
            # The config first, so an .ort under its final name always has its config.
            made_config.replace(config_path)
            made_ort.replace(ort_path)
        return artifact.derive(ort_path, "compile:ort-mobile", format="ort",
                               extra_files=[config_path], platform=self.platform.value,
                               operators_config=config_path.name)

    def load(self, artifact: Artifact, options: RunOptions) -> OrtMobileRunner:
        if artifact.format != "ort":
            raise BadInputError(f"ort-mobile loads compiled .ort models, got {artifact.format} "
                                f"({artifact.path})")
        return OrtMobileRunner(artifact.path, options.threads, artifact.inputs)

    def profile(self, artifact: Artifact, batches: Sequence[Samples], threads: int
                ) -> list[dict]:
        """Per-node kernel times of `artifact` over `batches` (the first a warm-up) from
        ONNX Runtime's profiler, in a session of its own (see `profile_nodes`)."""
        return profile_nodes(artifact.path,
                             session_feeds(artifact.path, batches, None, artifact.inputs),
                             threads, None)


def external_location(file: Path, model_dir: Path) -> Path:
    """Where `file` sits relative to the folder of the model that names it: ONNX external
    data locations are relative to the model's folder."""
    try:
        return Path(file).relative_to(model_dir)
    except ValueError:
        return Path(Path(file).name)


def required_operators(config_path: Path) -> dict[str, set[str]]:
    """The operators a reduced-operator config lists, by domain;opset (e.g. `ai.onnx;18`)."""
    found: dict[str, set[str]] = {}
    for line in Path(config_path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        domain_opset, _, operators = line.partition(";")
        opset, _, operators = operators.partition(";")
        names = {op.split("{")[0].strip() for op in operators.split(",") if op.strip()}
        found.setdefault(f"{domain_opset};{opset}", set()).update(names)
    return found


class OrtMobileRunner:
    def __init__(self, path: Path, threads: int, specs: Sequence[TensorSpec] = ()) -> None:
        import onnxruntime as ort

        if not Path(path).is_file():
            raise BadInputError(f"model file not found: {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        # The .ort holds the optimised graph already; load it as a mobile build would.
        options.add_session_config_entry("session.load_model_format", "ORT")
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
            raise BadInputError(f"{path}: not a valid .ort model ({first})") from None
        self.inputs = session_inputs(self.session, specs)
        self.batch_size = batch_size_of(self.inputs)  # None: any batch at once
        self.output_names = [o.name for o in self.session.get_outputs()]
        check_streamable(self.inputs, self.output_names)
        self._carried: dict[str, np.ndarray] | None = {} if streamed(self.inputs) else None
        self.threads = threads

    def run(self, batch: Samples) -> np.ndarray:
        if self._carried is not None:  # a stream: one sample at a time, state carried
            return np.asarray(run_streaming(lambda feed: self.session.run(None, feed), batch,
                                            self.inputs, self.output_names, self._carried),
                              dtype=np.float32)
        return run_in_fixed_batches(self._run_once, batch, self.batch_size)

    def _run_once(self, batch: Samples) -> np.ndarray:
        return np.asarray(self.session.run(None, model_feed(batch, self.inputs))[0],
                          dtype=np.float32)

    def metrics(self) -> dict[str, Any]:
        return {"providers": self.session.get_providers(), "format": "ort"}
