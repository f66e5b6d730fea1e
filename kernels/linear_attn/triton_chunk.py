"""Triton kernels of lightning (decayed) linear attention, forward and backward.

Lightning Attention-2 (Qin et al. 2024, Alg. 1-2): a chunk of BT positions is handled with
a masked quadratic product (intra) plus the running K^T V state (inter), state kept in fp32
registers. To fill the GPU at long N, the sequence is cut into NS segments handled by
separate programs: a first pass writes each segment's local state, and each program of the
second pass starts from the decayed sum of the states of the segments before it.

The backward pass (Alg. 2 of the paper) takes two passes: the first, forward in time, carries the
state S and forms dq; the second, backward in time, carries dL/dS and forms dk, dv. The forward's
segment states are reused. The per-head log-decay gradient sum_{i>=j} (i-j) l^(i-j) scale
(q_i.k_j)(do_i.v_j) is split by where the pair lies: inside a chunk (pass 2), key before the query's
chunk (pass 1, which carries a second, distance-weighted state beside S), and the remainder of
pairs that span segments (one inner product per segment in pass 2); all in fp32 with weights no
larger than a segment. The identity dB_t = q.dq - k.dk with B_t = g (t+1) gives the same number in
exact arithmetic, but its weights grow with N and its terms cancel, which cost 3-4 digits at N = 3001.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._triton_utils import block, dot_precision, segments

BT = 64


# ----------------------------------------------------------------------------- kernels
@triton.jit
def _scale_rows(x, w):
    """x [rows, cols] times w [rows], in x's dtype, which the product feeds a dot in anyway: 16-bit tiles
    are multiplied as such (mul.bf16 / fma.rn.bf16), without a round trip through fp32."""
    return x * w[:, None].to(x.dtype)


@triton.jit
def _chunk_decay(gl, scale, causal, diff, rt, BT: tl.constexpr):
    """Decay factors that are the same in every chunk, computed once per program (the compiler does
    not hoist them): the masked intra-chunk l^(i-j) and the query's l^(i+1), both times the scale,
    which so multiplies fp32 products rather than q, and a full chunk's key weights l^(BT-1-j) (a
    shorter last chunk scales them by l^(c_len-BT))."""
    dmask = tl.where(causal, tl.exp(gl * tl.maximum(diff, 0.0)), 0.0) * scale
    return dmask, tl.exp(gl * (rt + 1).to(tl.float32)) * scale, tl.exp(gl * (BT - 1 - rt).to(tl.float32))


@triton.jit
def _seg_state_kernel(k, v, hs, g, N, NS, SEG_LEN, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr,
                      BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, HAS_DECAY: tl.constexpr,
                      PREC: tl.constexpr):
    """hs[bh, s] = sum over the segment of lambda^(end-1-p) k_p^T v_p (segment starts from zero)."""
    i_v, i_s, i_bh = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    seg_start = i_s * SEG_LEN
    seg_end = tl.minimum(seg_start + SEG_LEN, N)
    rk = tl.arange(0, BK)
    rv = i_v * BV + tl.arange(0, BV)
    rt = tl.arange(0, BT)
    h = tl.zeros([BK, BV], dtype=tl.float32)
    gl = 0.0
    if HAS_DECAY:
        gl = tl.load(g + i_bh % H).to(tl.float32)
    for c0 in range(seg_start, seg_end, BT):
        pos = c0 + rt
        valid = pos < seg_end
        kb = tl.load(k + i_bh * N * K + pos[:, None] * K + rk[None, :],
                     mask=valid[:, None] & (rk[None, :] < K), other=0.0)
        vb = tl.load(v + i_bh * N * V + pos[:, None] * V + rv[None, :],
                     mask=valid[:, None] & (rv[None, :] < V), other=0.0)
        if HAS_DECAY:
            c_len = tl.minimum(c0 + BT, seg_end) - c0
            wk = tl.where(valid, tl.exp(gl * (c_len - 1 - rt).to(tl.float32)), 0.0)
            h = h * tl.exp(gl * c_len.to(tl.float32)) + tl.dot(tl.trans(_scale_rows(kb, wk)), vb, input_precision=PREC)
        else:
            h += tl.dot(tl.trans(kb), vb, input_precision=PREC)
    tl.store(hs + ((i_bh * NS + i_s) * K + rk[:, None]) * V + rv[None, :], h,
             mask=(rk[:, None] < K) & (rv[None, :] < V))


@triton.jit
def _entry_state(s0, hs, g, i_bh, i_s, NS, SEG_LEN, seg_start, rk, rv, H: tl.constexpr, K: tl.constexpr,
                 V: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, HAS_DECAY: tl.constexpr,
                 HAS_S0: tl.constexpr):
    """State entering segment i_s (full K x V): decayed S0 plus the local states of earlier segments."""
    m = (rk[:, None] < K) & (rv[None, :] < V)
    gl = 0.0
    if HAS_DECAY:
        gl = tl.load(g + i_bh % H).to(tl.float32)
    S = tl.zeros([BK, BV], dtype=tl.float32)
    if HAS_S0:
        S = tl.load(s0 + (i_bh * K + rk[:, None]) * V + rv[None, :], mask=m, other=0.0).to(tl.float32)
        if HAS_DECAY:
            S = S * tl.exp(gl * seg_start.to(tl.float32))
    for j in range(0, NS - 1):
        before = j < i_s
        hj = tl.load(hs + ((i_bh * NS + j) * K + rk[:, None]) * V + rv[None, :], mask=m & before, other=0.0)
        if HAS_DECAY:
            hj = hj * tl.exp(gl * tl.where(before, (i_s - 1 - j) * SEG_LEN, 0).to(tl.float32))
        S += hj
    return S


@triton.jit
def _scan_fwd_kernel(q, k, v, o, s0, hs, sf, g, scale, N, NS, SEG_LEN, H: tl.constexpr, K: tl.constexpr,
                     V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
                     HAS_DECAY: tl.constexpr, HAS_S0: tl.constexpr, STORE_FINAL: tl.constexpr,
                     PREC: tl.constexpr):
    """o_p = sum_{r<=p} lambda^(p-r) (scale q_p . k_r) v_r + lambda^(p+1) scale q_p S0 over one segment."""
    i_v, i_s, i_bh = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    seg_start = i_s * SEG_LEN
    seg_end = tl.minimum(seg_start + SEG_LEN, N)
    rk = tl.arange(0, BK)
    rv = i_v * BV + tl.arange(0, BV)
    rt = tl.arange(0, BT)
    kv_mask = (rk[:, None] < K) & (rv[None, :] < V)
    gl = 0.0
    if HAS_DECAY:
        gl = tl.load(g + i_bh % H).to(tl.float32)
    S = _entry_state(s0, hs, g, i_bh, i_s, NS, SEG_LEN, seg_start, rk, rv, H, K, V, BK, BV, HAS_DECAY, HAS_S0)
    causal = rt[:, None] >= rt[None, :]
    if HAS_DECAY:
        dmask, lq1, lk = _chunk_decay(gl, scale, causal, (rt[:, None] - rt[None, :]).to(tl.float32), rt, BT)
    for c0 in range(seg_start, seg_end, BT):
        pos = c0 + rt
        valid = pos < seg_end
        qb = tl.load(q + i_bh * N * K + pos[:, None] * K + rk[None, :],
                     mask=valid[:, None] & (rk[None, :] < K), other=0.0)
        kb = tl.load(k + i_bh * N * K + pos[:, None] * K + rk[None, :],
                     mask=valid[:, None] & (rk[None, :] < K), other=0.0)
        vb = tl.load(v + i_bh * N * V + pos[:, None] * V + rv[None, :],
                     mask=valid[:, None] & (rv[None, :] < V), other=0.0)
        A = tl.dot(qb, tl.trans(kb), input_precision=PREC)
        inter = tl.dot(qb, S.to(vb.dtype), input_precision=PREC)
        if HAS_DECAY:
            c_len = tl.minimum(c0 + BT, seg_end) - c0
            A = A * dmask
            inter = inter * lq1[:, None]
            wk = tl.where(valid, lk * tl.exp(gl * (c_len - BT).to(tl.float32)), 0.0)
            kd = _scale_rows(kb, wk)
            decay_c = tl.exp(gl * c_len.to(tl.float32))
        else:
            A = tl.where(causal, A * scale, 0.0)
            inter = inter * scale
            kd = kb
            decay_c = 1.0
        ob = tl.dot(A.to(vb.dtype), vb, input_precision=PREC) + inter
        tl.store(o + i_bh * N * V + pos[:, None] * V + rv[None, :], ob.to(o.dtype.element_ty),
                 mask=valid[:, None] & (rv[None, :] < V))
        S = S * decay_c + tl.dot(tl.trans(kd), vb, input_precision=PREC)
    if STORE_FINAL:
        if i_s == NS - 1:
            tl.store(sf + (i_bh * K + rk[:, None]) * V + rv[None, :], S, mask=kv_mask)


@triton.jit
def _bwd_dq_kernel(q, k, v, do, g, s0, hs, hr, tbuf, dq, dgq, scale, N, NS, SEG_LEN, H: tl.constexpr,
                   K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
                   HAS_DECAY: tl.constexpr, NEED_DG: tl.constexpr, HAS_S0: tl.constexpr, PREC: tl.constexpr):
    """Backward pass 1, forward in time, carrying the state S:
        dq_i = scale [sum_{j<=i} l^(i-j) (do_i.v_j) k_j + l^(i+1) do_i S_{c-1}^T]
    plus each segment's local adjoint hr = sum_p lambda^(p - seg_start) q_p^T do_p (scale applied by the
    reader). For the log-decay gradient (NEED_DG) it also carries T, the state weighted by distance,
        T_c = sum_{seg_start <= j <= e_c} (e_c - j) l^(e_c - j) k_j^T v_j  (e_c: chunk c's last position)
        plus (e_c - seg_start + 1) l^(e_c - seg_start + 1) S_entry (the entry state as one position
        before the segment),
    and forms the log-decay gradient of every pair (query in chunk c, key before c):
        (i+1) l^(i+1) scale q_i S_{c-1} do_i^T + l^(i+1) scale q_i T_{c-1} do_i^T   (i in-chunk offsets);
    T at the segment's end goes to tbuf, where pass 2 adds the pairs that reach across segments."""
    i_s, i_bh = tl.program_id(0), tl.program_id(1)
    seg_start = i_s * SEG_LEN
    seg_end = tl.minimum(seg_start + SEG_LEN, N)
    rk, rv, rt = tl.arange(0, BK), tl.arange(0, BV), tl.arange(0, BT)
    m = (rk[:, None] < K) & (rv[None, :] < V)
    gl = 0.0
    if HAS_DECAY:
        gl = tl.load(g + i_bh % H).to(tl.float32)
    S = _entry_state(s0, hs, g, i_bh, i_s, NS, SEG_LEN, seg_start, rk, rv, H, K, V, BK, BV, HAS_DECAY, HAS_S0)
    Hr = tl.zeros([BK, BV], dtype=tl.float32)
    T = tl.zeros([BK, BV], dtype=tl.float32)
    causal = rt[:, None] >= rt[None, :]
    diff = (rt[:, None] - rt[None, :]).to(tl.float32)
    dmask, lq1, lk = _chunk_decay(gl, scale, causal, diff, rt, BT)
    lq0 = tl.exp(gl * rt.to(tl.float32))   # (the keys' l^i, for the segment adjoint)
    dgv = tl.zeros([BT], dtype=tl.float32)
    for c0 in range(seg_start, seg_end, BT):
        pos = c0 + rt
        valid = pos < seg_end
        mk = valid[:, None] & (rk[None, :] < K)
        mv = valid[:, None] & (rv[None, :] < V)
        qb = tl.load(q + i_bh * N * K + pos[:, None] * K + rk[None, :], mask=mk, other=0.0)
        kb = tl.load(k + i_bh * N * K + pos[:, None] * K + rk[None, :], mask=mk, other=0.0)
        vb = tl.load(v + i_bh * N * V + pos[:, None] * V + rv[None, :], mask=mv, other=0.0)
        dob = tl.load(do + i_bh * N * V + pos[:, None] * V + rv[None, :], mask=mv, other=0.0)
        dA = tl.dot(dob, tl.trans(vb), input_precision=PREC)
        q_inter = tl.dot(dob, tl.trans(S.to(dob.dtype)), input_precision=PREC)
        if HAS_DECAY:
            c_len = tl.minimum(c0 + BT, seg_end) - c0
            dA = dA * dmask
            q_inter = q_inter * lq1[:, None]
            wk = tl.where(valid, lk * tl.exp(gl * (c_len - BT).to(tl.float32)), 0.0)
            wq = lq0 * tl.exp(gl * (c0 - seg_start).to(tl.float32))
            lam_c = tl.exp(gl * c_len.to(tl.float32))
            if NEED_DG:
                q_far = tl.dot(dob, tl.trans(T.to(dob.dtype)), input_precision=PREC) * lq1[:, None]
                dgv += tl.sum(qb.to(tl.float32) * ((rt + 1).to(tl.float32)[:, None] * q_inter + q_far), axis=1)
                kt = _scale_rows(kb, wk * (c_len - 1 - rt).to(tl.float32))
                T = (T + c_len.to(tl.float32) * S) * lam_c + tl.dot(tl.trans(kt), vb, input_precision=PREC)
            kd = _scale_rows(kb, wk)
            qd = _scale_rows(qb, wq)
        else:
            dA = tl.where(causal, dA * scale, 0.0)
            q_inter = q_inter * scale
            kd = kb
            qd = qb
            lam_c = 1.0
        dqb = tl.dot(dA.to(kb.dtype), kb, input_precision=PREC) + q_inter
        tl.store(dq + i_bh * N * K + pos[:, None] * K + rk[None, :], dqb.to(dq.dtype.element_ty), mask=mk)
        if HAS_DECAY:
            S = S * lam_c + tl.dot(tl.trans(kd), vb, input_precision=PREC)
        else:
            S += tl.dot(tl.trans(kd), vb, input_precision=PREC)
        Hr += tl.dot(tl.trans(qd), dob, input_precision=PREC)
    tl.store(hr + ((i_bh * NS + i_s) * K + rk[:, None]) * V + rv[None, :], Hr, mask=m)
    if NEED_DG:
        tl.store(tbuf + ((i_bh * NS + i_s) * K + rk[:, None]) * V + rv[None, :], T, mask=m)
        tl.store(dgq + i_bh * NS + i_s, tl.sum(dgv, axis=0))


@triton.jit
def _bwd_kernel(q, k, v, do, g, tbuf, hr, dsf, dk, dv, ds0, dgp, scale, N, NS, SEG_LEN, H: tl.constexpr,
                K: tl.constexpr, V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
                HAS_DECAY: tl.constexpr, NEED_DG: tl.constexpr, HAS_DSF: tl.constexpr, STORE_DS0: tl.constexpr,
                PREC: tl.constexpr):
    """Backward pass 2, backward in time over the chunks of one segment, with R = dL/dS_c (fp32):
        dk_j = scale sum_{i>=j} l^(i-j) (do_i.v_j) q_i + l^(L-1-j) v_j R^T
        dv_j = scale sum_{i>=j} l^(i-j) (q_i.k_j) do_i + l^(L-1-j) k_j R
    and the log-decay gradient of the pairs inside a chunk, (i-j) l^(i-j) scale (q_i.k_j)(do_i.v_j),
    plus, once per segment, <T, R> with pass 1's distance-weighted state T at the segment's end and R
    the adjoint entering it from later segments and the final-state gradient: the pairs whose key lies
    in or before this segment and whose query lies after it (pass 1 counts their distance up to the
    segment's end, this term the rest)."""
    i_s, i_bh = tl.program_id(0), tl.program_id(1)
    seg_start = i_s * SEG_LEN
    seg_end = tl.minimum(seg_start + SEG_LEN, N)
    n_chunks = tl.cdiv(seg_end - seg_start, BT)
    rk, rv, rt = tl.arange(0, BK), tl.arange(0, BV), tl.arange(0, BT)
    m = (rk[:, None] < K) & (rv[None, :] < V)
    gl = 0.0
    if HAS_DECAY:
        gl = tl.load(g + i_bh % H).to(tl.float32)
    # adjoint of the state after the segment's last position: final-state gradient and later queries
    R = tl.zeros([BK, BV], dtype=tl.float32)
    if HAS_DSF:
        R = tl.load(dsf + (i_bh * K + rk[:, None]) * V + rv[None, :], mask=m, other=0.0).to(tl.float32)
        if HAS_DECAY:
            R = R * tl.exp(gl * (N - seg_end).to(tl.float32))
    for j in range(1, NS):
        after = j > i_s
        hj = tl.load(hr + ((i_bh * NS + j) * K + rk[:, None]) * V + rv[None, :], mask=m & after, other=0.0)
        if HAS_DECAY:
            hj = hj * tl.exp(gl * tl.where(after, (j - i_s - 1) * SEG_LEN + 1, 0).to(tl.float32))
        R += scale * hj
    causal = rt[:, None] >= rt[None, :]
    diff = (rt[:, None] - rt[None, :]).to(tl.float32)
    dgv = tl.zeros([BT], dtype=tl.float32)
    dg = 0.0
    if NEED_DG:
        T = tl.load(tbuf + ((i_bh * NS + i_s) * K + rk[:, None]) * V + rv[None, :], mask=m, other=0.0)
        dg = tl.sum(tl.sum(T * R, axis=1), axis=0)
    if HAS_DECAY:
        dmask, lq1, lk = _chunk_decay(gl, scale, causal, diff, rt, BT)
    else:
        dmask = tl.where(causal, scale, 0.0)
    for idx in range(0, n_chunks):
        c0 = seg_start + (n_chunks - 1 - idx) * BT
        pos = c0 + rt
        valid = pos < seg_end
        c_len = tl.minimum(c0 + BT, seg_end) - c0
        mk = valid[:, None] & (rk[None, :] < K)
        mv = valid[:, None] & (rv[None, :] < V)
        qb = tl.load(q + i_bh * N * K + pos[:, None] * K + rk[None, :], mask=mk, other=0.0)
        kb = tl.load(k + i_bh * N * K + pos[:, None] * K + rk[None, :], mask=mk, other=0.0)
        vb = tl.load(v + i_bh * N * V + pos[:, None] * V + rv[None, :], mask=mv, other=0.0)
        dob = tl.load(do + i_bh * N * V + pos[:, None] * V + rv[None, :], mask=mv, other=0.0)
        Dm = dmask
        A = tl.dot(qb, tl.trans(kb), input_precision=PREC) * Dm        # scale l^(i-j) q_i.k_j
        dA = tl.dot(dob, tl.trans(vb), input_precision=PREC)                    # do_i.v_j
        k_state = tl.dot(vb, tl.trans(R.to(vb.dtype)), input_precision=PREC)
        r_state = tl.dot(kb, R.to(kb.dtype), input_precision=PREC)
        if HAS_DECAY:   # (without decay the rows past the segment's end are zero already: kb = vb = 0)
            wk = tl.where(valid, lk * tl.exp(gl * (c_len - BT).to(tl.float32)), 0.0)
            k_state = k_state * wk[:, None]
            r_state = r_state * wk[:, None]
        dkb = tl.dot(tl.trans((dA * Dm).to(qb.dtype)), qb, input_precision=PREC) + k_state
        dvb = tl.dot(tl.trans(A.to(dob.dtype)), dob, input_precision=PREC) + r_state
        if NEED_DG:
            dgv += tl.sum(diff * A * dA, axis=1)
        if HAS_DECAY:
            qs = _scale_rows(qb, lq1)
            R = R * tl.exp(gl * c_len.to(tl.float32)) + tl.dot(tl.trans(qs), dob, input_precision=PREC)
        else:
            R += scale * tl.dot(tl.trans(qb), dob, input_precision=PREC)
        tl.store(dk + i_bh * N * K + pos[:, None] * K + rk[None, :], dkb.to(dk.dtype.element_ty), mask=mk)
        tl.store(dv + i_bh * N * V + pos[:, None] * V + rv[None, :], dvb.to(dv.dtype.element_ty), mask=mv)
    if STORE_DS0:
        if i_s == 0:
            tl.store(ds0 + (i_bh * K + rk[:, None]) * V + rv[None, :], R, mask=m)
    if NEED_DG:
        tl.store(dgp + i_bh * NS + i_s, dg + tl.sum(dgv, axis=0))


# ----------------------------------------------------------------------------- launcher
def bwd_warps(big: bool, has_decay: bool) -> int:
    """Warps of the backward programs (a function so a benchmark can sweep it). H100, B=2 H=8 N=131072
    D=64 bf16 fwd+bwd (grads accumulated): no decay 2.47 ms with 4 warps / 2.69 with 8; decay 3.51 / 3.79."""
    return 8 if big else 4


def scan(q, k, v, log_decay, scale, s0=None, store_final=False):
    """Run the chunked scan on contiguous [B,H,N,*] tensors; returns (o [B,H,N,V] in v.dtype, final fp32 or None,
    the segment states or None)."""
    B, H, N, K = q.shape
    V = v.shape[-1]
    BK, BV = block(K, 256), block(V, 64)
    NV = triton.cdiv(V, BV)
    NS, SEG_LEN = segments(N, BT, B * H * NV)
    prec = dot_precision(q.dtype)
    has_decay = log_decay is not None
    g = log_decay.float().contiguous() if has_decay else q  # dummy pointer when unused
    o = torch.empty(B, H, N, V, device=q.device, dtype=v.dtype)
    hs = torch.empty(B * H, NS, K, V, device=q.device, dtype=torch.float32) if NS > 1 else o
    sf = torch.empty(B, H, K, V, device=q.device, dtype=torch.float32) if store_final else o
    nw = 4 if BK * BV <= 64 * 64 else 8
    stages = 1 if q.dtype == torch.float32 and BK > 64 else 3  # fp32 tiles at K=128: 240 KiB pipelined
    if NS > 1:
        _seg_state_kernel[(NV, NS, B * H)](k, v, hs, g, N, NS, SEG_LEN, H, K, V, BT, BK, BV, has_decay,
                                          prec, num_warps=nw, num_stages=stages)
    s0c = s0.contiguous() if s0 is not None else o
    _scan_fwd_kernel[(NV, NS, B * H)](q, k, v, o, s0c, hs, sf, g, float(scale), N, NS, SEG_LEN, H, K, V, BT,
                                      BK, BV, has_decay, s0 is not None, store_final, prec,
                                      num_warps=nw, num_stages=stages)
    return o, (sf if store_final else None), (hs if NS > 1 else None)


def backward(q, k, v, do, log_decay, scale, s0, dsf, need_ds0, fwd_hs=None, need_dg=True):
    """(dq, dk, dv, dlog_decay fp32 or None, ds0 fp32 or None) for contiguous [B,H,N,*] inputs; no
    dlog_decay unless need_dg (a fixed decay, as RetNet's and TransNormerLLM's, needs none).
    fwd_hs: the forward's segment states, reused when the backward cuts the sequence the same way."""
    B, H, N, K = q.shape
    V = v.shape[-1]
    BK, BV = block(K, 256), block(V, 256)
    # Each backward program holds the full K x V state; at head dims above 64 the 64-row tiles and
    # the software pipeline need more shared memory than Hopper has (268 KiB asked at D=128 bf16 with
    # decay, 227 KiB available), so those use 32-row chunks and no pipelining.
    big = max(BK, BV) > 64
    bt, stages = (32, 1) if big else (BT, 3)
    NS, SEG_LEN = segments(N, bt, B * H)
    prec = dot_precision(q.dtype)
    has_decay = log_decay is not None
    need_dg = has_decay and need_dg
    g = log_decay.float().contiguous() if has_decay else q
    nw = bwd_warps(big, has_decay)
    f32 = dict(device=q.device, dtype=torch.float32)
    if NS == 1:
        hs = q
    elif fwd_hs is not None and not big:  # then the forward cut the sequence the same way
        assert tuple(fwd_hs.shape) == (B * H, NS, K, V)
        hs = fwd_hs
    else:
        hs = torch.empty(B * H, NS, K, V, **f32)
        _seg_state_kernel[(1, NS, B * H)](k, v, hs, g, N, NS, SEG_LEN, H, K, V, bt, BK, BV, has_decay, prec,
                                          num_warps=nw, num_stages=stages)
    tbuf = torch.empty(B * H, NS, K, V, **f32) if need_dg else q   # pass 1's distance-weighted states
    hr = torch.empty(B * H, NS, K, V, **f32)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    dgq, dgp = (torch.empty(B, H, NS, **f32) for _ in range(2))
    _bwd_dq_kernel[(NS, B * H)](q, k, v, do, g, s0 if s0 is not None else q, hs, hr, tbuf, dq, dgq, float(scale),
                                N, NS, SEG_LEN, H, K, V, bt, BK, BV, has_decay, need_dg, s0 is not None, prec,
                                num_warps=nw, num_stages=stages)
    ds0 = torch.empty(B, H, K, V, **f32) if need_ds0 else q
    _bwd_kernel[(NS, B * H)](q, k, v, do, g, tbuf, hr, dsf if dsf is not None else q, dk, dv, ds0, dgp,
                             float(scale), N, NS, SEG_LEN, H, K, V, bt, BK, BV, has_decay, need_dg, dsf is not None,
                             need_ds0, prec, num_warps=nw, num_stages=stages)
    dg = (dgp + dgq).sum((0, 2)) if need_dg else None
    return dq, dk, dv, dg, (ds0 if need_ds0 else None)


# ----------------------------------------------------------------------------- autograd
class LinearAttentionFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, log_decay, scale, initial_state, output_final_state):
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        s0 = initial_state.float().contiguous() if initial_state is not None else None
        o, sf, hs = scan(q, k, v, log_decay, scale, s0, store_final=output_final_state)
        ctx.save_for_backward(q, k, v, log_decay, s0, hs)
        ctx.scale = scale
        ctx.s0_dtype = initial_state.dtype if initial_state is not None else None
        return o, sf

    @staticmethod
    def backward(ctx, do, dsf):
        q, k, v, log_decay, s0, hs = ctx.saved_tensors
        need_ds0 = s0 is not None and ctx.needs_input_grad[5]
        dsf = dsf.float().contiguous() if dsf is not None else None
        dq, dk, dv, dg, ds0 = backward(q, k, v, do.contiguous(), log_decay, ctx.scale, s0, dsf, need_ds0, hs,
                                       need_dg=ctx.needs_input_grad[3])
        dg = dg.to(log_decay.dtype) if dg is not None else None
        return dq, dk, dv, dg, None, (ds0.to(ctx.s0_dtype) if ds0 is not None else None), None


def triton_linear_attention(q, k, v, log_decay, scale, initial_state, output_final_state):
    o, sf = LinearAttentionFunction.apply(q, k, v, log_decay, scale, initial_state, output_final_state)
    return o, sf
