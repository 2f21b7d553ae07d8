"""The converted spiking network: populations of integrate-and-fire neurons and projections.

Every population is a layer of non-leaky integrate-and-fire neurons with reset by
subtraction. At each timestep, in topological order, each population does

    v += I + Σ_projections W · s_source(t)      (I: bias + constant input current)
    s(t) = v >= θ
    v -= θ · s(t)

so a spike crosses every layer within the same timestep (no per-layer delay). Weights,
biases and thresholds lie on a fixed-point grid (multiples of 2**-grid_bits) and are
stored as float64: every partial sum of grid values is then exact in float64, so any
summation order (brian2's event-driven adds, a convolution, a matrix product) gives the
same membrane potentials and the same spikes. With 12 bits, float32 is exact too while
|v| stays below 2**12 thresholds, which the fast simulator checks as it goes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgenn.core import BadInputError, atomic_path

INPUT = -1  # `Projection.source` of the network input
DEFAULT_GRID_BITS = 12  # weights are multiples of 2**-12 of the threshold


@dataclass(frozen=True)
class Projection:
    """Synaptic input into a population: current W · s_source each timestep."""

    source: int  # index of the source population, or INPUT
    kind: str  # "dense" (weight: (n_post, n_pre)) or "conv" (weight: (oc, ic/groups, kh, kw))
    weight: np.ndarray  # float64, on the grid once the network is normalised
    stride: tuple[int, int] = (1, 1)  # conv only
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # conv only: top, left, bottom, right
    groups: int = 1  # conv only

    def scaled(self, factor: float) -> Projection:
        return replace(self, weight=self.weight * factor)


@dataclass(frozen=True)
class Population:
    """A layer of IF neurons (reset by subtraction); `shape` is per sample."""

    name: str  # the ONNX tensor it replaces
    shape: tuple[int, ...]  # per-sample shape of the layer
    bias: np.ndarray  # float64 (size,): constant current added every timestep
    threshold: float  # θ, 1.0 after normalisation
    projections: tuple[Projection, ...]  # incoming synapses, summed (residual adds)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class SpikingNetwork:
    """Populations in topological order; the last one is the output (one neuron per class)."""

    input_shape: tuple[int, ...]  # per-sample input shape
    input_scale: float  # inputs are divided by this (rates ≤ 1 for Poisson coding)
    populations: tuple[Population, ...]
    grid_bits: int = DEFAULT_GRID_BITS
    metadata: dict[str, Any] = field(default_factory=dict)  # scales λ, dense MACs, ...

    @property
    def input_size(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def output(self) -> Population:
        return self.populations[-1]

    def source_shape(self, source: int) -> tuple[int, ...]:
        return self.input_shape if source == INPUT else self.populations[source].shape

    def source_size(self, source: int) -> int:
        return int(np.prod(self.source_shape(source)))


def to_grid(values: np.ndarray, grid_bits: int) -> np.ndarray:
    """Round to the nearest multiple of 2**-grid_bits (float64)."""
    scale = float(2**grid_bits)
    return np.round(np.asarray(values, dtype=np.float64) * scale) / scale


def dense_matrix(projection: Projection, source_shape: tuple[int, ...],
                 target_size: int) -> np.ndarray:
    """The projection as a dense (n_post, n_pre) matrix (exact: identity basis)."""
    if projection.kind == "dense":
        return projection.weight
    import torch
    import torch.nn.functional as F

    n_pre = int(np.prod(source_shape))
    basis = torch.eye(n_pre, dtype=torch.float64).reshape(n_pre, *source_shape)
    top, left, bottom, right = projection.pads
    out = F.conv2d(F.pad(basis, (left, right, top, bottom)),
                   torch.from_numpy(projection.weight), stride=projection.stride,
                   groups=projection.groups)
    matrix = out.reshape(n_pre, -1).T.numpy()
    if matrix.shape[0] != target_size:
        raise BadInputError(f"conv projection gives {matrix.shape[0]} outputs, "
                            f"population has {target_size}")
    return np.ascontiguousarray(matrix)


# ---------------------------------------------------------------------------------------
# Files: one .npz with a JSON header
# ---------------------------------------------------------------------------------------


def save_network(network: SpikingNetwork, path: str | os.PathLike[str]) -> Path:
    """Write the network to `path` (.snn.npz) atomically."""
    arrays: dict[str, np.ndarray] = {}
    layers = []
    for p_index, population in enumerate(network.populations):
        arrays[f"p{p_index}_bias"] = population.bias
        projections = []
        for k, projection in enumerate(population.projections):
            arrays[f"p{p_index}_w{k}"] = projection.weight
            projections.append({"source": projection.source, "kind": projection.kind,
                                "stride": list(projection.stride),
                                "pads": list(projection.pads), "groups": projection.groups})
        layers.append({"name": population.name, "shape": list(population.shape),
                       "threshold": population.threshold, "projections": projections})
    header = {"input_shape": list(network.input_shape), "input_scale": network.input_scale,
              "grid_bits": network.grid_bits, "populations": layers,
              "metadata": network.metadata}
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    return Path(path)


def load_network(path: str | os.PathLike[str]) -> SpikingNetwork:
    """Read a network written by `save_network`."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"spiking network file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            header = json.loads(archive["header"].tobytes().decode())
            populations = []
            for p_index, layer in enumerate(header["populations"]):
                projections = tuple(
                    Projection(source=int(spec["source"]), kind=spec["kind"],
                               weight=archive[f"p{p_index}_w{k}"],
                               stride=tuple(spec["stride"]), pads=tuple(spec["pads"]),
                               groups=int(spec["groups"]))
                    for k, spec in enumerate(layer["projections"]))
                populations.append(Population(
                    name=layer["name"], shape=tuple(layer["shape"]),
                    bias=archive[f"p{p_index}_bias"], threshold=float(layer["threshold"]),
                    projections=projections))
    except (KeyError, ValueError, OSError) as exc:
        raise BadInputError(f"{path}: not a spiking network file ({exc})") from None
    return SpikingNetwork(input_shape=tuple(header["input_shape"]),
                          input_scale=float(header["input_scale"]),
                          populations=tuple(populations), grid_bits=int(header["grid_bits"]),
                          metadata=dict(header.get("metadata", {})))
