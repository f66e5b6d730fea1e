"""Quadratic reference for (decayed) linear attention: the oracle the fast paths are tested against.

Recurrence (Qin et al., Lightning Attention-2, eq. 2-4; RetNet / TransNormerLLM decay):
    S_t = lambda * S_{t-1} + k_t^T v_t,    o_t = (scale * q_t) S_t,    S_{-1} = S0
which unrolls to the masked quadratic form computed here:
    o_t = sum_{s<=t} lambda^(t-s) (q_t . k_s) v_s + lambda^(t+1) q_t S0.
"""
from __future__ import annotations

import torch

from .._utils import acc_dtype


def naive_linear_attention(q, k, v, *, causal=True, log_decay=None, scale=None,
                           initial_state=None, output_final_state=False):
    """Same contract as :func:`audiokit.kernels.linear_attn.linear_attention`, O(N^2) memory."""
    B, H, N, K = q.shape
    dt, out_dtype = acc_dtype(q.dtype), v.dtype
    scale = K ** -0.5 if scale is None else scale
    q, k, v = q.to(dt) * scale, k.to(dt), v.to(dt)
    g = torch.zeros(H, dtype=dt, device=q.device) if log_decay is None else log_decay.to(dt)
    n = torch.arange(N, device=q.device, dtype=dt)
    diff = n[:, None] - n[None, :]                      # t - s
    if causal:
        w = torch.where(diff >= 0, torch.exp(g[:, None, None] * diff.clamp(min=0)), torch.zeros((), dtype=dt))
    else:
        w = torch.exp(g[:, None, None] * diff.abs())
    o = (q @ k.transpose(-1, -2) * w) @ v
    final = None
    if initial_state is not None:
        s0 = initial_state.to(dt)
        o = o + torch.exp(g[:, None] * (n + 1))[..., None] * (q @ s0)
    if output_final_state:
        kd = k * torch.exp(g[:, None] * (N - 1 - n))[..., None]
        final = kd.transpose(-1, -2) @ v
        if initial_state is not None:
            final = final + torch.exp(g * N)[:, None, None] * initial_state.to(dt)
    return o.to(out_dtype), final
