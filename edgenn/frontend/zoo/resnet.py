"""ResNet: a 3×3 stem, then stages of residual basic blocks, global average pooling.

Each block computes ReLU(x + BN(conv(ReLU(BN(conv(x)))))) — the identity path lets the
gradient skip the convolutions (He et al., 2016). Stages after the first halve H and W.
"""

from __future__ import annotations

import torch
from torch import nn

from edgenn.frontend.zoo.layers import ToImage, global_average_pool, image_shape, strided


def conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(in_channels, out_channels, 3, stride), nn.ReLU(),
                                  conv_bn(out_channels, out_channels, 3))
        reshape = stride != 1 or in_channels != out_channels
        self.shortcut = conv_bn(in_channels, out_channels, 1, stride) if reshape else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int,
                 widths: tuple[int, ...] = (16, 32, 64), blocks_per_stage: int = 1) -> None:
        super().__init__()
        channels, height, width_px = image_shape(input_shape, "resnet")
        layers: list[nn.Module] = [ToImage(input_shape, "resnet"),
                                   conv_bn(channels, widths[0], 3), nn.ReLU()]
        previous = widths[0]
        for stage, width in enumerate(widths):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(previous, width, stride))
                previous = width
                height, width_px = strided(height, stride), strided(width_px, stride)
        layers += [global_average_pool(height, width_px), nn.Flatten(),
                   nn.Linear(previous, num_classes)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def build(input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
    """ResNet: residual basic blocks in three stages."""
    return ResNet(input_shape, num_classes, **options)


build.train_defaults = {"epochs": 15, "lr": 3e-3}
