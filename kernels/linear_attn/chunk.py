"""Chunked PyTorch path of (decayed) linear attention, the CPU implementation behind the public op.

Lightning Attention-2 (Qin et al. 2024, Alg. 1): inside a chunk of C positions the masked
quadratic form (intra), across chunks a running K^T V state (inter). Autograd of PyTorch
gives the backward. Time O(N C d + N d^2), memory O(N d + N/C d^2).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._utils import acc_dtype


def chunk_linear_attention(q, k, v, log_decay, scale, initial_state, output_final_state, chunk_size=64):
    B, H, N, K = q.shape
    V = v.shape[-1]
    C = chunk_size
    dt, out_dtype = acc_dtype(q.dtype), v.dtype
    q, k, v = q.to(dt) * scale, k.to(dt), v.to(dt)
    NC = -(-N // C)
    pad = NC * C - N
    if pad:
        q, k, v = (F.pad(x, (0, 0, 0, pad)) for x in (q, k, v))
    q, k, v = (x.reshape(B, H, NC, C, x.shape[-1]) for x in (q, k, v))
    i = torch.arange(C, device=q.device, dtype=dt)
    attn = q @ k.transpose(-1, -2)                                        # [B,H,NC,C,C]
    tri = i[:, None] >= i[None, :]
    if log_decay is None:
        attn = attn.masked_fill(~tri, 0.0)
        qd, kd, lam_c = q, k, None
    else:
        g = log_decay.to(dt).view(1, H, 1, 1, 1)
        w = torch.where(tri, torch.exp(g * (i[:, None] - i[None, :]).clamp(min=0)), torch.zeros((), dtype=dt))
        attn = attn * w
        qd = q * torch.exp(g * (i + 1)[:, None])                         # decay from chunk start to t
        kd = k * torch.exp(g * (C - 1 - i)[:, None])                     # decay from s to chunk end
        lam_c = torch.exp(g[:, :, 0] * C)                                 # [1,H,1,1]
    o = attn @ v
    kv = kd.transpose(-1, -2) @ v                                         # [B,H,NC,K,V] chunk states
    S = q.new_zeros(B, H, K, V) if initial_state is None else initial_state.to(dt)
    states = []
    for c in range(NC):
        states.append(S)
        S = (S if lam_c is None else lam_c * S) + kv[:, :, c]
    o = o + qd @ torch.stack(states, 2)
    o = o.reshape(B, H, NC * C, V)[:, :, :N].to(out_dtype)
    final = None
    if output_final_state:
        if pad == 0 or log_decay is None:
            final = S                                                     # zero padding adds nothing
        else:
            L = C - pad                                                   # valid length of the last chunk
            g = log_decay.to(dt).view(1, H, 1, 1)
            w_last = torch.where((i < L)[:, None], torch.exp(g * (L - 1 - i).clamp(min=0)[:, None]),
                                 torch.zeros((), dtype=dt))
            final = torch.exp(g * L) * states[-1] + (k[:, :, -1] * w_last).transpose(-1, -2) @ v[:, :, -1]
    return o, final
