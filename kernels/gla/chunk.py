"""Chunked PyTorch path of gated linear attention (the CPU implementation behind the public op).

GLA (Yang et al. 2024, Sec. 4.2-4.3): chunks of C positions; inside a chunk the cumulative
log-decay b_t = sum_{r<=t} g_r gives the inter-chunk term (q_t * e^{b_t}) S and the new state
e^{b_C} S + (k * e^{b_C - b})^T v. The intra-chunk matrix uses secondary chunking: blocks of c
positions below the diagonal use a reference point (the last position of the key block) so every
exponent is <= 0; diagonal blocks are computed exactly per channel. Stable for any decay.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._utils import acc_dtype


def chunk_gla(q, k, v, g, scale, initial_state, output_final_state, chunk_size=64, sub_chunk=16):
    B, H, N, K = q.shape
    V = v.shape[-1]
    C, c = chunk_size, sub_chunk
    dt, out_dtype = acc_dtype(q.dtype), v.dtype
    q, k, v, g = q.to(dt) * scale, k.to(dt), v.to(dt), g.to(dt)
    NC = -(-N // C)
    pad = NC * C - N
    if pad:  # zero keys/values and zero log-decay: padding changes neither outputs nor state
        q, k, v, g = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v, g))
    q, k, v, g = (x.reshape(B, H, NC, C, x.shape[-1]) for x in (q, k, v, g))
    b = g.cumsum(-2)
    b_last = b[..., -1:, :]
    A = q.new_zeros(B, H, NC, C, C)
    idx = torch.arange(c, device=q.device)
    diag_mask = (idx[:, None] >= idx[None, :])[..., None]
    for i in range(C // c):
        si = slice(i * c, (i + 1) * c)
        qi, bi = q[..., si, :], b[..., si, :]
        for j in range(i):
            sj = slice(j * c, (j + 1) * c)
            ref = b[..., (j + 1) * c - 1: (j + 1) * c, :]
            A[..., si, sj] = (qi * torch.exp(bi - ref)) @ (k[..., sj, :] * torch.exp(ref - b[..., sj, :])).transpose(-1, -2)
        expo = torch.where(diag_mask, bi[..., :, None, :] - bi[..., None, :, :], torch.full((), -torch.inf, dtype=dt))
        A[..., si, si] = (qi[..., :, None, :] * k[..., si, :][..., None, :, :] * torch.exp(expo)).sum(-1)
    o = A @ v
    kv = (k * torch.exp(b_last - b)).transpose(-1, -2) @ v                # [B,H,NC,K,V]
    decay = torch.exp(b_last[..., 0, :])[..., None]                        # [B,H,NC,K,1]
    S = q.new_zeros(B, H, K, V) if initial_state is None else initial_state.to(dt)
    states = []
    for ci in range(NC):
        states.append(S)
        S = decay[:, :, ci] * S + kv[:, :, ci]
    o = o + (q * torch.exp(b)) @ torch.stack(states, 2)
    return o.reshape(B, H, NC * C, V)[:, :, :N].to(out_dtype), (S if output_final_state else None)
