"""The one place ONNX Runtime runners split a batch for a model that fixes its batch size
(`edgenn.core.target.run_in_fixed_batches`), checked with a plain function as the model."""

from __future__ import annotations

import numpy as np
import pytest

from edgenn.core import EdgeNNError
from edgenn.core.target import fixed_batch_size, fixed_size_chunks, run_in_fixed_batches


@pytest.mark.parametrize("shape, expected", [
    ([1, 3, 8, 8], 1), ((4, 10), 4), (["batch", 3], None), ([None, 3], None),
    (["N", "features"], None), ([], None), ([0, 3], None), ([True, 3], None),
])
def test_fixed_batch_size_reads_the_first_dimension(shape, expected):
    assert fixed_batch_size(shape) == expected


class Recorder:
    """A model as a function: row sums, with every batch it was given kept."""

    def __init__(self) -> None:
        self.calls: list[np.ndarray] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append(batch.copy())
        return batch.sum(axis=1, keepdims=True)


def test_symbolic_batch_runs_the_whole_batch_at_once():
    model, batch = Recorder(), np.arange(30.0).reshape(10, 3)
    out = run_in_fixed_batches(model, batch, None)
    assert len(model.calls) == 1 and model.calls[0].shape == (10, 3)
    np.testing.assert_array_equal(out, batch.sum(axis=1, keepdims=True))


def test_a_batch_of_the_fixed_size_is_one_call():
    model, batch = Recorder(), np.arange(12.0).reshape(4, 3)
    run_in_fixed_batches(model, batch, 4)
    assert [c.shape for c in model.calls] == [(4, 3)]


@pytest.mark.parametrize("rows, size, calls", [(10, 4, 3), (16, 1, 16), (17, 1, 17),
                                               (3, 4, 1), (8, 4, 2)])
def test_chunks_are_padded_and_the_padding_dropped(rows, size, calls):
    model, batch = Recorder(), np.arange(rows * 3.0).reshape(rows, 3)
    out = run_in_fixed_batches(model, batch, size)
    assert len(model.calls) == calls
    assert all(c.shape == (size, 3) for c in model.calls)
    np.testing.assert_array_equal(out, batch.sum(axis=1, keepdims=True))
    last_real = rows - (calls - 1) * size
    padded = model.calls[-1]
    # Padding repeats the last chunk's own rows, so it holds real samples only.
    np.testing.assert_array_equal(padded[:last_real], batch[-last_real:])
    np.testing.assert_array_equal(padded[last_real:], batch[-last_real:][
        np.arange(size - last_real) % last_real])


def test_chunks_report_their_real_rows():
    chunks = list(fixed_size_chunks(np.arange(5.0)[:, None], 2))
    assert [rows for _, rows in chunks] == [2, 2, 1]
    assert chunks[-1][0][:, 0].tolist() == [4.0, 4.0]


def test_an_output_without_the_batch_dimension_cannot_be_split():
    def flat_model(batch: np.ndarray) -> np.ndarray:
        return batch.reshape(-1)  # (1, 3) in, (3,) out: the batch dimension is gone

    with pytest.raises(EdgeNNError, match=r"fixes its batch at 1 but its output of shape "
                                          r"\(3,\) has no batch dimension"):
        run_in_fixed_batches(flat_model, np.zeros((5, 3)), 1)
