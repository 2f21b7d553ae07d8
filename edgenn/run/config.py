"""The run's configuration: one tree of frozen dataclasses, the single source of every
option, its type, its enum choices, its default and its bounds.

`RunConfig` holds `TrainConfig` (frontend), `LatencySettings` and `CompressionConfig`.
The recipe schema, its validation messages and the default recipe's text are generated
from these classes (`edgenn.run.recipe`), and `run`, `export` and `bench` all build their
config through `edgenn.run.recipe.build_config`. Settings shared by several stages (the
seed, the thread count) live here once; each stage receives them from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgenn.core import BadInputError, parse_enum, to_plain
from edgenn.core.registry import TARGETS
from edgenn.frontend.train import TrainConfig
from edgenn.quantize.onnx_int8 import LIBRARY_DEFAULT, CalibrationMethod, QType, StaticConfig
from edgenn.quantize.prune import PruneConfig

VARIANTS = ("int8-dynamic", "int8-static", "fp16", "pruned", "pruned-int8")


def at_least(name: str, value: float | None, minimum: float, *, strict: bool = False,
             optional: bool = False) -> None:
    """BadInputError unless `value` ≥ `minimum` (> when strict); NaN never passes."""
    if value is None and optional:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
        value > minimum if strict else value >= minimum)
    if not ok:
        raise BadInputError(f"{name} must be {'>' if strict else '≥'} {minimum:g}, got {value}")


@dataclass(frozen=True)
class LatencySettings:
    """How each row's latency is measured: warm-up, then timed runs of `run()` alone."""

    warmup: int = 20  # untimed runs first
    runs: int = 200  # timed runs of run() per row
    batch_size: int = 1
    threads: int = 2  # intra-op threads of every runtime

    def __post_init__(self) -> None:
        for name in ("runs", "batch_size", "threads"):
            at_least(name, getattr(self, name), 1)
        at_least("warmup", self.warmup, 0)


@dataclass(frozen=True)
class Candidate:
    """One static int8 setting the CPU pass may choose."""

    name: str
    config: StaticConfig


DEFAULT_CANDIDATES = (
    Candidate("qdq-u8-act-s8-per-channel", StaticConfig()),
    Candidate("qdq-s8-act-s8-per-channel", StaticConfig(activation_type=QType.INT8)),
    Candidate("library-default", LIBRARY_DEFAULT),
)


@dataclass(frozen=True)
class CompressionConfig:
    """Which compressed variants the run builds and the accuracy budget they answer to."""

    variants: tuple[str, ...] = VARIANTS
    method: CalibrationMethod = CalibrationMethod.MINMAX  # static int8 calibration
    calibration_samples: int = 256  # drawn once from the training split
    max_accuracy_drop: float | None = None  # percentage points vs fp32, on validation
    # Without a budget: rows that lose more than this (pp, test split, against the fp32
    # PyTorch model) are flagged in the table and the notes.
    accuracy_tolerance: float = 1.0
    # int8 candidates whose batch-1 p50 lies within this fraction of the fastest count as
    # equally fast: the most accurate of them is chosen.
    latency_noise: float = 0.1
    candidates: tuple[Candidate, ...] = DEFAULT_CANDIDATES
    prune: PruneConfig = PruneConfig()
    fine_tune_epochs: int = 10
    fine_tune_lr: float = 1e-3
    latency_runs: int = 100  # timed batch-1 runs per int8 candidate (after warm-up)
    max_float_nodes: int = 8  # budget fallback: at most this many nodes kept in float
    sensitivity_samples: int = 64

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", parse_enum(CalibrationMethod, self.method,
                                                      "calibration method"))
        object.__setattr__(self, "variants", tuple(self.variants))
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown:
            raise BadInputError(f"unknown variant(s): {', '.join(map(str, unknown))} "
                                f"(choose from: {', '.join(VARIANTS)})")
        if self.max_accuracy_drop is not None and not self.max_accuracy_drop >= 0:
            raise BadInputError(f"max accuracy drop must be ≥ 0 percentage points, got "
                                f"{self.max_accuracy_drop}")
        if not (isinstance(self.calibration_samples, int) and self.calibration_samples >= 1):
            raise BadInputError("calibration set is empty: calibration samples must be ≥ 1")
        at_least("fine_tune_epochs", self.fine_tune_epochs, 0)
        at_least("accuracy_tolerance", self.accuracy_tolerance, 0)
        at_least("latency_noise", self.latency_noise, 0)
        at_least("fine_tune_lr", self.fine_tune_lr, 0, strict=True)
        if not self.candidates:
            raise BadInputError("at least one int8 candidate setting is needed")


@dataclass(frozen=True)
class LayerAnalysis:
    """Per-layer insight in `edgenn run` (edgenn.run.layers), on runs apart from the timed
    ones: the table's latency never includes a profiler."""

    profile: bool = True  # per-operator time on every target that has a profiler
    diverge: bool = True  # per-layer error of every variant against PyTorch
    threshold_db: float = 30.0  # a variant drifts from the first layer under this SNR
    samples: int = 32  # test samples compared layer by layer
    profile_runs: int = 20  # profiled runs per row, after one warm-up

    def __post_init__(self) -> None:
        at_least("samples", self.samples, 1)
        at_least("profile_runs", self.profile_runs, 1)


@dataclass(frozen=True)
class RunConfig:
    """One `edgenn run`: what to train, which variants and targets, how to measure.

    `seed` is the run's one seed: training, calibration draws and stochastic runners all
    take it from here (`train.seed` follows it).
    """

    out: Path = Path("edgenn-out")
    model: str = "cnn"  # a zoo model (`edgenn zoo`), path/to/file.py:factory or an .onnx
    model_options: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None  # pretrained state dict: the model is not trained
    data: str | None = None  # None: the embedded digits; else a user's .npz
    test_data: str | None = None  # a separate test .npz, kept as given
    train: TrainConfig = TrainConfig()
    targets: tuple[str, ...] | None = None  # None: every registered target
    target_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    latency: LatencySettings = LatencySettings()
    isolate: bool = True  # each row measured in its own process
    seed: int = 0
    compression: CompressionConfig | None = None  # None: no variants
    devices: tuple[str, ...] = ()  # also measured on these devices (`edgenn devices list`)
    layers: LayerAnalysis = LayerAnalysis()  # per-layer profile and divergence

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        for name in ("model", "weights", "data", "test_data"):
            if getattr(self, name) == "":
                raise BadInputError(f"{name} is an empty string; leave it out instead")
        if self.weights is not None and str(self.model).lower().endswith(".onnx"):
            raise BadInputError("--weights is for PyTorch models; an ONNX file holds its own")
        bad = [t for t, options in self.target_options.items() if not isinstance(options, dict)]
        if bad:
            raise BadInputError(f"target options must be tables of KEY = VALUE, per target: "
                                f"{', '.join(map(str, bad))}")
        if self.train.seed != self.seed:
            object.__setattr__(self, "train", replace(self.train, seed=self.seed))
        if self.targets is not None:
            object.__setattr__(self, "targets", tuple(self.targets))
            if not self.targets:
                raise BadInputError('no targets given (for every target: "all")')
            unknown = [t for t in self.targets if t not in TARGETS]
            if unknown:
                raise BadInputError(f"unknown target(s): {', '.join(map(str, unknown))} "
                                    f"(known: {', '.join(TARGETS.names())})")

    @property
    def target_names(self) -> list[str]:
        """The targets this run measures, in report order."""
        return list(self.targets or TARGETS.names())

    def settings(self) -> dict[str, Any]:
        """The settings as report.json records them."""
        return {
            "model": self.model, "data": self.data or "digits", "seed": self.seed,
            **({"weights": self.weights} if self.weights else {}),
            **({"test_data": self.test_data} if self.test_data else {}),
            **({"devices": list(self.devices)} if self.devices else {}),
            "targets": list(self.targets) if self.targets else "all",
            "batch_size": self.latency.batch_size, "threads": self.latency.threads,
            "warmup": self.latency.warmup, "runs": self.latency.runs,
            "train": to_plain(self.train), "target_options": to_plain(self.target_options),
            "compression": to_plain(self.compression), "layers": to_plain(self.layers),
        }


class Hooks:
    """What the pipeline tells its caller: stage messages and progress. Silent default;
    the CLI draws them (status lines, progress bars on stderr)."""

    # Who measures the rows: None is the harness, in this process tree (`measure_all`). A
    # caller running several runs at once (edgenn sweep) sends them to its timing slot.
    measure_rows: Callable[..., list] | None = None

    def status(self, message: str) -> None:
        import logging

        logging.getLogger("edgenn.run").info(message)

    @contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Callable[..., None]]:
        yield lambda *_, **__: None
