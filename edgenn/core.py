"""Core types shared by every stage: artifacts, targets, runners, errors, safe file writes.

This module is the bottom of the import graph: it depends on the standard library and
NumPy only, so that `exporters/`, `quantize/` and `targets/` can all import it without
importing each other (README, "Architecture": imports flow one way). Measurements and
reports, which only the harness and report code use, live in `edgenn/results.py`.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


class EdgeNNError(Exception):
    """Base of every error edgenn raises on purpose; the CLI prints it as one line."""

    exit_code = 2


class BadInputError(EdgeNNError):
    """A file, option or data set that edgenn cannot use as given."""


class UnsupportedOperatorError(EdgeNNError):
    """A model holds operators a target or converter cannot handle; lists all of them."""

    def __init__(self, what: str, operators: Sequence[str], reason: str = "") -> None:
        self.operators = list(operators)
        listed = ", ".join(self.operators)
        tail = f" ({reason})" if reason else ""
        super().__init__(f"{what}: unsupported operator(s): {listed}{tail}")


class ToleranceExceededError(EdgeNNError):
    """Numerical parity between two backends is worse than the tolerance allows."""

    def __init__(self, output: str, error: float, tolerance: float, where: str = "") -> None:
        self.output, self.error, self.tolerance = output, error, tolerance
        place = f" {where}" if where else ""
        super().__init__(
            f"output '{output}'{place}: max abs error {error:.3g} exceeds tolerance "
            f"{tolerance:.3g}"
        )


class TargetUnavailableError(EdgeNNError):
    """A target's toolchain or hardware is missing; the message says how to get it."""


class BudgetExceededError(EdgeNNError):
    """No variant met the user's accuracy budget."""

    exit_code = 3


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only on success.

    Writers never leave a half-written file under the final name: on any exception
    (Ctrl-C included) the temporary file is removed.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files; give them the usual umask permissions
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def native_stderr_silenced(enabled: bool = True) -> Iterator[None]:
    """Silence file descriptor 2 for the block: native libraries (TFLite, absl, XNNPACK)
    log INFO lines there that Python cannot filter. Python exceptions are unaffected."""
    if not enabled:
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            sys.stderr.flush()
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` to `path` through a temporary file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def sha256_of(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------
# Artifacts
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model: name, shape (a str for a symbolic dim), dtype."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorSpec:
        return cls(str(data["name"]), tuple(data["shape"]), str(data.get("dtype", "float32")))


@dataclass(frozen=True)
class Artifact:
    """A model file on disk and what is known about it. Never mutated: `derive` a new one.

    `lineage` lists the steps that produced it, oldest first (`export:onnx`,
    `quantize:int8-static`, `compile:cpu`); `extra_files` are files the model needs
    beside it (ONNX external data, a reduced-operator config) and count in its size.
    """

    path: Path
    format: str  # torch | onnx | ort | tflite | nir | snn
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    lineage: tuple[str, ...] = ()
    extra_files: tuple[Path, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "extra_files", tuple(Path(p) for p in self.extra_files))
        object.__setattr__(self, "metadata", dict(self.metadata))

    def derive(
        self,
        path: str | os.PathLike[str],
        step: str,
        *,
        format: str | None = None,
        inputs: Sequence[TensorSpec] | None = None,
        outputs: Sequence[TensorSpec] | None = None,
        extra_files: Sequence[str | os.PathLike[str]] = (),
        **metadata: Any,
    ) -> Artifact:
        """The artifact that `step` made from this one, written to `path`."""
        return Artifact(
            path=Path(path),
            format=format or self.format,
            inputs=tuple(inputs) if inputs is not None else self.inputs,
            outputs=tuple(outputs) if outputs is not None else self.outputs,
            lineage=(*self.lineage, step),
            extra_files=tuple(Path(p) for p in extra_files),
            metadata={**self.metadata, **metadata},
        )

    @property
    def variant(self) -> str:
        """Short name of the model variant (fp32, int8-static, ...), for report rows."""
        return str(self.metadata.get("variant", "fp32"))

    def files(self) -> list[Path]:
        return [self.path, *self.extra_files]

    def size_bytes(self) -> int:
        """Bytes on disk of everything the artifact needs."""
        return sum(p.stat().st_size for p in self.files() if p.exists())

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "lineage": list(self.lineage),
            "extra_files": [str(p) for p in self.extra_files],
            "metadata": jsonable(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Artifact:
        return cls(
            path=Path(data["path"]),
            format=str(data["format"]),
            inputs=tuple(TensorSpec.from_dict(t) for t in data.get("inputs", ())),
            outputs=tuple(TensorSpec.from_dict(t) for t in data.get("outputs", ())),
            lineage=tuple(data.get("lineage", ())),
            extra_files=tuple(Path(p) for p in data.get("extra_files", ())),
            metadata=dict(data.get("metadata", {})),
        )


# ---------------------------------------------------------------------------------------
# Targets and runners
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    """Settings every runner honours."""

    threads: int = 2  # intra-op threads of the runtime
    seed: int = 0


@runtime_checkable
class Runner(Protocol):
    """A loaded model: `run` maps a float32 batch (N, *sample_shape) to class scores (N, C).

    Optional extras the harness uses when present:
    - `metrics() -> dict`: target-specific figures (providers, spike counts, ...).
    - `evaluate(x, y) -> dict`: a target-specific evaluation on the test split (e.g.
      accuracy against timesteps for spiking targets), stored in the row's `extra`.
    - `comparable_outputs: bool` (default True): False when outputs are not on the
      scale of the reference logits (spike counts), so max abs error/SNR are skipped.
    - `max_latency_runs: int`: a cap on timed runs for very slow simulators.
    """

    def run(self, batch: np.ndarray) -> np.ndarray: ...


class Target(Protocol):
    """A place a model runs. Compile and load are separate: set-up never enters latency."""

    name: str
    accepts: tuple[str, ...]  # artifact formats `compile` takes
    description: str
    install_hint: str  # how to make the target available

    def available(self) -> str | None:
        """None when usable, else the reason it is not (with the install command)."""
        ...

    def select(self, artifacts: Sequence[Artifact]) -> list[Artifact]:
        """Which of the pipeline's artifacts this target runs by default (one row each)."""
        ...

    def compile(self, artifact: Artifact, workdir: Path) -> Artifact: ...

    def load(self, artifact: Artifact, options: RunOptions) -> Runner: ...


def predicted_classes(outputs: np.ndarray) -> np.ndarray:
    """Class per sample from model outputs: argmax, or `> 0` for a single binary logit."""
    outputs = np.asarray(outputs)
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        return (outputs[:, 0] > 0).astype(np.int64)
    return outputs.reshape(len(outputs), -1).argmax(axis=1)


def runner_metrics(runner: Runner) -> dict[str, Any]:
    """Target-specific figures a runner can report (spike counts, providers, ...)."""
    metrics = getattr(runner, "metrics", None)
    return dict(metrics()) if callable(metrics) else {}


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, paths and tuples to plain JSON types."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
