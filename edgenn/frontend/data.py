"""Data sets: the embedded default (scikit-learn's digits) and a user's `.npz`.

A user's data comes as users keep it:
- one `.npz` with `x` and `y`: split the same deterministic way every time (a fixed
  permutation, stratified by class) into 60 % train / 20 % validation / 20 % test;
- one `.npz` with an explicit split, `x_train`/`y_train` and `x_test`/`y_test` (and
  optionally `x_val`/`y_val`): the test set is kept exactly as given, never re-split;
- a training `.npz` (`x`, `y`) and a separate test `.npz` (`test=`): the same.
Without a validation set, a fixed stratified quarter of the training part becomes one.

Read for a given model (`inputs=` its TensorSpecs), a file holds each input as the model
takes it: an input whose batch is not on axis 0 (a state [2, batch, 128]) as (2, N, 128);
an input the model takes once per run (a sample rate, shape []) once (a 0-d array) or
once per sample, all equal. Where each input's samples are is the model's
(`TensorSpec.batch_axis`, read from its shapes); the file may say it (`batch_axis` for
`x`, `batch_axis.<input>` for `x.<input>`: an int, -1 for an input constant over the run:
see `edgenn.frontend.inputs`). In memory every input is then samples-first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgenn.core import BadInputError, TensorSpec, atomic_path, samples
from edgenn.core.calibration import MAX_SAMPLES
from edgenn.frontend.inputs import check_inputs, declared, samples_first

log = logging.getLogger(__name__)

SPLIT_SEED = 20240607  # fixed: the split never depends on the training seed
TRAIN_FRACTION, VAL_FRACTION = 0.6, 0.2


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test arrays; x is float32 (N, *sample_shape), y int64 (N,).

    Without labels (`y` absent: regression outputs, embeddings, images out) every y is
    None and `num_classes` 0: such data measures a given model by its agreement with the
    reference, and cannot train one.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    num_classes: int

    @property
    def sample_shape(self):
        """Per-sample shape, or {input name: shape} for a model with several inputs."""
        return samples.shapes(self.x_train)

    @property
    def labelled(self) -> bool:
        return self.y_test is not None

    def describe(self) -> str:
        classes = f"{self.num_classes} classes" if self.labelled else "no labels"
        return (
            f"{self.name}: {samples.count(self.x_train)} train / {samples.count(self.x_val)} val / "
            f"{samples.count(self.x_test)} test, samples {self.sample_shape}, {classes}"
        )


def split(name: str, x: samples.Samples, y: np.ndarray | None) -> Dataset:
    """Deterministic 60/20/20 split, stratified by class when there are labels."""
    if y is None:
        train, val, test = _stratified(np.zeros(samples.count(x), np.int64),
                                       (TRAIN_FRACTION, VAL_FRACTION))
        return Dataset(name, *(part for index in (train, val, test)
                               for part in (samples.take(x, index), None)), 0)
    train, val, test = _stratified(y, (TRAIN_FRACTION, VAL_FRACTION))
    _check_split(name, y, train, val, test)
    num_classes = int(y.max()) + 1 if len(y) else 0
    return Dataset(name, *(part for index in (train, val, test)
                           for part in (samples.take(x, index), y[index])), num_classes)


def _check_split(name: str, y: np.ndarray, *parts: np.ndarray) -> None:
    """Refuse data too small for the 60/20/20 split; warn about classes too small to
    reach every part (they are then missing from validation or test)."""
    counts = dict(zip(*np.unique(y, return_counts=True), strict=True))
    empty = [n for n, p in zip(("train", "validation", "test"), parts, strict=True)
             if not len(p)]
    if empty:
        raise BadInputError(
            f"{name}: {len(y)} sample(s) in {len(counts)} class(es) leave the "
            f"{' and '.join(empty)} split empty; the stratified 60/20/20 split needs at "
            "least 5 samples per class (or give the split yourself: x_train, y_train, "
            "x_test, y_test)")
    few = sorted(int(label) for label, count in counts.items() if count < 5)
    if few:
        log.warning("%s: class(es) %s have fewer than 5 samples: they miss the validation "
                    "or test split", name, ", ".join(map(str, few[:10])))


def _stratified(y: np.ndarray, fractions: tuple[float, ...]) -> list[np.ndarray]:
    """Index sets per fraction (the rest last), stratified by class, from a fixed seed."""
    rng = np.random.default_rng(SPLIT_SEED)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        start = 0
        for k, fraction in enumerate(fractions):
            count = int(round(len(idx) * fraction))
            parts[k].append(idx[start : start + count])
            start += count
        parts[-1].append(idx[start:])
    return [np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts]


def load_digits() -> Dataset:
    """scikit-learn's UCI digits: 1,797 images 1×8×8 in [0, 1], ten classes."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    return split("digits", x, y)


def load_signals() -> Dataset:
    """edgenn's procedural sensor waveforms: 4,000 signals 3×128, eight classes (seeded)."""
    from edgenn.frontend.signals import generate

    return split("signals", *generate())


# The embedded data sets, selectable by name (`--data signals`); `edgenn data` lists them.
EMBEDDED = {"digits": load_digits, "signals": load_signals}


def read_samples(path: str | Path, inputs: Sequence[TensorSpec] | None = None
                 ) -> tuple[samples.Samples, np.ndarray | None]:
    """A user's `.npz` to measure a model on: `x` (or `x.<input>` per input of a model
    with several) and, when present, `y`. With the model's `inputs`, the arrays are read in
    the model's layout and checked against it (see the module's docstring)."""
    arrays = _read_arrays(Path(path))
    if inputs is not None:
        arrays = samples_first(arrays, declared(arrays, inputs, str(path)), str(path))
    named = _named_inputs(arrays, str(path))
    if named is not None:
        return named, _labels(arrays, samples.count(named), str(path))
    if "x" in arrays and "y" not in arrays:
        return _unlabelled(arrays["x"], str(path)), None
    return _pair(arrays, "x", "y", str(path))


def read_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate a user's `.npz` holding `x` (float) and `y` (integer labels)."""
    return _pair(_read_arrays(Path(path)), "x", "y", str(path))


def validate_arrays(x: np.ndarray, y: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    if x.ndim < 2:
        raise BadInputError(f"{where}: x must be (samples, ...), got shape {x.shape}")
    if y.ndim != 1 or len(x) != len(y):
        raise BadInputError(
            f"{where}: x has {len(x)} samples but y has shape {y.shape}; "
            "y must be one label per sample"
        )
    return _values(x, where), class_labels(y, where)


def _values(x: np.ndarray, where: str) -> np.ndarray:
    """`x` (N, ...) as float32, refused when empty, not numeric or not finite."""
    if len(x) == 0:
        raise BadInputError(f"{where}: the data set is empty")
    if np.issubdtype(x.dtype, np.complexfloating):
        raise BadInputError(f"{where}: x is complex ({x.dtype}); give real values, e.g. the "
                            "real and imaginary parts as two channels")
    if not np.issubdtype(x.dtype, np.number):
        raise BadInputError(f"{where}: x must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float32)
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise BadInputError(f"{where}: x holds {bad} NaN or infinite value(s) (as float32)")
    return x


# Labels are class indices 0 … C−1; beyond this many classes they are ids, not classes.
MAX_CLASSES = 100_000


def class_labels(y: np.ndarray, where: str) -> np.ndarray:
    """`y` as int64 class indices 0 … C−1: integers, or floats holding whole numbers;
    strings, complex numbers and huge ids are refused with the way out."""
    if np.issubdtype(y.dtype, np.floating):
        if not (np.all(np.isfinite(y)) and np.all(y == np.round(y))):
            raise BadInputError(f"{where}: y must hold integer class labels, got {y.dtype} "
                                "values that are not whole numbers")
    elif not np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_):
        raise BadInputError(f"{where}: y must hold integer class labels, got dtype {y.dtype}"
                            " (map names to 0 … C−1, e.g. np.unique(y, return_inverse=True))")
    if len(y) and y.min() < 0:
        raise BadInputError(f"{where}: y holds negative labels")
    if len(y) and y.max() >= MAX_CLASSES:
        raise BadInputError(f"{where}: y holds label {y.max():.0f}; labels are class indices "
                            f"0 … C−1 with C ≤ {MAX_CLASSES:,} (renumber them, e.g. "
                            "np.unique(y, return_inverse=True))")
    return y.astype(np.int64)


def check_label_range(y: np.ndarray | None, outputs, where: str) -> None:
    """Refuse labels the model cannot predict: a label ≥ the width of the model's first
    output (one logit: labels 0 and 1) would score 0 whatever the model does."""
    if y is None or not len(y) or not outputs:
        return
    width = outputs[0].shape[-1] if len(outputs[0].shape) >= 2 else None
    if not isinstance(width, int) or width < 1:
        return
    classes = max(width, 2)  # one logit: a binary task
    if int(y.max()) >= classes:
        raise BadInputError(f"{where}: y holds label {int(y.max())} but the model's output "
                            f"'{outputs[0].name}' has {width} class(es) (labels 0 … "
                            f"{classes - 1}); the data and the model do not match")


def load_dataset(data: str | Path | None, test: str | Path | None = None,
                 inputs: Sequence[TensorSpec] | None = None) -> Dataset:
    """An embedded data set when `data` is None (digits) or names one (`EMBEDDED`), else a
    user's `.npz` (with an explicit split, or with a separate `test` file, honoured as
    given). With a model's `inputs`, the data are read in its layout and checked against
    it (see the module's docstring)."""
    if data is None or str(data) in EMBEDDED:
        if test is not None:
            raise BadInputError("a separate test file needs your own training data (--data)")
        dataset = EMBEDDED[str(data or "digits")]()
        if inputs is not None:
            check_inputs(dataset.x_test, inputs, str(data or "digits"))
        return dataset
    name = Path(data).stem
    arrays = _read_arrays(Path(data))
    if inputs is not None:
        inputs = declared(arrays, inputs, str(data))
        arrays = samples_first(arrays, inputs, str(data))
    if "x_train" in arrays or "x_test" in arrays:
        if test is not None:
            raise BadInputError(f"{data} already holds an explicit split (x_train, x_test); "
                                "drop the separate test file")
        return _explicit_split(name, arrays, str(data))
    inputs = _named_inputs(arrays, str(data))
    if inputs is not None:  # several inputs, by name
        if test is not None:
            raise BadInputError("a separate test file takes one input (x); keep several "
                                "inputs in one file")
        return split(name, inputs, _labels(arrays, samples.count(inputs), str(data)))
    if "x" in arrays and "y" not in arrays and test is None:  # no labels: agreement only
        return split(name, _unlabelled(arrays["x"], str(data)), None)
    x, y = _pair(arrays, "x", "y", str(data))
    if test is None:
        return split(name, x, y)
    test_arrays = _read_arrays(Path(test))
    if inputs is not None:
        test_arrays = samples_first(test_arrays, inputs, str(test))
    x_test, y_test = _pair(test_arrays, "x", "y", str(test))
    return _with_test(name, x, y, x_test, y_test)


def _named_inputs(arrays: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray] | None:
    """{input name: array} when the file holds arrays named `x.<input>` (several inputs),
    each with its samples on axis 0 (one scalar per sample: shape (N,))."""
    names = sorted(k for k in arrays if k.startswith(samples.PREFIX))
    if not names:
        return None
    found = {}
    for key in names:
        array = arrays[key]
        if array.ndim == 0:
            raise BadInputError(f"{where} ({key}): one value for the whole run fits only a "
                                "model input that takes one (a scalar input of an ONNX "
                                "model); give one value per sample")
        x = _values(array, f"{where} ({key})")
        found[key[len(samples.PREFIX):]] = x if np.issubdtype(array.dtype, np.floating) \
            else array.astype(np.int64)  # integer inputs (ids, indices) stay integers
    counts = {name: len(a) for name, a in found.items()}
    if len(set(counts.values())) != 1:
        raise BadInputError(f"{where}: inputs hold different numbers of samples: {counts}")
    return found


def _unlabelled(x: np.ndarray, where: str) -> np.ndarray:
    """`x` validated as samples (float32) when there are no labels to check beside it."""
    return validate_arrays(x, np.zeros(len(x) if x.ndim else 0, np.int64), where)[0]


def _labels(arrays: dict[str, np.ndarray], rows: int, where: str) -> np.ndarray | None:
    if "y" not in arrays:
        return None
    _, y = validate_arrays(np.zeros((rows, 1), np.float32), arrays["y"], where)
    return y


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise BadInputError(f"data file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except Exception as exc:  # zipfile/pickle errors: the file is not an npz
        raise BadInputError(f"{path}: not a readable .npz file ({exc})") from None


def _pair(arrays: dict[str, np.ndarray], x_key: str, y_key: str, where: str
          ) -> tuple[np.ndarray, np.ndarray]:
    missing = [k for k in (x_key, y_key) if k not in arrays]
    if missing:
        raise BadInputError(
            f"{where}: missing array(s) {', '.join(missing)} (found: "
            f"{', '.join(sorted(arrays)) or 'none'}); expected 'x' and 'y' (or 'x' alone to "
            "measure a given model without labels), or an explicit split x_train, y_train, "
            "x_test, y_test")
    return validate_arrays(arrays[x_key], arrays[y_key], f"{where} ({x_key}, {y_key})")


def _explicit_split(name: str, arrays: dict[str, np.ndarray], where: str) -> Dataset:
    x_train, y_train = _pair(arrays, "x_train", "y_train", where)
    x_test, y_test = _pair(arrays, "x_test", "y_test", where)
    if "x_val" in arrays or "y_val" in arrays:
        x_val, y_val = _pair(arrays, "x_val", "y_val", where)
        return _assemble(name, (x_train, y_train), (x_val, y_val), (x_test, y_test))
    return _with_test(name, x_train, y_train, x_test, y_test)


def _with_test(name: str, x: np.ndarray, y: np.ndarray, x_test: np.ndarray,
               y_test: np.ndarray) -> Dataset:
    """Training data split 75/25 into train and validation; the test set as given."""
    train, val = _stratified(y, (0.75,))
    return _assemble(name, (x[train], y[train]), (x[val], y[val]), (x_test, y_test))


def _assemble(name: str, *parts: tuple[np.ndarray, np.ndarray]) -> Dataset:
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = parts
    if x_train.shape[1:] != x_test.shape[1:] or x_val.shape[1:] != x_test.shape[1:]:
        raise BadInputError(f"{name}: train, validation and test samples differ in shape "
                            f"({x_train.shape[1:]}, {x_val.shape[1:]}, {x_test.shape[1:]})")
    if len(x_val) == 0:
        raise BadInputError(f"{name}: too few training samples to hold out a validation set")
    classes = int(max(y_train.max(), y_val.max(), y_test.max())) + 1
    return Dataset(name, x_train, y_train, x_val, y_val, x_test, y_test, classes)


def save_npz(path: Path, x: samples.Samples, y: np.ndarray | None) -> Path:
    """`x` (one array, or one per input) and, when given, `y`, written atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            samples.save(handle, x, y)
    return path


def save_calibration(path: Path, x: samples.Samples, y: np.ndarray | None = None) -> Path:
    """A calibration set written outside a run (compile, simulate, bench): the first
    `MAX_SAMPLES` samples of `x` (and of `y`, when given)."""
    return save_npz(path, samples.take(x, slice(0, MAX_SAMPLES)),
                    None if y is None else y[:MAX_SAMPLES])
