"""LSTM and GRU sequence classifiers (an image is read row by row, top to bottom).

The recurrent layers run over the T steps; the hidden state after the last step is
classified by a linear layer.
"""

from __future__ import annotations

import torch
from torch import nn

from edgenn.frontend.zoo.layers import ToSequence


class RecurrentClassifier(nn.Module):
    def __init__(self, cell: type[nn.RNNBase], name: str, input_shape: tuple[int, ...],
                 num_classes: int, hidden: int = 64, layers: int = 1,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.to_sequence = ToSequence(input_shape, name)
        self.recurrent = cell(self.to_sequence.features, hidden, num_layers=layers,
                              batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.recurrent(self.to_sequence(x))
        return self.head(outputs[:, -1])

    def pruning_ignored_layers(self) -> list[nn.Module]:
        """Structured pruning keeps the recurrent layer whole (its gates are interleaved)."""
        return [self.recurrent, self.head]


def build_lstm(input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
    """LSTM (64 hidden) over the sequence; classifies the last step."""
    return RecurrentClassifier(nn.LSTM, "lstm", input_shape, num_classes, **options)


def build_gru(input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
    """GRU (64 hidden) over the sequence; classifies the last step."""
    return RecurrentClassifier(nn.GRU, "gru", input_shape, num_classes, **options)


build_lstm.train_defaults = {"epochs": 40, "lr": 5e-3}
build_gru.train_defaults = {"epochs": 40, "lr": 5e-3}
