"""Triton kernels of the Mamba-1 selective scan (S6), forward and backward, with everything elementwise fused.

Gu & Dao 2023, "Mamba", Alg. 2, eq. 2a/4 and the hardware-aware scan of Sec. 3.3.2: the state
h [D, N] never leaves the chip. Per step,
    h_t = a_t h_{t-1} + b_t,   a_t = exp(delta_t A),   b_t = delta_t u_t B_t,   delta_t = softplus(delta_raw_t + delta_bias)
    out_t = (C_t . h_t + D u_t) * silu(z_t)
Forward: a program (one warp) holds h for 8 channels x N states in registers, 4 lanes sharing a
channel, and steps through time one step at a time: each step costs one exp per state and a
reduction over the 4 lanes, with no scan across threads (an earlier forward combined chunks with
a parallel associative scan (Blelloch 1990) across lanes; the step form is 1.3-3.5x faster at
MambAttention's shapes on an H200). Loads of T unrolled steps issue together; the outputs of
those T steps are gated and stored as one tile. When batch rows x channel blocks leave the GPU
short of warps, time is cut into segments: a first pass runs each segment from h = 0 and keeps its
end state and its sum of delta (the segment's decay is exp(A sum delta)), a small pass (associative
scans over tiles of segments) chains the segments' entering states, and the second pass runs
every segment from its true state.
u, delta, z, B and C are read in their own dtype and any strides (channels-last as a Mamba block
has them), out is written once; all arithmetic is fp32. On NVIDIA GPUs, for the shapes where it is faster
(``_gluon_faster``), the forward passes run ``gluon_scan.fwd_kernel`` instead: the same maths and
buffers with one channel per thread and its states inside the thread.

Backward (g_t = dL/dh_t, the adjoint carried back in time; dy_t = dout_t silu(z_t)):
    g_t = dy_t C_t + a_{t+1} g_{t+1}                  (a reverse scan of (a_{t+1}, dy_t C_t))
    du_t = D dy_t + delta_t (g_t . B_t),   dB_t = sum_d delta_t u_t g_t,   dC_t = sum_d dy_t h_t
    ddelta_t = u_t (g_t . B_t) + sum_n A g_t a_t h_{t-1}     (a_t h_{t-1} = h_t - b_t: no shift of h)
    dA = sum_t delta_t g_t a_t h_{t-1},   dD = sum_t dy_t u_t,   dh_in = a_0 g_0
and ddelta is multiplied by sigmoid(delta_raw + delta_bias) for the softplus. Instead of storing h
for every step (O(L D N)), the forward writes the state every few steps (S, fp32) and the backward
recomputes h from it. The backward is parallel over chunks of BLS steps, in three passes:
  1. per (channels, chunk): the reverse scan with nothing entering from later chunks; its value
     at the chunk's first step and the product of the chunk's decays ([Bt, D, L/BLS, N] each);
  2. per channel block, over chunks from the end (tiles of chunks, each an associative scan): the
     adjoint K entering each chunk;
  3. per chunk, batch row and channels: recompute h from S, the adjoint from K, all gradients.
Pass 3 on NVIDIA GPUs with N <= 16 is ``gluon_scan.bwd_kernel``: a channel per lane, the chunk
recomputed in 16-step pieces from states the forward keeps every SUB = 16 steps (S [Bt, L/16, D,
N]: 2x the bytes of a bf16 u), dB_t and dC_t summed over a warp's channels by shuffles and over
warps by atomics: forward plus backward 2.7-4.1x faster than with the Triton pass 3 (H100,
BENCHMARKS.md, kernels run 7). Elsewhere pass 3 is ``_bwd_kernel`` below, with S every BLS
steps ([Bt, D, L/BLS, N]): a program loops over the channels of a group, so dB_t and dC_t (sums over
channels) are summed in registers and only groups (few) meet in an fp32 atomic add.
"""
from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from .._triton_utils import block, empty_bdl


@triton.jit
def _affine(a1, b1, a2, b2):
    # composition of h -> a1 h + b1, then h -> a2 h + b2 (forward); the reverse scan uses it as is
    return a1 * a2, a2 * b1 + b2


@triton.jit
def _softplus(x):
    return tl.maximum(x, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(x)))


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _load_dl(p, s_b, s_d, s_l, i_b, rd, t, m):
    """[BD, 1, BL] tile of a [Bt, D, L] tensor (rd [BD, 1, 1], t [1, 1, BL]), in fp32."""
    return tl.load(p + i_b * s_b + rd * s_d + t * s_l, mask=m, other=0.0).to(tl.float32)


@triton.jit
def _load_nl(p, s_b, s_n, s_l, i_b, rn, t, m):
    """[1, BN, BL] tile of a [Bt, N, L] tensor (rn [1, BN, 1], t [1, 1, BL]), in fp32."""
    return tl.load(p + i_b * s_b + rn * s_n + t * s_l, mask=m, other=0.0).to(tl.float32)


@triton.jit
def _fwd_kernel(u, delta, A, B, C, Dv, z, bias, s0, out, sf, S, H, sdt,
                    su_b, su_d, su_l, sd_b, sd_d, sd_l, sz_b, sz_d, sz_l,
                    sb_b, sb_n, sb_l, sc_b, sc_n, sc_l, so_b, so_d, so_l,
                    Dm, N, L, NSEG, SEG, NS,
                    BD: tl.constexpr, BN: tl.constexpr, T: tl.constexpr, BLS: tl.constexpr,
                    LOCAL: tl.constexpr, HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                    SOFTPLUS: tl.constexpr, HAS_S0: tl.constexpr, STORE_FINAL: tl.constexpr,
                    STORE_S: tl.constexpr, S_TM: tl.constexpr = False):
    """One program: batch row i_b, channels [i_d BD, (i_d + 1) BD), the SEG steps of segment i_s,
    one step at a time with the state h [BD, BN] in registers (no scan across threads: a step costs
    one exp per state and a reduction over the few lanes that share a channel).

    LOCAL: run the segment from h = 0 and write only its final state to H [Bt, NSEG, D, N] and the
    segment's sum of delta to sdt [Bt, NSEG, D] (its decay is exp(A sdt)); otherwise the segment
    starts from H's entry before it (segments > 0, filled by _fwd_carry_kernel) or s0, writes out, the
    backward's chunk states S every BLS steps and, in the last segment, the final state."""
    i_d, i_s, i_b = tl.program_id(0), tl.program_id(1), tl.program_id(2).to(tl.int64)
    rd = i_d * BD + tl.arange(0, BD)
    rn = tl.arange(0, BN)
    rt = tl.arange(0, T)
    md, mn = rd < Dm, rn < N
    mdn = md[:, None] & mn[None, :]
    # masked channels/states get A = 0 (a = 1) and delta = 0 (b = 0): they carry zeros harmlessly
    a2 = tl.load(A + rd[:, None] * N + rn[None, :], mask=mdn, other=0.0).to(tl.float32) * 1.4426950408889634
    dskip = tl.load(Dv + rd, mask=md, other=0.0).to(tl.float32) if HAS_D else tl.zeros([BD], tl.float32)
    dbias = tl.load(bias + rd, mask=md, other=0.0).to(tl.float32) if HAS_BIAS else tl.zeros([BD], tl.float32)
    state_off = (i_b * Dm + rd[:, None]) * N + rn[None, :]
    h = tl.zeros([BD, BN], dtype=tl.float32)
    if not LOCAL:
        if i_s > 0:
            h = tl.load(H + ((i_b * NSEG + i_s - 1) * Dm + rd[:, None]) * N + rn[None, :], mask=mdn,
                        other=0.0).to(tl.float32)   # (H is a dummy of out's dtype when NSEG = 1)
        elif HAS_S0:
            h = tl.load(s0 + state_off, mask=mdn, other=0.0).to(tl.float32)
    acc_dt = tl.zeros([BD], dtype=tl.float32)
    t_lo = i_s * SEG
    t_hi = tl.minimum(t_lo + SEG, L)
    pu = u + i_b * su_b + rd * su_d
    pd = delta + i_b * sd_b + rd * sd_d
    pz = z + i_b * sz_b + rd * sz_d
    po = out + i_b * so_b + rd * so_d
    pb = B + i_b * sb_b + rn * sb_n
    pc = C + i_b * sc_b + rn * sc_n
    for c0 in range(0, SEG, T):
        c = t_lo + c0
        if STORE_S:
            # SEG is a multiple of BLS, BLS of T: the state entering every BLS-step chunk
            if S_TM:   # [Bt, NS, D, N]
                s_off = ((i_b * NS + c // BLS) * Dm + rd[:, None]) * N + rn[None, :]
            else:
                s_off = ((i_b * Dm + rd[:, None]) * NS + c // BLS) * N + rn[None, :]
            tl.store(S + s_off, h, mask=mdn & (c % BLS == 0) & (c < t_hi))
        # T steps unrolled: their loads do not depend on h, so they issue together; the outputs
        # gather in a [BD, T] tile, gated and stored once (a store per step costs a layout shuffle)
        yt = tl.zeros([BD, T], dtype=tl.float32)
        for i in tl.static_range(T):
            t = c + i
            ok = t < t_hi
            m_t = md & ok
            ut = tl.load(pu + t * su_l, mask=m_t, other=0.0).to(tl.float32)
            dt = tl.load(pd + t * sd_l, mask=m_t, other=0.0).to(tl.float32) + dbias
            bt = tl.load(pb + t * sb_l, mask=mn & ok, other=0.0).to(tl.float32)
            if SOFTPLUS:
                dt = _softplus(dt)
            dt = tl.where(m_t, dt, 0.0)
            h = tl.exp2(dt[:, None] * a2) * h + (dt * ut)[:, None] * bt[None, :]
            if LOCAL:
                acc_dt += dt
            else:
                ct = tl.load(pc + t * sc_l, mask=mn & ok, other=0.0).to(tl.float32)
                y = tl.sum(h * ct[None, :], 1) + dskip * ut
                yt = tl.where(rt[None, :] == i, y[:, None], yt)
        if not LOCAL:
            tt = c + rt[None, :]
            m_y = md[:, None] & (tt < t_hi)
            if HAS_Z:
                zt = tl.load(pz[:, None] + tt * sz_l, mask=m_y, other=0.0).to(tl.float32)
                yt = yt * zt * _sigmoid(zt)
            tl.store(po[:, None] + tt * so_l, yt.to(out.dtype.element_ty), mask=m_y)
    if LOCAL:
        tl.store(H + ((i_b * NSEG + i_s) * Dm + rd[:, None]) * N + rn[None, :], h, mask=mdn)
        tl.store(sdt + (i_b * NSEG + i_s) * Dm + rd, acc_dt, mask=md)
    elif STORE_FINAL:
        if i_s == NSEG - 1:
            tl.store(sf + state_off, h, mask=mdn)


@triton.jit
def _fwd_carry_kernel(A, s0, H, sdt, Dm, N, NSEG, BD: tl.constexpr, BN: tl.constexpr, CT: tl.constexpr,
                      HAS_S0: tl.constexpr):
    """Between the two forward passes: the state entering segment s + 1 is h_{s+1} = exp(A sdt_s) h_s + H_s
    (H_s: segment s's end state from h = 0). It is written over H_s, which only the same tile reads, so
    the second pass reads segment s's entering state from H_{s-1}. The recurrence runs over tiles of
    CT segments, each an associative scan (one load latency per tile: a segment-by-segment loop took
    about 0.08 ms at B 2, D 512, 132 segments; this takes 0.013 ms)."""
    i_d, i_b = tl.program_id(0), tl.program_id(1).to(tl.int64)
    rd = i_d * BD + tl.arange(0, BD)[:, None, None]
    rc = tl.arange(0, CT)[None, :, None]
    rn = tl.arange(0, BN)[None, None, :]
    md = rd < Dm
    mdn = md & (rn < N)
    a = tl.load(A + rd * N + rn, mask=mdn, other=0.0).to(tl.float32)
    h = tl.zeros([BD, 1, BN], dtype=tl.float32)
    if HAS_S0:
        h = tl.load(s0 + (i_b * Dm + rd) * N + rn, mask=mdn, other=0.0).to(tl.float32)
    for t in range(0, tl.cdiv(NSEG - 1, CT)):
        sg = t * CT + rc
        ms = md & (sg < NSEG - 1)
        d = tl.load(sdt + (i_b * NSEG + sg) * Dm + rd, mask=ms, other=0.0)
        off = ((i_b * NSEG + sg) * Dm + rd) * N + rn
        hl = tl.load(H + off, mask=ms & (rn < N), other=0.0)
        pa, pb = tl.associative_scan((tl.exp(a * d), hl), 1, _affine)   # (masked segments: the identity)
        ht = pb + pa * h
        tl.store(H + off, ht, mask=ms & (rn < N))
        h = tl.sum(tl.where(rc == CT - 1, ht, 0.0), 1, keep_dims=True)


@triton.jit
def _bwd_local_kernel(delta, A, C, z, bias, dout, Gl, P,
                      sd_b, sd_d, sd_l, sz_b, sz_d, sz_l, sc_b, sc_n, sc_l, so_b, so_d, so_l,
                      Dm, N, L, NC,
                      BD: tl.constexpr, BN: tl.constexpr, BL: tl.constexpr,
                      HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """Backward pass 1, one program per (channel block, chunk, batch row): the chunk's adjoint at its
    first step with nothing entering from later chunks (Gl), and the product of its decays (P)."""
    i_d, c, i_b = tl.program_id(0), tl.program_id(1), tl.program_id(2).to(tl.int64)
    rd = i_d * BD + tl.arange(0, BD)[:, None, None]
    rn = tl.arange(0, BN)[None, :, None]
    rt = tl.arange(0, BL)[None, None, :]
    md, mn = rd < Dm, rn < N
    mdn = md & mn
    a2 = tl.load(A + rd * N + rn, mask=mdn, other=0.0).to(tl.float32) * 1.4426950408889634
    dbias = tl.load(bias + rd, mask=md, other=0.0).to(tl.float32) if HAS_BIAS else tl.zeros([BD, 1, 1], tl.float32)
    t = c * BL + rt
    m_d = md & (t < L)
    m_dn = md & (t + 1 < L)
    dnx = _load_dl(delta, sd_b, sd_d, sd_l, i_b, rd, t + 1, m_dn) + dbias
    if SOFTPLUS:
        dnx = _softplus(dnx)
    dnx = tl.where(m_dn, dnx, 0.0)
    dy = _load_dl(dout, so_b, so_d, so_l, i_b, rd, t, m_d)
    if HAS_Z:
        zt = _load_dl(z, sz_b, sz_d, sz_l, i_b, rd, t, m_d)
        dy = dy * zt * _sigmoid(zt)
    ct = _load_nl(C, sc_b, sc_n, sc_l, i_b, rn, t, mn & (t < L))
    pa, gs = tl.associative_scan((tl.exp2(dnx * a2), dy * ct), 2, _affine, reverse=True)
    off = ((i_b * Dm + rd) * NC + c) * N + rn
    tl.store(Gl + off, tl.sum(tl.where(rt == 0, gs, 0.0), 2, keep_dims=True), mask=mdn)
    tl.store(P + off, tl.sum(tl.where(rt == 0, pa, 0.0), 2, keep_dims=True), mask=mdn)


@triton.jit
def _bwd_carry_kernel(delta, A, bias, dsf, Gl, P, K, ds0, sd_b, sd_d, Dm, N, NC,
                      BD: tl.constexpr, BN: tl.constexpr, CT: tl.constexpr, HAS_BIAS: tl.constexpr,
                      SOFTPLUS: tl.constexpr, HAS_DSF: tl.constexpr, NEED_DS0: tl.constexpr):
    """Backward pass 2: K_c, the adjoint entering chunk c from later ones (at the step after it), from
    K_{NC-1} = dsf and K_c = Gl_{c+1} + P_{c+1} K_{c+1}; dh_in = a_0 K_{-1}. The recurrence runs over
    tiles of CT chunks from the end, each an associative scan (one load latency per tile, not per chunk:
    a chunk-by-chunk loop took 0.9 ms at B 2, D 512, 512 chunks)."""
    i_d, i_b = tl.program_id(0), tl.program_id(1).to(tl.int64)  # int64: B*D*L may pass 2**31
    rd = i_d * BD + tl.arange(0, BD)[:, None, None]
    rc = tl.arange(0, CT)[None, :, None]
    rn = tl.arange(0, BN)[None, None, :]
    md = rd < Dm
    mdn = md & (rn < N)
    base = (i_b * Dm + rd) * NC * N + rn
    k = tl.zeros([BD, 1, BN], dtype=tl.float32)       # K after the tile (K_{NC-1} = dsf for the last)
    if HAS_DSF:
        k = tl.load(dsf + (i_b * Dm + rd) * N + rn, mask=mdn, other=0.0)
    k0 = k
    for t in range(0, tl.cdiv(NC, CT)):
        c = NC - (t + 1) * CT + rc
        m = mdn & (c + 1 < NC) & (c >= 0)
        gs = tl.load(Gl + base + (c + 1) * N, mask=m, other=0.0)
        ps = tl.load(P + base + (c + 1) * N, mask=m, other=1.0)   # past the last chunk: the identity
        pa, pb = tl.associative_scan((ps, gs), 1, _affine, reverse=True)
        kt = pb + pa * k
        tl.store(K + base + c * N, kt, mask=mdn & (c >= 0))
        k = tl.sum(tl.where(rc == 0, kt, 0.0), 1, keep_dims=True)
        k0 = tl.where(NC - (t + 1) * CT <= 0, tl.sum(tl.where(c == 0, kt, 0.0), 1, keep_dims=True), k0)
    if NEED_DS0:
        km1 = tl.load(Gl + base, mask=mdn, other=0.0) + tl.load(P + base, mask=mdn, other=0.0) * k0
        d0 = tl.load(delta + i_b * sd_b + rd * sd_d, mask=md, other=0.0).to(tl.float32)
        if HAS_BIAS:
            d0 += tl.load(bias + rd, mask=md, other=0.0)
        if SOFTPLUS:
            d0 = _softplus(d0)
        a = tl.load(A + rd * N + rn, mask=mdn, other=0.0)
        tl.store(ds0 + (i_b * Dm + rd) * N + rn, tl.exp(d0 * a) * km1, mask=mdn)


@triton.jit
def _bwd_rows(u, delta, dout, z, A, Dv, bias, S, K, su_b, su_d, su_l, sd_b, sd_d, sd_l, so_b, so_d, so_l,
              sz_b, sz_d, sz_l, i_b, rd, rn, t, c, Dm, N, L, NC,
              HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr):
    """Pass 3's inputs for channels rd of chunk c: u, delta + delta_bias at t and t + 1, dout, z,
    the chunk's entering state and adjoint, A and D (channels past Dm load nothing)."""
    md = rd < Dm
    mdn = md & (rn < N)
    m_d = md & (t < L)
    m_dn = md & (t + 1 < L)
    dbias = tl.load(bias + rd, mask=md, other=0.0).to(tl.float32) if HAS_BIAS else tl.zeros(rd.shape, tl.float32)
    ut = _load_dl(u, su_b, su_d, su_l, i_b, rd, t, m_d)
    dpre = _load_dl(delta, sd_b, sd_d, sd_l, i_b, rd, t, m_d) + dbias
    dnx = _load_dl(delta, sd_b, sd_d, sd_l, i_b, rd, t + 1, m_dn) + dbias
    do = _load_dl(dout, so_b, so_d, so_l, i_b, rd, t, m_d)
    zt = _load_dl(z, sz_b, sz_d, sz_l, i_b, rd, t, m_d) if HAS_Z else do
    soff = ((i_b * Dm + rd) * NC + c) * N + rn
    h0 = tl.load(S + soff, mask=mdn, other=0.0)
    g = tl.load(K + soff, mask=mdn, other=0.0)
    a_nat = tl.load(A + rd * N + rn, mask=mdn, other=0.0).to(tl.float32)
    dskip = tl.load(Dv + rd, mask=md, other=0.0).to(tl.float32) if HAS_D else tl.zeros(rd.shape, tl.float32)
    return ut, dpre, dnx, do, zt, h0, g, a_nat, dskip


@triton.jit
def _bwd_kernel(u, delta, A, B, C, Dv, z, bias, S, K, dout,
                du, ddelta, dz, dA, dB, dC, dD, dbias_p,
                su_b, su_d, su_l, sd_b, sd_d, sd_l, sz_b, sz_d, sz_l,
                sb_b, sb_n, sb_l, sc_b, sc_n, sc_l, so_b, so_d, so_l,
                Dm, N, L, NC, DPG,
                BD: tl.constexpr, BN: tl.constexpr, BL: tl.constexpr,
                HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """Backward pass 3, one program per (chunk, batch row, group of DPG channels): with h entering
    the chunk from S and the adjoint from K, every gradient; dB and dC are summed over the group's
    channels in registers, then over groups (and dA, dD, d delta_bias over rows and chunks) by atomics."""
    c, i_b, i_g = tl.program_id(0), tl.program_id(1).to(tl.int64), tl.program_id(2)
    rn = tl.arange(0, BN)[None, :, None]
    rt = tl.arange(0, BL)[None, None, :]
    mn = rn < N
    t = c * BL + rt
    m_n = mn & (t < L)                                                      # [1, BN, BL]
    bt = _load_nl(B, sb_b, sb_n, sb_l, i_b, rn, t, m_n)
    ct = _load_nl(C, sc_b, sc_n, sc_l, i_b, rn, t, m_n)
    dB_acc = tl.zeros([1, BN, BL], dtype=tl.float32)
    dC_acc = tl.zeros([1, BN, BL], dtype=tl.float32)
    # the next channel block's rows are loaded one iteration ahead (their latency hides behind the scans)
    d_first = i_g * DPG
    ut_n, dp_n, dn_n, do_n, z_n, h0_n, g_n, a_n, ds_n = _bwd_rows(
        u, delta, dout, z, A, Dv, bias, S, K, su_b, su_d, su_l, sd_b, sd_d, sd_l, so_b, so_d, so_l,
        sz_b, sz_d, sz_l, i_b, d_first + tl.arange(0, BD)[:, None, None], rn, t, c, Dm, N, L, NC,
        HAS_D, HAS_Z, HAS_BIAS)
    for d0 in range(d_first, tl.minimum(d_first + DPG, Dm), BD):
        rd = d0 + tl.arange(0, BD)[:, None, None]
        md = rd < Dm
        mdn = md & mn
        m_d = md & (t < L)                                                  # [BD, 1, BL]
        m_dn = md & (t + 1 < L)
        ut, dpre, dnx, do, zt, h0, g, a_nat, dskip = ut_n, dp_n, dn_n, do_n, z_n, h0_n, g_n, a_n, ds_n
        ut_n, dp_n, dn_n, do_n, z_n, h0_n, g_n, a_n, ds_n = _bwd_rows(
            u, delta, dout, z, A, Dv, bias, S, K, su_b, su_d, su_l, sd_b, sd_d, sd_l, so_b, so_d, so_l,
            sz_b, sz_d, sz_l, i_b, rd + BD, rn, t, c, Dm, N, L, NC, HAS_D, HAS_Z, HAS_BIAS)
        a2 = a_nat * 1.4426950408889634
        if SOFTPLUS:
            dt = _softplus(dpre)
            dnx = _softplus(dnx)
        else:
            dt = dpre
        dt = tl.where(m_d, dt, 0.0)
        dnx = tl.where(m_dn, dnx, 0.0)
        # recompute the chunk's states from its boundary state
        a = tl.exp2(dt * a2)
        b = (dt * ut) * bt
        pa, pb = tl.associative_scan((a, b), 2, _affine)
        hs = pa * h0 + pb
        out_off = (i_b * Dm + rd) * L + t
        if HAS_Z:
            sz = _sigmoid(zt)
            y = tl.sum(hs * ct, 1, keep_dims=True) + dskip * ut
            tl.store(dz + out_off, (do * y * sz * (1.0 + zt * (1.0 - sz))).to(dz.dtype.element_ty), mask=m_d)
            dy = do * zt * sz
        else:
            dy = do
        dC_acc += tl.sum(dy * hs, 0, keep_dims=True)
        hb = hs - b                                                         # a_t h_{t-1}
        # adjoint: reverse scan of (a_{t+1}, dy_t C_t); K enters at the chunk's last step
        an = tl.exp2(dnx * a2)
        x = dy * ct
        x = tl.where(rt == BL - 1, x + an * g, x)
        _, gs = tl.associative_scan((an, x), 2, _affine, reverse=True)
        gB = tl.sum(gs * bt, 1, keep_dims=True)                             # [BD, 1, BL]
        tl.store(du + out_off, (dskip * dy + dt * gB).to(du.dtype.element_ty), mask=m_d)
        dB_acc += tl.sum(gs * (dt * ut), 0, keep_dims=True)
        gh = gs * hb
        ddt = ut * gB + tl.sum(gh * a_nat, 1, keep_dims=True)
        tl.atomic_add(dA + rd * N + rn, tl.sum(gh * dt, 2, keep_dims=True), mask=mdn, sem="relaxed")
        if SOFTPLUS:
            ddt = ddt * _sigmoid(dpre)
        ddt = tl.where(m_d, ddt, 0.0)
        tl.store(ddelta + out_off, ddt.to(ddelta.dtype.element_ty), mask=m_d)
        if HAS_BIAS:
            tl.atomic_add(dbias_p + rd, tl.sum(ddt, 2, keep_dims=True), mask=md, sem="relaxed")
        if HAS_D:
            tl.atomic_add(dD + rd, tl.sum(dy * ut, 2, keep_dims=True), mask=md, sem="relaxed")
    boff = (i_b * N + rn) * L + t
    tl.atomic_add(dB + boff, dB_acc, mask=m_n, sem="relaxed")
    tl.atomic_add(dC + boff, dC_acc, mask=m_n, sem="relaxed")


def _sm_count(device) -> int:
    return torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 4


def config(Bt: int, Dm: int, N: int, L: int) -> dict:
    """Tiles. The backward works on chunks of BLS steps with one [BDB, BN, BLS] tile; the forward
    steps through time in 1-warp programs of 8 channels (BDQ) x 16 states, T steps unrolled per loop
    iteration, and splits time into segments when there are fewer than WQ warps per SM. It stores the
    state every BLS steps (S is [Bt, D, L/BLS, N]). From sweeps on an H200 (bf16, N = 16):
    forward: 1 warp, T = 8, WQ = 16: MambAttention's scans (Bt = 101 x L = 1600 and 1600 x 101, D =
    256) 1.18 and 0.88 ms, against 1.58 and 3.07 ms for the associative-scan forward this replaced;
    at B = 2, D = 512, L = 131072 6.8 ms against 6.35 (there time has to be split, at a second pass).
    Backward: BLS = 256 with 4 warps (9.6 ms fwd+bwd at B = 2, D = 512, L = 32768; 128 with 8 warps:
    18.7 ms). The Gluon forward (gluon_scan, where _gluon_faster) runs 32 channels per warp in programs
    of nw_g warps and cuts time into segments below WG warps per SM (H100 sweep, run 6: 2 and 32; at
    B = 2, D = 512, L = 131072 2.46 ms against 2.82 with 16 per SM; run 8, in 16-step pieces: 1.72
    against 1.82 ms). The Gluon backward (pass 3) keeps the state every SUB steps: 16 (H100, run 7:
    fwd+bwd at B = 2, D = 512, L = 131072 10.29 ms, 8: 10.22 ms with twice the memory for S;
    MambAttention's channels-last passes 10 % faster at 8)."""
    BN = block(N, 256)
    BLS = max(16, min(4096 // BN, 256, triton.next_power_of_2(L)))
    nw_q = 1
    return dict(BN=BN, BLS=BLS, BDB=1, nw_b=4, BDQ=8 * nw_q, nw_q=nw_q, TQ=8, WQ=16, nw_g=2, WG=32, SUB=16)


def _gluon_ok(u: torch.Tensor, N: int) -> bool:
    """The Gluon kernels (forward, backward's first and third passes): NVIDIA GPUs from Ampere on (the
    third pass and the staged forward copy with cp.async), up to 16 states (all held in one thread),
    not under the CPU interpreter (which runs Triton kernels only)."""
    if not u.is_cuda or torch.version.hip is not None or N > 16 or os.environ.get("TRITON_INTERPRET") == "1":
        return False
    if torch.cuda.get_device_capability(u.device) < (8, 0):
        return False
    try:
        from .gluon_scan import fwd_kernel
    except ImportError:   # a Triton without Gluon
        return False
    return fwd_kernel is not None


def _gluon_pass3(u: torch.Tensor, N: int, cfg: dict) -> bool:
    """Whether the backward's third pass is ``gluon_scan.bwd_kernel``, which needs the forward to store
    the state every cfg["SUB"] steps (rather than every BLS)."""
    return cfg.get("gluon3", True) and _gluon_ok(u, N)


def _gluon_faster(u: torch.Tensor) -> bool:
    """Where the Gluon forward beat the Triton one on an H100 (BENCHMARKS.md, kernels run 8): everywhere
    but time-contiguous and short (MambAttention's frequency pass channels-first, L 101: 0.97 against
    0.87 ms). Long (2 x 512 x 131072) 1.8 against 6.8 ms; MambAttention's time pass 0.63 against 0.91
    (channels-first) and 0.73 against 1.01 (channels-last)."""
    return not (u.stride(2) == 1 and u.shape[2] <= 256)


def _carry_tiles(Bt: int, Dm: int, BN: int, n: int, cfg: dict, device) -> tuple[int, int, int]:
    """(channels per program, tile of segments or chunks, warps) of a carry over n of them (the
    forward's between segments, the backward's pass 2): as many programs as fill the GPU."""
    BDc = max(1, min(16, 2048 // BN))
    while BDc > 1 and triton.cdiv(Dm, BDc) * Bt < 4 * _sm_count(device):
        BDc //= 2
    CT = cfg.get("CT", min(64, triton.next_power_of_2(n)))
    return BDc, CT, max(1, min(4, BDc * CT * BN // 256))


def _bc_rows(X: torch.Tensor, L: int) -> torch.Tensor:
    """B or C ([Bt, N, L], N <= 16) as fp32 [Bt, L, 16], states padded with zeros: the Gluon kernels copy
    it into shared memory 16 steps at a time with 16-byte async copies."""
    out = torch.zeros(X.shape[0], L, 16, device=X.device, dtype=torch.float32)
    out[:, :, :X.shape[1]] = X.transpose(1, 2)
    return out


def _strides3(x):
    return x.stride(0), x.stride(1), x.stride(2)


def _seq_geometry(Bt: int, Dm: int, L: int, BLS: int, sms: int, nw: int, BD: int, per_sm: int) -> tuple[int, int]:
    """(NSEG, SEG): split time into segments only when batch rows x channel blocks give fewer than
    per_sm warps per SM; a split costs a second pass over the inputs (the segments' own end states)."""
    warps = Bt * triton.cdiv(Dm, BD) * nw
    want = per_sm * sms
    if warps >= want or L <= 2 * BLS:
        return 1, L
    nseg = min(triton.cdiv(want, warps), triton.cdiv(L, BLS))
    seg = triton.cdiv(triton.cdiv(L, nseg), BLS) * BLS
    return triton.cdiv(L, seg), seg


def scan_fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus, s0, store_final, store_states):
    Bt, Dm, L = u.shape
    N = A.shape[1]
    cfg = config(Bt, Dm, N, L)
    # the state is kept every `every` steps: BLS for the Triton backward, SUB for the Gluon one
    # (for the Gluon one time-major, [Bt, NS, D, N]: the forward's stores of a warp are contiguous)
    s_tm = store_states and _gluon_pass3(u, N, cfg)
    every = cfg["SUB"] if s_tm else cfg["BLS"]
    NS = triton.cdiv(L, every)
    dev, f32 = u.device, torch.float32
    # out is written channels-last when the gate z (else u) is channels-last, as in a Mamba block,
    # whose out_proj then reads it without a copy
    out = empty_bdl(z if z is not None else u, Bt, Dm, L, u.dtype)
    sf = torch.empty(Bt, Dm, N, device=dev, dtype=f32) if store_final else out
    S = torch.empty((Bt, NS, Dm, N) if s_tm else (Bt, Dm, NS, N), device=dev, dtype=f32) if store_states else out
    zz = z if z is not None else u
    s0_ = s0 if s0 is not None else A
    flags = dict(HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None,
                 SOFTPLUS=delta_softplus, HAS_S0=s0 is not None)
    gluon = cfg.get("gluon", _gluon_faster(u)) and _gluon_ok(u, N)
    if gluon:   # one channel per thread, 32 per warp
        from .gluon_scan import fwd_kernel as kernel
        nw = cfg.get("nw_g", 1)   # (the tests' fixed tiles leave them out)
        BD, per_sm, tiles = 32 * nw, cfg.get("WG", 32), dict(BN=cfg["BN"], NW=nw, BLS=every)
        assert every % 4 == 0
    else:
        kernel, BD, nw, per_sm = _fwd_kernel, cfg["BDQ"], cfg["nw_q"], cfg["WQ"]
        tiles = dict(BD=BD, BN=cfg["BN"], T=cfg["TQ"], BLS=every)
        assert every % cfg["TQ"] == 0
    if "SEGQ" in cfg:   # tests: a fixed segment length, so that segments meet at small L
        SEG = cfg["SEGQ"]
        NSEG = triton.cdiv(L, SEG)
    else:
        NSEG, SEG = _seq_geometry(Bt, Dm, L, cfg["BLS"], _sm_count(dev), nw, BD, per_sm)
    H = torch.empty(Bt, NSEG, Dm, N, device=dev, dtype=f32) if NSEG > 1 else S
    sdt = torch.empty(Bt, NSEG, Dm, device=dev, dtype=f32) if NSEG > 1 else S
    bc = (B, C)
    if gluon:   # + fp32 [Bt, L, 16] copies of B and C (states padded with zeros), copied into shared memory
        bc = (B, C, *(_bc_rows(x, L) for x in (B, C)))
    args = (u, delta, A, *bc, D if D is not None else A, zz, delta_bias if delta_bias is not None else A, s0_,
            out, sf, S, H, sdt,
            *_strides3(u), *_strides3(delta), *_strides3(zz), *_strides3(B), *_strides3(C), *_strides3(out),
            Dm, N, L, NSEG, SEG, NS)
    if NSEG > 1:
        kernel[(triton.cdiv(Dm, BD), NSEG - 1, Bt)](
            *args, **tiles, LOCAL=True, **flags, STORE_FINAL=False, STORE_S=False, num_warps=nw)
        BDc, CT, nwc = _carry_tiles(Bt, Dm, cfg["BN"], NSEG - 1, cfg, dev)
        _fwd_carry_kernel[(triton.cdiv(Dm, BDc), Bt)](A, s0_, H, sdt, Dm, N, NSEG, BDc, cfg["BN"], CT,
                                                      s0 is not None, num_warps=nwc)
    kernel[(triton.cdiv(Dm, BD), NSEG, Bt)](
        *args, **tiles, LOCAL=False, **flags, STORE_FINAL=store_final, STORE_S=store_states, S_TM=s_tm,
        num_warps=nw)
    return out, (sf if store_final else None), (S if store_states else None)


def scan_bwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus, S, dout, dsf, need_ds0):
    Bt, Dm, L = u.shape
    N = A.shape[1]
    cfg = config(Bt, Dm, N, L)
    BN, BL, BD, nw = cfg["BN"], cfg["BLS"], cfg["BDB"], cfg["nw_b"]
    NC = triton.cdiv(L, BL)
    dev, f32 = u.device, torch.float32
    zz = z if z is not None else u
    flags = dict(HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus)
    bias = delta_bias if delta_bias is not None else A
    # passes 1-2: the adjoint entering every chunk from the later ones, K [Bt, D, NC, N]
    # with one chunk nothing enters from later chunks, and the chunk's own Gl and P feed only ds0
    local = NC > 1 or need_ds0
    Gl, P = (torch.empty(Bt, Dm, NC, N, device=dev, dtype=f32) if local else A for _ in range(2))
    K = torch.empty(Bt, Dm, NC, N, device=dev, dtype=f32)
    local_args = (delta, A, C, zz, bias, dout, Gl, P, *_strides3(delta), *_strides3(zz), *_strides3(C),
                  *_strides3(dout), Dm, N, L, NC)
    gl1, gl3 = cfg.get("gluon_bwd", True) and _gluon_ok(u, N), _gluon_pass3(u, N, cfg)
    # fp32 [Bt, L, 16] copies of B and C for the Gluon passes, which copy them into shared memory
    Bf, Cf = (_bc_rows(B, L), _bc_rows(C, L)) if gl3 else (A, _bc_rows(C, L)) if gl1 and local else (A, A)
    if local:
        if gl1:   # faster at every shape measured (run 6)
            from .gluon_scan import bwd_local_kernel
            nwg = cfg.get("nw_g", 1)
            bwd_local_kernel[(triton.cdiv(Dm, 32 * nwg), NC, Bt)](
                delta, A, Cf, zz, bias, dout, Gl, P, *_strides3(delta), *_strides3(zz), *_strides3(dout),
                Dm, N, L, NC, BN=BN, NW=nwg, BL=BL, **flags, num_warps=nwg)
        else:
            _bwd_local_kernel[(triton.cdiv(Dm, BD), NC, Bt)](*local_args, BD, BN, BL, **flags, num_warps=nw)
    ds0 = torch.empty(Bt, Dm, N, device=dev, dtype=f32) if need_ds0 else None
    BDc, CT, nwc = _carry_tiles(Bt, Dm, BN, NC, cfg, dev)
    _bwd_carry_kernel[(triton.cdiv(Dm, BDc), Bt)](
        delta, A, bias, dsf if dsf is not None else A, Gl, P, K, ds0 if need_ds0 else A, delta.stride(0),
        delta.stride(1), Dm, N, NC, BDc, BN, CT, flags["HAS_BIAS"], delta_softplus, dsf is not None, need_ds0,
        num_warps=nwc)
    del Gl, P
    # pass 3: channel groups, so that (chunks x rows x groups) fill the GPU
    groups = max(1, min(triton.cdiv(Dm, 8 * BD), triton.cdiv(2 * _sm_count(dev), NC * Bt)))
    DPG = triton.cdiv(triton.cdiv(Dm, groups), BD) * BD
    du = torch.empty(Bt, Dm, L, device=dev, dtype=u.dtype)
    ddelta = torch.empty(Bt, Dm, L, device=dev, dtype=delta.dtype)
    dz = torch.empty(Bt, Dm, L, device=dev, dtype=z.dtype) if z is not None else du
    dA = torch.zeros(Dm, N, device=dev, dtype=f32)
    dD, dbias = torch.zeros(Dm, device=dev, dtype=f32), torch.zeros(Dm, device=dev, dtype=f32)
    if gl3:
        from .gluon_scan import bwd_kernel
        SUB = cfg["SUB"]
        assert BL % SUB == 0 and tuple(S.shape) == (Bt, triton.cdiv(L, SUB), Dm, N)
        dBC = torch.zeros(Bt, 2, N, L, device=dev, dtype=f32)
        bwd_kernel[(triton.cdiv(Dm, 32), NC, Bt)](
            u, delta, A, Bf, Cf, D if D is not None else A, zz, bias, S, K, dout, du, ddelta, dz, dA, dBC, dD, dbias,
            *_strides3(u), *_strides3(delta), *_strides3(zz), *_strides3(dout),
            Dm, N, L, NC, S.shape[1], BN=BN, NW=1, BL=BL, T=SUB, HAS_D=D is not None, **flags, num_warps=1)
        return du, ddelta, dA, dBC[:, 0], dBC[:, 1], dD, dz if z is not None else None, dbias, ds0
    dB, dC = torch.zeros(Bt, N, L, device=dev, dtype=f32), torch.zeros(Bt, N, L, device=dev, dtype=f32)
    _bwd_kernel[(NC, Bt, triton.cdiv(Dm, DPG))](
        u, delta, A, B, C, D if D is not None else A, zz, bias, S, K, dout,
        du, ddelta, dz, dA, dB, dC, dD, dbias,
        *_strides3(u), *_strides3(delta), *_strides3(zz), *_strides3(B), *_strides3(C), *_strides3(dout),
        Dm, N, L, NC, DPG, BD, BN, BL, HAS_D=D is not None, **flags, num_warps=nw)
    return du, ddelta, dA, dB, dC, dD, dz if z is not None else None, dbias, ds0


class SelectiveScanFunction(torch.autograd.Function):
    """(u, delta, A, B, C, D, z, delta_bias, s0) -> (out [Bt, D, L] in u's dtype, final state fp32 or None).

    u, delta, z, B, C in any float dtype and strides; A, D, delta_bias, s0 are used in fp32."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, s0, delta_softplus, output_final_state, grad=True):
        f = lambda x: x.float().contiguous() if x is not None else None  # noqa: E731  (small tensors)
        A32, D32, b32, s032 = f(A), f(D), f(delta_bias), f(s0)
        train = grad and any(ctx.needs_input_grad)   # grad: whether grad mode was on at the call
        out, sf, S = scan_fwd(u, delta, A32, B, C, D32, z, b32, delta_softplus, s032, output_final_state, train)
        ctx.save_for_backward(u, delta, A32, B, C, D32, z, b32, S)
        ctx.meta = (delta_softplus, [x.dtype if x is not None else None for x in (A, B, C, D, delta_bias, s0)])
        return out, sf

    @staticmethod
    def backward(ctx, dout, dsf):
        u, delta, A32, B, C, D32, z, b32, S = ctx.saved_tensors
        softplus, (tA, tB, tC, tD, tb, ts0) = ctx.meta
        du, ddelta, dA, dB, dC, dD, dz, dbias, ds0 = scan_bwd(
            u, delta, A32, B, C, D32, z, b32, softplus, S, dout, dsf.float().contiguous() if dsf is not None else None,
            ts0 is not None)
        cast = lambda x, t: x.to(t) if x is not None and t is not None else None  # noqa: E731
        return (du, ddelta, cast(dA, tA), cast(dB, tB), cast(dC, tC), cast(dD, tD), dz, cast(dbias, tb),
                cast(ds0, ts0), None, None, None)
