"""The training loop: reproducibility, every optimizer / loss / schedule / init path,
warm-up, early stopping (what it monitors, its patience, which weights it keeps), the
training curve, gradient clipping, augmentation, the binary task, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgenn.core import BadInputError
from edgenn.frontend.train import (
    MIN_PATIENCE,
    Init,
    Keep,
    Loss,
    ModelConfig,
    Monitor,
    Optimizer,
    Schedule,
    TrainConfig,
    evaluate,
    is_better,
    load_checkpoint,
    lr_factor,
    patience_for,
    predict,
    save_checkpoint,
    train,
    warmup_steps_for,
)
from edgenn.frontend.zoo import build_model
from edgenn.frontend.zoo.tasks import BINARY_OUTPUTS, binary_task


def fast(**fields) -> TrainConfig:
    return TrainConfig(**{"epochs": 3, "threads": 1, **fields})


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_same_seed_gives_identical_weights_and_another_seed_does_not(digits):
    start = build_model("cnn", digits.sample_shape, digits.num_classes).state_dict()
    runs = []
    for seed in (3, 3, 4):
        model = build_model("cnn", digits.sample_shape, digits.num_classes)
        model.load_state_dict(start)
        # dropout, shuffling and shifts all draw randomness
        train(model, digits, fast(epochs=2, augment_shift=1, seed=seed))
        runs.append(weights(model))
    first, again, other = runs
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_initial_weights_come_from_the_seed_when_init_is_set(digits):
    """With init=kaiming the loop draws every weight itself, from the seed."""
    models = []
    for offset in (0, 1):
        torch.manual_seed(offset)
        model = build_model("mlp", digits.sample_shape, 10)
        train(model, digits, fast(epochs=1, init="kaiming", lr=1e-9))
        models.append(weights(model))
    assert all(torch.equal(models[0][k], models[1][k]) for k in models[0])


# learning rates that suit each optimizer and loss on the MLP (squared error on
# probabilities has small gradients; RMSprop with momentum needs a gentle rate there)
LEARNING_RATES = {
    Optimizer.SGD: {Loss.CROSS_ENTROPY: 0.05, Loss.MSE: 1.0, Loss.BCE: 0.5},
    Optimizer.ADAM: {Loss.CROSS_ENTROPY: 3e-3, Loss.MSE: 9e-3, Loss.BCE: 3e-3},
    Optimizer.RMSPROP: {Loss.CROSS_ENTROPY: 3e-3, Loss.MSE: 1e-3, Loss.BCE: 3e-3},
    Optimizer.ADAGRAD: {Loss.CROSS_ENTROPY: 0.05, Loss.MSE: 0.05, Loss.BCE: 0.05},
}


@pytest.mark.parametrize("optimizer", list(Optimizer))
@pytest.mark.parametrize("loss", list(Loss))
def test_every_optimizer_and_loss_learns(optimizer, loss, digits):
    torch.manual_seed(0)  # the initial weights, whatever the tests before this one drew
    model = build_model("mlp", digits.sample_shape, digits.num_classes)
    result = train(model, digits, fast(optimizer=optimizer, loss=loss, epochs=5,
                                       lr=LEARNING_RATES[optimizer][loss], schedule="none"))
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0], losses
    assert result.val_accuracy > 0.6


@pytest.mark.parametrize("schedule", list(Schedule))
def test_learning_rate_schedules(schedule, digits):
    model = build_model("mlp", digits.sample_shape, digits.num_classes)
    result = train(model, digits, fast(epochs=6, lr=0.01, schedule=schedule, patience=99))
    lrs = [h["lr"] for h in result.history]
    if schedule is Schedule.NONE:
        assert lrs == [0.01] * 6
    elif schedule is Schedule.COSINE:
        assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
        assert lrs[-1] == pytest.approx(0, abs=1e-9)
    else:  # ×0.5 at each third of the steps
        assert lrs[0] == 0.01 and lrs[-1] == pytest.approx(0.01 / 8)
        assert set(np.round(np.array(lrs) / 0.01, 6)) <= {1, 0.5, 0.25, 0.125}


@pytest.mark.parametrize(("init", "std"), [(Init.KAIMING, (2 / 64) ** 0.5),
                                           (Init.XAVIER, (2 / (64 + 128)) ** 0.5)])
def test_weight_initialisation(init, std, digits):
    mlp = build_model("mlp", digits.sample_shape, 10)
    train(mlp, digits, fast(epochs=1, init=init, lr=1e-9))
    first = mlp.layers[1]  # Linear 64 → 128
    assert float(first.weight.detach().std()) == pytest.approx(std, rel=0.1)
    assert float(first.bias.detach().abs().max()) < 1e-6
    lstm = build_model("lstm", digits.sample_shape, 10)
    train(lstm, digits, fast(epochs=1, init=init, lr=1e-9))
    assert float(lstm.recurrent.bias_hh_l0.detach().abs().max()) < 1e-6  # recurrent layers too


def val_metrics(model, digits) -> tuple[float, float]:
    return evaluate(model, torch.from_numpy(digits.x_val), torch.from_numpy(digits.y_val),
                    torch.nn.functional.cross_entropy)


@pytest.mark.parametrize("monitor", list(Monitor))
def test_early_stopping_stops_and_keeps_the_best_weights(monitor, digits):
    """On shuffled labels nothing generalises; training stops `patience` epochs after its
    best epoch by `monitor` and restores that epoch's weights."""
    noise = np.random.default_rng(0).permutation(digits.y_train)
    model = build_model("mlp", digits.sample_shape, digits.num_classes)
    result = train(model, digits, fast(epochs=60, patience=3, lr=0.01, schedule="none",
                                       monitor=monitor), y_train=noise)
    assert result.epochs_run < 60
    assert result.epochs_run == result.best_epoch + 3
    assert result.kept_epoch == result.best_epoch
    best = result.history[result.best_epoch - 1]
    val_loss, val_accuracy = val_metrics(model, digits)
    assert val_loss == pytest.approx(best["val_loss"], rel=1e-5)
    assert val_accuracy == best["val_accuracy"] == result.val_accuracy


def expected_best_epoch(history: list[dict[str, float]], monitor: Monitor) -> int:
    """The documented rule, from the curve: highest accuracy, equal accuracies going to the
    lower loss (then the earlier epoch); or the lowest loss (the earlier epoch)."""
    if monitor is Monitor.VAL_LOSS:
        key = lambda r: (r["val_loss"], r["epoch"])  # noqa: E731
    else:
        key = lambda r: (-r["val_accuracy"], r["val_loss"], r["epoch"])  # noqa: E731
    return int(min(history, key=key)["epoch"])


@pytest.mark.parametrize("monitor", list(Monitor))
def test_the_monitor_selects_the_best_epoch_of_the_curve(monitor, digits):
    """Without early stopping (patience ≥ epochs) the kept epoch is the curve's best by
    `monitor`; the weights in the model are that epoch's."""
    torch.manual_seed(0)
    model = build_model("mlp", digits.sample_shape, digits.num_classes)
    result = train(model, digits, fast(epochs=14, patience=14, monitor=monitor))
    assert result.epochs_run == 14
    assert result.best_epoch == expected_best_epoch(result.history, monitor)
    best = result.history[result.best_epoch - 1]
    assert val_metrics(model, digits)[1] == best["val_accuracy"] == result.val_accuracy
    accuracies = [r["val_accuracy"] for r in result.history]
    if monitor is Monitor.VAL_ACCURACY:
        assert best["val_accuracy"] == max(accuracies)
    else:  # the loss curve's minimum need not be the most accurate epoch
        assert best["val_loss"] == min(r["val_loss"] for r in result.history)


def test_equal_accuracies_go_to_the_lower_loss():
    def record(accuracy, loss):
        return {"val_accuracy": accuracy, "val_loss": loss}

    accuracy, loss = Monitor.VAL_ACCURACY, Monitor.VAL_LOSS
    assert is_better(record(0.9, 0.3), None, accuracy)
    assert is_better(record(0.9, 0.3), record(0.9, 0.4), accuracy)  # the tie rule
    assert not is_better(record(0.9, 0.4), record(0.9, 0.4), accuracy)  # no progress
    assert not is_better(record(0.8, 0.1), record(0.9, 0.4), accuracy)  # accuracy first
    assert is_better(record(0.95, 0.9), record(0.9, 0.4), accuracy)
    assert is_better(record(0.1, 0.3), record(0.9, 0.4), loss)
    assert not is_better(record(0.9, 0.4 - 1e-7), record(0.9, 0.4), loss)  # rounding noise
    assert not is_better(record(0.9, float("nan")), record(0.9, 0.4), accuracy)


@pytest.mark.parametrize("keep", list(Keep))
def test_keep_best_or_last_leaves_those_weights_in_the_model(keep, digits):
    """On shuffled labels the best and the last epoch differ; with keep="last" and no
    patience set, nothing stops the run early."""
    noise = np.random.default_rng(1).permutation(digits.y_train)
    torch.manual_seed(0)
    model = build_model("mlp", digits.sample_shape, digits.num_classes)
    result = train(model, digits, fast(epochs=12, lr=0.01, keep=keep), y_train=noise)
    kept = result.history[result.kept_epoch - 1]
    val_loss, val_accuracy = val_metrics(model, digits)
    assert val_loss == pytest.approx(kept["val_loss"], rel=1e-5)
    assert (val_accuracy, val_loss) == pytest.approx((result.val_accuracy, result.val_loss),
                                                     rel=1e-5)
    assert result.best_epoch == expected_best_epoch(result.history, Monitor.VAL_ACCURACY)
    if keep is Keep.LAST:
        assert result.epochs_run == 12 and result.kept_epoch == 12
        assert result.best_epoch != 12  # so the two settings really differ here
    else:
        assert result.kept_epoch == result.best_epoch


def test_derived_patience_grows_with_the_epoch_budget():
    derived = [patience_for(TrainConfig(epochs=epochs)) for epochs in (5, 15, 40, 90, 300)]
    assert derived == sorted(derived) and derived[-1] > derived[0]
    assert derived[0] == MIN_PATIENCE and derived[-1] == 100  # a third of 300
    assert patience_for(TrainConfig(epochs=90, patience=4)) == 4  # a set patience wins
    assert patience_for(TrainConfig(epochs=90, keep="last")) == 90  # runs the whole budget
    assert TrainConfig().patience is None and TrainConfig().monitor is Monitor.VAL_ACCURACY
    assert TrainConfig().keep is Keep.BEST


def test_warmup_scales_with_the_data_and_the_lr_rises_then_decays():
    """Warm-up is counted in epochs, so in steps it follows the data set's size (capped at
    a quarter of the budget); the lr rises linearly to its peak, then the cosine decays it
    to zero at the end of the whole step budget."""
    config = TrainConfig(epochs=20, warmup_epochs=1.0)
    assert [warmup_steps_for(config, steps) for steps in (17, 170)] == [17, 170]
    assert warmup_steps_for(TrainConfig(epochs=4, warmup_epochs=3.0), 10) == 10  # ¼ of 40
    assert warmup_steps_for(TrainConfig(epochs=4, warmup_epochs=0.0), 10) == 0
    total, warmup = 200, 20
    factors = [lr_factor(step, total, warmup, Schedule.COSINE) for step in range(total + 1)]
    rising, falling = factors[: warmup + 1], factors[warmup:]
    assert all(a < b for a, b in zip(rising[:-1], rising[1:-1], strict=False))
    assert factors[warmup - 1] == factors[warmup] == 1.0
    assert all(a > b for a, b in zip(falling, falling[1:], strict=False))
    assert factors[0] == pytest.approx(1 / warmup) and factors[-1] == pytest.approx(0)
    assert lr_factor(5, total, 0, Schedule.NONE) == 1.0


def test_warmup_shows_in_the_recorded_learning_rate(digits):
    """Three epochs of warm-up in a twelve-epoch run: the recorded lr (after each epoch's
    last step) climbs to the peak at epoch 3, then falls."""
    model = build_model("mlp", digits.sample_shape, digits.num_classes)
    result = train(model, digits, fast(epochs=12, lr=0.01, warmup_epochs=3, keep="last"))
    lrs = [r["lr"] for r in result.history]
    assert lrs[0] < lrs[1] < lrs[2] == pytest.approx(0.01)
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:], strict=False))
    steps = -(-len(digits.x_train) // 64)  # per epoch; the lr recorded is the next step's
    assert lrs[0] == pytest.approx(0.01 * (steps + 1) / (3 * steps))


def test_history_is_the_training_curve(digits):
    model = build_model("cnn", digits.sample_shape, digits.num_classes)
    result = train(model, digits, fast(epochs=4))
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    for record in result.history:
        assert set(record) == {"epoch", "train_loss", "train_accuracy", "val_loss",
                               "val_accuracy", "lr"}
        assert 0 <= record["train_accuracy"] <= 1 and 0 <= record["val_accuracy"] <= 1
    first, last = result.history[0], result.history[-1]
    assert last["train_accuracy"] > first["train_accuracy"] and last["train_accuracy"] > 0.9
    assert last["train_loss"] < first["train_loss"]


def test_without_validation_samples_the_whole_budget_runs_and_the_last_epoch_is_kept(digits):
    from dataclasses import replace

    no_val = replace(digits, x_val=digits.x_val[:0], y_val=digits.y_val[:0])
    model = build_model("mlp", digits.sample_shape, digits.num_classes)
    result = train(model, no_val, fast(epochs=4, patience=1))
    assert result.epochs_run == 4 and result.kept_epoch == 4


@pytest.mark.parametrize("clip", [None, 0.01])
def test_gradient_clipping_bounds_each_step(clip, digits):
    """One plain SGD step on the whole training set moves the weights by lr × ‖grad‖."""
    model = build_model("mlp", digits.sample_shape, digits.num_classes)
    before = [p.detach().clone() for p in model.parameters()]
    config = fast(epochs=1, optimizer="sgd", momentum=0.0, lr=1.0, schedule="none",
                  batch_size=len(digits.x_train), grad_clip_norm=clip)
    train(model, digits, config)
    moved = [p.detach() - b for p, b in zip(model.parameters(), before, strict=True)]
    step = torch.sqrt(sum((m ** 2).sum() for m in moved))
    if clip is None:
        assert step > 0.05
    else:
        assert step <= 1.0 * clip * (1 + 1e-4)
        assert step > 0.5 * clip


def test_random_shift_moves_images_by_at_most_the_limit():
    from edgenn.frontend.train import _random_shift

    images = torch.zeros(200, 1, 8, 8)
    images[:, 0, 4, 4] = 1.0
    shifted = _random_shift(images, 2, torch.Generator().manual_seed(0))
    assert torch.all(shifted.sum(dim=(1, 2, 3)) == 1)  # the pixel stays inside, fill is zero
    where = shifted[:, 0].flatten(1).argmax(dim=1)
    rows, cols = where // 8, where % 8
    assert rows.min() == 2 and rows.max() == 6 and cols.min() == 2 and cols.max() == 6


def test_binary_task_odd_even_reaches_095(digits):
    data = binary_task(digits)
    assert data.num_classes == 2 and set(np.unique(data.y_test)) == {0, 1}
    assert np.array_equal(data.y_test, digits.y_test % 2)
    model = build_model("cnn", data.sample_shape, BINARY_OUTPUTS)
    train(model, data, fast(epochs=8, loss="bce"))
    _, accuracy = evaluate(model, torch.from_numpy(data.x_test), torch.from_numpy(data.y_test))
    assert accuracy >= 0.95


def test_progress_callback_sees_every_epoch(digits):
    seen = []
    model = build_model("mlp", digits.sample_shape, digits.num_classes)
    train(model, digits, fast(epochs=3, patience=99),
          on_epoch=lambda epoch, total, record: seen.append((epoch, total, sorted(record))))
    assert [(e, t) for e, t, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    assert seen[0][2] == ["epoch", "lr", "train_accuracy", "train_loss", "val_accuracy",
                          "val_loss"]


def test_threads_setting_is_restored(digits):
    before = torch.get_num_threads()
    train(build_model("mlp", digits.sample_shape, 10), digits, fast(epochs=1, threads=1))
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(("fields", "message"), [
    ({"optimizer": "lbfgs"}, "optimizer 'lbfgs' is not one of: adam, sgd, rmsprop, adagrad"),
    ({"loss": "hinge"}, "loss 'hinge' is not one of: cross_entropy, mse, bce"),
    ({"schedule": "cyclic"}, "schedule 'cyclic' is not one of"),
    ({"init": "orthogonal"}, "init 'orthogonal' is not one of: default, kaiming, xavier"),
    ({"epochs": 0}, "epochs must be ≥ 1"),
    ({"grad_clip_norm": 0.0}, "grad_clip_norm must be > 0"),
    ({"threads": 0}, "threads must be ≥ 1"),
    ({"lr": float("nan")}, "lr must be a finite number > 0, got nan"),
    ({"lr": float("inf")}, "lr must be a finite number > 0, got inf"),
    ({"lr": -1e-3}, "lr must be a finite number > 0"),
    ({"patience": 0}, r"patience must be ≥ 1 \(or unset\), got 0"),
    ({"keep": "first"}, "keep 'first' is not one of: best, last"),
    ({"monitor": "train_loss"}, "monitor 'train_loss' is not one of: val_accuracy, val_loss"),
    ({"warmup_epochs": float("nan")}, "warmup_epochs must be a finite number ≥ 0, got nan"),
    ({"warmup_epochs": -1.0}, "warmup_epochs must be a finite number ≥ 0"),
    ({"weight_decay": float("nan")}, "weight_decay must be a finite number ≥ 0, got nan"),
    ({"momentum": 1.0}, r"momentum must be in \[0, 1\), got 1.0"),
    ({"grad_clip_norm": float("nan")}, "grad_clip_norm must be > 0, got nan"),
    ({"batch_size": 0}, "batch_size must be ≥ 1"),
])
def test_bad_settings_are_named(fields, message):
    with pytest.raises(BadInputError, match=message):
        TrainConfig(**fields)


def test_mismatched_model_loss_and_data_are_refused(digits):
    one_logit = build_model("mlp", digits.sample_shape, 1)
    with pytest.raises(BadInputError, match="1 output logit needs a binary task"):
        train(one_logit, digits, fast(loss="bce"))  # ten classes
    with pytest.raises(BadInputError, match="got loss cross_entropy with 2 classes"):
        train(one_logit, binary_task(digits), fast())
    with pytest.raises(BadInputError, match="the model has 5 outputs but the labels have 10"):
        train(build_model("mlp", digits.sample_shape, 5), digits, fast())
    flat = build_model("mlp", (64,), 10)
    with pytest.raises(BadInputError, match="augment_shift=1 needs images"):
        train(flat, digits, fast(augment_shift=1),
              x_train=digits.x_train.reshape(-1, 64), y_train=digits.y_train)


def test_checkpoint_rebuilds_the_model_with_its_options(tmp_path, digits):
    model = build_model("mlp", digits.sample_shape, 10, activation="tanh", hidden=(32,))
    train(model, digits, fast(epochs=1))
    config = ModelConfig("mlp", digits.sample_shape, 10, {"activation": "tanh", "hidden": [32]})
    save_checkpoint(tmp_path / "c.pt", model, config, {"note": "x"})
    rebuilt, got_config, extra = load_checkpoint(tmp_path / "c.pt")
    assert got_config == config and extra == {"note": "x"}
    assert any(isinstance(m, torch.nn.Tanh) for m in rebuilt.modules())
    np.testing.assert_array_equal(predict(rebuilt, digits.x_test), predict(model, digits.x_test))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(BadInputError, match="not an edgenn checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
