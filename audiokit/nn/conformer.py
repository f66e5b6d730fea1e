"""Conformer block (Gulati et al., "Conformer: Convolution-augmented Transformer for Speech
Recognition", Interspeech 2020, Sec. 2 and Fig. 1), in the form MP-SENet uses it.

One block is the macaron sandwich of Eq. (1) of Gulati et al.::

    x = x + 1/2 FFN(x)
    x = x + MHSA(x)
    x = x + Conv(x)
    y = LayerNorm(x + 1/2 FFN(x))

with pre-norm sub-modules: FFN = LN -> Linear(d, m d) -> SiLU -> Dropout -> Linear(m d, d) ->
Dropout; MHSA = LN -> multi-head self-attention (no relative positions, as in MP-SENet);
Conv = LN -> pointwise conv (d -> 2 e d) -> GLU -> depthwise conv (kernel k) -> BatchNorm ->
SiLU -> pointwise conv (e d -> d) -> Dropout.

MP-SENet (Lu et al., Interspeech 2023, Sec. 2.2) uses d = 64, 4 heads, m = 4, e = 2, k = 31,
dropout 0.2 in the FFN and attention. Sequences are ``[batch, length, channels]``; the
attention runs along ``length`` (batch-first), through
``torch.nn.functional.scaled_dot_product_attention`` so CUDA picks a fused kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FeedForward", "MultiHeadSelfAttention", "ConvModule", "ConformerBlock"]


class FeedForward(nn.Module):
    """Pre-norm position-wise feed-forward module with SiLU (Gulati et al., Sec. 2.3)."""

    def __init__(self, dim: int, mult: int = 4, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, dim * mult), nn.SiLU(), nn.Dropout(dropout),
            nn.Linear(dim * mult, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MultiHeadSelfAttention(nn.Module):
    """Pre-norm multi-head self-attention over ``[B, L, C]`` (batch first).

    Same parameters as ``nn.MultiheadAttention`` (a fused qkv projection with bias and an
    output projection), computed with ``scaled_dot_product_attention``.
    """

    def __init__(self, dim: int, num_heads: int = 4, dropout: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"MultiHeadSelfAttention: dim ({dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        self.num_heads, self.dropout = num_heads, dropout
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(self.norm(x)).view(b, n, 3, self.num_heads, c // self.num_heads) \
            .permute(2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, n, c))


class ConvModule(nn.Module):
    """Conformer convolution module (Gulati et al., Sec. 2.2, Fig. 2) on ``[B, L, C]``."""

    def __init__(self, dim: int, expansion: int = 2, kernel_size: int = 31, dropout: float = 0.0):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"ConvModule: kernel_size must be odd to keep the length, got {kernel_size}")
        inner = dim * expansion
        self.norm = nn.LayerNorm(dim)
        self.pointwise_in = nn.Conv1d(dim, 2 * inner, 1)
        self.depthwise = nn.Conv1d(inner, inner, kernel_size, padding=kernel_size // 2, groups=inner)
        self.bn = nn.BatchNorm1d(inner)
        self.pointwise_out = nn.Conv1d(inner, dim, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(x).transpose(1, 2)
        y = F.glu(self.pointwise_in(y), dim=1)
        y = F.silu(self.bn(self.depthwise(y)))
        return self.drop(self.pointwise_out(y).transpose(1, 2))


class ConformerBlock(nn.Module):
    """Macaron conformer block, ``[B, L, C] -> [B, L, C]`` (see the module docstring)."""

    def __init__(self, dim: int, num_heads: int = 4, ff_mult: int = 4, conv_expansion: int = 2,
                 conv_kernel_size: int = 31, ff_dropout: float = 0.0, attn_dropout: float = 0.0,
                 conv_dropout: float = 0.0):
        super().__init__()
        self.ff1 = FeedForward(dim, ff_mult, ff_dropout)
        self.attn = MultiHeadSelfAttention(dim, num_heads, attn_dropout)
        self.conv = ConvModule(dim, conv_expansion, conv_kernel_size, conv_dropout)
        self.ff2 = FeedForward(dim, ff_mult, ff_dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + 0.5 * self.ff1(x)
        x = x + self.attn(x)
        x = x + self.conv(x)
        x = x + 0.5 * self.ff2(x)
        return self.norm(x)
