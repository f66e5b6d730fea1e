"""Triton kernels of gated linear attention (per-channel data-dependent decay), forward and backward.

GLA (Yang et al. 2024, Sec. 4): the sequence is scanned in chunks of BT = 64 positions with the
state S [K, V] in fp32 registers; b_t is the cumulative log-decay inside the chunk (b_t <= 0).

Intra-chunk, on tensor cores. The decay between key s and query t factorises around the chunk's
middle row m: e^{b_t - b_s} = e^{b_t - b_m} e^{b_m - b_s}, so
    A = (q * e^{b - b_m}) (k * e^{b_m - b})^T  (masked t >= s)
is one matrix product, and so are dq and dk in the backward pass. Each factor is bounded by
2^span, span = max |b - b_m| in log2 units; while span <= SPAN (2^64, far inside fp32/bf16 range,
and products over masked pairs t < s are discarded by the mask) the factorised form is exact up to
rounding. A chunk whose decay is stronger (its gates shut by more than ~2^-64 within 32 steps) takes
the secondary-chunking path of the paper: 16-step sub-chunks with the decay computed exactly per
channel, exp(b_t - b_s) with s <= t, stable for any gate. Inter-chunk terms only ever use
e^{b_t} and e^{b_C - b_s}, both <= 1.

As for linear attention, the sequence is split into segments handled by separate programs; each
segment's local state and total log-decay come from a first pass.

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

BT = 64        # chunk (32 for fp32 at head dims above 64: the 64-row fp32 backward needs 256 KiB of smem)
SPAN = 64.0    # largest |b_t - b_m| (log2 units) the factorised product is used for; m = BT/2 - 1


@triton.jit
def _rows(ptr, i_bh, pos, valid, N, r, D: tl.constexpr):
    base = ptr + i_bh.to(tl.int64) * N * D
    return tl.load(base + pos[:, None] * D + r[None, :], mask=valid[:, None] & (r[None, :] < D), other=0.0)


@triton.jit
def _store_rows(ptr, x, i_bh, pos, valid, N, r, D: tl.constexpr):
    base = ptr + i_bh.to(tl.int64) * N * D
    tl.store(base + pos[:, None] * D + r[None, :], x.to(ptr.dtype.element_ty), mask=valid[:, None] & (r[None, :] < D))


@triton.jit
def _row(x, rt, i: tl.constexpr):
    return tl.sum(tl.where(rt[:, None] == i, x, 0.0), axis=0)


@triton.jit
def _cum_log2(g, i_bh, pos, valid, N, rk, K: tl.constexpr):
    """Cumulative log-decay of the rows, in log2 units (exp2 is the hardware exponential)."""
    return tl.cumsum(_rows(g, i_bh, pos, valid, N, rk, K).to(tl.float32) * 1.4426950408889634, axis=0)


@triton.jit
def _state_step(S, k, v, g, i_bh, c0, seg_end, N, rk, rv, K: tl.constexpr, V: tl.constexpr,
                R: tl.constexpr, PREC: tl.constexpr):
    """S <- e^{b_L} S + (k e^{b_L - b})^T v over the R rows from c0 (every exponent <= 0); also b_L."""
    rt = tl.arange(0, R)
    pos = c0 + rt
    valid = pos < seg_end
    b = _cum_log2(g, i_bh, pos, valid, N, rk, K)
    bl = _row(b, rt, R - 1)
    vb = _rows(v, i_bh, pos, valid, N, rv, V)
    ke = (_rows(k, i_bh, pos, valid, N, rk, K).to(tl.float32) * tl.exp2(bl[None, :] - b)).to(vb.dtype)
    return tl.exp2(bl)[:, None] * S + tl.dot(tl.trans(ke), vb, input_precision=PREC), bl


@triton.jit
def _exact_fwd_step(q, k, v, g, o, S, scale, i_bh, c0, seg_end, N, rk, rv, K: tl.constexpr, V: tl.constexpr,
                    PREC: tl.constexpr):
    """Outputs of BC rows with the per-channel decay computed exactly (secondary chunking)."""
    rt = tl.arange(0, 16)
    pos = c0 + rt
    valid = pos < seg_end
    b = _cum_log2(g, i_bh, pos, valid, N, rk, K)
    qs = _rows(q, i_bh, pos, valid, N, rk, K).to(tl.float32) * scale
    kf = _rows(k, i_bh, pos, valid, N, rk, K).to(tl.float32)
    vb = _rows(v, i_bh, pos, valid, N, rv, V)
    causal3 = (rt[:, None] >= rt[None, :])[:, :, None]
    e = tl.exp2(tl.where(causal3, b[:, None, :] - b[None, :, :], float("-inf")))
    A = tl.sum(qs[:, None, :] * kf[None, :, :] * e, axis=2)
    ob = tl.dot(A.to(vb.dtype), vb, input_precision=PREC)
    ob += tl.dot((qs * tl.exp2(b)).to(vb.dtype), S.to(vb.dtype), input_precision=PREC)
    _store_rows(o, ob, i_bh, pos, valid, N, rv, V)
    S, _ = _state_step(S, k, v, g, i_bh, c0, seg_end, N, rk, rv, K, V, 16, PREC)
    return S


@triton.jit
def _seg_kernel(q, k, v, g, do, hs, gs, scale, N, NS, SEG_LEN, K: tl.constexpr, V: tl.constexpr,
                BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, REVERSE: tl.constexpr, PREC: tl.constexpr):
    """Per segment: total log-decay gs (natural log) and local state hs (forward: sum e^{B_e-B_s} k^T v;
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
        c0 = seg_start + c * BT
        if REVERSE:
            pos = c0 + rt
            valid = pos < seg_end
            b = _cum_log2(g, i_bh, pos, valid, N, rk, K)
            bl = _row(b, rt, BT - 1)
            dob = _rows(do, i_bh, pos, valid, N, rv, V)
            qe = (_rows(q, i_bh, pos, valid, N, rk, K).to(tl.float32) * scale * tl.exp2(b)).to(dob.dtype)
            h = tl.exp2(bl)[:, None] * h + tl.dot(tl.trans(qe), dob, input_precision=PREC)
        else:
            h, bl = _state_step(h, k, v, g, i_bh, c0, seg_end, N, rk, rv, K, V, BT, PREC)
        gsum += bl
    m = (rk[:, None] < K) & (rv[None, :] < V)
    tl.store(hs + ((i_bh * NS + i_s) * K + rk[:, None]) * V + rv[None, :], h, mask=m)
    tl.store(gs + (i_bh * NS + i_s) * K + rk, gsum * 0.6931471805599453, mask=rk < K)


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
def _span(b, rt, MID: tl.constexpr):
    d = b - _row(b, rt, MID)[None, :]
    return d, tl.max(tl.max(tl.abs(d), axis=1), axis=0)


@triton.jit
def _fwd_kernel(q, k, v, g, o, s0, hs, gs, sf, scale, N, NS, SEG_LEN, K: tl.constexpr, V: tl.constexpr,
                BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, MID: tl.constexpr, SPAN: tl.constexpr,
                HAS_S0: tl.constexpr, STORE_FINAL: tl.constexpr, OPD: tl.constexpr, SPREC: tl.constexpr,
                PREC: tl.constexpr):
    i_s, i_bh = tl.program_id(0), tl.program_id(1)
    seg_start = i_s * SEG_LEN
    seg_end = tl.minimum(seg_start + SEG_LEN, N)
    rk, rv, rt = tl.arange(0, BK), tl.arange(0, BV), tl.arange(0, BT)
    S = _entry_state(s0, hs, gs, i_bh, i_s, NS, rk, rv, K, V, BK, BV, HAS_S0, False)
    causal = rt[:, None] >= rt[None, :]
    for c0 in range(seg_start, seg_end, BT):
        pos = c0 + rt
        valid = pos < seg_end
        b = _cum_log2(g, i_bh, pos, valid, N, rk, K)
        d, span = _span(b, rt, MID)
        if span <= SPAN:
            vb = _rows(v, i_bh, pos, valid, N, rv, V)
            eq = tl.exp2(d)
            ek = tl.exp2(-d)
            bm = _row(b, rt, MID)
            bl = _row(b, rt, BT - 1)
            qs = _rows(q, i_bh, pos, valid, N, rk, K).to(tl.float32) * scale
            kf = _rows(k, i_bh, pos, valid, N, rk, K).to(tl.float32)
            A = tl.dot((qs * eq).to(OPD), tl.trans((kf * ek).to(OPD)), input_precision=SPREC)
            A = tl.where(causal, A, 0.0)
            ob = tl.dot(A.to(vb.dtype), vb, input_precision=PREC)
            ob += tl.dot((qs * eq * tl.exp2(bm)[None, :]).to(vb.dtype), S.to(vb.dtype), input_precision=PREC)
            _store_rows(o, ob, i_bh, pos, valid, N, rv, V)
            ke = (kf * ek * tl.exp2(bl - bm)[None, :]).to(vb.dtype)
            S = tl.exp2(bl)[:, None] * S + tl.dot(tl.trans(ke), vb, input_precision=PREC)
        else:
            for j in tl.static_range(BT // 16):
                S = _exact_fwd_step(q, k, v, g, o, S, scale, i_bh, c0 + j * 16, seg_end, N, rk, rv, K, V, PREC)
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
    rk, rv = tl.arange(0, BK), tl.arange(0, BV)
    m = (rk[:, None] < K) & (rv[None, :] < V)
    NC = tl.cdiv(N, BT)
    S = _entry_state(s0, hs, gs, i_bh, i_s, NS, rk, rv, K, V, BK, BV, HAS_S0, False)
    for c0 in range(seg_start, seg_end, BT):
        tl.store(sbuf + ((i_bh.to(tl.int64) * NC + c0 // BT) * K + rk[:, None]) * V + rv[None, :],
                 S.to(sbuf.dtype.element_ty), mask=m)
        S, _ = _state_step(S, k, v, g, i_bh, c0, seg_end, N, rk, rv, K, V, BT, PREC)


@triton.jit
def _grad_store(q, k, dq, dk, dv, dg, qf, kf, dqb, dkb, dvb, dk_state, S, R, bl, i_bh, pos, valid, N, rk, rv,
                K: tl.constexpr, V: tl.constexpr):
    """Stores dq, dk, dv and the gate gradient of the chunk-local cumulative decay:
    dg_t = sum_{i>=t in chunk} (q_i dq_i - k_i dk_i) + sum_j k_j dk_j^state + e^{b_L} rowsum(S_{c-1} * R)."""
    db = qf * dqb - kf * dkb
    dgb = tl.sum(db, axis=0)[None, :] - tl.cumsum(db, axis=0) + db
    dgb += (tl.sum(kf * dk_state, axis=0) + tl.exp2(bl) * tl.sum(S * R, axis=1))[None, :]
    _store_rows(dq, dqb, i_bh, pos, valid, N, rk, K)
    _store_rows(dk, dkb, i_bh, pos, valid, N, rk, K)
    _store_rows(dv, dvb, i_bh, pos, valid, N, rv, V)
    _store_rows(dg, dgb, i_bh, pos, valid, N, rk, K)


@triton.jit
def _exact_bwd_step(q, k, v, g, do, dq, dk, dv, dg, S, R, scale, i_bh, c0, seg_end, N, rk, rv,
                    K: tl.constexpr, V: tl.constexpr, PREC: tl.constexpr):
    """Gradients of 16 rows entered with state S and left with gradient R, decay computed exactly."""
    rt = tl.arange(0, 16)
    pos = c0 + rt
    valid = pos < seg_end
    b = _cum_log2(g, i_bh, pos, valid, N, rk, K)
    bl = _row(b, rt, 15)
    qf = _rows(q, i_bh, pos, valid, N, rk, K).to(tl.float32)
    kf = _rows(k, i_bh, pos, valid, N, rk, K).to(tl.float32)
    vb = _rows(v, i_bh, pos, valid, N, rv, V)
    dob = _rows(do, i_bh, pos, valid, N, rv, V)
    qs = qf * scale
    causal = rt[:, None] >= rt[None, :]
    e = tl.exp2(tl.where(causal[:, :, None], b[:, None, :] - b[None, :, :], float("-inf")))   # [t, s, d]
    A = tl.sum(qs[:, None, :] * kf[None, :, :] * e, axis=2)                                 # [t, s]
    Ad = tl.where(causal, tl.dot(dob, tl.trans(vb), input_precision=PREC), 0.0)             # [t, s]
    kdec = tl.exp2(bl[None, :] - b)
    dqb = tl.sum(Ad[:, :, None] * kf[None, :, :] * e, axis=1)
    dqb += tl.exp2(b) * tl.dot(dob, tl.trans(S.to(dob.dtype)), input_precision=PREC)
    dqb = dqb * scale
    dk_state = kdec * tl.dot(vb, tl.trans(R.to(vb.dtype)), input_precision=PREC)
    dkb = tl.sum(Ad[:, :, None] * qs[:, None, :] * e, axis=0) + dk_state
    dvb = tl.dot(tl.trans(A.to(dob.dtype)), dob, input_precision=PREC)
    dvb += tl.dot((kf * kdec).to(dob.dtype), R.to(dob.dtype), input_precision=PREC)
    _grad_store(q, k, dq, dk, dv, dg, qf, kf, dqb, dkb, dvb, dk_state, S, R, bl, i_bh, pos, valid, N, rk, rv, K, V)
    qe = (qs * tl.exp2(b)).to(dob.dtype)
    return tl.exp2(bl)[:, None] * R + tl.dot(tl.trans(qe), dob, input_precision=PREC)


@triton.jit
def _bwd_kernel(q, k, v, g, do, sbuf, dq, dk, dv, dg, dsf, hs, gs, ds0, scale, N, NS, SEG_LEN,
                K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
                MID: tl.constexpr, SPAN: tl.constexpr, HAS_DSF: tl.constexpr, STORE_DS0: tl.constexpr,
                OPD: tl.constexpr, SPREC: tl.constexpr, PREC: tl.constexpr):
    """Backward pass 2, backward in time with R = dL/dS_c: dq, dk, dv and the gate gradient."""
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
        S = tl.load(sbuf + ((i_bh.to(tl.int64) * NC + c0 // BT) * K + rk[:, None]) * V + rv[None, :], mask=m,
                    other=0.0).to(tl.float32)
        b = _cum_log2(g, i_bh, pos, valid, N, rk, K)
        d, span = _span(b, rt, MID)
        if span <= SPAN:
            bm = _row(b, rt, MID)
            bl = _row(b, rt, BT - 1)
            qf = _rows(q, i_bh, pos, valid, N, rk, K).to(tl.float32)
            kf = _rows(k, i_bh, pos, valid, N, rk, K).to(tl.float32)
            vb = _rows(v, i_bh, pos, valid, N, rv, V)
            dob = _rows(do, i_bh, pos, valid, N, rv, V)
            eq = tl.exp2(d)
            ek = tl.exp2(-d)
            qs = qf * scale
            qt = (qs * eq).to(OPD)
            kt = (kf * ek).to(OPD)
            A = tl.where(causal, tl.dot(qt, tl.trans(kt), input_precision=SPREC), 0.0)
            Ad = tl.where(causal, tl.dot(dob, tl.trans(vb), input_precision=PREC), 0.0)
            eb = eq * tl.exp2(bm)[None, :]                 # e^{b_t}
            kdec = ek * tl.exp2(bl - bm)[None, :]          # e^{b_C - b_s}
            dqb = eq * tl.dot(Ad.to(OPD), kt, input_precision=SPREC)
            dqb += eb * tl.dot(dob, tl.trans(S.to(dob.dtype)), input_precision=PREC)
            dqb = dqb * scale
            dk_state = kdec * tl.dot(vb, tl.trans(R.to(vb.dtype)), input_precision=PREC)
            dkb = ek * tl.dot(tl.trans(Ad).to(OPD), qt, input_precision=SPREC) + dk_state
            dvb = tl.dot(tl.trans(A.to(dob.dtype)), dob, input_precision=PREC)
            dvb += tl.dot((kf * kdec).to(dob.dtype), R.to(dob.dtype), input_precision=PREC)
            _grad_store(q, k, dq, dk, dv, dg, qf, kf, dqb, dkb, dvb, dk_state, S, R, bl, i_bh, pos, valid, N,
                        rk, rv, K, V)
            R = tl.exp2(bl)[:, None] * R + tl.dot(tl.trans((qs * eb).to(dob.dtype)), dob, input_precision=PREC)
        else:
            # sub-chunks last to first; the state entering each is rebuilt from the chunk's
            for jj in tl.static_range(BT // 16):
                j = BT // 16 - 1 - jj
                Sj = S
                for i in range(0, j):
                    Sj, _ = _state_step(Sj, k, v, g, i_bh, c0 + i * 16, seg_end, N, rk, rv, K, V, 16, PREC)
                R = _exact_bwd_step(q, k, v, g, do, dq, dk, dv, dg, Sj, R, scale, i_bh, c0 + j * 16, seg_end, N,
                                    rk, rv, K, V, PREC)
    if STORE_DS0:
        if i_s == 0:
            tl.store(ds0 + (i_bh * K + rk[:, None]) * V + rv[None, :], R, mask=m)


# ----------------------------------------------------------------------------- launchers
def warps(big: bool, backward: bool) -> int:
    """Warps per program (a function so a benchmark can sweep it). H100, B=2 H=8 N=131072 D=64 bf16:
    fwd 1.26 ms with 4 warps / 2.07 with 8; fwd+bwd 10.3 ms with 4 backward warps / 7.7 with 8."""
    return 8 if big or backward else 4


def _geometry(q, v, backward=False):
    B, H, N, K = q.shape
    V = v.shape[-1]
    big = max(K, V) > 64
    bt = 32 if big and q.dtype == torch.float32 else BT
    NS, SEG_LEN = segments(N, bt, B * H)
    # 128-wide tiles overflow Hopper's 227 KiB of shared memory with the default pipeline
    launch = dict(num_warps=warps(big, backward))
    if big:
        launch["num_stages"] = 1
    return B, H, N, K, V, block(K, 256), block(V, 256), NS, SEG_LEN, bt, launch


def _operand(dtype):
    """(dtype, precision) of the decay-scaled operands of the intra-chunk products. They span
    2^{+-SPAN}, beyond fp16's range, so fp16 inputs multiply them in fp32 on the FMA units (tf32
    tensor-core dots of a transposed register operand faulted on the H100); bf16 has fp32's range."""
    return (tl.bfloat16, "tf32") if dtype == torch.bfloat16 else (tl.float32, "ieee")


def _seg_states(q, k, v, g, do, scale, reverse):
    B, H, N, K, V, BK, BV, NS, SEG_LEN, bt, launch = _geometry(q, v, backward=reverse)
    hs = torch.empty(B * H, NS, K, V, device=q.device, dtype=torch.float32)
    gs = torch.empty(B * H, NS, K, device=q.device, dtype=torch.float32)
    _seg_kernel[(NS, B * H)](q, k, v, g, do if do is not None else v, hs, gs, float(scale), N, NS, SEG_LEN,
                             K, V, bt, BK, BV, reverse, dot_precision(q.dtype), **launch)
    return hs, gs


def gla_fwd(q, k, v, g, scale, s0, store_final):
    B, H, N, K, V, BK, BV, NS, SEG_LEN, bt, launch = _geometry(q, v)
    hs, gs = _seg_states(q, k, v, g, None, scale, reverse=False)
    o = torch.empty_like(v)
    sf = torch.empty(B, H, K, V, device=q.device, dtype=torch.float32) if store_final else o
    _fwd_kernel[(NS, B * H)](q, k, v, g, o, s0 if s0 is not None else o, hs, gs, sf, float(scale), N, NS,
                             SEG_LEN, K, V, bt, BK, BV, bt // 2 - 1, SPAN, s0 is not None, store_final,
                             *_operand(q.dtype), dot_precision(q.dtype), **launch)
    return o, (sf if store_final else None), hs, gs


def gla_bwd(q, k, v, g, do, dsf, scale, s0, hs, gs, need_ds0):
    B, H, N, K, V, BK, BV, NS, SEG_LEN, bt, launch = _geometry(q, v, backward=True)
    prec = dot_precision(q.dtype)
    # states entering each chunk; half inputs keep them in their dtype (the dots round them to it anyway)
    sbuf = torch.empty(B * H, triton.cdiv(N, bt), K, V, device=q.device,
                       dtype=torch.float32 if q.dtype == torch.float32 else q.dtype)
    _bwd_state_kernel[(NS, B * H)](k, v, g, sbuf, s0 if s0 is not None else q, hs, gs, N, NS, SEG_LEN, K, V,
                                   bt, BK, BV, s0 is not None, prec, **launch)
    rhs, _ = _seg_states(q, k, v, g, do, scale, reverse=True)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    dg = torch.empty_like(g, dtype=torch.float32)
    ds0 = torch.empty(B, H, K, V, device=q.device, dtype=torch.float32) if need_ds0 else q
    _bwd_kernel[(NS, B * H)](q, k, v, g, do, sbuf, dq, dk, dv, dg, dsf if dsf is not None else q, rhs, gs, ds0,
                             float(scale), N, NS, SEG_LEN, K, V, bt, BK, BV, bt // 2 - 1, SPAN, dsf is not None, need_ds0,
                             *_operand(q.dtype), prec, **launch)
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
