"""The embedded `signals` data set (edgenn/frontend/signals.py), `--data NAME` for both
embedded sets, `edgenn data`, and the given-split rule: a test part is used exactly as
given, and validation is carved from the training part only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgenn.cli import main
from edgenn.frontend.data import EMBEDDED, load_dataset
from edgenn.frontend.signals import CHANNELS, CLASSES, LENGTH, PER_CLASS, generate


@pytest.fixture(scope="module")
def signals():
    return load_dataset("signals")


def test_generator_is_seeded_balanced_and_pinned():
    x, y = generate()
    again, labels = generate()
    assert np.array_equal(x, again) and np.array_equal(y, labels)
    assert x.shape == (PER_CLASS * len(CLASSES), CHANNELS, LENGTH) and x.dtype == np.float32
    assert np.bincount(y).tolist() == [PER_CLASS] * len(CLASSES)
    assert np.all(np.isfinite(x))
    # Pinned values: the data set never changes (uniforms and normals come from PCG64's raw
    # stream, which NumPy keeps stable; sin/exp may differ by an ulp between machines).
    np.testing.assert_allclose(x[0, :, :4], [[-0.12766, -0.91732, -0.18909, -0.50273],
                                             [-0.30493, -0.38303, -0.75301, -0.43523],
                                             [0.57739, 0.04254, -0.11821, -0.00376]],
                               atol=2e-5)
    np.testing.assert_allclose(x[-1, :, -3:], [[0.23311, 0.72353, 0.04932],
                                               [-0.21456, 0.72785, 0.28639],
                                               [-0.12267, 0.3512, 0.89933]], atol=2e-5)
    assert float(x.astype(np.float64).sum()) == pytest.approx(23145.239, abs=0.05)
    other, _ = generate(per_class=2, seed=1)
    assert other.shape == (16, CHANNELS, LENGTH) and not np.allclose(other, x[:16])


def test_signals_are_not_separable_by_a_trivial_rule(signals):
    """A nearest-class-mean classifier (the waveforms have random phase, frequency,
    orientation and noise) stays far from the trained 1-D models' accuracy."""
    flat = signals.x_train.reshape(len(signals.x_train), -1)
    means = np.stack([flat[signals.y_train == k].mean(0) for k in range(len(CLASSES))])
    test = signals.x_test.reshape(len(signals.x_test), -1)
    nearest = np.argmin(((test[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == signals.y_test) < 0.6


def test_signals_load_by_name_split_60_20_20_stratified(signals):
    assert (len(signals.x_train), len(signals.x_val), len(signals.x_test)) == (2400, 800, 800)
    assert signals.sample_shape == (CHANNELS, LENGTH) and signals.num_classes == len(CLASSES)
    assert np.bincount(signals.y_test).tolist() == [100] * len(CLASSES)
    rows = {part.tobytes() for x in (signals.x_train, signals.x_val, signals.x_test)
            for part in x}
    assert len(rows) == PER_CLASS * len(CLASSES)  # disjoint parts, every sample once
    assert np.array_equal(load_dataset("signals").x_test, signals.x_test)
    assert set(EMBEDDED) == {"digits", "signals"}


def test_an_embedded_set_refuses_a_separate_test_file(tmp_path):
    from edgenn.core import BadInputError

    with pytest.raises(BadInputError, match="needs your own training data"):
        load_dataset("signals", tmp_path / "test.npz")


def test_a_given_test_part_is_kept_and_validation_comes_from_training(tmp_path, signals):
    """x_train/x_test in one file, or a separate test file: the test set is exactly the
    given one (same rows, same order); the validation set is a stratified quarter of the
    given training rows, never a test row."""
    x_train, y_train = signals.x_train, signals.y_train
    x_test, y_test = signals.x_test[::-1][:300], signals.y_test[::-1][:300]
    explicit, train, test = (tmp_path / n for n in ("split.npz", "train.npz", "test.npz"))
    np.savez(explicit, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    np.savez(train, x=x_train, y=y_train)
    np.savez(test, x=x_test, y=y_test)
    for loaded in (load_dataset(explicit), load_dataset(train, test)):
        assert np.array_equal(loaded.x_test, x_test) and np.array_equal(loaded.y_test, y_test)
        given = {row.tobytes() for row in x_train}
        carved = [row.tobytes() for row in loaded.x_val]
        kept = [row.tobytes() for row in loaded.x_train]
        assert set(carved) <= given and set(kept) <= given
        assert set(carved).isdisjoint(kept) and len(carved) + len(kept) == len(x_train)
        assert not set(carved) & {row.tobytes() for row in x_test}
        assert np.bincount(loaded.y_val).tolist() == [75] * len(CLASSES)  # a quarter each


def test_a_run_scores_exactly_the_given_test_set(tmp_path, signals):
    explicit = tmp_path / "split.npz"
    np.savez(explicit, x_train=signals.x_train[:400], y_train=signals.y_train[:400],
             x_test=signals.x_test[:123], y_test=signals.y_test[:123])
    out = tmp_path / "out"
    assert main(["run", "--model", "cnn", "--data", str(explicit), "--epochs", "1",
                 "--targets", "pytorch", "--variants", "none", "--out", str(out),
                 "--runs", "2", "--warmup", "1", "--no-isolate", "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["rows"][0]["samples"] == 123


# ---------------------------------------------------------------------------------------
# `edgenn data`
# ---------------------------------------------------------------------------------------


def test_data_command_lists_both_embedded_sets(capsys):
    assert main(["data"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "signals" in out and "3×128" in out and "1×8×8" in out
    assert main(["data", "--json"]) == 0
    listing = {d["name"]: d for d in json.loads(capsys.readouterr().out)["datasets"]}
    assert listing["signals"]["samples"] == {"train": 2400, "val": 800, "test": 800}
    assert listing["digits"]["sample_shape"] == [1, 8, 8] and listing["digits"]["classes"] == 10


def test_data_command_saves_an_explicit_split_that_loads_back(tmp_path, capsys, signals):
    path = tmp_path / "signals.npz"
    assert main(["data", "signals", "--save", str(path)]) == 0
    again = load_dataset(path)
    for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(again, part), getattr(signals, part)), part


@pytest.mark.parametrize(("args", "message"), [
    (["data", "sound"], "no embedded data set 'sound' (embedded: digits, signals"),
    (["data", "--save", "x.npz"], "--save needs the name of the data set"),
    (["data", "digits", "--save", "digits.csv"], "must end in .npz"),
])
def test_data_command_refuses_bad_input_in_one_line(args, message, capsys, tmp_path,
                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing written
