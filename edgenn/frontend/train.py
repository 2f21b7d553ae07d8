"""Training loop: seeded; linear warm-up, then a schedule over the whole step budget; early
stopping on validation accuracy (or loss); the best or the last epoch's weights kept.

Options are one frozen `TrainConfig`; progress goes to an optional callback (library code
never prints); `TrainResult.history` is the training curve, one record per epoch. Early
stopping watches the validation accuracy because the validation loss turns up as soon as
the model grows confident on the few samples it still gets wrong, long before the accuracy
stops improving.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from edgenn.core import BadInputError, parse_enum, to_plain
from edgenn.frontend.checkpoint import ModelConfig as ModelConfig
from edgenn.frontend.checkpoint import load_checkpoint as load_checkpoint
from edgenn.frontend.checkpoint import save_checkpoint as save_checkpoint
from edgenn.frontend.data import Dataset

log = logging.getLogger(__name__)


class Optimizer(str, Enum):
    ADAM = "adam"
    SGD = "sgd"  # with momentum
    RMSPROP = "rmsprop"
    ADAGRAD = "adagrad"


class Loss(str, Enum):
    CROSS_ENTROPY = "cross_entropy"
    MSE = "mse"  # on softmax probabilities against one-hot targets
    BCE = "bce"  # binary tasks: one logit per sample or two-class logits


class Schedule(str, Enum):
    NONE = "none"
    COSINE = "cosine"  # to zero at the end of the step budget
    STEP = "step"  # ×0.5 every third of the steps after the warm-up


class Init(str, Enum):
    DEFAULT = "default"
    KAIMING = "kaiming"
    XAVIER = "xavier"


class Monitor(str, Enum):
    VAL_ACCURACY = "val_accuracy"  # higher is better; equal accuracies: the lower val_loss
    VAL_LOSS = "val_loss"  # lower is better


class Keep(str, Enum):
    BEST = "best"  # the weights of the best epoch by `monitor`
    LAST = "last"  # the weights of the last epoch run, as a plain loop returns them


MIN_PATIENCE = 10  # derived patience: at least this many epochs...
PATIENCE_FRACTION = 1 / 3  # ...or this fraction of the epoch budget, whichever is more
MAX_WARMUP_FRACTION = 0.25  # the warm-up never takes more of the step budget than this


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 40  # the budget; early stopping may end training sooner
    batch_size: int = 64
    lr: float = 2e-3  # the peak, reached after the warm-up; the cosine averages half of it
    optimizer: Optimizer = Optimizer.ADAM
    loss: Loss = Loss.CROSS_ENTROPY
    momentum: float = 0.9  # SGD and RMSprop
    weight_decay: float = 0.0
    schedule: Schedule = Schedule.COSINE  # after the warm-up, over the rest of the budget
    warmup_epochs: float = 1.0  # linear warm-up over this many epochs' steps; 0: none
    monitor: Monitor = Monitor.VAL_ACCURACY  # what early stopping and keep="best" compare
    patience: int | None = None  # epochs without a better `monitor`; None: `patience_for`
    keep: Keep = Keep.BEST  # whose weights train() leaves in the model
    grad_clip_norm: float | None = None
    init: Init = Init.DEFAULT
    augment_shift: int = 0  # images: random shifts of up to this many pixels
    seed: int = 0
    threads: int | None = None  # torch intra-op threads while training; None: leave as is

    def __post_init__(self) -> None:
        for name, kind in (("optimizer", Optimizer), ("loss", Loss), ("schedule", Schedule),
                           ("init", Init), ("monitor", Monitor), ("keep", Keep)):
            object.__setattr__(self, name, parse_enum(kind, getattr(self, name), name))
        # each test is written so that NaN fails it
        checks = [
            ("epochs", self.epochs >= 1, "≥ 1"),
            ("batch_size", self.batch_size >= 1, "≥ 1"),
            ("lr", 0 < self.lr < math.inf, "a finite number > 0"),
            ("momentum", 0 <= self.momentum < 1, "in [0, 1)"),
            ("weight_decay", 0 <= self.weight_decay < math.inf, "a finite number ≥ 0"),
            ("warmup_epochs", 0 <= self.warmup_epochs < math.inf, "a finite number ≥ 0"),
            ("patience", self.patience is None or self.patience >= 1, "≥ 1 (or unset)"),
            ("grad_clip_norm", self.grad_clip_norm is None or self.grad_clip_norm > 0, "> 0"),
            ("augment_shift", self.augment_shift >= 0, "≥ 0"),
            ("threads", self.threads is None or self.threads >= 1, "≥ 1"),
        ]
        for name, valid, wanted in checks:
            if not valid:
                raise BadInputError(f"{name} must be {wanted}, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


def patience_for(config: TrainConfig) -> int:
    """Epochs without a better monitored value before training stops: `patience` when set;
    otherwise the whole budget with keep="last" (the last epoch is what is kept, so
    stopping early would only shorten the schedule), else a third of the budget, ≥ 10."""
    if config.patience is not None:
        return config.patience
    if config.keep is Keep.LAST:
        return config.epochs
    return max(MIN_PATIENCE, math.ceil(PATIENCE_FRACTION * config.epochs))


def warmup_steps_for(config: TrainConfig, steps_per_epoch: int) -> int:
    """Warm-up steps: `warmup_epochs` epochs' worth, so they scale with the data set (Adam's
    first moment estimates come from a few batches); at most a quarter of the budget."""
    total = config.epochs * steps_per_epoch
    return min(round(config.warmup_epochs * steps_per_epoch),
               math.floor(MAX_WARMUP_FRACTION * total))


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: Schedule) -> float:
    """The multiple of the peak lr used for optimizer step `step` (0-based) of `total_steps`:
    linear from 1/warmup_steps up to 1 over the warm-up, then `schedule` over the rest."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    if schedule is Schedule.COSINE:
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule is Schedule.STEP:
        return 0.5 ** ((step - warmup_steps) // max(1, decay_steps // 3))
    return 1.0


@dataclass
class TrainResult:
    best_epoch: int  # the best epoch by the config's `monitor`
    epochs_run: int
    kept_epoch: int  # whose weights the model holds: best_epoch, or the last with keep="last"
    val_loss: float  # of the kept weights
    val_accuracy: float  # of the kept weights
    # per epoch: epoch, train_loss and train_accuracy (running means over the epoch's
    # batches, in training mode), val_loss, val_accuracy, lr (after the epoch's last step)
    history: list[dict[str, float]] = field(default_factory=list)


EpochCallback = Callable[[int, int, dict[str, float]], None]


def seed_everything(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(model, data: Dataset, config: TrainConfig = TrainConfig(),
          on_epoch: EpochCallback | None = None, *, x_train: np.ndarray | None = None,
          y_train: np.ndarray | None = None) -> TrainResult:
    """Train `model` in place on `data` (or on `x_train`/`y_train` when given); leaves it the
    weights of the best epoch by `config.monitor` (or of the last: keep="last"), in eval mode."""
    import torch

    if config.threads is None:
        return _train(model, data, config, on_epoch, x_train, y_train)
    previous = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _train(model, data, config, on_epoch, x_train, y_train)
    finally:
        torch.set_num_threads(previous)


def _train(model, data: Dataset, config: TrainConfig, on_epoch: EpochCallback | None,
           x_train: np.ndarray | None, y_train: np.ndarray | None) -> TrainResult:
    import torch

    if data.y_train is None and y_train is None:  # regression/unlabelled data: nothing to fit
        raise BadInputError(f"{data.name}: no labels (y) to train on")
    seed_everything(config.seed)
    _initialise(model, config.init)
    xt = torch.from_numpy(data.x_train if x_train is None else x_train)
    yt = torch.from_numpy(data.y_train if y_train is None else y_train)
    xv, yv = torch.from_numpy(data.x_val), torch.from_numpy(data.y_val)
    if config.augment_shift and xt.ndim != 4:
        raise BadInputError(f"augment_shift={config.augment_shift} needs images (N, C, H, W), "
                            f"got training data of shape {tuple(xt.shape)}")
    _check_outputs(model, xt[:2], config.loss, data.num_classes)
    optimizer = _optimizer(model, config)
    steps_per_epoch = math.ceil(len(xt) / config.batch_size)
    scheduler = _scheduler(optimizer, config, steps_per_epoch)
    loss_fn = _loss_fn(config.loss, data.num_classes)
    generator = torch.Generator().manual_seed(config.seed)
    # without validation samples there is nothing to compare: the whole budget, the last epoch
    patience = patience_for(config) if len(xv) else config.epochs
    keep_best = config.keep is Keep.BEST and len(xv) > 0

    best, best_state, waited = None, None, 0  # best: the best epoch's record so far
    history: list[dict[str, float]] = []
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(xt), generator=generator)
        total_loss, correct = 0.0, 0
        for start in range(0, len(xt), config.batch_size):
            idx = order[start : start + config.batch_size]
            xb, yb = xt[idx], yt[idx]
            if config.augment_shift and xb.ndim == 4:
                xb = _random_shift(xb, config.augment_shift, generator)
            optimizer.zero_grad()
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            if config.grad_clip_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
            optimizer.step()
            scheduler.step()
            total_loss += float(loss.detach()) * len(idx)
            correct += int((predictions(out.detach()) == yb).sum())
        val_loss, val_acc = evaluate(model, xv, yv, loss_fn)
        record = {"epoch": epoch, "train_loss": total_loss / len(xt),
                  "train_accuracy": correct / len(xt), "val_loss": val_loss,
                  "val_accuracy": val_acc, "lr": optimizer.param_groups[0]["lr"]}
        history.append(record)
        if on_epoch:
            on_epoch(epoch, config.epochs, record)
        if is_better(record, best, config.monitor):
            best, waited = record, 0
            if keep_best:
                best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if waited >= patience:
                log.info("early stopping at epoch %d (best %d by %s, patience %d)",
                         epoch, best["epoch"], config.monitor.value, patience)
                break
    if keep_best:
        model.load_state_dict(best_state)
    model.eval()
    kept = best if keep_best else history[-1]
    return TrainResult(best_epoch=int(best["epoch"]), epochs_run=len(history),
                       kept_epoch=int(kept["epoch"]), val_loss=kept["val_loss"],
                       val_accuracy=kept["val_accuracy"], history=history)


def is_better(record: dict[str, float], best: dict[str, float] | None,
              monitor: Monitor) -> bool:
    """Whether epoch `record` beats `best` by `monitor`. Accuracy: higher, or equal with a
    lower validation loss. Loss: lower by more than 1e-6 (rounding noise is no progress).
    A NaN loss is never lower."""
    if best is None:
        return True
    if monitor is Monitor.VAL_LOSS:
        return record["val_loss"] < best["val_loss"] - 1e-6
    if record["val_accuracy"] != best["val_accuracy"]:
        return record["val_accuracy"] > best["val_accuracy"]
    return record["val_loss"] < best["val_loss"]


def evaluate(model, x, y, loss_fn=None, batch_size: int = 512) -> tuple[float, float]:
    import torch

    model.eval()
    losses, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            out = model(x[start : start + batch_size])
            yb = y[start : start + batch_size]
            if loss_fn is not None:
                losses += float(loss_fn(out, yb)) * len(yb)
            correct += int((predictions(out) == yb).sum())
    return losses / max(len(x), 1), correct / max(len(x), 1)


def predictions(out):
    """Class index from model output: argmax, or threshold for a single binary logit."""
    if out.ndim == 2 and out.shape[1] == 1:
        return (out[:, 0] > 0).long()
    return out.argmax(dim=1)


def predict(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Model outputs (logits) for numpy `x`, in eval mode, without gradients."""
    import torch

    model.eval()
    outs = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            outs.append(model(torch.from_numpy(x[start : start + batch_size])).numpy())
    return np.concatenate(outs)


def _check_outputs(model, sample, loss: Loss, num_classes: int) -> None:
    """Refuse a model whose output width does not fit the loss and the labels, up front."""
    import torch

    model.eval()
    with torch.no_grad():
        width = model(sample).shape[-1]
    model.train()
    if width == 1 and (loss is Loss.CROSS_ENTROPY or num_classes > 2):
        raise BadInputError(f"a model with 1 output logit needs a binary task (labels 0/1) and "
                            f"loss bce or mse, got loss {loss.value} with {num_classes} classes")
    if width != 1 and width < num_classes:
        raise BadInputError(f"the model has {width} outputs but the labels have "
                            f"{num_classes} classes")


def _loss_fn(kind: Loss, num_classes: int):
    import torch
    import torch.nn.functional as F

    if kind is Loss.CROSS_ENTROPY:
        return lambda out, y: F.cross_entropy(out, y)
    if kind is Loss.MSE:
        def mse(out, y):
            if out.shape[1] == 1:  # one logit: σ(logit) against the 0/1 label
                return F.mse_loss(torch.sigmoid(out[:, 0]), y.float())
            return F.mse_loss(F.softmax(out, dim=1), F.one_hot(y, out.shape[1]).float())
        return mse
    def bce(out, y):
        if out.shape[1] == 1:
            return F.binary_cross_entropy_with_logits(out[:, 0], y.float())
        return F.binary_cross_entropy_with_logits(out, F.one_hot(y, out.shape[1]).float())
    return bce


def _optimizer(model, config: TrainConfig):
    import torch

    params, wd, lr = model.parameters(), config.weight_decay, config.lr
    if config.optimizer is Optimizer.ADAM:
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if config.optimizer is Optimizer.SGD:
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    if config.optimizer is Optimizer.RMSPROP:
        return torch.optim.RMSprop(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)


def _scheduler(optimizer, config: TrainConfig, steps_per_epoch: int):
    """Per-step multiplier of the peak lr (`lr_factor`), stepped after every batch."""
    import torch

    total = config.epochs * steps_per_epoch
    warmup = warmup_steps_for(config, steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup, config.schedule))


def _initialise(model, init: Init) -> None:
    """Kaiming (He) normal or Xavier (Glorot) uniform weights, zero biases, for every
    linear, convolutional and recurrent layer; normalisation layers keep their 1 and 0."""
    import torch.nn as nn

    if init is Init.DEFAULT:
        return
    weighted = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.RNNBase)
    for module in model.modules():
        if not isinstance(module, weighted):
            continue
        for name, param in module.named_parameters(recurse=False):
            if name.startswith("bias"):
                nn.init.zeros_(param)
            elif param.ndim >= 2 and init is Init.KAIMING:
                nn.init.kaiming_normal_(param, nonlinearity="relu")
            elif param.ndim >= 2:
                nn.init.xavier_uniform_(param)


def _random_shift(xb, max_shift: int, generator):
    """Shift each image by up to ±max_shift pixels (zero fill), independently."""
    import torch

    n, _, h, w = xb.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator)
    padded = torch.nn.functional.pad(xb, (max_shift,) * 4)
    out = torch.empty_like(xb)
    for i in range(n):
        dy, dx = int(shifts[i, 0]) + max_shift, int(shifts[i, 1]) + max_shift
        out[i] = padded[i, :, dy : dy + h, dx : dx + w]
    return out
