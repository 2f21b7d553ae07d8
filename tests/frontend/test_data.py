"""Data: the deterministic split and validation of a user's .npz."""

from __future__ import annotations

import numpy as np
import pytest

from edgenn.core import BadInputError
from edgenn.frontend.data import load_dataset, read_npz, split
from edgenn.frontend.inputs import check_fits


def test_digits_split_is_deterministic_disjoint_and_stratified(digits):
    again = load_dataset(None)
    assert np.array_equal(digits.x_test, again.x_test)
    assert (len(digits.x_train), len(digits.x_val), len(digits.x_test)) == (1078, 359, 360)
    assert digits.num_classes == 10 and digits.sample_shape == (1, 8, 8)
    assert set(np.unique(digits.y_test)) == set(range(10))
    assert digits.x_train.dtype == np.float32 and 0 <= digits.x_train.min() <= 1


def test_split_does_not_depend_on_order_of_calls():
    x = np.arange(100, dtype=np.float32).reshape(100, 1)
    y = np.repeat(np.arange(2), 50)
    first, second = split("a", x, y), split("a", x, y)
    assert np.array_equal(first.x_test, second.x_test)
    all_x = np.concatenate([first.x_train, first.x_val, first.x_test])[:, 0]
    assert sorted(all_x.tolist()) == list(range(100))


def _save(tmp_path, **arrays):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return path


def test_read_npz_accepts_good_data(tmp_path):
    x, y = read_npz(_save(tmp_path, x=np.zeros((4, 3)), y=np.array([0, 1, 0, 1])))
    assert x.dtype == np.float32 and y.dtype == np.int64


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((4, 3))}, "missing array(s) y"),
    ({"x": np.full((2, 3), np.nan), "y": np.array([0, 1])}, "NaN or infinite"),
    ({"x": np.zeros((4, 3)), "y": np.array([0, 1])}, "x has 4 samples but y has shape"),
    ({"x": np.zeros((2, 3)), "y": np.array([0.5, 1.0])}, "integer class labels"),
])
def test_read_npz_rejects_bad_data(tmp_path, arrays, message):
    with pytest.raises(BadInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_npz(_save(tmp_path, **arrays))


def test_read_npz_rejects_a_file_that_is_not_npz(tmp_path):
    path = tmp_path / "data.npz"
    path.write_text("hello")
    with pytest.raises(BadInputError, match="not a readable .npz"):
        read_npz(path)


def test_check_fits_names_both_shapes():
    check_fits(np.zeros((2, 1, 8, 8)), ("batch", 1, 8, 8), "d")
    with pytest.raises(BadInputError, match="samples of shape 3×8×8 do not fit"):
        check_fits(np.zeros((2, 3, 8, 8)), ("batch", 1, 8, 8), "d")
