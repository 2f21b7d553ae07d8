"""DenseNet: dense blocks, where every layer sees the feature maps of all layers before it.

A dense layer is BN → ReLU → 3×3 conv producing `growth` new channels, concatenated onto
its input (Huang et al., 2017). Transitions (BN → ReLU → 1×1 conv → 2×2 average pool)
halve the channels and the resolution between blocks.
"""

from __future__ import annotations

import torch
from torch import nn

from edgenn.frontend.zoo.layers import ToImage, global_average_pool, image_shape


class DenseLayer(nn.Module):
    def __init__(self, in_channels: int, growth: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(),
                                  nn.Conv2d(in_channels, growth, 3, padding=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


def transition(in_channels: int, out_channels: int, pool: bool) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(),
                         nn.Conv2d(in_channels, out_channels, 1, bias=False),
                         nn.AvgPool2d(2) if pool else nn.Identity())


class DenseNet(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int, growth: int = 12,
                 layers_per_block: tuple[int, ...] = (4, 4)) -> None:
        super().__init__()
        channels, height, width = image_shape(input_shape, "densenet")
        features = 2 * growth
        layers: list[nn.Module] = [ToImage(input_shape, "densenet"),
                                   nn.Conv2d(channels, features, 3, padding=1, bias=False)]
        for index, count in enumerate(layers_per_block):
            for _ in range(count):
                layers.append(DenseLayer(features, growth))
                features += growth
            if index < len(layers_per_block) - 1:
                pool = min(height, width) >= 2
                layers.append(transition(features, features // 2, pool))
                features //= 2
                height, width = (height // 2, width // 2) if pool else (height, width)
        layers += [nn.BatchNorm2d(features), nn.ReLU(), global_average_pool(height, width),
                   nn.Flatten(),
                   nn.Linear(features, num_classes)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def build(input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
    """DenseNet: two dense blocks (growth 12) joined by a transition."""
    return DenseNet(input_shape, num_classes, **options)


build.train_defaults = {"epochs": 15, "lr": 3e-3}
