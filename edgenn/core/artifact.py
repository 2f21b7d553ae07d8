"""Artifacts: a model file on disk, its tensor specs and its lineage. Immutable; each pass
`derive`s the next one."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgenn.core.config import jsonable


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
