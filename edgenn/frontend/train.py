"""Training loop: seeded, early stopping on validation loss, checkpoints later steps read.

Options are one frozen `TrainConfig`; progress goes to an optional callback, so the
CLI can draw a bar while library code never prints.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from edgenn.core import BadInputError, atomic_path
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
    COSINE = "cosine"
    STEP = "step"  # ×0.5 every third of the epochs


class Init(str, Enum):
    DEFAULT = "default"
    KAIMING = "kaiming"
    XAVIER = "xavier"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 40
    batch_size: int = 64
    lr: float = 3e-3
    optimizer: Optimizer = Optimizer.ADAM
    loss: Loss = Loss.CROSS_ENTROPY
    momentum: float = 0.9  # SGD and RMSprop
    weight_decay: float = 0.0
    patience: int = 6  # early stopping: epochs without a better validation loss
    grad_clip_norm: float | None = None
    schedule: Schedule = Schedule.COSINE
    init: Init = Init.DEFAULT
    augment_shift: int = 0  # images: random shifts of up to this many pixels
    seed: int = 0
    threads: int | None = None  # torch intra-op threads while training; None: leave as is

    def __post_init__(self) -> None:
        object.__setattr__(self, "optimizer", _enum(Optimizer, self.optimizer, "optimizer"))
        object.__setattr__(self, "loss", _enum(Loss, self.loss, "loss"))
        object.__setattr__(self, "schedule", _enum(Schedule, self.schedule, "schedule"))
        object.__setattr__(self, "init", _enum(Init, self.init, "init"))
        if self.epochs < 1:
            raise BadInputError(f"epochs must be ≥ 1, got {self.epochs}")
        if self.lr <= 0:
            raise BadInputError(f"lr must be > 0, got {self.lr}")
        if self.batch_size < 1:
            raise BadInputError(f"batch_size must be ≥ 1, got {self.batch_size}")
        if self.threads is not None and self.threads < 1:
            raise BadInputError(f"threads must be ≥ 1, got {self.threads}")
        if self.grad_clip_norm is not None and self.grad_clip_norm <= 0:
            raise BadInputError(f"grad_clip_norm must be > 0, got {self.grad_clip_norm}")
        if self.augment_shift < 0:
            raise BadInputError(f"augment_shift must be ≥ 0, got {self.augment_shift}")

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.value if isinstance(v, Enum) else v) for k, v in asdict(self).items()}


def _enum(kind: type[Enum], value: Any, name: str) -> Any:
    try:
        return kind(value.value if isinstance(value, Enum) else value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise BadInputError(f"{name} '{value}' is not one of: {allowed}") from None


@dataclass
class TrainResult:
    best_epoch: int
    epochs_run: int
    val_loss: float
    val_accuracy: float
    history: list[dict[str, float]] = field(default_factory=list)


EpochCallback = Callable[[int, int, dict[str, float]], None]


def seed_everything(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(
    model,
    data: Dataset,
    config: TrainConfig = TrainConfig(),
    on_epoch: EpochCallback | None = None,
    *,
    x_train: np.ndarray | None = None,
    y_train: np.ndarray | None = None,
):
    """Train `model` in place on `data` (or on `x_train`/`y_train` when given).

    Keeps the weights of the epoch with the lowest validation loss.
    """
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

    best_loss, best_state, best_epoch, waited = math.inf, None, 0, 0
    history: list[dict[str, float]] = []
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(xt), generator=generator)
        total = 0.0
        for start in range(0, len(xt), config.batch_size):
            idx = order[start : start + config.batch_size]
            xb, yb = xt[idx], yt[idx]
            if config.augment_shift and xb.ndim == 4:
                xb = _random_shift(xb, config.augment_shift, generator)
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            if config.grad_clip_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += float(loss.detach()) * len(idx)
        val_loss, val_acc = evaluate(model, xv, yv, loss_fn)
        record = {"epoch": epoch, "train_loss": total / len(xt), "val_loss": val_loss,
                  "val_accuracy": val_acc, "lr": optimizer.param_groups[0]["lr"]}
        history.append(record)
        if on_epoch:
            on_epoch(epoch, config.epochs, record)
        if val_loss < best_loss - 1e-6:
            best_loss, best_epoch, waited = val_loss, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if waited >= config.patience:
                log.info("early stopping at epoch %d (best %d)", epoch, best_epoch)
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    best = history[best_epoch - 1] if best_epoch else history[-1]
    return TrainResult(best_epoch, len(history), best["val_loss"], best["val_accuracy"], history)


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
    import torch

    total = config.epochs * steps_per_epoch
    if config.schedule is Schedule.COSINE:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if config.schedule is Schedule.STEP:
        return torch.optim.lr_scheduler.StepLR(optimizer, max(1, total // 3), gamma=0.5)
    return None


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


# ---------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model: zoo name (or file.py:factory) and shapes."""

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return cls(str(data["name"]), tuple(data["input_shape"]), int(data["num_classes"]),
                   dict(data.get("options", {})))

    def build(self):
        from edgenn.frontend.zoo import build_model

        return build_model(self.name, self.input_shape, self.num_classes, **self.options)


def save_checkpoint(path: Path, model, config: ModelConfig, extra: dict[str, Any] | None = None
                    ) -> Path:
    """Weights plus the model's config (so it can be rebuilt), written atomically."""
    import torch

    payload = {"format": "edgenn-checkpoint/1", "model": config.to_dict(),
               "state_dict": model.state_dict(), "extra": extra or {}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path):
    """Rebuild the model from a checkpoint; returns (model in eval mode, ModelConfig, extra)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BadInputError(f"{path}: not an edgenn checkpoint ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != "edgenn-checkpoint/1":
        raise BadInputError(f"{path}: not an edgenn checkpoint")
    config = ModelConfig.from_dict(payload["model"])
    model = config.build()
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, config, payload.get("extra", {})
