"""pytorch target: the fp32 PyTorch model itself, the reference every target is checked
against. It runs the `.pt2` program (`torch.export`) that the exporter wrote, so it
needs no zoo, no checkpoint format and no user class to load it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgenn.core import Artifact, BadInputError, RunOptions


class PyTorchTarget:
    name = "pytorch"
    accepts = ("torch",)
    description = "PyTorch fp32, the torch.export program (the reference)"
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
            raise BadInputError(f"pytorch target takes a .pt2 program, got {artifact.format}")
        return artifact  # eager PyTorch needs no compilation

    def load(self, artifact: Artifact, options: RunOptions) -> PyTorchRunner:
        return PyTorchRunner(artifact.path, options.threads)


class PyTorchRunner:
    def __init__(self, program: Path, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        try:
            self.model = torch.export.load(str(program)).module()
        except Exception as exc:
            raise BadInputError(f"{program}: not a torch.export program "
                                f"({type(exc).__name__})") from None

    def run(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model(torch.from_numpy(batch)).numpy()
