"""Triton kernels of gated linear attention (per-channel data-dependent decay), forward and backward.

GLA (Yang et al. 2024, Sec. 4): the sequence is scanned in chunks of BT=16 positions with the
state S [K, V] in fp32 registers. Inside a chunk the decay between t and s is computed exactly
per channel, exp(b_t - b_s) with s <= t (an exponent <= 0, so stable for any decay: this is the
secondary-chunking level; the chunk itself is the "sub-chunk" of the paper). As for linear
attention, the sequence is split into segments handled by separate programs; each segment's
local state and total log-decay come from a first pass.

Backward (derived from S_t = diag(e^{g_t}) S_{t-1} + k_t^T v_t):
    dq_t = scale [ sum_{s<=t} (do_t . v_s) k_s e^{b_t-b_s} + e^{b_t} (S_prev do_t) ]         forward in time
    dk_s = sum_{t>=s} (do_t . v_s) q^_t e^{b_t-b_s} + e^{b_C-b_s} (R v_s)                    backward in time
    dv_s = sum_{t>=s} (q^_t . k_s e^{b_t-b_s}) do_t + R^T (k_s e^{b_C-b_s})
with R the gradient carried in from later chunks. The gate gradient is that of the chunk-local
cumulative decay: a reverse cumsum inside the chunk plus the chunk's state terms, where the state
entering each chunk (written by a first backward pass) meets R. A reverse cumsum of q.dq - k.dk over
the whole sequence would be the same number in exact arithmetic but loses precision with N.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._triton_utils import block, dot_precision, segments

BT = 16


@triton.jit
def _load_chunk(q, k, v, g, i_bh, pos, valid, N, rk, rv, K: tl.constexpr, V: tl.constexpr):
    mk = valid[:, None] & (rk[None, :] < K)
    mv = valid[:, None] & (rv[None, :] < V)
    qb = tl.load(q + i_bh * N * K + pos[:, None] * K + rk[None, :], mask=mk, other=0.0)
    kb = tl.load(k + i_bh * N * K + pos[:, None] * K + rk[None, :], mask=mk, other=0.0)
    vb = tl.load(v + i_bh * N * V + pos[:, None] * V + rv[None, :], mask=mv, other=0.0)
    gb = tl.load(g + i_bh * N * K + pos[:, None] * K + rk[None, :], mask=mk, other=0.0).to(tl.float32)
    return qb, kb, vb, gb


@triton.jit
def _last_row(x, rt, BT: tl.constexpr):
    return tl.sum(tl.where(rt[:, None] == BT - 1, x, 0.0), axis=0)


@triton.jit
def _seg_kernel(q, k, v, g, do, hs, gs, scale, N, NS, SEG_LEN, K: tl.constexpr, V: tl.constexpr,
                BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, REVERSE: tl.constexpr, PREC: tl.constexpr):
    """Per segment: total log-decay gs and local state hs (forward: sum e^{B_e-B_s} k^T v;
    reverse: sum e^{B_t-B_a} q^T do, the gradient carried out of the segment's start)."""
    i_s, i_bh = tl.program_id(0), tl.program_id(1)
    seg_start = i_s * SEG_LEN
    seg_end = tl.minimum(seg_start + SEG_LEN, N)
    n_chunks = tl.cdiv(seg_end - seg_start, BT)
    rk, rv, rt = tl.arange(0, BK), tl.arange(0, BV), tl.arange(0, BT)
    h = tl.zeros([BK, BV], dtype=tl.float32)
    gsum = tl.zeros([BK], dtype=tl.float32)
    for idx in range(0, n_chunks):
        c = (n_chunks - 1 - idx) if REVERSE else idx
        pos = seg_start + c * BT + rt
        valid = pos < seg_end
        qb, kb, vb, gb = _load_chunk(q, k, v, g, i_bh, pos, valid, N, rk, rv, K, V)
        b = tl.cumsum(gb, axis=0)
        b_last = _last_row(b, rt, BT)
        gsum += b_last
        if REVERSE:
            dob = tl.load(do + i_bh * N * V + pos[:, None] * V + rv[None, :],
                          mask=valid[:, None] & (rv[None, :] < V), other=0.0)
            qe = (qb.to(tl.float32) * scale * tl.exp(b)).to(dob.dtype)
            h = tl.exp(b_last)[:, None] * h + tl.dot(tl.trans(qe), dob, input_precision=PREC)
        else:
            ke = (kb.to(tl.float32) * tl.exp(b_last[None, :] - b)).to(vb.dtype)
            h = tl.exp(b_last)[:, None] * h + tl.dot(tl.trans(ke), vb, input_precision=PREC)
    m = (rk[:, None] < K) & (rv[None, :] < V)
    tl.store(hs + ((i_bh * NS + i_s) * K + rk[:, None]) * V + rv[None, :], h, mask=m)
    tl.store(gs + (i_bh * NS + i_s) * K + rk, gsum, mask=rk < K)


@triton.jit
def _entry_state(s0, hs, gs, i_bh, i_s, NS, rk, rv, K: tl.constexpr, V: tl.constexpr,
                 BK: tl.constexpr, BV: tl.constexpr, HAS_S0: tl.constexpr, REVERSE: tl.constexpr):
    """State entering segment i_s: s0 run through the segments before it (after it when REVERSE)."""
    m = (rk[:, None] < K) & (rv[None, :] < V)
    S = tl.zeros([BK, BV], dtype=tl.float32)
    if HAS_S0:
        S = tl.load(s0 + (i_bh * K + rk[:, None]) * V + rv[None, :], mask=m, other=0.0).to(tl.float32)
    for idx in range(0, NS):
        j = (NS - 1 - idx) if REVERSE else idx
        use = (j > i_s) if REVERSE else (j < i_s)
        hj = tl.load(hs + ((i_bh * NS + j) * K + rk[:, None]) * V + rv[None, :], mask=m & use, other=0.0)
        gj = tl.load(gs + (i_bh * NS + j) * K + rk, mask=(rk < K) & use, other=0.0)
        S = tl.exp(gj)[:, None] * S + hj
    return S


@triton.jit
def _fwd_kernel(q, k, v, g, o, s0, hs, gs, sf, scale, N, NS, SEG_LEN, K: tl.constexpr, V: tl.constexpr,
                BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, HAS_S0: tl.constexpr,
                STORE_FINAL: tl.constexpr, PREC: tl.constexpr):
    i_s, i_bh = tl.program_id(0), tl.program_id(1)
    seg_start = i_s * SEG_LEN
    seg_end = tl.minimum(seg_start + SEG_LEN, N)
    rk, rv, rt = tl.arange(0, BK), tl.arange(0, BV), tl.arange(0, BT)
    S = _entry_state(s0, hs, gs, i_bh, i_s, NS, rk, rv, K, V, BK, BV, HAS_S0, False)
    causal3 = (rt[:, None] >= rt[None, :])[:, :, None]
    for c0 in range(seg_start, seg_end, BT):
        pos = c0 + rt
        valid = pos < seg_end
        qb, kb, vb, gb = _load_chunk(q, k, v, g, i_bh, pos, valid, N, rk, rv, K, V)
        b = tl.cumsum(gb, axis=0)
        b_last = _last_row(b, rt, BT)
        qs = qb.to(tl.float32) * scale
        e = tl.exp(tl.where(causal3, b[:, None, :] - b[None, :, :], float("-inf")))
        A = tl.sum(qs[:, None, :] * kb.to(tl.float32)[None, :, :] * e, axis=2)
        ob = tl.dot(A.to(vb.dtype), vb, input_precision=PREC)
        ob += tl.dot((qs * tl.exp(b)).to(vb.dtype), S.to(vb.dtype), input_precision=PREC)
        tl.store(o + i_bh * N * V + pos[:, None] * V + rv[None, :], ob.to(o.dtype.element_ty),
                 mask=valid[:, None] & (rv[None, :] < V))
        ke = (kb.to(tl.float32) * tl.exp(b_last[None, :] - b)).to(vb.dtype)
        S = tl.exp(b_last)[:, None] * S + tl.dot(tl.trans(ke), vb, input_precision=PREC)
    if STORE_FINAL:
        if i_s == NS - 1:
            tl.store(sf + (i_bh * K + rk[:, None]) * V + rv[None, :], S, mask=(rk[:, None] < K) & (rv[None, :] < V))


@triton.jit
def _bwd_state_kernel(k, v, g, sbuf, s0, hs, gs, N, NS, SEG_LEN, K: tl.constexpr, V: tl.constexpr,
                      BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, HAS_S0: tl.constexpr,
                      PREC: tl.constexpr):
    """Backward pass 1, forward in time: writes the state S_{c-1} entering every chunk."""
    i_s, i_bh = tl.program_id(0), tl.program_id(1)
    seg_start = i_s * SEG_LEN
    seg_end = tl.minimum(seg_start + SEG_LEN, N)
    rk, rv, rt = tl.arange(0, BK), tl.arange(0, BV), tl.arange(0, BT)
    m = (rk[:, None] < K) & (rv[None, :] < V)
    NC = tl.cdiv(N, BT)
    S = _entry_state(s0, hs, gs, i_bh, i_s, NS, rk, rv, K, V, BK, BV, HAS_S0, False)
    for c0 in range(seg_start, seg_end, BT):
        tl.store(sbuf + ((i_bh * NC + c0 // BT) * K + rk[:, None]) * V + rv[None, :],
                 S.to(sbuf.dtype.element_ty), mask=m)
        pos = c0 + rt
        valid = pos < seg_end
        mk = valid[:, None] & (rk[None, :] < K)
        kb = tl.load(k + i_bh * N * K + pos[:, None] * K + rk[None, :], mask=mk, other=0.0)
        vb = tl.load(v + i_bh * N * V + pos[:, None] * V + rv[None, :], mask=valid[:, None] & (rv[None, :] < V),
                     other=0.0)
        gb = tl.load(g + i_bh * N * K + pos[:, None] * K + rk[None, :], mask=mk, other=0.0).to(tl.float32)
        b = tl.cumsum(gb, axis=0)
        b_last = _last_row(b, rt, BT)
        ke = (kb.to(tl.float32) * tl.exp(b_last[None, :] - b)).to(vb.dtype)
        S = tl.exp(b_last)[:, None] * S + tl.dot(tl.trans(ke), vb, input_precision=PREC)


@triton.jit
def _bwd_kernel(q, k, v, g, do, sbuf, dq, dk, dv, dg, dsf, hs, gs, ds0, scale, N, NS, SEG_LEN,
                K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
                HAS_DSF: tl.constexpr, STORE_DS0: tl.constexpr, PREC: tl.constexpr):
    """Backward pass 2, backward in time with R = dL/dS_c: dq, dk, dv and the gate gradient
    dg_t = sum_{i>=t in chunk} (q_i dq_i - k_i dk_i) + sum_j k_j dk_j^state + e^{b_L} rowsum(S_{c-1} * R),
    i.e. the gradient of the chunk-local cumulative decay b (no reverse cumsum beyond the chunk)."""
    i_s, i_bh = tl.program_id(0), tl.program_id(1)
    seg_start = i_s * SEG_LEN
    seg_end = tl.minimum(seg_start + SEG_LEN, N)
    n_chunks = tl.cdiv(seg_end - seg_start, BT)
    rk, rv, rt = tl.arange(0, BK), tl.arange(0, BV), tl.arange(0, BT)
    m = (rk[:, None] < K) & (rv[None, :] < V)
    NC = tl.cdiv(N, BT)
    R = _entry_state(dsf, hs, gs, i_bh, i_s, NS, rk, rv, K, V, BK, BV, HAS_DSF, True)
    causal = rt[:, None] >= rt[None, :]   # [t, s]: t >= s
    for idx in range(0, n_chunks):
        c0 = seg_start + (n_chunks - 1 - idx) * BT
        pos = c0 + rt
        valid = pos < seg_end
        mk = valid[:, None] & (rk[None, :] < K)
        mv = valid[:, None] & (rv[None, :] < V)
        qb, kb, vb, gb = _load_chunk(q, k, v, g, i_bh, pos, valid, N, rk, rv, K, V)
        dob = tl.load(do + i_bh * N * V + pos[:, None] * V + rv[None, :], mask=mv, other=0.0)
        S = tl.load(sbuf + ((i_bh * NC + c0 // BT) * K + rk[:, None]) * V + rv[None, :], mask=m,
                    other=0.0).to(tl.float32)
        b = tl.cumsum(gb, axis=0)
        b_last = _last_row(b, rt, BT)
        qf, kf = qb.to(tl.float32), kb.to(tl.float32)
        qs = qf * scale
        e = tl.exp(tl.where(causal[:, :, None], b[:, None, :] - b[None, :, :], float("-inf")))   # [t, s, d]
        A = tl.sum(qs[:, None, :] * kf[None, :, :] * e, axis=2)                                # [t, s]
        Ad = tl.where(causal, tl.dot(dob, tl.trans(vb), input_precision=PREC), 0.0)           # [t, s]
        kdec = tl.exp(b_last[None, :] - b)                                                      # e^{b_C - b_s}
        dqb = tl.sum(Ad[:, :, None] * kf[None, :, :] * e, axis=1)
        dqb += tl.exp(b) * tl.dot(dob, tl.trans(S.to(dob.dtype)), input_precision=PREC)
        dqb = dqb * scale
        dk_state = kdec * tl.dot(vb, tl.trans(R.to(vb.dtype)), input_precision=PREC)
        dkb = tl.sum(Ad[:, :, None] * qs[:, None, :] * e, axis=0) + dk_state
        dvb = tl.dot(tl.trans(A.to(dob.dtype)), dob, input_precision=PREC)
        dvb += tl.dot((kf * kdec).to(dob.dtype), R.to(dob.dtype), input_precision=PREC)
        # gate gradient: reverse cumsum inside the chunk only, plus the chunk's state terms
        db = qf * dqb - kf * dkb
        dgb = tl.sum(db, axis=0)[None, :] - tl.cumsum(db, axis=0) + db
        dgb += (tl.sum(kf * dk_state, axis=0) + tl.exp(b_last) * tl.sum(S * R, axis=1))[None, :]
        tl.store(dq + i_bh * N * K + pos[:, None] * K + rk[None, :], dqb.to(dq.dtype.element_ty), mask=mk)
        tl.store(dk + i_bh * N * K + pos[:, None] * K + rk[None, :], dkb.to(dk.dtype.element_ty), mask=mk)
        tl.store(dv + i_bh * N * V + pos[:, None] * V + rv[None, :], dvb.to(dv.dtype.element_ty), mask=mv)
        tl.store(dg + i_bh * N * K + pos[:, None] * K + rk[None, :], dgb.to(dg.dtype.element_ty), mask=mk)
        qe = (qs * tl.exp(b)).to(dob.dtype)
        R = tl.exp(b_last)[:, None] * R + tl.dot(tl.trans(qe), dob, input_precision=PREC)
    if STORE_DS0:
        if i_s == 0:
            tl.store(ds0 + (i_bh * K + rk[:, None]) * V + rv[None, :], R, mask=m)


# ----------------------------------------------------------------------------- launchers
def _geometry(q, v):
    B, H, N, K = q.shape
    V = v.shape[-1]
    NS, SEG_LEN = segments(N, BT, B * H)
    warps = 4 if max(K, V) <= 64 else 8
    # fp32 tiles at K = V = 128 ask 281 KiB of shared memory with the default 3-stage pipeline
    # (Hopper has 227 KiB); halves fit.
    if q.dtype == torch.float32 and max(K, V) > 64:
        launch = dict(num_warps=warps, num_stages=1)
    else:
        launch = dict(num_warps=warps)
    return B, H, N, K, V, block(K, 256), block(V, 256), NS, SEG_LEN, launch


def _seg_states(q, k, v, g, do, scale, reverse):
    B, H, N, K, V, BK, BV, NS, SEG_LEN, launch = _geometry(q, v)
    hs = torch.empty(B * H, NS, K, V, device=q.device, dtype=torch.float32)
    gs = torch.empty(B * H, NS, K, device=q.device, dtype=torch.float32)
    _seg_kernel[(NS, B * H)](q, k, v, g, do if do is not None else v, hs, gs, float(scale), N, NS, SEG_LEN,
                             K, V, BT, BK, BV, reverse, dot_precision(q.dtype), **launch)
    return hs, gs


def gla_fwd(q, k, v, g, scale, s0, store_final):
    B, H, N, K, V, BK, BV, NS, SEG_LEN, launch = _geometry(q, v)
    hs, gs = _seg_states(q, k, v, g, None, scale, reverse=False)
    o = torch.empty_like(v)
    sf = torch.empty(B, H, K, V, device=q.device, dtype=torch.float32) if store_final else o
    _fwd_kernel[(NS, B * H)](q, k, v, g, o, s0 if s0 is not None else o, hs, gs, sf, float(scale), N, NS,
                             SEG_LEN, K, V, BT, BK, BV, s0 is not None, store_final, dot_precision(q.dtype),
                             **launch)
    return o, (sf if store_final else None), hs, gs


def gla_bwd(q, k, v, g, do, dsf, scale, s0, hs, gs, need_ds0):
    B, H, N, K, V, BK, BV, NS, SEG_LEN, launch = _geometry(q, v)
    prec = dot_precision(q.dtype)
    # states entering each chunk; half inputs keep them in their dtype (the dots round them to it anyway)
    sbuf = torch.empty(B * H, triton.cdiv(N, BT), K, V, device=q.device,
                       dtype=torch.float32 if q.dtype == torch.float32 else q.dtype)
    _bwd_state_kernel[(NS, B * H)](k, v, g, sbuf, s0 if s0 is not None else q, hs, gs, N, NS, SEG_LEN, K, V,
                                   BT, BK, BV, s0 is not None, prec, **launch)
    rhs, _ = _seg_states(q, k, v, g, do, scale, reverse=True)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    dg = torch.empty_like(g, dtype=torch.float32)
    ds0 = torch.empty(B, H, K, V, device=q.device, dtype=torch.float32) if need_ds0 else q
    _bwd_kernel[(NS, B * H)](q, k, v, g, do, sbuf, dq, dk, dv, dg, dsf if dsf is not None else q, rhs, gs, ds0,
                             float(scale), N, NS, SEG_LEN, K, V, BT, BK, BV, dsf is not None, need_ds0, prec,
                             **launch)
    return dq, dk, dv, dg, (ds0 if need_ds0 else None)


# ----------------------------------------------------------------------------- autograd
class GLAFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, g, scale, initial_state, output_final_state):
        q, k, v, g = q.contiguous(), k.contiguous(), v.contiguous(), g.contiguous()
        s0 = initial_state.float().contiguous() if initial_state is not None else None
        o, sf, hs, gs = gla_fwd(q, k, v, g, scale, s0, output_final_state)
        ctx.save_for_backward(q, k, v, g, s0, hs, gs)
        ctx.scale = scale
        ctx.s0_dtype = initial_state.dtype if initial_state is not None else None
        return o, sf

    @staticmethod
    def backward(ctx, do, dsf):
        q, k, v, g, s0, hs, gs = ctx.saved_tensors
        dsf = dsf.float().contiguous() if dsf is not None else None
        need_ds0 = s0 is not None and ctx.needs_input_grad[5]
        dq, dk, dv, dg, ds0 = gla_bwd(q, k, v, g, do.contiguous(), dsf, ctx.scale, s0, hs, gs, need_ds0)
        dg = dg.to(g.dtype) if ctx.needs_input_grad[3] else None
        return dq, dk, dv, dg, None, (ds0.to(ctx.s0_dtype) if ds0 is not None else None), None
