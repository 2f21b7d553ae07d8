"""Multi-layer perceptron on the flattened sample, activation of your choice.

`mlp` uses ReLU; `mlp-sigmoid`, `mlp-tanh` and `mlp-leakyrelu` are the same network with
the classic alternatives (option `activation=` picks any of them).
"""

from __future__ import annotations

from enum import Enum

from torch import nn

from edgenn.core import parse_enum
from edgenn.frontend.zoo.layers import flat_size


class Activation(str, Enum):
    RELU = "relu"
    SIGMOID = "sigmoid"
    TANH = "tanh"
    LEAKY_RELU = "leakyrelu"


_MODULES = {Activation.RELU: nn.ReLU, Activation.SIGMOID: nn.Sigmoid,
            Activation.TANH: nn.Tanh, Activation.LEAKY_RELU: lambda: nn.LeakyReLU(0.1)}


def activation_module(name: str | Activation) -> nn.Module:
    return _MODULES[parse_enum(Activation, name, "activation")]()


class MLP(nn.Module):
    """x (N, *sample) → flatten → [Linear → (BN) → act → dropout] × len(hidden) → Linear."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int,
                 hidden: tuple[int, ...] = (128, 64), activation: str = "relu",
                 dropout: float = 0.1, batch_norm: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = flat_size(input_shape, "mlp")
        for size in hidden:
            layers.append(nn.Linear(width, size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers += [activation_module(activation), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


def build(input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
    """MLP, ReLU (activation= sigmoid, tanh, leakyrelu)."""
    return MLP(input_shape, num_classes, **options)


def build_sigmoid(input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
    """MLP with sigmoid activations."""
    return MLP(input_shape, num_classes, **{"activation": "sigmoid", **options})


def build_tanh(input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
    """MLP with tanh activations."""
    return MLP(input_shape, num_classes, **{"activation": "tanh", **options})


def build_leakyrelu(input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
    """MLP with LeakyReLU (slope 0.1) activations."""
    return MLP(input_shape, num_classes, **{"activation": "leakyrelu", **options})


build.train_defaults = {"epochs": 30, "lr": 3e-3}
build_tanh.train_defaults = {"epochs": 30, "lr": 3e-3}
build_leakyrelu.train_defaults = {"epochs": 30, "lr": 3e-3}
build_sigmoid.train_defaults = {"epochs": 40, "lr": 1e-2}
