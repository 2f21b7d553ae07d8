"""torch → a self-contained PyTorch program (`.pt2`, `torch.export`): the model as the
PyTorch reference target runs it, and the form a pruned module is handed on in.

A `.pt2` file holds the graph and the weights; loading it needs neither the Python class
nor the module it was defined in, so a model from a user's file (imported under any
name) or a pruned module whose shapes no longer match its factory saves and loads the
same way. The batch dimension is dynamic.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from edgenn.core import Artifact, BadInputError, TensorSpec, atomic_path


def export_program(module, example: np.ndarray, path: str | os.PathLike[str],
                   source: Artifact | None = None, **metadata) -> Artifact:
    """Export `module` (eval mode) with `torch.export` and a dynamic batch to `path`."""
    import torch

    path = Path(path)
    module.eval()
    example = np.ascontiguousarray(example[:2] if len(example) > 1 else example)
    batch = torch.export.Dim("batch", min=1)
    from edgenn.exporters.onnx import _quiet, failure_summary

    try:
        with _quiet():
            program = torch.export.export(module, (torch.from_numpy(example),),
                                          dynamic_shapes=({0: batch},))
    except Exception as exc:  # torch.export names the construct it cannot trace
        raise BadInputError(f"torch.export cannot capture the model: "
                            f"{failure_summary(exc)}") from None
    buffer = io.BytesIO()  # torch.export wants a .pt2 name or a buffer, not a temp name
    torch.export.save(program, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    spec = TensorSpec("input", ("batch", *example.shape[1:]))
    base = source or Artifact(path=path, format="torch")
    return base.derive(path, "export:torch", format="torch", inputs=(spec,),
                       **{"variant": "fp32", **metadata})

