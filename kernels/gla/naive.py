"""Step-by-step reference of gated linear attention: the oracle of the fast paths.

GLA (Yang et al. 2024, "Gated Linear Attention Transformers with Hardware-Efficient Training",
eq. 3): with a data-dependent per-channel decay alpha_t = exp(g_t) in (0, 1]^K,
    S_t = diag(alpha_t) S_{t-1} + k_t^T v_t,    o_t = (scale q_t) S_t.
"""
from __future__ import annotations

import torch

from .._utils import acc_dtype


def naive_gla(q, k, v, g, *, scale=None, initial_state=None, output_final_state=False):
    """Same contract as :func:`audiokit.kernels.gla.gated_linear_attention`; loops over time."""
    B, H, N, K = q.shape
    dt, out_dtype = acc_dtype(q.dtype), v.dtype
    scale = K ** -0.5 if scale is None else scale
    S = q.new_zeros(B, H, K, v.shape[-1], dtype=dt) if initial_state is None else initial_state.to(dt)
    out = []
    for t in range(N):
        o_t, S = gla_step(q[:, :, t], k[:, :, t], v[:, :, t], g[:, :, t], S, scale=scale)
        out.append(o_t)
    return torch.stack(out, 2).to(out_dtype), (S if output_final_state else None)


def gla_step(q, k, v, g, state, *, scale=None):
    """One recurrent step for decoding. q, k, g: [B, H, K]; v: [B, H, V]; state: [B, H, K, V].

    Returns (o [B, H, V] in the state's dtype, new state)."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    dt = state.dtype
    state = torch.exp(g.to(dt))[..., None] * state + k.to(dt)[..., None] * v.to(dt)[..., None, :]
    o = ((q.to(dt) * scale)[..., None] * state).sum(-2)
    return o, state
