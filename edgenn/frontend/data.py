"""Data sets: the embedded default (scikit-learn's digits) and a user's `.npz`.

Every data set is split the same deterministic way (a fixed permutation, stratified by
class) into train / validation / test, so that every step of a run and every later run
sees the same test split.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgenn.core import BadInputError, atomic_path

log = logging.getLogger(__name__)

SPLIT_SEED = 20240607  # fixed: the split never depends on the training seed
TRAIN_FRACTION, VAL_FRACTION = 0.6, 0.2


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test arrays; x is float32 (N, *sample_shape), y int64 (N,)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def describe(self) -> str:
        return (
            f"{self.name}: {len(self.x_train)} train / {len(self.x_val)} val / "
            f"{len(self.x_test)} test, samples {self.sample_shape}, {self.num_classes} classes"
        )


def split(name: str, x: np.ndarray, y: np.ndarray) -> Dataset:
    """Stratified deterministic 60/20/20 split."""
    rng = np.random.default_rng(SPLIT_SEED)
    train, val, test = [], [], []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        n_train = int(round(len(idx) * TRAIN_FRACTION))
        n_val = int(round(len(idx) * VAL_FRACTION))
        train.append(idx[:n_train])
        val.append(idx[n_train : n_train + n_val])
        test.append(idx[n_train + n_val :])
    parts = [np.sort(np.concatenate(p)) for p in (train, val, test)]
    num_classes = int(y.max()) + 1 if len(y) else 0
    return Dataset(
        name,
        x[parts[0]], y[parts[0]], x[parts[1]], y[parts[1]], x[parts[2]], y[parts[2]],
        num_classes,
    )


def load_digits() -> Dataset:
    """scikit-learn's UCI digits: 1,797 images 1×8×8 in [0, 1], ten classes."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    return split("digits", x, y)


def read_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate a user's `.npz` holding `x` (float) and `y` (integer labels)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"data file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            missing = [k for k in ("x", "y") if k not in keys]
            if missing:
                raise BadInputError(
                    f"{path}: missing array(s) {', '.join(missing)} "
                    f"(found: {', '.join(sorted(keys)) or 'none'}); expected arrays 'x' and 'y'"
                )
            x, y = archive["x"], archive["y"]
    except BadInputError:
        raise
    except Exception as exc:  # zipfile/pickle errors: the file is not an npz
        raise BadInputError(f"{path}: not a readable .npz file ({exc})") from None
    return validate_arrays(x, y, str(path))


def validate_arrays(x: np.ndarray, y: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    if x.ndim < 2:
        raise BadInputError(f"{where}: x must be (samples, ...), got shape {x.shape}")
    if len(x) != len(y) or y.ndim != 1:
        raise BadInputError(
            f"{where}: x has {len(x)} samples but y has shape {y.shape}; "
            "y must be one label per sample"
        )
    if len(x) == 0:
        raise BadInputError(f"{where}: the data set is empty")
    if not np.issubdtype(x.dtype, np.number):
        raise BadInputError(f"{where}: x must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float32)
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise BadInputError(f"{where}: x holds {bad} NaN or infinite value(s)")
    if not np.issubdtype(y.dtype, np.integer):
        integral = np.all(np.isfinite(y)) and np.all(y == np.round(y))
        if np.issubdtype(y.dtype, np.floating) and integral:
            y = y.astype(np.int64)
        else:
            raise BadInputError(f"{where}: y must hold integer class labels, got dtype {y.dtype}")
    if y.min() < 0:
        raise BadInputError(f"{where}: y holds negative labels")
    return x, y.astype(np.int64)


def load_dataset(data: str | Path | None) -> Dataset:
    """The embedded digits when `data` is None or 'digits', else a user's `.npz`."""
    if data is None or str(data) == "digits":
        return load_digits()
    x, y = read_npz(data)
    return split(Path(data).stem, x, y)


def save_npz(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, x=x, y=y)
    return path


def check_fits(x: np.ndarray, input_shape: tuple[int | str, ...], where: str) -> None:
    """Raise when samples of shape x.shape[1:] cannot feed a model input of `input_shape`."""
    expected = tuple(input_shape[1:])
    actual = tuple(x.shape[1:])
    fits = len(expected) == len(actual) and all(
        not isinstance(e, int) or e == a for e, a in zip(expected, actual, strict=True)
    )
    if not fits:
        shown = "×".join(str(d) for d in expected)
        raise BadInputError(
            f"{where}: samples of shape {'×'.join(map(str, actual))} do not fit the model "
            f"input of shape (batch)×{shown}"
        )
