"""pytorch target: the fp32 PyTorch model itself, the reference every target is checked
against. It lives in `edgenn/` (not `targets/`) because it rebuilds the model from the
zoo through the checkpoint's config.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgenn.core import Artifact, BadInputError, RunOptions


class PyTorchTarget:
    name = "pytorch"
    accepts = ("torch",)
    description = "PyTorch eager, fp32 (the reference)"
    install_hint = "pip install torch==2.13.0"

    def available(self) -> str | None:
        try:
            import torch  # noqa: F401
        except ImportError:
            return f"torch is not installed ({self.install_hint})"
        return None

    def select(self, artifacts: Sequence[Artifact]) -> list[Artifact]:
        return [a for a in artifacts if a.format == "torch" and a.variant == "fp32"]

    def compile(self, artifact: Artifact, workdir: Path) -> Artifact:
        if artifact.format != "torch":
            raise BadInputError(f"pytorch target takes a checkpoint, got {artifact.format}")
        return artifact  # eager PyTorch needs no compilation

    def load(self, artifact: Artifact, options: RunOptions) -> PyTorchRunner:
        return PyTorchRunner(artifact.path, options.threads)


class PyTorchRunner:
    def __init__(self, checkpoint: Path, threads: int) -> None:
        import torch

        from edgenn.train import load_checkpoint

        torch.set_num_threads(threads)
        self.model, self.config, _ = load_checkpoint(checkpoint)

    def run(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model(torch.from_numpy(batch)).numpy()
