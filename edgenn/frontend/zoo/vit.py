"""Vision Transformer: the image cut into patches, each patch a token, a transformer encoder.

A strided convolution embeds non-overlapping p×p patches (Dosovitskiy et al., 2021); a
learned position embedding is added; pre-norm encoder blocks mix the tokens; the mean of
the tokens is classified (mean pooling instead of a class token, as in compact ViTs).
The default patch size gives about 16 tokens: p = max(1, min(H, W) // 4).
"""

from __future__ import annotations

import torch
from torch import nn

from edgenn.core import BadInputError
from edgenn.frontend.zoo.attention import EncoderBlock, fixed_width_layers
from edgenn.frontend.zoo.layers import ToImage, image_shape


class ViT(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int, patch: int | None = None,
                 dim: int = 48, depth: int = 2, heads: int = 4, mlp_ratio: int = 2,
                 dropout: float = 0.1) -> None:
        super().__init__()
        channels, height, width = image_shape(input_shape, "vit")
        patch = patch or max(1, min(height, width) // 4)
        if patch > min(height, width):
            raise BadInputError(f"vit: patch {patch} is larger than the image {height}×{width}")
        tokens = (height // patch) * (width // patch)
        self.to_image = ToImage(input_shape, "vit")
        self.embed = nn.Conv2d(channels, dim, patch, stride=patch)
        self.positions = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.blocks = nn.Sequential(*(EncoderBlock(dim, heads, mlp_ratio, dropout)
                                      for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(self.to_image(x)).flatten(2).transpose(1, 2)  # (N, tokens, dim)
        tokens = self.blocks(tokens + self.positions)
        return self.head(self.norm(tokens).mean(dim=1))

    def pruning_ignored_layers(self) -> list[nn.Module]:
        """Layers whose output channels structured pruning must keep (see attention.py)."""
        return fixed_width_layers(self)


def build(input_shape: tuple[int, ...], num_classes: int, **options) -> nn.Module:
    """ViT: patch embedding + transformer encoder (2 blocks, 4 heads)."""
    return ViT(input_shape, num_classes, **options)


build.train_defaults = {"epochs": 40, "lr": 2e-3}
