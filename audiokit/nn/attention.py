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

Padded batches: ``forward(x, mask)`` takes a key padding mask [B, N] (True = valid) and returns,
at every valid position, what the unpadded sequence alone would give, and zeros at padded ones:

* ``softmax``: the mask goes to SDPA as ``attn_mask`` (combined with the causal mask if causal).
* ``linear`` / ``gla``: padded inputs are zeroed, hence (no qkv bias, silu(0) = 0) their keys
  and values; they add nothing to the recurrent states (the reversed GLA pass starts on the
  padding with a zero state, which stays zero), and padding at the end does not move rotary
  positions: exact in one call.
* ``wersa``: zeroed padding would leave the Haar-filtered valid positions as they are (the
  transform works on aligned blocks of 2**levels), but the content gates mean-pool the input and
  the positive random features give every padded key weight in the normaliser (phi(0) > 0),
  and the kernel takes no key mask; so a padded batch runs once per sequence on its valid
  positions (exact, B calls; a key mask in ``kernels/wersa`` would make it one call).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from audiokit.kernels.gla import gated_linear_attention
from audiokit.kernels.linear_attn import linear_attention
from audiokit.kernels.wersa import wersa_attention
from audiokit.nn.norm import RMSNorm

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
        head_dim: size of each head (default dim // num_heads); the projections then map dim to
            num_heads * head_dim and back, as Matcha-TTS's decoder blocks (2 heads of 64 at 256).
    """

    def __init__(self, dim: int, num_heads: int, kind: str = "softmax", *, causal: bool = False,
                 rotary: bool = True, decay: bool = True, wersa_levels: int = 3, wersa_features: int = 64,
                 gate_rank: int = 16, dropout: float = 0.0, head_dim: int | None = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
        if head_dim is None and dim % num_heads:
            raise ValueError(f"dim: expected a multiple of num_heads={num_heads}, got {dim}")
        if head_dim is not None and (not isinstance(head_dim, int) or head_dim < 1):
            raise ValueError(f"head_dim: expected a positive int, got {head_dim!r}")
        if kind == "wersa" and causal:
            raise ValueError("kind='wersa': the Haar decomposition mixes neighbouring positions; causal=True is not supported")
        self.kind, self.causal, self.h = kind, causal, num_heads
        self.d = head_dim or dim // num_heads
        inner = num_heads * self.d
        self.use_rotary = rotary and kind in ("softmax", "linear")
        if self.use_rotary and self.d % 2:
            raise ValueError(f"rotary: head size must be even, got {self.d}")
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.out = nn.Linear(inner, dim, bias=False)
        if kind == "linear":
            self.norm = RMSNorm(self.d)
            g = torch.log(1 - 2.0 ** (-5.0 - torch.arange(num_heads, dtype=torch.float32)))
            self.register_buffer("log_decay", g if decay else None, persistent=False)
        elif kind == "gla":
            self.gate = nn.Sequential(nn.Linear(dim, gate_rank, bias=False), nn.Linear(gate_rank, inner))
            self.out_gate = nn.Linear(dim, inner, bias=False)
            self.norm = RMSNorm(self.d)
        elif kind == "wersa":
            self.levels = wersa_levels
            self.scale_logits = nn.Parameter(torch.zeros(num_heads, wersa_levels + 1))
            self.content_gate = nn.Sequential(nn.Linear(dim, dim // 2), nn.GELU(),
                                              nn.Linear(dim // 2, num_heads * (wersa_levels + 1)))
            self.log_bandwidth = nn.Parameter(torch.full((num_heads,), math.log(math.sqrt(self.d))))
            self.register_buffer("omega", torch.randn(num_heads, wersa_features, self.d))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, N, dim], mask [B, N] bool (True = valid; None = all valid) -> [B, N, dim].

        With a mask, valid positions get what the unpadded sequence alone would give and padded
        positions are zero (see the module docstring for how each kind does it).
        """
        B, N, _ = x.shape
        if mask is not None:
            if mask.shape != (B, N):
                raise ValueError(f"mask: expected shape [B, N] = {(B, N)}, got {tuple(mask.shape)}")
            mask = mask.to(device=x.device, dtype=torch.bool)
            if bool(mask.all()):
                mask = None
            elif not bool(mask.any(1).all()):
                raise ValueError("mask: every sequence needs at least one valid position")
        if mask is None:
            return self._attend(x, None)
        if self.kind == "wersa":
            lengths = mask.sum(1).tolist()
            out = x.new_zeros(x.shape[0], N, self.out.out_features)
            for b, n in enumerate(lengths):
                out[b, :n] = self._attend(x[b:b + 1, :n], None)[0]
            return out
        m = mask[..., None].to(x.dtype)
        return self._attend(x * m, mask) * m

    def _attend(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        B, N, _ = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.h, self.d).permute(2, 0, 3, 1, 4)   # [B, H, N, d] each
        if self.kind == "softmax":
            if self.use_rotary:
                q, k = rotary(q), rotary(k)
            attn_mask, causal = None, self.causal
            if mask is not None:
                attn_mask = mask[:, None, None, :]
                if causal:  # SDPA takes one or the other: fold causality into the mask
                    attn_mask = attn_mask & torch.ones(N, N, dtype=torch.bool, device=x.device).tril()
                    causal = False
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=causal,
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
