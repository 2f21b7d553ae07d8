"""Artifacts: a model file on disk, its tensor specs and its lineage. Immutable; each pass
`derive`s the next one."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgenn.core.config import jsonable

# Names a model's exporter gives the dimension that counts samples (matched lower-case).
BATCH_DIM_NAMES = ("batch", "batch_size", "batchsize", "bs", "b", "n", "num_samples")


def batch_axis_for(shape: Sequence[int | str | None]) -> int | None:
    """Where a model input of `shape` takes its samples, read from the shape alone: None
    (one value for the whole run) for a scalar; else the dimension named like a batch
    (`BATCH_DIM_NAMES`, or a name holding "batch"); else 0 when the first dimension is
    symbolic or 1 (a batch fixed at 1 beside a symbolic width or length: [1, 1, 64, W]);
    else the symbolic dimension when there is exactly one (a state [2, batch, 128]);
    else 0. A data file may say otherwise (`edgenn.frontend.inputs`)."""
    if not len(shape):
        return None
    named = [axis for axis, dim in enumerate(shape) if isinstance(dim, str) and (
        dim.lower() in BATCH_DIM_NAMES or "batch" in dim.lower())]
    if named:
        return named[0]
    if not isinstance(shape[0], int) or shape[0] == 1:
        return 0
    symbolic = [axis for axis, dim in enumerate(shape) if not isinstance(dim, int)]
    return symbolic[0] if len(symbolic) == 1 else 0


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model: name, shape (a str for a symbolic dim), dtype, and
    for an input how it is fed: `batch_axis` is the dimension that holds the samples of a
    batch (0 for most models; 1 for an RNN state [2, batch, 128]), None for an input that
    takes one value for the whole run (a sample rate, shape []); `carried_from` names the
    output that feeds this input at the next sample of a stream (a streaming model's
    state: samples then run one at a time, in order)."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"
    batch_axis: int | None = 0
    carried_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype,
                "batch_axis": self.batch_axis, "carried_from": self.carried_from}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorSpec:
        axis = data.get("batch_axis", 0)  # written before layouts existed: samples on axis 0
        carried = data.get("carried_from")
        return cls(str(data["name"]), tuple(data["shape"]), str(data.get("dtype", "float32")),
                   None if axis is None else int(axis), None if carried is None else str(carried))

    def describe_shape(self) -> str:
        """The whole shape with the batch where it is: `2×(batch)×16`; `(batch of 1)×64`
        for a fixed batch; `a scalar` or `4×8` plus "for the whole run" for a constant."""
        if self.batch_axis is None:
            dims = "×".join(map(str, self.shape)) if self.shape else "a scalar"
            return f"{dims}, one value for the whole run"
        return "×".join(
            (f"(batch of {dim})" if isinstance(dim, int) else "(batch)")
            if axis == self.batch_axis else str(dim) for axis, dim in enumerate(self.shape))


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
