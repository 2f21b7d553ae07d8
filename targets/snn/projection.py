"""W · s for one projection, on torch tensors or numpy arrays (float64 unless cast).

Shared by input coding (`coding.py`: constant input currents), the fast simulator
(`fast.py`) and normalisation (`convert.py`); it depends on `ir` only, so they all import
it one way.
"""

from __future__ import annotations

import numpy as np

from .ir import Projection


def torch_projection(projection: Projection, source, source_shape):
    """W · source for a (N, n_pre) float64 torch tensor → (N, n_post)."""
    import torch
    import torch.nn.functional as F

    if projection.kind == "dense":
        return source @ torch.from_numpy(projection.weight).T
    top, left, bottom, right = projection.pads
    images = source.reshape(source.shape[0], *source_shape)
    padding: tuple[int, int] = (top, left)
    if (top, left) != (bottom, right):  # asymmetric: pad explicitly
        images, padding = F.pad(images, (left, right, top, bottom)), (0, 0)
    out = F.conv2d(images, torch.from_numpy(projection.weight), stride=projection.stride,
                   padding=padding, groups=projection.groups)
    return out.reshape(source.shape[0], -1)


def apply_projection(projection: Projection, source: np.ndarray,
                     source_shape: tuple[int, ...]) -> np.ndarray:
    """W · source on numpy arrays (N, n_pre) → (N, n_post), float64."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(source, dtype=np.float64))
    return torch_projection(projection, tensor, source_shape).numpy()
