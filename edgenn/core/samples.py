"""Samples as every stage passes them: one array (N, *sample_shape) for a model with one
input, or a dict from input name to array for a model with several. The functions here
treat both alike, so slicing, counting and saving never care which it is.

In memory every input keeps its samples on axis 0, whatever the model's layout: an input
whose batch is elsewhere (an RNN state [2, batch, 128]) is moved there, and an input the
model takes once for the whole run (a sample rate) holds the same value in every row.
`from_layout` and `to_layout` convert one array between the two (a runner feeds
`to_layout`, `edgenn.core.target.model_feed`).

On disk (`.npz`): `x` for one input, `x.<input name>` for each of several, and `y`
(labels) when there are any. Files edgenn writes (`save`) are samples-first; a user's
file is read in the model's layout (`edgenn.frontend.data`).
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


def from_layout(array: np.ndarray, batch_axis: int | None, rows: int = 1) -> np.ndarray:
    """`array` as the model takes it (samples on `batch_axis`; for a constant input, one
    value) to samples-first; a constant is repeated (a read-only view) over `rows` rows."""
    if batch_axis is None:
        return np.broadcast_to(array, (rows, *np.shape(array)))
    return np.moveaxis(array, batch_axis, 0)


def to_layout(array: np.ndarray, batch_axis: int | None) -> np.ndarray:
    """Samples-first `array` to the model's layout: the samples moved to `batch_axis`
    (contiguous, as runtimes want them); a constant input takes the first row's value."""
    if batch_axis is None:
        return np.asarray(array[0])
    if batch_axis == 0:
        return array
    return np.ascontiguousarray(np.moveaxis(array, 0, batch_axis))


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
