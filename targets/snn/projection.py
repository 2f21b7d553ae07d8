"""W · pool(s) for one projection on numpy arrays (float64).

Shared by input coding (`coding.py`: constant input currents), the fast simulator
(`fast.py`) and normalisation (`convert.py`); the torch version lives in `ir.py`
(`torch_projection`, re-exported here) so that `dense_matrix` can use it too.
"""

from __future__ import annotations

import numpy as np

from .ir import Projection
from .ir import torch_projection as torch_projection  # re-export: it lived here


def apply_projection(projection: Projection, source: np.ndarray,
                     source_shape: tuple[int, ...]) -> np.ndarray:
    """W · pool(source) on numpy arrays (N, n_pre) → (N, n_post), float64."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(source, dtype=np.float64))
    return torch_projection(projection, tensor, tuple(source_shape)).numpy()
