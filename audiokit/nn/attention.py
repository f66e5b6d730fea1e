"""Multi-head attention with one switch between softmax attention and the linear-time variants.

``kind`` selects the token mixer; everything around it (projections, heads, output projection)
is shared, so a model config swaps attention with one string:

* ``softmax``: scaled dot-product attention (PyTorch SDPA) with rotary positions (Su et al. 2021).
* ``linear``: lightning linear attention (Qin et al. 2024) with SiLU feature maps, rotary
  positions, RetNet per-head decay (Sun et al. 2023, gamma_h = 1 - 2^(-5-h)) and the per-head
  RMS output normalisation of TransNormerLLM's NormAttention (Qin et al. 2023).
* ``gla``: the gated linear attention layer (Yang et al. 2024, Sec. 4.4): low-rank data-dependent
  gate logsigmoid(.)/16, per-head RMSNorm and a SiLU output gate. Bidirectional when not causal
  (a forward and a time-reversed pass, summed).
* ``wersa``: WERSA (Dentamaro 2025): learnable Haar-scale weights times content gates from the
  mean-pooled input, random features with learnable bandwidth. Bidirectional only.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from audiokit.kernels.gla import gated_linear_attention
from audiokit.kernels.linear_attn import linear_attention
from audiokit.kernels.wersa import wersa_attention

KINDS = ("softmax", "linear", "gla", "wersa")


def rotary(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding of x [B, H, N, d] (d even), rotating channel pairs (i, i + d/2)."""
    N, d = x.shape[-2], x.shape[-1]
    dt = torch.float64 if x.dtype == torch.float64 else torch.float32
    inv = base ** (-torch.arange(0, d // 2, device=x.device, dtype=dt) / (d // 2))
    ang = torch.arange(N, device=x.device, dtype=dt)[:, None] * inv
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)


class MultiHeadAttention(nn.Module):
    """x [B, N, dim] -> [B, N, dim].

    Args:
        dim: model width, divisible by num_heads.
        num_heads: heads; head size dim // num_heads (even when rotary is used).
        kind: "softmax" | "linear" | "gla" | "wersa".
        causal: attend to the past only (not available for "wersa").
        rotary: rotary positions for "softmax" and "linear" (the others carry order in gates/wavelets).
        decay: RetNet per-head decay for "linear".
        wersa_levels, wersa_features: Haar levels and random features per head for "wersa".
        gate_rank: rank of the GLA gate projection.
    """

    def __init__(self, dim: int, num_heads: int, kind: str = "softmax", *, causal: bool = False,
                 rotary: bool = True, decay: bool = True, wersa_levels: int = 3, wersa_features: int = 64,
                 gate_rank: int = 16, dropout: float = 0.0):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
        if dim % num_heads:
            raise ValueError(f"dim: expected a multiple of num_heads={num_heads}, got {dim}")
        if kind == "wersa" and causal:
            raise ValueError("kind='wersa': the Haar decomposition mixes neighbouring positions; causal=True is not supported")
        self.kind, self.causal, self.h, self.d = kind, causal, num_heads, dim // num_heads
        self.use_rotary = rotary and kind in ("softmax", "linear")
        if self.use_rotary and self.d % 2:
            raise ValueError(f"rotary: head size must be even, got {self.d}")
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        if kind == "linear":
            self.norm = nn.RMSNorm(self.d)
            g = torch.log(1 - 2.0 ** (-5.0 - torch.arange(num_heads, dtype=torch.float32)))
            self.register_buffer("log_decay", g if decay else None, persistent=False)
        elif kind == "gla":
            self.gate = nn.Sequential(nn.Linear(dim, gate_rank, bias=False), nn.Linear(gate_rank, dim))
            self.out_gate = nn.Linear(dim, dim, bias=False)
            self.norm = nn.RMSNorm(self.d)
        elif kind == "wersa":
            self.levels = wersa_levels
            self.scale_logits = nn.Parameter(torch.zeros(num_heads, wersa_levels + 1))
            self.content_gate = nn.Sequential(nn.Linear(dim, dim // 2), nn.GELU(),
                                              nn.Linear(dim // 2, num_heads * (wersa_levels + 1)))
            self.log_bandwidth = nn.Parameter(torch.full((num_heads,), math.log(math.sqrt(self.d))))
            self.register_buffer("omega", torch.randn(num_heads, wersa_features, self.d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.h, self.d).permute(2, 0, 3, 1, 4)   # [B, H, N, d] each
        if self.kind == "softmax":
            if self.use_rotary:
                q, k = rotary(q), rotary(k)
            o = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal,
                                               dropout_p=self.dropout if self.training else 0.0)
        elif self.kind == "linear":
            q, k = F.silu(q), F.silu(k)
            if self.use_rotary:
                q, k = rotary(q), rotary(k)
            o, _ = linear_attention(q, k, v, causal=self.causal, log_decay=self.log_decay)
            o = self.norm(o)
        elif self.kind == "gla":
            g = F.logsigmoid(self.gate(x)).view(B, N, self.h, self.d).transpose(1, 2) / 16
            o, _ = gated_linear_attention(q, k, v, g.to(q.dtype))
            if not self.causal:
                rev, _ = gated_linear_attention(q.flip(2), k.flip(2), v.flip(2), g.flip(2).to(q.dtype))
                o = o + rev.flip(2)
            o = self.norm(o) * F.silu(self.out_gate(x)).view(B, N, self.h, self.d).transpose(1, 2)
        else:
            gates = torch.sigmoid(self.content_gate(x.mean(1))).view(B, self.h, self.levels + 1)
            weights = torch.softmax(self.scale_logits, -1) * (self.levels + 1) * gates
            o = wersa_attention(q, k, v, weights, self.omega, self.log_bandwidth.exp(), levels=self.levels)
        return self.out(o.transpose(1, 2).reshape(B, N, self.h * self.d))
