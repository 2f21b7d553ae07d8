"""Samples as every stage passes them: one array (N, *sample_shape) for a model with one
input, or a dict from input name to array for a model with several. The functions here
treat both alike, so slicing, counting and saving never care which it is.

On disk (`.npz`): `x` for one input, `x.<input name>` for each of several, and `y`
(labels) when there are any.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

Samples = np.ndarray | dict[str, np.ndarray]
PREFIX = "x."


def count(x: Samples) -> int:
    """How many samples (rows)."""
    if isinstance(x, Mapping):
        return len(next(iter(x.values()))) if x else 0
    return len(x)


def take(x: Samples, index) -> Samples:
    """Rows `index` (a slice or an index array) of every input."""
    if isinstance(x, Mapping):
        return {name: array[index] for name, array in x.items()}
    return x[index]


def resize(x: Samples, rows: int) -> Samples:
    """Exactly `rows` samples, repeating from the start when there are fewer."""
    def one(array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.resize(array, (rows, *array.shape[1:])))

    if isinstance(x, Mapping):
        return {name: one(array) for name, array in x.items()}
    return one(x)


def shapes(x: Samples) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
    """The per-sample shape (one input) or {input name: per-sample shape}."""
    if isinstance(x, Mapping):
        return {name: tuple(array.shape[1:]) for name, array in x.items()}
    return tuple(x.shape[1:])


def save(handle, x: Samples, y: np.ndarray | None) -> None:
    """Write `x` (and `y`) into an open binary `handle` in the layout above."""
    arrays = ({f"{PREFIX}{name}": a for name, a in x.items()} if isinstance(x, Mapping)
              else {"x": x})
    np.savez(handle, **arrays, **({} if y is None else {"y": y}))


def load(path: str | os.PathLike[str]) -> tuple[Samples, np.ndarray | None]:
    """(x, y or None) from a file written by `save`."""
    with np.load(Path(path), allow_pickle=False) as archive:
        names = [k for k in archive.files if k.startswith(PREFIX)]
        x: Samples = ({k[len(PREFIX):]: archive[k] for k in names} if names
                      else archive["x"])
        y = archive["y"] if "y" in archive.files else None
    return x, y
