"""LeNet-style convolutional classifier: conv-BN-ReLU blocks, average pooling, two FCs.

ReLU and average pooling (not max pooling) keep it convertible to a spiking network.
"""

from __future__ import annotations

import torch
from torch import nn


class CNN(nn.Module):
    """x (N, C, H, W) → logits (N, classes); two conv blocks, each halving H and W."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int,
                 channels: tuple[int, int] = (16, 32), hidden: int = 64,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"cnn needs images C×H×W, got sample shape {input_shape}")
        in_channels, height, width = input_shape
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1, bias=False),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, padding=1, bias=False),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.AvgPool2d(2),
        )
        flat = c2 * (height // 2) * (width // 2)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(flat, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build(input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
    return CNN(input_shape, num_classes, **options)
