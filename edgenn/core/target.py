"""What every target implements: `Target` (compile, load) and the `Runner` it loads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from edgenn.core.artifact import Artifact


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
