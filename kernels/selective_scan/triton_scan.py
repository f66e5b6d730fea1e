"""Triton kernels of the Mamba-1 selective scan core (Gu & Dao 2023, Alg. 2, eq. 2a), forward and backward.

One program holds a block of BD channels and all N states of one sequence in fp32 registers and
scans the sequence step by step:
    h_t = exp(delta_t A) * h_{t-1} + delta_t u_t B_t,    y_t = C_t . h_t
The D skip, z gating and delta's bias/softplus are elementwise and stay in PyTorch around this op.

Backward (derived from the recurrence, with dh the gradient carried back in time):
    dh_t += dy_t C_t;  dC_t = sum_d dy_t h_t;  du_t = delta_t (dh_t . B_t);  dB_t = sum_d delta_t u_t dh_t
    ddelta_t = dh_t . (A e^{delta_t A} h_{t-1} + u_t B_t);  dA += dh_t delta_t e^{delta_t A} h_{t-1}
    dh_{t-1} = e^{delta_t A} dh_t
It needs h_{t-1} at every step: a first pass re-runs the forward scan and writes h (fp32,
[Bt, D, L, N], the memory of the chunked PyTorch path; a chunked recomputation would cut it).
dB and dC are summed over the channel blocks afterwards.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._triton_utils import block

BD = 16


@triton.jit
def _fwd_kernel(u, delta, A, B, C, y, s0, sf, hbuf, Dm, N, L, BD: tl.constexpr, BN: tl.constexpr,
                HAS_S0: tl.constexpr, STORE_FINAL: tl.constexpr, STORE_H: tl.constexpr):
    i_d, i_b = tl.program_id(0), tl.program_id(1)
    rd = i_d * BD + tl.arange(0, BD)
    rn = tl.arange(0, BN)
    md, mn = rd < Dm, rn < N
    m = md[:, None] & mn[None, :]
    a = tl.load(A + rd[:, None] * N + rn[None, :], mask=m, other=0.0).to(tl.float32)
    h = tl.zeros([BD, BN], dtype=tl.float32)
    if HAS_S0:
        h = tl.load(s0 + (i_b * Dm + rd[:, None]) * N + rn[None, :], mask=m, other=0.0).to(tl.float32)
    for t in range(0, L):
        ut = tl.load(u + (i_b * Dm + rd) * L + t, mask=md, other=0.0).to(tl.float32)
        dt = tl.load(delta + (i_b * Dm + rd) * L + t, mask=md, other=0.0).to(tl.float32)
        bt = tl.load(B + (i_b * N + rn) * L + t, mask=mn, other=0.0).to(tl.float32)
        ct = tl.load(C + (i_b * N + rn) * L + t, mask=mn, other=0.0).to(tl.float32)
        h = tl.exp(dt[:, None] * a) * h + (dt * ut)[:, None] * bt[None, :]
        tl.store(y + (i_b * Dm + rd) * L + t, tl.sum(h * ct[None, :], axis=1), mask=md)
        if STORE_H:
            tl.store(hbuf + ((i_b * Dm + rd[:, None]) * L + t) * N + rn[None, :], h, mask=m)
    if STORE_FINAL:
        tl.store(sf + (i_b * Dm + rd[:, None]) * N + rn[None, :], h, mask=m)


@triton.jit
def _bwd_kernel(u, delta, A, B, C, dy, s0, dsf, hbuf, du, ddelta, dAp, dBp, dCp, ds0, Dm, N, L,
                BD: tl.constexpr, BN: tl.constexpr, HAS_S0: tl.constexpr, HAS_DSF: tl.constexpr):
    i_d, i_b = tl.program_id(0), tl.program_id(1)
    n_d = tl.num_programs(0)
    rd = i_d * BD + tl.arange(0, BD)
    rn = tl.arange(0, BN)
    md, mn = rd < Dm, rn < N
    m = md[:, None] & mn[None, :]
    a = tl.load(A + rd[:, None] * N + rn[None, :], mask=m, other=0.0).to(tl.float32)
    h0 = tl.zeros([BD, BN], dtype=tl.float32)
    if HAS_S0:
        h0 = tl.load(s0 + (i_b * Dm + rd[:, None]) * N + rn[None, :], mask=m, other=0.0).to(tl.float32)
    dh = tl.zeros([BD, BN], dtype=tl.float32)
    if HAS_DSF:
        dh = tl.load(dsf + (i_b * Dm + rd[:, None]) * N + rn[None, :], mask=m, other=0.0).to(tl.float32)
    da = tl.zeros([BD, BN], dtype=tl.float32)
    for idx in range(0, L):
        t = L - 1 - idx
        ut = tl.load(u + (i_b * Dm + rd) * L + t, mask=md, other=0.0).to(tl.float32)
        dt = tl.load(delta + (i_b * Dm + rd) * L + t, mask=md, other=0.0).to(tl.float32)
        dyt = tl.load(dy + (i_b * Dm + rd) * L + t, mask=md, other=0.0).to(tl.float32)
        bt = tl.load(B + (i_b * N + rn) * L + t, mask=mn, other=0.0).to(tl.float32)
        ct = tl.load(C + (i_b * N + rn) * L + t, mask=mn, other=0.0).to(tl.float32)
        ht = tl.load(hbuf + ((i_b * Dm + rd[:, None]) * L + t) * N + rn[None, :], mask=m, other=0.0)
        hp = tl.load(hbuf + ((i_b * Dm + rd[:, None]) * L + t - 1) * N + rn[None, :], mask=m & (t > 0), other=0.0)
        hp = tl.where(t > 0, hp, h0)
        dh += dyt[:, None] * ct[None, :]
        e = tl.exp(dt[:, None] * a)
        tl.store(dCp + ((i_b * n_d + i_d) * N + rn) * L + t, tl.sum(ht * dyt[:, None], axis=0), mask=mn)
        tl.store(dBp + ((i_b * n_d + i_d) * N + rn) * L + t, tl.sum(dh * (dt * ut)[:, None], axis=0), mask=mn)
        tl.store(du + (i_b * Dm + rd) * L + t, dt * tl.sum(dh * bt[None, :], axis=1), mask=md)
        tl.store(ddelta + (i_b * Dm + rd) * L + t,
                 tl.sum(dh * (a * e * hp + ut[:, None] * bt[None, :]), axis=1), mask=md)
        da += dh * dt[:, None] * e * hp
        dh = e * dh
    tl.store(dAp + (i_b * Dm + rd[:, None]) * N + rn[None, :], da, mask=m)
    tl.store(ds0 + (i_b * Dm + rd[:, None]) * N + rn[None, :], dh, mask=m)


def _geometry(u, A):
    Bt, Dm, L = u.shape
    N = A.shape[1]
    return Bt, Dm, L, N, block(N, 256), triton.cdiv(Dm, BD)


def scan_fwd(u, delta, A, B, C, s0, store_final, store_h=False):
    Bt, Dm, L, N, BN, ND = _geometry(u, A)
    y = torch.empty(Bt, Dm, L, device=u.device, dtype=torch.float32)
    sf = torch.empty(Bt, Dm, N, device=u.device, dtype=torch.float32) if store_final else y
    hbuf = torch.empty(Bt, Dm, L, N, device=u.device, dtype=torch.float32) if store_h else y
    _fwd_kernel[(ND, Bt)](u, delta, A, B, C, y, s0 if s0 is not None else y, sf, hbuf, Dm, N, L, BD, BN,
                          s0 is not None, store_final, store_h)
    return y, (sf if store_final else None), (hbuf if store_h else None)


class SelectiveScanFunction(torch.autograd.Function):
    """Core scan on fp32-contiguous inputs: (u, delta, A, B, C, s0) -> (y = C.h [Bt, D, L] fp32, h_L or None)."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, s0, output_final_state):
        u, delta, A, B, C = (x.contiguous() for x in (u, delta, A, B, C))
        s0 = s0.float().contiguous() if s0 is not None else None
        y, sf, _ = scan_fwd(u, delta, A, B, C, s0, output_final_state)
        ctx.save_for_backward(u, delta, A, B, C, s0)
        return y, sf

    @staticmethod
    def backward(ctx, dy, dsf):
        u, delta, A, B, C, s0 = ctx.saved_tensors
        Bt, Dm, L, N, BN, ND = _geometry(u, A)
        _, _, hbuf = scan_fwd(u, delta, A, B, C, s0, False, store_h=True)
        f32 = dict(device=u.device, dtype=torch.float32)
        du, ddelta = torch.empty(Bt, Dm, L, **f32), torch.empty(Bt, Dm, L, **f32)
        dAp, ds0 = torch.empty(Bt, Dm, N, **f32), torch.empty(Bt, Dm, N, **f32)
        dBp, dCp = torch.empty(Bt, ND, N, L, **f32), torch.empty(Bt, ND, N, L, **f32)
        dsf = dsf.float().contiguous() if dsf is not None else None
        _bwd_kernel[(ND, Bt)](u, delta, A, B, C, dy.float().contiguous(), s0 if s0 is not None else u,
                              dsf if dsf is not None else u, hbuf, du, ddelta, dAp, dBp, dCp, ds0, Dm, N, L, BD, BN,
                              s0 is not None, dsf is not None)
        return (du.to(u.dtype), ddelta.to(delta.dtype), dAp.sum(0).to(A.dtype), dBp.sum(1).to(B.dtype),
                dCp.sum(1).to(C.dtype), ds0 if s0 is not None else None, None)
