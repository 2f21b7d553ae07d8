"""Transformer pieces shared by `vit` and `transformer`: multi-head self-attention written
out with plain matrix products (so it exports to ONNX as MatMul/Softmax and its MACs are
countable), a pre-norm encoder block and sinusoidal positional encoding."""

from __future__ import annotations

import math

import torch
from torch import nn

from edgenn.core import BadInputError


class SelfAttention(nn.Module):
    """softmax(Q Kᵀ / √d_head) V per head, heads concatenated and projected."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise BadInputError(f"attention width {dim} is not divisible by {heads} heads")
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = x.shape[1]
        qkv = self.qkv(x).reshape(-1, steps, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # each (N, heads, T, head_dim)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-1)
        out = (self.dropout(weights) @ v).transpose(1, 2)
        return self.proj(out.reshape(-1, steps, self.heads * self.head_dim))


class EncoderBlock(nn.Module):
    """Pre-norm transformer encoder layer: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = SelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(mlp_ratio * dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.norm1(x)))
        return x + self.dropout(self.mlp(self.norm2(x)))


def fixed_width_layers(model: nn.Module) -> list[nn.Module]:
    """Every layer of a transformer except the first linear of each block's MLP.

    Structured pruning may only narrow the MLP's hidden width: the head layout ties Q, K
    and V together, and the residual stream ties every block to the position table.
    """
    prunable = {id(block.mlp[0]) for block in model.modules() if isinstance(block, EncoderBlock)}
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.LayerNorm)
    return [m for m in model.modules() if isinstance(m, kinds) and id(m) not in prunable]


class SinusoidalPositions(nn.Module):
    """Adds PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(…) (Vaswani et al. 2017)."""

    def __init__(self, steps: int, dim: int) -> None:
        super().__init__()
        position = torch.arange(steps, dtype=torch.float32)[:, None]
        rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(1e4) / dim))
        table = torch.zeros(steps, dim)
        table[:, 0::2] = torch.sin(position * rate)
        table[:, 1::2] = torch.cos(position * rate)[:, : dim // 2]
        self.register_buffer("table", table, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table
