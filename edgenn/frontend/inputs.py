"""A user's arrays fitted to a model's inputs: each read in the layout the model takes it
and turned samples-first, or refused in one line that shows the whole expected shape.

Where an input's samples are is `TensorSpec.batch_axis`: read from the model's shapes
(`edgenn.core.artifact.batch_axis_for`), or declared by the data file, `batch_axis` for
`x` and `batch_axis.<input>` for `x.<input>`: an int, or -1 for an input that takes one
value for the whole run. The file's word wins and travels with the artifact
(`with_data_layout`), so every runner feeds the input alike.

A streaming model (state in, new state out) is measured as it is used when the file pairs
the state with the output that carries it on, `carry.<input>` = the output's name (say
`np.savez(..., **{"carry.state": "stateN"})`): samples then run one at a time, in file
order, each fed the state the previous one gave; the first takes its state from the data.
Without it every sample starts from its own state in the data. The pairing is never
guessed from names: a wrong guess would change what is measured without a word.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgenn.core import Artifact, BadInputError, TensorSpec, samples

LAYOUT_KEY = "batch_axis"  # npz: `batch_axis` (for x) or `batch_axis.<input>`
CARRY_KEY = "carry"  # npz: `carry.<input>` = the output carried to it at the next sample
CONSTANT = -1  # a declared batch axis of -1: one value for the whole run
SINGLE_KEYS = ("x", "x_train", "x_val", "x_test")  # arrays of a one-input model


def with_data_layout(artifact: Artifact, data: str | Path | None) -> Artifact:
    """`artifact` with its inputs' layouts as the data file declares them (unchanged for
    no file, an embedded data set's name, or a file that declares none). A file that
    cannot be read is left to the reader that loads it, with its own message."""
    if data is None or not Path(data).is_file():
        return artifact
    try:
        with np.load(Path(data), allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files
                      if k.startswith((LAYOUT_KEY, f"{CARRY_KEY}."))}
    except Exception:  # not an npz: the data reader says so
        return artifact
    inputs = declared(arrays, artifact.inputs, str(data), artifact.outputs)
    return artifact if inputs == artifact.inputs else replace(artifact, inputs=inputs)


def declared(arrays: Mapping[str, np.ndarray], inputs: Sequence[TensorSpec], where: str,
             outputs: Sequence[TensorSpec] = ()) -> tuple[TensorSpec, ...]:
    """`inputs` with the batch axes the file's `batch_axis[.<input>]` keys declare and the
    outputs its `carry.<input>` keys carry (checked against `outputs` when given)."""
    by_name = {spec.name: spec for spec in inputs}
    changes: dict[str, dict] = {}
    for key, value in arrays.items():
        if key == LAYOUT_KEY or key.startswith(f"{LAYOUT_KEY}."):
            name = key[len(LAYOUT_KEY) + 1:] if key != LAYOUT_KEY else \
                (inputs[0].name if len(inputs) == 1 else "")
            rank = len(_named(by_name, name, key, where).shape)
            value = np.asarray(value)
            if value.shape != () or not np.issubdtype(value.dtype, np.integer) or \
                    not CONSTANT <= int(value) < rank:
                raise BadInputError(f"{where}: {key} must be one integer, an axis of input "
                                    f"'{name}' (0 … {rank - 1}) or {CONSTANT} for one value "
                                    f"for the whole run; got {value.tolist()!r}")
            changes.setdefault(name, {})["batch_axis"] = \
                None if int(value) == CONSTANT else int(value)
        elif key.startswith(f"{CARRY_KEY}."):
            name = key[len(CARRY_KEY) + 1:]
            _named(by_name, name, key, where)
            value = np.asarray(value)
            if value.shape != () or value.dtype.kind != "U":
                raise BadInputError(f"{where}: {key} must name one output of the model, "
                                    f"got {value.tolist()!r}")
            changes.setdefault(name, {})["carried_from"] = str(value)
    specs = tuple(replace(spec, **changes[spec.name]) if spec.name in changes else spec
                  for spec in inputs)
    if outputs:
        _check_carried(specs, outputs, where)
    return specs


def _named(by_name: Mapping[str, TensorSpec], name: str, key: str, where: str) -> TensorSpec:
    if name not in by_name:
        raise BadInputError(f"{where}: {key} names no input of the model (its inputs: "
                            f"{', '.join(by_name)})")
    return by_name[name]


def _check_carried(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], where: str
                   ) -> None:
    """A carried output must exist and have its input's shape, and its input a batch."""
    by_name = {spec.name: spec for spec in outputs}
    for spec in inputs:
        if spec.carried_from is None:
            continue
        key = f"{CARRY_KEY}.{spec.name}"
        output = by_name.get(spec.carried_from)
        if output is None:
            raise BadInputError(f"{where}: {key} names output '{spec.carried_from}', which "
                                f"the model does not have (its outputs: "
                                f"{', '.join(by_name)})")
        if spec.batch_axis is None or len(output.shape) != len(spec.shape) or any(
                isinstance(a, int) and isinstance(b, int) and a != b
                for a, b in zip(output.shape, spec.shape, strict=True)):
            raise BadInputError(f"{where}: {key}: output '{output.name}' "
                                f"({'×'.join(map(str, output.shape))}) cannot feed input "
                                f"'{spec.name}' ({spec.describe_shape()})")


def samples_first(arrays: dict[str, np.ndarray], inputs: Sequence[TensorSpec], where: str
                  ) -> dict[str, np.ndarray]:
    """The file's arrays with every input array (`x.<input>`, or `x`, `x_train`, … of a
    one-input model) fitted to `inputs` (`fit_to_model`); other arrays as they are."""
    arrays = dict(arrays)
    named = {k[len(samples.PREFIX):]: a for k, a in arrays.items()
             if k.startswith(samples.PREFIX)}
    if named:
        fitted = fit_to_model(named, inputs, where)
        arrays.update({f"{samples.PREFIX}{name}": a for name, a in fitted.items()})
    for key in SINGLE_KEYS:
        if key in arrays:
            arrays[key] = fit_to_model(arrays[key], inputs, where if key == "x"
                                       else f"{where} ({key})")
    return arrays


def fit_to_model(x: samples.Samples, inputs: Sequence[TensorSpec], where: str
                 ) -> samples.Samples:
    """Arrays as the model takes them (one, or one per input name) made samples-first:
    each input's samples moved from its batch axis to axis 0; an input constant over the
    run, given once or once per sample (all equal), repeated on every row. Every problem
    is gathered into one BadInputError."""
    single = not isinstance(x, Mapping)
    if single:
        if len(inputs) != 1:
            names = ", ".join(spec.name for spec in inputs)
            raise BadInputError(f"{where}: the model takes {len(inputs)} inputs ({names}); "
                                f"give one array per input, named x.<input> (x.{inputs[0].name}"
                                f", …)")
        x = {inputs[0].name: x}
    _check_names(x, inputs, where)
    problems, rows = [], {}
    for spec in inputs:
        array = np.asarray(x[spec.name])
        if spec.batch_axis is None:
            continue
        if not _fits(array.shape, _any_batch(spec)):  # a fixed batch runs in chunks
            problems.append(_mismatch(spec, array.shape))
        else:
            rows[spec.name] = array.shape[spec.batch_axis]
    if len(set(rows.values())) > 1:
        problems.append(f"inputs hold different numbers of samples on their batch axes "
                        f"({', '.join(f'{n}: {r}' for n, r in rows.items())}); where an "
                        f"input's samples are not where the model's shape says, give "
                        f"{LAYOUT_KEY}.<input> in the file")
    count = next(iter(rows.values()), None)
    fitted, once = {}, []
    for spec in inputs:
        array = np.asarray(x[spec.name])
        if spec.batch_axis is not None:
            if spec.name in rows:
                fitted[spec.name] = samples.from_layout(array, spec.batch_axis)
            continue
        problem = _constant_problem(spec, array, count)
        if problem:
            problems.append(problem)
        elif _fits(array.shape, spec.shape):
            once.append(spec.name)
        elif count is None:  # every input constant: as many rows as given per sample
            count = len(array)
        fitted[spec.name] = array
    if problems:
        raise BadInputError(f"{where}: {'; '.join(problems)}")
    for name in once:  # given once: the same value on every row
        fitted[name] = samples.from_layout(fitted[name], None, count or 1)
    return fitted[inputs[0].name] if single else fitted


def _any_batch(spec: TensorSpec) -> tuple[int | str, ...]:
    """The spec's shape with any batch size on its batch axis."""
    return tuple("batch" if axis == spec.batch_axis else dim
                 for axis, dim in enumerate(spec.shape))


def _constant_problem(spec: TensorSpec, array: np.ndarray, count: int | None) -> str | None:
    """What is wrong with the data of an input constant over the run: None when given
    once (the input's shape) or once per sample with every row equal."""
    if _fits(array.shape, spec.shape):
        return None
    if array.ndim == 0 or not _fits(array.shape[1:], spec.shape) or len(array) == 0:
        return _mismatch(spec, array.shape)
    if count is not None and len(array) != count:
        return (f"input '{spec.name}' gives {len(array)} per-sample values, the other "
                f"inputs {count} samples")
    differing = len(np.unique(array.reshape(len(array), -1), axis=0))
    if differing > 1:
        return (f"input '{spec.name}' takes {spec.describe_shape()}, the data give "
                f"{differing} different values across samples (give it once, or measure "
                "each value in a run of its own)")
    return None


def _fits(actual: tuple[int, ...], expected: Sequence[int | str]) -> bool:
    return len(actual) == len(expected) and all(
        not isinstance(e, int) or e == a for e, a in zip(expected, actual, strict=True))


def _mismatch(spec: TensorSpec, actual: tuple[int, ...]) -> str:
    given = "×".join(map(str, actual)) if actual else "a scalar"
    return f"input '{spec.name}' expects {spec.describe_shape()}, the data give {given}"


def _check_names(x: Mapping[str, np.ndarray], inputs: Sequence[TensorSpec], where: str
                 ) -> None:
    wanted = [spec.name for spec in inputs]
    missing, unknown = sorted(set(wanted) - set(x)), sorted(set(x) - set(wanted))
    if missing or unknown:
        raise BadInputError(f"{where}: inputs by name do not match the model's ("
                            f"{', '.join(wanted)}): missing {missing or 'none'}, unknown "
                            f"{unknown or 'none'}")


def check_inputs(x: samples.Samples, inputs: Sequence[TensorSpec], where: str) -> None:
    """Raise when samples-first data cannot feed the model's inputs (TensorSpecs): one
    array for a one-input model, or arrays named after every input, each of a fitting
    per-sample shape."""
    if not isinstance(x, Mapping):
        if len(inputs) != 1:
            fit_to_model(x, inputs, where)  # raises: one array for several inputs
        check_fits(x, inputs[0].shape, where, inputs[0].batch_axis)
        return
    _check_names(x, inputs, where)
    for spec in inputs:
        check_fits(x[spec.name], spec.shape, f"{where} (input {spec.name})", spec.batch_axis)


def check_fits(x: np.ndarray, input_shape: tuple[int | str, ...], where: str,
               batch_axis: int | None = 0) -> None:
    """Raise when samples-first `x` (N, *sample) cannot feed a model input of
    `input_shape` whose samples go on `batch_axis` (None: one value for the run)."""
    sample = tuple(d for axis, d in enumerate(input_shape) if axis != batch_axis)
    actual = tuple(x.shape[1:])
    if not _fits(actual, sample):
        whole = TensorSpec("", tuple(input_shape), batch_axis=batch_axis).describe_shape()
        raise BadInputError(
            f"{where}: samples of shape {'×'.join(map(str, actual)) or 'a scalar'} do not "
            f"fit the model input of shape {whole}")
