"""What every target implements: `Target` (compile, load) and the `Runner` it loads."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from edgenn.core import samples
from edgenn.core.artifact import Artifact, TensorSpec, batch_axis_for
from edgenn.core.errors import EdgeNNError
from edgenn.core.samples import Samples


@dataclass(frozen=True)
class RunOptions:
    """Settings every runner honours."""

    threads: int = 2  # intra-op threads of the runtime
    seed: int = 0


@runtime_checkable
class Runner(Protocol):
    """A loaded model: `run` maps a float32 batch (N, *sample_shape) to class scores (N, C).
    The batch is samples-first for every input, whatever the model's layout: the runner
    lays each input out as the model takes it (`model_feed`).

    Optional extras the harness uses when present:
    - `metrics() -> dict`: target-specific figures (providers, spike counts, ...).
    - `evaluate(x, y) -> dict`: a target-specific evaluation on the test split (e.g.
      accuracy against timesteps for spiking targets), stored in the row's `extra`.
    - `comparable_outputs: bool` (default True): False when outputs are not on the
      scale of the reference logits (spike counts), so max abs error/SNR are skipped.
    - `max_latency_runs: int`: a cap on timed runs for very slow simulators.
    """

    def run(self, batch: np.ndarray) -> np.ndarray: ...


class Target(Protocol):
    """A place a model runs. Compile and load are separate: set-up never enters latency."""

    name: str
    accepts: tuple[str, ...]  # artifact formats `compile` takes
    description: str
    install_hint: str  # how to make the target available

    def available(self) -> str | None:
        """None when usable, else the reason it is not (with the install command)."""
        ...

    def select(self, artifacts: Sequence[Artifact]) -> list[Artifact]:
        """Which of the pipeline's artifacts this target runs by default (one row each)."""
        ...

    def compile(self, artifact: Artifact, workdir: Path) -> Artifact: ...

    def load(self, artifact: Artifact, options: RunOptions) -> Runner: ...


def predicted_classes(outputs: np.ndarray) -> np.ndarray:
    """Class per sample from model outputs: argmax, or `> 0` for a single binary logit."""
    outputs = np.asarray(outputs)
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        return (outputs[:, 0] > 0).astype(np.int64)
    return outputs.reshape(len(outputs), -1).argmax(axis=1)


def runner_metrics(runner: Runner) -> dict[str, Any]:
    """Target-specific figures a runner can report (spike counts, providers, ...)."""
    metrics = getattr(runner, "metrics", None)
    return dict(metrics()) if callable(metrics) else {}


def brought_by_user(artifact: Artifact) -> bool:
    """True for a model file the user brought as it is (its last step is an import).

    A target asked to run such a model runs it whatever its variant: `select`'s variant
    choices are defaults for the variants the pipeline builds itself.
    """
    return bool(artifact.lineage) and artifact.lineage[-1].startswith("import:")


def fixed_batch_size(shape: Sequence[object], batch_axis: int | None = 0) -> int | None:
    """The batch size a model input fixes (its dimension `batch_axis`, when a positive int);
    None when that dimension is symbolic or unknown, so that any batch runs at once, and
    for an input constant over the run (`batch_axis` None)."""
    dim = shape[batch_axis] if batch_axis is not None and 0 <= batch_axis < len(shape) \
        else None
    if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
        return None
    return dim


@dataclass(frozen=True)
class ModelInput:
    """How a runner feeds one model input (see `model_feed`)."""

    name: str
    dtype: np.dtype  # the runtime's element type: data are cast to it
    batch_axis: int | None = 0  # where the batch's samples go; None: one value per run
    shape: tuple = ()  # as the runtime declares it (ints, names, None): the fixed batch
    carried_from: str | None = None  # the output fed back here at the next sample


def feed_inputs(declared: Sequence[tuple[str, np.dtype, Sequence[object]]],
                specs: Sequence[TensorSpec] = ()) -> list[ModelInput]:
    """The runtime's inputs (name, dtype, shape) with the layout the artifact's specs give
    each one, else the one its shape implies (`batch_axis_for`)."""
    by_name = {spec.name: spec for spec in specs}
    found = []
    for name, dtype, shape in declared:
        shape = tuple("?" if dim is None else dim for dim in shape)
        spec = by_name.get(name)
        axis = spec.batch_axis if spec is not None else batch_axis_for(shape)
        if axis is not None and not 0 <= axis < len(shape):  # a spec from elsewhere
            axis = batch_axis_for(shape)
        found.append(ModelInput(name, np.dtype(dtype), axis, shape,
                                spec.carried_from if spec is not None else None))
    return found


def streamed(inputs: Sequence[ModelInput]) -> bool:
    """Whether the model runs as a stream: some input carries an output to the next
    sample (see `run_streaming`)."""
    return any(i.carried_from for i in inputs)


def run_streaming(run_all: Callable[[dict[str, np.ndarray]], Sequence[np.ndarray]],
                  batch: Samples, inputs: Sequence[ModelInput], output_names: Sequence[str],
                  carried: dict[str, np.ndarray]) -> np.ndarray:
    """A streaming model over `batch`: one sample at a time, in order, each input that
    carries an output (`ModelInput.carried_from`) fed what the previous sample gave; the
    stream's first sample takes its own value from the data. `carried` holds the values
    to feed next and is updated, so a stream goes on across calls (one per runner).
    Returns the first output of every sample, concatenated."""
    positions = {i.name: list(output_names).index(i.carried_from)
                 for i in inputs if i.carried_from}
    outputs = []
    for row in range(samples.count(batch)):
        feed = model_feed(samples.take(batch, slice(row, row + 1)), inputs)
        feed.update(carried)
        results = run_all(feed)
        carried.update({name: np.asarray(results[at]) for name, at in positions.items()})
        outputs.append(samples_first_output(np.asarray(results[0]), 1))
    return np.concatenate(outputs)


def check_streamable(inputs: Sequence[ModelInput], output_names: Sequence[str]) -> None:
    """Refuse a stream the model cannot run: a carried output it does not have, or a batch
    fixed above one (a stream feeds one sample at a time)."""
    for i in inputs:
        if i.carried_from and i.carried_from not in output_names:
            raise EdgeNNError(f"input '{i.name}' is carried from output '{i.carried_from}', "
                              f"which the model does not have ({', '.join(output_names)})")
    size = batch_size_of(inputs)
    if streamed(inputs) and size not in (None, 1):
        raise EdgeNNError(f"a stream feeds one sample at a time; the model fixes its batch "
                          f"at {size}")


def batch_size_of(inputs: Sequence[ModelInput]) -> int | None:
    """The batch size the model fixes: that of the first input that fixes one on its batch
    axis; None when none does (any batch runs at once)."""
    sizes = (fixed_batch_size(i.shape, i.batch_axis) for i in inputs)
    return next((size for size in sizes if size is not None), None)


def fixed_size_chunks(batch: Samples, size: int) -> Iterator[tuple[Samples, int]]:
    """`batch` (one array, or one per input) in chunks of exactly `size` rows, each with
    how many of its rows are real: the last chunk is padded by repeating its own rows."""
    for start in range(0, samples.count(batch), size):
        chunk = samples.take(batch, slice(start, start + size))
        rows = samples.count(chunk)
        yield (chunk if rows == size else samples.take(chunk, np.arange(size) % rows)), rows


def samples_first_output(output: np.ndarray, rows: int) -> np.ndarray:
    """A model's output for `rows` samples with its samples on axis 0: as it is when its
    first dimension counts them, else moved from the one dimension of that size (a
    time-first output [T, batch, C]); as it is when none or several have that size."""
    if output.ndim == 0 or output.shape[0] == rows:
        return output
    axes = [axis for axis, size in enumerate(output.shape) if size == rows]
    return np.moveaxis(output, axes[0], 0) if len(axes) == 1 else output


def run_in_fixed_batches(run: Callable[[Samples], np.ndarray], batch: Samples,
                         batch_size: int | None) -> np.ndarray:
    """`run(batch)` for a model whose input fixes the batch at `batch_size` rows (see
    `fixed_batch_size`): the batch runs in chunks of that size, padding dropped from the
    outputs, which are concatenated. With `batch_size` None, or a batch of exactly that
    size, `run` sees the batch as it is. Outputs come back samples-first
    (`samples_first_output`)."""
    rows = samples.count(batch)
    if batch_size is None or rows == batch_size or not rows:
        return samples_first_output(np.asarray(run(batch)), rows)
    outputs = []
    for chunk, rows in fixed_size_chunks(batch, batch_size):
        output = samples_first_output(np.asarray(run(chunk)), batch_size)
        if output.ndim == 0 or output.shape[0] != batch_size:
            raise EdgeNNError(f"the model fixes its batch at {batch_size} but its output of "
                              f"shape {output.shape} has no batch dimension, so a batch of "
                              f"{rows} cannot be split into runs of {batch_size}")
        outputs.append(output[:rows])
    return np.concatenate(outputs)


def run_in_chunks(run: Callable[[Samples], np.ndarray], x: Samples, size: int = 256
                  ) -> np.ndarray:
    """`run` over `x` in chunks of at most `size` samples, outputs concatenated: inference
    over a whole split with bounded memory."""
    rows = samples.count(x)
    return np.concatenate([np.asarray(run(samples.take(x, slice(i, i + size))))
                           for i in range(0, rows, size)])


def model_feed(batch: Samples, inputs: Sequence[ModelInput | tuple[str, np.dtype]]
               ) -> dict[str, np.ndarray]:
    """The runtime's feed {input name: array} for a samples-first batch of one array (a
    one-input model) or of one array per input name: each cast to its input's dtype and
    laid out as the input takes it (`samples.to_layout`: the samples on its batch axis, a
    constant input's one value). A (name, dtype) pair feeds samples on axis 0."""
    inputs = [i if isinstance(i, ModelInput) else ModelInput(*i) for i in inputs]
    if not isinstance(batch, dict):
        if len(inputs) != 1:
            raise EdgeNNError(f"the model takes {len(inputs)} inputs "
                              f"({', '.join(i.name for i in inputs)}): give one array per "
                              "input")
        batch = {inputs[0].name: batch}
    missing = [i.name for i in inputs if i.name not in batch]
    if missing:
        raise EdgeNNError(f"no data for input(s) {', '.join(missing)}")
    feed = {}
    for spec in inputs:
        array = samples.to_layout(batch[spec.name], spec.batch_axis)
        feed[spec.name] = array if array.dtype == spec.dtype else array.astype(spec.dtype)
    return feed
