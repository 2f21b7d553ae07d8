"""Transformer encoder classifier for sequences (an image is read row by row).

Each step's features are projected to the model width, sinusoidal positional encoding is
added, pre-norm encoder blocks apply multi-head self-attention across the steps, and the
mean over steps is classified (Vaswani et al., 2017).
"""

from __future__ import annotations

import torch
from torch import nn

from edgenn.frontend.zoo.attention import EncoderBlock, SinusoidalPositions, fixed_width_layers
from edgenn.frontend.zoo.layers import ToSequence


class TransformerClassifier(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int, dim: int = 64,
                 depth: int = 2, heads: int = 4, mlp_ratio: int = 2,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.to_sequence = ToSequence(input_shape, "transformer")
        self.embed = nn.Linear(self.to_sequence.features, dim)
        self.positions = SinusoidalPositions(self.to_sequence.steps, dim)
        self.blocks = nn.Sequential(*(EncoderBlock(dim, heads, mlp_ratio, dropout)
                                      for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = self.blocks(self.positions(self.embed(self.to_sequence(x))))
        return self.head(self.norm(steps).mean(dim=1))

    def pruning_ignored_layers(self) -> list[nn.Module]:
        """Layers whose output channels structured pruning must keep (see attention.py)."""
        return fixed_width_layers(self)


def build(input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
    """Transformer encoder: positional encoding + multi-head self-attention over steps."""
    return TransformerClassifier(input_shape, num_classes, **options)


build.train_defaults = {"epochs": 25, "lr": 3e-3}
