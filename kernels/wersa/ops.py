"""WERSA: Wavelet-Enhanced Random Spectral Attention, O(N) on top of the linear-attention op.

Dentamaro 2025, "Scaling Attention to Very Long Sequences in Linear Time with Wavelet-Enhanced
Random Spectral Attention (WERSA)", arXiv:2507.08637, Sec. 3: queries and keys are decomposed
with a multi-level Haar transform along the sequence, each scale is re-weighted (learnable scale
weights times content-adaptive gates), the filtered signals are reconstructed, mapped through
positive random features with a learnable bandwidth, and attention is the normalised kernel
product phi(Q) (phi(K)^T [V, 1]) computed in linear time. The Haar step mixes neighbouring
positions, so WERSA is bidirectional (non-causal) by construction.
"""
from __future__ import annotations

import math

import torch

from .._utils import check, check_float, check_shape
from ..linear_attn import linear_attention


def haar_filter(x: torch.Tensor, weights: torch.Tensor, levels: int) -> torch.Tensor:
    """Multi-level orthonormal Haar analysis along dim 2, scale j multiplied by weights[..., j]
    (j < levels: detail of level j+1, finest first; j = levels: the coarsest approximation),
    then synthesis. x: [B, H, N, d]; weights: [H, levels+1] or [B, H, levels+1]. Zero-padded to
    a multiple of 2**levels; with all weights 1 it returns x exactly."""
    B, H, N, d = x.shape
    size = 1 << levels
    pad = -N % size
    if pad:
        x = torch.cat([x, x.new_zeros(B, H, pad, d)], 2)
    M = x.shape[2]
    w = weights if weights.dim() == 3 else weights[None]
    r = 1 / math.sqrt(2)
    a, ds = x, []
    for _ in range(levels):
        pair = a.reshape(B, H, a.shape[2] // 2, 2, d)
        ds.append((pair[:, :, :, 0] - pair[:, :, :, 1]) * r)
        a = (pair[:, :, :, 0] + pair[:, :, :, 1]) * r
    y = a * w[:, :, levels, None, None]
    for j in range(levels - 1, -1, -1):
        dj = ds[j] * w[:, :, j, None, None]
        y = torch.stack(((y + dj) * r, (y - dj) * r), 3).reshape(B, H, 2 * y.shape[2], d)
    return y[:, :, :N] if M != N else y


def random_features(x, omega, bandwidth, per_row):
    """Positive random features (Performer FAVOR+) of x / sqrt(bandwidth): exp(w.x - |x|^2/2) / sqrt(m).

    A constant is subtracted inside the exp for range: per row for queries (per_row=True) and per
    head for keys; both cancel in the normalised attention."""
    xs = x / bandwidth.sqrt()[None, :, None, None]
    proj = xs @ omega.transpose(-1, -2)[None] - 0.5 * (xs * xs).sum(-1, keepdim=True)   # [B,H,N,m]
    if per_row:
        stab = proj.amax(-1, keepdim=True).detach()
    else:
        stab = proj.amax((-1, -2), keepdim=True).detach()
    return torch.exp(proj - stab) / math.sqrt(omega.shape[1])


def wersa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, level_weights: torch.Tensor,
                    omega: torch.Tensor, bandwidth: torch.Tensor, *, levels: int, eps: float = 1e-6) -> torch.Tensor:
    """WERSA attention in O(N) time and memory (bidirectional).

    Args:
        q, k: [B, H, N, d]; v: [B, H, N, dv].
        level_weights: [H, levels+1] or [B, H, levels+1], weight of each Haar scale (finest detail
            first, coarsest approximation last): learnable scale weights times content gates.
        omega: [H, m, d] random projection (Gaussian, fixed or redrawn by the caller).
        bandwidth: [H] positive kernel bandwidths (learnable).
        levels: number of Haar levels (>= 0).

    Returns:
        [B, H, N, dv] in v's dtype: ``phi(q~) (phi(k~)^T v) / (phi(q~) phi(k~)^T 1)``.
    """
    check_float("q", q)
    check(q.dim() == 4, f"q: expected shape [B, H, N, d], got {tuple(q.shape)}")
    B, H, N, d = q.shape
    check_shape("k", k, (B, H, N, d), "[B, H, N, d]")
    check(v.dim() == 4 and tuple(v.shape[:3]) == (B, H, N), f"v: expected shape [B, H, N, dv], got {tuple(v.shape)}")
    check(isinstance(levels, int) and levels >= 0, f"levels: expected an int >= 0, got {levels!r}")
    check(level_weights.shape[-2:] == (H, levels + 1) and level_weights.dim() in (2, 3),
          f"level_weights: expected [H, levels+1] or [B, H, levels+1] = (.., {H}, {levels + 1}), got {tuple(level_weights.shape)}")
    check(omega.dim() == 3 and omega.shape[0] == H and omega.shape[2] == d,
          f"omega: expected shape [H, m, d] with H={H}, d={d}, got {tuple(omega.shape)}")
    check_shape("bandwidth", bandwidth, (H,), "[H]")
    dt = torch.float64 if q.dtype == torch.float64 else torch.float32
    qf = random_features(haar_filter(q.to(dt), level_weights.to(dt), levels), omega.to(dt), bandwidth.to(dt), True)
    kf = random_features(haar_filter(k.to(dt), level_weights.to(dt), levels), omega.to(dt), bandwidth.to(dt), False)
    v_aug = torch.cat([v.to(dt), v.new_ones(B, H, N, 1, dtype=dt)], -1)   # numerator and normaliser in one pass
    out, _ = linear_attention(qf, kf, v_aug, causal=False, scale=1.0)
    return (out[..., :-1] / (out[..., -1:] + eps)).to(v.dtype)
