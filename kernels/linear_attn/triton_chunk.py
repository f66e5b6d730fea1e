"""Triton kernels of lightning (decayed) linear attention, forward and backward.

Lightning Attention-2 (Qin et al. 2024, Alg. 1-2): a chunk of BT positions is handled with
a masked quadratic product (intra) plus the running K^T V state (inter), state kept in fp32
registers. To fill the GPU at long N, the sequence is cut into NS segments handled by
separate programs: a first pass writes each segment's local state, and each program of the
second pass starts from the decayed sum of the states of the segments before it.

The backward pass reuses the same scan three times (Alg. 2 of the paper):
    dq = scan(do, v, k, S0^T)                  forward in time
    dk = scan(v, do, q)  and  dv = scan(k, q, do)   backward in time (REVERSE)
and the per-head log-decay gradient follows from dB_t = q.dq - k.dk (B_t = g (t+1)).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._triton_utils import block, dot_precision, segments

BT = 64


# ----------------------------------------------------------------------------- kernels
@triton.jit
def _seg_state_kernel(k, v, hs, g, N, NS, SEG_LEN, H: tl.constexpr, K: tl.constexpr, V: tl.constexpr,
                      BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, HAS_DECAY: tl.constexpr,
                      REVERSE: tl.constexpr, PREC: tl.constexpr):
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
        phys = (N - 1 - pos) if REVERSE else pos
        kb = tl.load(k + i_bh * N * K + phys[:, None] * K + rk[None, :],
                     mask=valid[:, None] & (rk[None, :] < K), other=0.0)
        vb = tl.load(v + i_bh * N * V + phys[:, None] * V + rv[None, :],
                     mask=valid[:, None] & (rv[None, :] < V), other=0.0)
        if HAS_DECAY:
            c_len = tl.minimum(c0 + BT, seg_end) - c0
            wk = tl.where(valid, tl.exp(gl * (c_len - 1 - rt).to(tl.float32)), 0.0)
            h = h * tl.exp(gl * c_len.to(tl.float32))
            kb = (kb.to(tl.float32) * wk[:, None]).to(vb.dtype)
        h += tl.dot(tl.trans(kb), vb, input_precision=PREC)
    tl.store(hs + ((i_bh * NS + i_s) * K + rk[:, None]) * V + rv[None, :], h,
             mask=(rk[:, None] < K) & (rv[None, :] < V))


@triton.jit
def _scan_fwd_kernel(q, k, v, o, s0, hs, sf, g, scale, N, NS, SEG_LEN, H: tl.constexpr, K: tl.constexpr,
                     V: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
                     HAS_DECAY: tl.constexpr, HAS_S0: tl.constexpr, STORE_FINAL: tl.constexpr,
                     REVERSE: tl.constexpr, PREC: tl.constexpr):
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
    # state entering this segment: decayed S0 plus the local states of earlier segments
    S = tl.zeros([BK, BV], dtype=tl.float32)
    if HAS_S0:
        S = tl.load(s0 + (i_bh * K + rk[:, None]) * V + rv[None, :], mask=kv_mask, other=0.0).to(tl.float32)
        if HAS_DECAY:
            S = S * tl.exp(gl * seg_start.to(tl.float32))
    for j in range(0, NS - 1):  # masked rather than range(i_s): one loop shape for every program
        before = j < i_s
        hj = tl.load(hs + ((i_bh * NS + j) * K + rk[:, None]) * V + rv[None, :], mask=kv_mask & before,
                     other=0.0)
        if HAS_DECAY:
            hj = hj * tl.exp(gl * tl.where(before, (i_s - 1 - j) * SEG_LEN, 0).to(tl.float32))
        S += hj
    causal = rt[:, None] >= rt[None, :]
    for c0 in range(seg_start, seg_end, BT):
        pos = c0 + rt
        valid = pos < seg_end
        phys = (N - 1 - pos) if REVERSE else pos
        qb = tl.load(q + i_bh * N * K + phys[:, None] * K + rk[None, :],
                     mask=valid[:, None] & (rk[None, :] < K), other=0.0)
        kb = tl.load(k + i_bh * N * K + phys[:, None] * K + rk[None, :],
                     mask=valid[:, None] & (rk[None, :] < K), other=0.0)
        vb = tl.load(v + i_bh * N * V + phys[:, None] * V + rv[None, :],
                     mask=valid[:, None] & (rv[None, :] < V), other=0.0)
        qs = qb.to(tl.float32) * scale
        A = tl.dot((qs).to(kb.dtype), tl.trans(kb), input_precision=PREC)
        if HAS_DECAY:
            c_len = tl.minimum(c0 + BT, seg_end) - c0
            diff = (rt[:, None] - rt[None, :]).to(tl.float32)
            A = tl.where(causal, A * tl.exp(gl * tl.maximum(diff, 0.0)), 0.0)
            qs = qs * tl.exp(gl * (rt + 1).to(tl.float32))[:, None]
            wk = tl.where(valid, tl.exp(gl * (c_len - 1 - rt).to(tl.float32)), 0.0)
            kd = (kb.to(tl.float32) * wk[:, None]).to(vb.dtype)
            decay_c = tl.exp(gl * c_len.to(tl.float32))
        else:
            A = tl.where(causal, A, 0.0)
            kd = kb
            decay_c = 1.0
        ob = tl.dot(A.to(vb.dtype), vb, input_precision=PREC)
        ob += tl.dot(qs.to(vb.dtype), S.to(vb.dtype), input_precision=PREC)
        tl.store(o + i_bh * N * V + phys[:, None] * V + rv[None, :], ob.to(o.dtype.element_ty),
                 mask=valid[:, None] & (rv[None, :] < V))
        S = S * decay_c + tl.dot(tl.trans(kd), vb, input_precision=PREC)
    if STORE_FINAL:
        if i_s == NS - 1:
            tl.store(sf + (i_bh * K + rk[:, None]) * V + rv[None, :], S, mask=kv_mask)


# ----------------------------------------------------------------------------- launcher
def scan(q, k, v, log_decay, scale, s0=None, store_final=False, reverse=False, out_dtype=None):
    """Run the chunked scan on contiguous [B,H,N,*] tensors; returns (o [B,H,N,V] in v.dtype, final fp32 or None)."""
    B, H, N, K = q.shape
    V = v.shape[-1]
    BK, BV = block(K, 256), block(V, 64)
    NV = triton.cdiv(V, BV)
    NS, SEG_LEN = segments(N, BT, B * H * NV)
    prec = dot_precision(q.dtype)
    has_decay = log_decay is not None
    g = log_decay.float().contiguous() if has_decay else q  # dummy pointer when unused
    o = torch.empty(B, H, N, V, device=q.device, dtype=out_dtype or v.dtype)
    hs = torch.empty(B * H, NS, K, V, device=q.device, dtype=torch.float32) if NS > 1 else o
    sf = torch.empty(B, H, K, V, device=q.device, dtype=torch.float32) if store_final else o
    nw = 4 if BK * BV <= 64 * 64 else 8
    if NS > 1:
        _seg_state_kernel[(NV, NS, B * H)](k, v, hs, g, N, NS, SEG_LEN, H, K, V, BT, BK, BV, has_decay,
                                          reverse, prec, num_warps=nw)
    s0c = s0.contiguous() if s0 is not None else o
    _scan_fwd_kernel[(NV, NS, B * H)](q, k, v, o, s0c, hs, sf, g, float(scale), N, NS, SEG_LEN, H, K, V, BT,
                                      BK, BV, has_decay, s0 is not None, store_final, reverse, prec,
                                      num_warps=nw)
    return o, (sf if store_final else None)


# ----------------------------------------------------------------------------- autograd
class LinearAttentionFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, log_decay, scale, initial_state, output_final_state):
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        s0 = initial_state.float().contiguous() if initial_state is not None else None
        o, sf = scan(q, k, v, log_decay, scale, s0, store_final=output_final_state)
        ctx.save_for_backward(q, k, v, log_decay, s0, sf)
        ctx.scale = scale
        ctx.s0_dtype = initial_state.dtype if initial_state is not None else None
        return o, sf

    @staticmethod
    def backward(ctx, do, dsf):
        q, k, v, log_decay, s0, sf = ctx.saved_tensors
        scale = ctx.scale
        B, H, N, K = q.shape
        do = do.contiguous()
        need_ds0 = s0 is not None and ctx.needs_input_grad[5]
        s0t = s0.transpose(-1, -2).contiguous() if s0 is not None else None
        # with decay, dq and dk stay fp32 until dlog_decay = sum_t (t+1)(q.dq - k.dk) is formed
        gdt = torch.float32 if log_decay is not None else None
        dq, _ = scan(do, v, k, log_decay, scale, s0t, out_dtype=gdt)
        dk, _ = scan(v, do, q, log_decay, scale, reverse=True, out_dtype=gdt)
        dv, G = scan(k, q, do, log_decay, scale, store_final=need_ds0, reverse=True)
        g = log_decay.float() if log_decay is not None else None
        if dsf is not None:
            dsf = dsf.float()
            w = torch.exp(g[:, None] * torch.arange(N - 1, -1, -1, device=q.device)) if g is not None \
                else torch.ones(H, N, device=q.device)
            w = w[None, :, :, None]
            dk = dk.float() + w * (v.float() @ dsf.transpose(-1, -2))
            dv = (dv.float() + w * (k.float() @ dsf)).to(v.dtype)
        ds0 = None
        if need_ds0:
            lam = torch.exp(g)[None, :, None, None] if g is not None else 1.0
            ds0 = scale * lam * G  # the dv scan scaled k, not q
            if dsf is not None:
                ds0 = ds0 + (torch.exp(g * N)[None, :, None, None] if g is not None else 1.0) * dsf
            ds0 = ds0.to(ctx.s0_dtype)
        dg = None
        if g is not None and ctx.needs_input_grad[3]:
            t1 = torch.arange(1, N + 1, device=q.device, dtype=torch.float32)
            db = (q.float() * dq.float()).sum(-1) - (k.float() * dk.float()).sum(-1)   # [B,H,N]
            dg = (db * t1).sum((0, 2))
            if dsf is not None and sf is not None:
                dg = dg + N * (sf * dsf).sum((0, 2, 3))
            dg = dg.to(log_decay.dtype)
        return dq.to(q.dtype), dk.to(k.dtype), dv, dg, None, ds0, None


def triton_linear_attention(q, k, v, log_decay, scale, initial_state, output_final_state):
    o, sf = LinearAttentionFunction.apply(q, k, v, log_decay, scale, initial_state, output_final_state)
    return o, sf
