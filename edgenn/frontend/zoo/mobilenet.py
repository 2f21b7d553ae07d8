"""MobileNet / EfficientNet-style network: inverted residual (MBConv) blocks.

Each block expands channels with a 1×1 conv, filters each channel with a depthwise 3×3
conv, reweights channels by squeeze-excitation, and projects back with a linear 1×1 conv;
SiLU (x·σ(x)) throughout, a residual connection when the shape allows (Sandler et al.,
2018; Tan & Le, 2019). Depthwise-separable convolutions cost about 1/k² of a full conv.
"""

from __future__ import annotations

import torch
from torch import nn

from edgenn.frontend.zoo.layers import ToImage, global_average_pool, image_shape, strided

# (expansion, output channels, stride) of each block
BLOCKS = ((1, 16, 1), (4, 24, 2), (4, 24, 1), (4, 40, 2), (4, 40, 1))


def conv_bn_silu(in_channels: int, out_channels: int, kernel: int, stride: int = 1,
                 groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups,
                  bias=False),
        nn.BatchNorm2d(out_channels), nn.SiLU())


class SqueezeExcite(nn.Module):
    """x · σ(W₂ SiLU(W₁ mean_hw(x))): per-channel gates from global context."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.Conv2d(channels, reduced, 1), nn.SiLU(),
                                  nn.Conv2d(reduced, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x.mean(dim=(2, 3), keepdim=True))


class MBConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_bn_silu(in_channels, hidden, 1))
        layers += [conv_bn_silu(hidden, hidden, 3, stride, groups=hidden),
                   SqueezeExcite(hidden, max(4, in_channels // 4)),
                   nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNet(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int, stem: int = 16,
                 head: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        channels, height, width = image_shape(input_shape, "mobilenet")
        layers: list[nn.Module] = [ToImage(input_shape, "mobilenet"),
                                   conv_bn_silu(channels, stem, 3)]
        previous = stem
        for expansion, out_channels, stride in BLOCKS:
            layers.append(MBConv(previous, out_channels, expansion, stride))
            previous = out_channels
            height, width = strided(height, stride), strided(width, stride)
        layers += [conv_bn_silu(previous, head, 1), global_average_pool(height, width),
                   nn.Flatten(),
                   nn.Dropout(dropout), nn.Linear(head, num_classes)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def build(input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
    """MobileNet/EfficientNet-style: depthwise-separable MBConv, squeeze-excite, SiLU."""
    return MobileNet(input_shape, num_classes, **options)


build.train_defaults = {"epochs": 20, "lr": 3e-3}
