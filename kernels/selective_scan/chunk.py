"""Chunked PyTorch path of the selective scan (the CPU implementation behind the public op).

Chunks of T positions: with the cumulative log-decay b_t = sum_{r<=t} delta_r A inside a chunk,
    h_t = e^{b_t} h_prev + sum_{s<=t} e^{b_t - b_s} delta_s B_s x_s
is evaluated for the whole chunk at once (all exponents <= 0 since A < 0), and the state passes
from chunk to chunk. Autograd gives the backward; memory O(L D N).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._utils import acc_dtype
from .naive import prepare_delta


def chunk_selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state,
                         output_final_state, chunk_size=16):
    Bt, Dm, L = u.shape
    T = chunk_size
    dt, out_dtype = acc_dtype(u.dtype), u.dtype
    delta = prepare_delta(delta.to(dt), None if delta_bias is None else delta_bias.to(dt), delta_softplus)
    x, A, Bm, Cm = u.to(dt), A.to(dt), B.to(dt), C.to(dt)
    pad = (-L) % T
    if pad:  # delta = 0 at padded steps: no decay and no input, the state passes through unchanged
        x, delta, Bm, Cm = (F.pad(t, (0, pad)) for t in (x, delta, Bm, Cm))
    nc = (L + pad) // T
    tri = torch.ones(T, T, dtype=torch.bool, device=u.device).tril()[:, :, None]
    h = u.new_zeros(Bt, Dm, A.shape[1], dtype=dt) if initial_state is None else initial_state.to(dt)
    ys = []
    for c in range(nc):
        sl = slice(c * T, (c + 1) * T)
        dlt, xc, Bc, Cc = delta[..., sl], x[..., sl], Bm[..., sl], Cm[..., sl]
        b = torch.cumsum(dlt[..., None] * A[None, :, None, :], dim=2)              # [Bt, D, T, N]
        inc = (dlt * xc)[..., None] * Bc.transpose(1, 2)[:, None]                  # [Bt, D, T, N]
        expo = torch.where(tri, b[:, :, :, None, :] - b[:, :, None, :, :], torch.full((), -torch.inf, dtype=dt))
        hs = torch.einsum("bdtsn,bdsn->bdtn", torch.exp(expo), inc) + torch.exp(b) * h[:, :, None, :]
        ys.append(torch.einsum("bdtn,bnt->bdt", hs, Cc))
        h = hs[:, :, -1]
    y = torch.cat(ys, -1)[..., :L]
    if D is not None:
        y = y + D.to(dt)[:, None] * u.to(dt)
    if z is not None:
        y = y * F.silu(z.to(dt))
    return y.to(out_dtype), (h if output_final_state else None)
