"""LeNet-style convolutional classifier: conv-BN-ReLU blocks, average pooling, two FCs.

ReLU and average pooling (not max pooling) keep it convertible to a spiking network.
`cnn` is a family: C×H×W images build the 2-D CNN below, C×L signals and flat vectors
the 1-D CNN of `zoo/signal.py`.
"""

from __future__ import annotations

import torch
from torch import nn

from edgenn.core import BadInputError
from edgenn.frontend.zoo.layers import ToImage, image_shape


class CNN(nn.Module):
    """x (N, C, H, W) → logits (N, classes); two conv blocks, each halving H and W."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int,
                 channels: tuple[int, int] = (16, 32), hidden: int = 64,
                 dropout: float = 0.1) -> None:
        super().__init__()
        in_channels, height, width = image_shape(input_shape, "cnn")
        if min(height, width) < 2:
            raise BadInputError(f"cnn pools 2×2, so it needs images of at least 2×2, got "
                                f"{height}×{width}")
        self.to_image = ToImage(input_shape, "cnn")  # no weights: state_dict keys unchanged
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
        return self.classifier(self.features(self.to_image(x)))


def build(input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
    """LeNet-style CNN: conv-BN-ReLU blocks, average pooling (2-D on images, 1-D on signals)."""
    if len(tuple(input_shape)) in (1, 2):  # C×L signals or flat vectors: the 1-D variant
        from edgenn.frontend.zoo.signal import CNN1d

        return CNN1d(input_shape, num_classes, **options)
    return CNN(input_shape, num_classes, **options)


build.train_defaults = {"epochs": 15, "lr": 3e-3}
