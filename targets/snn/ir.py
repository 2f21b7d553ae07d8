"""The converted spiking network: populations of spiking neurons and projections.

Every population is a layer of integrate-and-fire neurons (`IF`, or leaky `LIF`). At each
timestep, in topological order, each population does

    J    = I + Σ_projections W · pool(s_source(t))   (I: bias + constant input current)
    v    = β · v + J                                  (β = 1 for IF, 1 − 1/τ for LIF)
    s(t) = v > θ                                      (NIR's rule: strictly above)
    v    = v − θ · s(t)   (reset by subtraction)  or  v = 0 where s(t)  (reset to zero)

so a spike crosses every layer within the same timestep (no per-layer delay). One
timestep is `dt` = 1 (the unit of time NIR files carry). Weights, biases and thresholds
lie on a fixed-point grid (multiples of 2**-grid_bits) and are stored as float64: every
partial sum of grid values is exact in float64, so any summation order (brian2's
event-driven adds, a convolution, a matrix product) gives the same J, and both
simulators then apply the same two floating-point operations to v. Pooling is a sum
over a window (`Pool`, integer counts of spikes), so it is exact too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from edgenn.core import BadInputError, atomic_path

INPUT = -1  # `Projection.source` of the network input
DEFAULT_GRID_BITS = 12  # weights are multiples of 2**-12 of the threshold


class NeuronKind(str, Enum):
    IF = "if"  # integrate-and-fire: v = v + J
    LIF = "lif"  # leaky: v = (1 − 1/τ) v + J


class Reset(str, Enum):
    SUBTRACT = "subtract"  # v = v − θ after a spike (keeps the overshoot: rate coding)
    ZERO = "zero"  # v = 0 after a spike (NIR's IF/LIF with v_reset = 0)


@dataclass(frozen=True)
class NeuronModel:
    """How every population of a network integrates, fires and resets."""

    kind: NeuronKind = NeuronKind.IF
    reset: Reset = Reset.SUBTRACT
    tau: float = 16.0  # LIF membrane time constant in timesteps (> 1); unused for IF

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", NeuronKind(self.kind))
        object.__setattr__(self, "reset", Reset(self.reset))
        if self.kind is NeuronKind.LIF and not self.tau > 1:
            raise BadInputError(f"LIF tau must be > 1 timestep, got {self.tau}")

    @property
    def decay(self) -> float:
        """β: the factor on v each timestep (1.0 for IF)."""
        return 1.0 if self.kind is NeuronKind.IF else 1.0 - 1.0 / self.tau

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "reset": self.reset.value, "tau": self.tau}


@dataclass(frozen=True)
class Pool:
    """Sum pooling of the source before the weights (no padding); 1-D or 2-D windows.
    `average` divides by the window size (only read from NIR AvgPool2d nodes)."""

    kernel: tuple[int, ...]  # (k,) or (kh, kw)
    stride: tuple[int, ...]
    average: bool = False

    @property
    def window(self) -> int:
        return int(np.prod(self.kernel))

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        spatial = tuple((n - k) // s + 1 for n, k, s in
                        zip(shape[1:], self.kernel, self.stride, strict=True))
        return (shape[0], *spatial)


@dataclass(frozen=True)
class Projection:
    """Synaptic input into a population: current W · pool(s_source) each timestep."""

    source: int  # index of the source population, or INPUT
    kind: str  # "dense" (weight: (n_post, n_pre)) or "conv" (weight: (oc, ic/groups, *k))
    weight: np.ndarray  # float64, on the grid once the network is normalised
    stride: tuple[int, ...] = (1, 1)  # conv only
    pads: tuple[int, ...] = (0, 0, 0, 0)  # conv only: begins then ends (top, left, bottom,
    #                                       right in 2-D; left, right in 1-D)
    groups: int = 1  # conv only
    dilation: tuple[int, ...] = (1, 1)  # conv only
    pool: Pool | None = None  # applied to the source first; a dense weight sees it flat

    def scaled(self, factor: float) -> Projection:
        return replace(self, weight=self.weight * factor)

    @property
    def spatial_dims(self) -> int:
        return self.weight.ndim - 2 if self.kind == "conv" else 0

    def pre_shape(self, source_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape the weight sees: the source's, after pooling."""
        return self.pool.output_shape(source_shape) if self.pool else tuple(source_shape)


@dataclass(frozen=True)
class Population:
    """A layer of spiking neurons; `shape` is per sample."""

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
    neuron: NeuronModel = NeuronModel()

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


def torch_pool(pool: Pool, source, source_shape: tuple[int, ...]):
    """pool(source) for a (N, n_pre) torch tensor → (N, n_pooled): window sums (exact on
    spikes), divided by the window for an average pool."""
    import torch
    import torch.nn.functional as F

    channels = source_shape[0]
    conv = F.conv1d if len(pool.kernel) == 1 else F.conv2d
    ones = torch.ones(channels, 1, *pool.kernel, dtype=source.dtype)
    out = conv(source.reshape(source.shape[0], *source_shape), ones, stride=pool.stride,
               groups=channels).reshape(source.shape[0], -1)
    return out / pool.window if pool.average else out


def torch_projection(projection: Projection, source, source_shape: tuple[int, ...]):
    """W · pool(source) for a (N, n_pre) torch tensor → (N, n_post), in its dtype."""
    import torch
    import torch.nn.functional as F

    n = source.shape[0]
    x = source
    if projection.pool is not None:
        x = torch_pool(projection.pool, x, source_shape)
    if projection.kind == "dense":
        weight = torch.from_numpy(projection.weight).to(x.dtype)
        return x.reshape(n, -1) @ weight.T
    dims = projection.spatial_dims
    x = x.reshape(n, *projection.pre_shape(source_shape))
    begins, ends = tuple(projection.pads[:dims]), tuple(projection.pads[dims:])
    padding = begins
    if begins != ends:  # asymmetric: pad explicitly (F.pad takes the last axis first)
        widths = [w for b, e in zip(begins[::-1], ends[::-1], strict=True) for w in (b, e)]
        x, padding = F.pad(x, widths), (0,) * dims
    conv = F.conv1d if dims == 1 else F.conv2d
    out = conv(x, torch.from_numpy(projection.weight).to(x.dtype), stride=projection.stride,
               padding=padding, dilation=projection.dilation, groups=projection.groups)
    return out.reshape(n, -1)


def dense_matrix(projection: Projection, source_shape: tuple[int, ...],
                 target_size: int) -> np.ndarray:
    """The projection (pooling included) as a dense (n_post, n_pre) matrix; exact: it is
    the projection applied to the identity basis."""
    if projection.kind == "dense" and projection.pool is None:
        return projection.weight
    import torch

    n_pre = int(np.prod(source_shape))
    basis = torch.eye(n_pre, dtype=torch.float64)
    matrix = torch_projection(projection, basis, tuple(source_shape)).T.numpy()
    if matrix.shape[0] != target_size:
        raise BadInputError(f"projection gives {matrix.shape[0]} outputs, population has "
                            f"{target_size}")
    return np.ascontiguousarray(matrix)


# ---------------------------------------------------------------------------------------
# Files: one .npz with a JSON header
# ---------------------------------------------------------------------------------------


def _projection_spec(projection: Projection) -> dict[str, Any]:
    pool = projection.pool
    return {"source": projection.source, "kind": projection.kind,
            "stride": list(projection.stride), "pads": list(projection.pads),
            "groups": projection.groups, "dilation": list(projection.dilation),
            "pool": None if pool is None else {"kernel": list(pool.kernel),
                                                "stride": list(pool.stride),
                                                "average": pool.average}}


def _projection_from(spec: dict[str, Any], weight: np.ndarray) -> Projection:
    pool = spec.get("pool")
    dims = weight.ndim - 2 if spec["kind"] == "conv" else 2
    return Projection(source=int(spec["source"]), kind=spec["kind"], weight=weight,
                      stride=tuple(spec["stride"]), pads=tuple(spec["pads"]),
                      groups=int(spec["groups"]),
                      dilation=tuple(spec.get("dilation", [1] * dims)),
                      pool=None if pool is None else Pool(tuple(pool["kernel"]),
                                                          tuple(pool["stride"]),
                                                          bool(pool["average"])))


def save_network(network: SpikingNetwork, path: str | os.PathLike[str]) -> Path:
    """Write the network to `path` (.snn.npz) atomically."""
    arrays: dict[str, np.ndarray] = {}
    layers = []
    for p_index, population in enumerate(network.populations):
        arrays[f"p{p_index}_bias"] = population.bias
        for k, projection in enumerate(population.projections):
            arrays[f"p{p_index}_w{k}"] = projection.weight
        layers.append({"name": population.name, "shape": list(population.shape),
                       "threshold": population.threshold,
                       "projections": [_projection_spec(p) for p in population.projections]})
    header = {"input_shape": list(network.input_shape), "input_scale": network.input_scale,
              "grid_bits": network.grid_bits, "populations": layers,
              "neuron": network.neuron.to_json(), "metadata": network.metadata}
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
                projections = tuple(_projection_from(spec, archive[f"p{p_index}_w{k}"])
                                    for k, spec in enumerate(layer["projections"]))
                populations.append(Population(
                    name=layer["name"], shape=tuple(layer["shape"]),
                    bias=archive[f"p{p_index}_bias"], threshold=float(layer["threshold"]),
                    projections=projections))
        neuron = NeuronModel(**header.get("neuron", {}))
    except (KeyError, ValueError, OSError, TypeError) as exc:
        raise BadInputError(f"{path}: not a spiking network file ({exc})") from None
    return SpikingNetwork(input_shape=tuple(header["input_shape"]),
                          input_scale=float(header["input_scale"]),
                          populations=tuple(populations), grid_bits=int(header["grid_bits"]),
                          metadata=dict(header.get("metadata", {})), neuron=neuron)
