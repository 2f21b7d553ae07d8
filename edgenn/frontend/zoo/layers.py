"""Shared pieces of the zoo: reading a data shape as an image or a sequence.

One digits batch (N, 1, 8, 8) feeds every model. Image models take C×H×W samples and read
a T×F sequence as a one-channel image; sequence models read an image row by row (H steps
of C·W features) and a flat vector element by element. The reshapes happen inside
`forward`, with the batch dimension left free, so every model exports with a dynamic batch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from edgenn.core import BadInputError


def _check(input_shape: tuple[int, ...], model: str) -> tuple[int, ...]:
    shape = tuple(int(d) for d in input_shape)
    if not shape or any(d < 1 for d in shape):
        raise BadInputError(f"{model}: sample shape {input_shape} has an empty dimension")
    return shape


def image_shape(input_shape: tuple[int, ...], model: str) -> tuple[int, int, int]:
    """(C, H, W) for image samples; a T×F sequence is a 1×T×F image; flat is refused."""
    shape = _check(input_shape, model)
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    if len(shape) == 2:
        return (1, *shape)  # type: ignore[return-value]
    raise BadInputError(f"{model} needs images C×H×W or sequences T×F, got sample shape "
                        f"{tuple(input_shape)} (flat vectors: use cnn, tcn, mlp, lstm, gru or "
                        "transformer)")


def sequence_shape(input_shape: tuple[int, ...], model: str) -> tuple[int, int]:
    """(T, F): images are read row by row (H steps of C·W), flat vectors one value a step."""
    shape = _check(input_shape, model)
    if len(shape) == 3:
        channels, height, width = shape
        return height, channels * width
    if len(shape) == 2:
        return shape  # type: ignore[return-value]
    if len(shape) == 1:
        return shape[0], 1
    raise BadInputError(f"{model} needs sequences T×F, images C×H×W or flat vectors, got "
                        f"sample shape {tuple(input_shape)}")


def flat_size(input_shape: tuple[int, ...], model: str) -> int:
    return math.prod(_check(input_shape, model))


def strided(size: int, stride: int) -> int:
    """Output size of a conv with an odd kernel k, padding k // 2 and this stride."""
    return -(-size // stride)


def global_average_pool(height: int, width: int) -> nn.AvgPool2d:
    """Average over the whole H×W map with a fixed kernel: it exports to a plain
    AveragePool (AdaptiveAvgPool2d exports shape arithmetic that spiking converters and
    some runtimes refuse)."""
    return nn.AvgPool2d((height, width))


class ToImage(nn.Module):
    """(N, *sample) → (N, C, H, W)."""

    def __init__(self, input_shape: tuple[int, ...], model: str) -> None:
        super().__init__()
        self.passthrough = len(input_shape) == 3
        self.image = image_shape(input_shape, model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.passthrough else x.reshape(-1, *self.image)


class ToSequence(nn.Module):
    """(N, *sample) → (N, T, F); images become their rows, channels side by side."""

    def __init__(self, input_shape: tuple[int, ...], model: str) -> None:
        super().__init__()
        self.steps, self.features = sequence_shape(input_shape, model)
        self.permute = len(input_shape) == 3 and input_shape[0] > 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.permute:  # (N, C, H, W) → (N, H, C, W): row h holds every channel's row h
            x = x.permute(0, 2, 1, 3)
        return x.reshape(-1, self.steps, self.features)
