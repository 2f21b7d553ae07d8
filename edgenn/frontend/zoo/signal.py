"""1-D models for signals (audio, vibration, ECG, motion sensors): a 1-D CNN and a TCN.

Signals are C×L samples (channels × length, the layout of PyTorch's Conv1d); a flat
vector of length L is one channel. `cnn` builds the 1-D CNN here for such samples (and
the 2-D one for C×H×W images); `tcn` takes signals, and reads an image row by row (H
steps of C·W channels), as the sequence models do.

Both use ReLU and average pooling only (no max pooling, no Sigmoid), so a spiking
converter that takes Conv1d and AveragePool can take them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from edgenn.core import BadInputError
from edgenn.frontend.zoo.layers import ToSequence, _check

POSITIONS = 8  # the 1-D CNN pools its features to about this many positions


def signal_shape(input_shape: tuple[int, ...], model: str) -> tuple[int, int]:
    """(C, L) for C×L signals; a flat vector of length L is 1×L."""
    shape = _check(input_shape, model)
    if len(shape) == 2:
        return shape  # type: ignore[return-value]
    if len(shape) == 1:
        return 1, shape[0]
    raise BadInputError(f"{model} needs signals C×L or flat vectors L, got sample shape "
                        f"{tuple(input_shape)}")


class ToSignal(nn.Module):
    """(N, *sample) → (N, C, L): signals as they are, flat vectors as one channel, images
    as H steps of C·W channels (row h holds every channel's row h)."""

    def __init__(self, input_shape: tuple[int, ...], model: str) -> None:
        super().__init__()
        shape = _check(input_shape, model)
        self.rows = ToSequence(shape, model) if len(shape) == 3 else None
        if self.rows is not None:
            self.shape = (self.rows.features, self.rows.steps)
        else:
            self.shape = signal_shape(shape, model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rows is not None:
            return self.rows(x).transpose(1, 2)
        return x.reshape(-1, *self.shape)


class CNN1d(nn.Module):
    """x (N, C, L) or (N, L) → logits; three conv blocks, each halving L, pooled to ~8
    positions, then two linear layers."""

    description = ("1-D CNN (C×L signals): three conv-BN-ReLU-average-pool blocks, two "
                   "linear layers")

    def __init__(self, input_shape: tuple[int, ...], num_classes: int,
                 channels: tuple[int, ...] = (16, 32, 64), hidden: int = 64, kernel: int = 5,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.to_signal = ToSignal(input_shape, "cnn")
        in_channels, length = self.to_signal.shape
        if kernel < 1 or kernel % 2 == 0:
            raise BadInputError(f"cnn: kernel must be odd and ≥ 1, got {kernel}")
        layers: list[nn.Module] = []
        previous = in_channels
        for width in channels:
            layers += [nn.Conv1d(previous, width, kernel, padding=kernel // 2, bias=False),
                       nn.BatchNorm1d(width), nn.ReLU()]
            if length >= 2:  # a signal of one step is not pooled
                layers.append(nn.AvgPool1d(2))
                length //= 2
            previous = width
        reduce = max(1, length // POSITIONS)
        if reduce > 1:  # long signals: a fixed-size summary of ~8 positions
            layers.append(nn.AvgPool1d(reduce))
            length //= reduce
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(previous * length, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.to_signal(x)))


class TemporalBlock(nn.Module):
    """Two dilated causal convolutions (left padding only: step t sees steps ≤ t), each
    followed by batch norm and ReLU, plus a residual connection (Bai et al., 2018)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, dilation: int,
                 dropout: float) -> None:
        super().__init__()
        pad = (kernel - 1) * dilation
        self.body = nn.Sequential(
            nn.ConstantPad1d((pad, 0), 0.0),
            nn.Conv1d(in_channels, out_channels, kernel, dilation=dilation, bias=False),
            nn.BatchNorm1d(out_channels),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.ConstantPad1d((pad, 0), 0.0),
            nn.Conv1d(out_channels, out_channels, kernel, dilation=dilation, bias=False),
            nn.BatchNorm1d(out_channels),
            nn.ReLU(),
        )
        self.shortcut = (nn.Identity() if in_channels == out_channels
                         else nn.Conv1d(in_channels, out_channels, 1))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def receptive_field(kernel: int, levels: int) -> int:
    """Steps one output of a TCN sees: two convs per level, dilations 1, 2, 4, …"""
    return 1 + 2 * (kernel - 1) * (2 ** levels - 1)


class TCN(nn.Module):
    """x (N, C, L) → logits: temporal blocks with dilations 1, 2, 4, … until one step's
    receptive field covers the whole signal, then the mean over time, then a linear layer."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, channels: int = 16,
                 kernel: int = 3, levels: int | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        if kernel < 2:
            raise BadInputError(f"tcn: kernel must be ≥ 2, got {kernel}")
        self.to_signal = ToSignal(input_shape, "tcn")
        in_channels, length = self.to_signal.shape
        if levels is None:
            needed = (length - 1) / (2 * (kernel - 1)) + 1
            levels = min(8, max(1, math.ceil(math.log2(needed))))
        if levels < 1:
            raise BadInputError(f"tcn: levels must be ≥ 1, got {levels}")
        self.receptive_field = receptive_field(kernel, levels)
        self.blocks = nn.Sequential(*(
            TemporalBlock(in_channels if level == 0 else channels, channels, kernel,
                          2 ** level, dropout) for level in range(levels)))
        self.pool = nn.AvgPool1d(length)  # mean over time, a plain AveragePool in ONNX
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.blocks(self.to_signal(x))))


def build_tcn(input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
    """Temporal convolutional network: dilated causal residual blocks, mean over time."""
    return TCN(input_shape, num_classes, **options)


build_tcn.train_defaults = {"epochs": 20, "lr": 3e-3}
