"""Triton kernels of the Mamba-1 selective scan (S6), forward and backward, with everything elementwise fused.

Gu & Dao 2023, "Mamba", Alg. 2, eq. 2a/4 and the hardware-aware scan of Sec. 3.3.2: the state
h [D, N] never leaves the chip. For one batch row and a block of BD channels, a program walks
the sequence in chunks of BL steps. Inside a chunk it builds the [BD, N, BL] tiles
    a_t = exp(delta_t A),    b_t = delta_t u_t B_t,    delta_t = softplus(delta_raw_t + delta_bias)
and combines them along time with a parallel associative scan (Blelloch 1990) of the affine maps
h -> a h + b, (a1, b1) . (a2, b2) = (a1 a2, a2 b1 + b2); the state carried from the previous
chunk enters as h_t = A_t h_in + B_t, with (A_t, B_t) the scanned pair. The output
    out_t = (C_t . h_t + D u_t) * silu(z_t)
is reduced over N in registers, so u, delta, z, B and C are read once (in their own dtype) and out
is written once; all arithmetic is fp32.

Backward (g_t = dL/dh_t, the adjoint carried back in time; dy_t = dout_t silu(z_t)):
    g_t = dy_t C_t + a_{t+1} g_{t+1}                  (a reverse scan of (a_{t+1}, dy_t C_t))
    du_t = D dy_t + delta_t (g_t . B_t),   dB_t = sum_d delta_t u_t g_t,   dC_t = sum_d dy_t h_t
    ddelta_t = u_t (g_t . B_t) + sum_n A g_t a_t h_{t-1}     (a_t h_{t-1} = h_t - b_t: no shift of h)
    dA = sum_t delta_t g_t a_t h_{t-1},   dD = sum_t dy_t u_t,   dh_in = a_0 g_0
and ddelta is multiplied by sigmoid(delta_raw + delta_bias) for the softplus. Instead of storing h
for every step (O(L D N)), the forward writes the state entering every BLS-step chunk (S, [Bt, D,
L/BLS, N] fp32) and the backward recomputes h inside a chunk from it. The backward is parallel
over chunks, in three passes:
  1. per (channels, chunk): the reverse scan with nothing entering from later chunks; its value
     at the chunk's first step and the product of the chunk's decays ([Bt, D, L/BLS, N] each);
  2. per channel block, sequentially over chunks (cheap): the adjoint K entering each chunk;
  3. per (chunk, batch row, channel group): recompute h from S, the adjoint from K, all gradients.
A program of pass 3 loops over the channels of its group, so dB_t and dC_t (sums over channels)
are summed in registers and only groups (few) meet in an fp32 atomic add; one program per
channel block over the whole sequence would leave either few programs or Dm/BD atomic adds per
element of dB and dC.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._triton_utils import block


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
def _fwd_kernel(u, delta, A, B, C, Dv, z, bias, s0, out, sf, S,
                su_b, su_d, su_l, sd_b, sd_d, sd_l, sz_b, sz_d, sz_l,
                sb_b, sb_n, sb_l, sc_b, sc_n, sc_l,
                Dm, N, L, NC, NS,
                BD: tl.constexpr, BN: tl.constexpr, BL: tl.constexpr, R: tl.constexpr,
                HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                HAS_S0: tl.constexpr, STORE_FINAL: tl.constexpr, STORE_S: tl.constexpr):
    """One program: batch row i_b, channels [i_d BD, (i_d + 1) BD), all L steps in NC chunks of BL.
    The state before every R-th chunk goes to S [Bt, D, NS, N] (the backward's chunks are R BL long)."""
    # every tensor is 3-d over (channel, state, time) so all share one layout, time fastest
    i_d, i_b = tl.program_id(0), tl.program_id(1).to(tl.int64)  # int64: B*D*L may pass 2**31
    rd = i_d * BD + tl.arange(0, BD)[:, None, None]
    rn = tl.arange(0, BN)[None, :, None]
    rt = tl.arange(0, BL)[None, None, :]
    md, mn = rd < Dm, rn < N
    mdn = md & mn
    # masked channels/states get A = 0 (a = 1) and delta = 0 (b = 0): they carry zeros harmlessly
    a2 = tl.load(A + rd * N + rn, mask=mdn, other=0.0).to(tl.float32) * 1.4426950408889634   # [BD, BN, 1]
    dskip = tl.load(Dv + rd, mask=md, other=0.0).to(tl.float32) if HAS_D else tl.zeros([BD, 1, 1], tl.float32)
    dbias = tl.load(bias + rd, mask=md, other=0.0).to(tl.float32) if HAS_BIAS else tl.zeros([BD, 1, 1], tl.float32)
    state_off = (i_b * Dm + rd) * N + rn
    h = tl.zeros([BD, BN, 1], dtype=tl.float32)
    if HAS_S0:
        h = tl.load(s0 + state_off, mask=mdn, other=0.0).to(tl.float32)
    # the next chunk's inputs are loaded one iteration ahead, so their latency hides behind a scan
    u_n = _load_dl(u, su_b, su_d, su_l, i_b, rd, rt, md & (rt < L))
    d_n = _load_dl(delta, sd_b, sd_d, sd_l, i_b, rd, rt, md & (rt < L))
    z_n = _load_dl(z, sz_b, sz_d, sz_l, i_b, rd, rt, md & (rt < L)) if HAS_Z else u_n
    b_n = _load_nl(B, sb_b, sb_n, sb_l, i_b, rn, rt, mn & (rt < L))
    c_n = _load_nl(C, sc_b, sc_n, sc_l, i_b, rn, rt, mn & (rt < L))
    for c in range(0, NC):
        t = c * BL + rt
        m_d = md & (t < L)                                                  # [BD, 1, BL]
        ut, dt, zt, bt, ct = u_n, d_n, z_n, b_n, c_n
        tn = t + BL
        u_n = _load_dl(u, su_b, su_d, su_l, i_b, rd, tn, md & (tn < L))
        d_n = _load_dl(delta, sd_b, sd_d, sd_l, i_b, rd, tn, md & (tn < L))
        if HAS_Z:
            z_n = _load_dl(z, sz_b, sz_d, sz_l, i_b, rd, tn, md & (tn < L))
        b_n = _load_nl(B, sb_b, sb_n, sb_l, i_b, rn, tn, mn & (tn < L))
        c_n = _load_nl(C, sc_b, sc_n, sc_l, i_b, rn, tn, mn & (tn < L))
        if STORE_S:
            tl.store(S + ((i_b * Dm + rd) * NS + c // R) * N + rn, h, mask=mdn & (c % R == 0))
        dt = dt + dbias
        if SOFTPLUS:
            dt = _softplus(dt)
        dt = tl.where(m_d, dt, 0.0)
        a = tl.exp2(dt * a2)                                                # [BD, BN, BL]
        b = (dt * ut) * bt
        pa, pb = tl.associative_scan((a, b), 2, _affine)
        hs = pa * h + pb
        y = tl.sum(hs * ct, 1, keep_dims=True) + dskip * ut                 # [BD, 1, BL]
        if HAS_Z:
            y = y * zt * _sigmoid(zt)
        tl.store(out + (i_b * Dm + rd) * L + t, y.to(out.dtype.element_ty), mask=m_d)
        # padded steps past L have a = 1, b = 0, so the last column is h_{min(L, end) - 1}
        h = tl.sum(tl.where(rt == BL - 1, hs, 0.0), 2, keep_dims=True)
    if STORE_FINAL:
        tl.store(sf + state_off, h, mask=mdn)


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
def _bwd_carry_kernel(delta, A, bias, dsf, Gl, P, ds0, sd_b, sd_d, Dm, N, NC,
                      BD: tl.constexpr, BN: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                      HAS_DSF: tl.constexpr, NEED_DS0: tl.constexpr):
    """Backward pass 2, sequential over chunks: K_{c-1} = Gl_c + P_c K_c from K_{NC-1} = dsf; K_c
    (the adjoint at the first step after chunk c) overwrites Gl_c; dh_in = a_0 K_{-1}."""
    i_d, i_b = tl.program_id(0), tl.program_id(1).to(tl.int64)  # int64: B*D*L may pass 2**31
    rd = i_d * BD + tl.arange(0, BD)[:, None]
    rn = tl.arange(0, BN)[None, :]
    md = rd < Dm
    mdn = md & (rn < N)
    state_off = (i_b * Dm + rd) * N + rn
    k = tl.zeros([BD, BN], dtype=tl.float32)
    if HAS_DSF:
        k = tl.load(dsf + state_off, mask=mdn, other=0.0)
    for i in range(0, NC):
        off = ((i_b * Dm + rd) * NC + NC - 1 - i) * N + rn
        gl = tl.load(Gl + off, mask=mdn, other=0.0)
        p = tl.load(P + off, mask=mdn, other=0.0)
        tl.store(Gl + off, k, mask=mdn)
        k = gl + p * k
    if NEED_DS0:
        d0 = tl.load(delta + i_b * sd_b + rd * sd_d, mask=md, other=0.0).to(tl.float32)
        if HAS_BIAS:
            d0 += tl.load(bias + rd, mask=md, other=0.0)
        if SOFTPLUS:
            d0 = _softplus(d0)
        a = tl.load(A + rd * N + rn, mask=mdn, other=0.0)
        tl.store(ds0 + state_off, tl.exp(d0 * a) * k, mask=mdn)


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
    """Tiles. The backward works on chunks of BLS steps with one [BDB, BN, BLS] tile; the forward on
    BLF-step chunks of BDF channels, which share their B and C loads, and stores the state every BLS
    steps (S is [Bt, D, L/BLS, N]). Chosen by a sweep on an H200 (B=2, D=512, N=16, L=32768, bf16,
    .whl-style script in BENCHMARKS.md): forward BLF=32, BDF=4, 4 warps 1.58 ms (the first guess,
    64/4/8 warps, 3.07 ms); backward BLS=256 with 4 warps 9.6 ms fwd+bwd (128 with 8 warps: 18.7 ms)."""
    BN = block(N, 256)
    BLS = max(16, min(4096 // BN, 256, triton.next_power_of_2(L)))
    BLF = max(16, min(BLS, 32))
    BDF = max(1, min(4, 4096 // (BN * BLF)))
    while BDF > 1 and Bt * triton.cdiv(Dm, BDF) < 256:
        BDF //= 2
    return dict(BN=BN, BLS=BLS, BLF=BLF, BDF=BDF, nw_f=4, BDB=1, nw_b=4)


def _strides3(x):
    return x.stride(0), x.stride(1), x.stride(2)


def scan_fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus, s0, store_final, store_states):
    Bt, Dm, L = u.shape
    N = A.shape[1]
    cfg = config(Bt, Dm, N, L)
    NS = triton.cdiv(L, cfg["BLS"])
    dev, f32 = u.device, torch.float32
    out = torch.empty(Bt, Dm, L, device=dev, dtype=u.dtype)
    sf = torch.empty(Bt, Dm, N, device=dev, dtype=f32) if store_final else out
    S = torch.empty(Bt, Dm, NS, N, device=dev, dtype=f32) if store_states else out
    zz = z if z is not None else u
    _fwd_kernel[(triton.cdiv(Dm, cfg["BDF"]), Bt)](
        u, delta, A, B, C, D if D is not None else A, zz, delta_bias if delta_bias is not None else A,
        s0 if s0 is not None else A, out, sf, S,
        *_strides3(u), *_strides3(delta), *_strides3(zz), *_strides3(B), *_strides3(C),
        Dm, N, L, triton.cdiv(L, cfg["BLF"]), NS, cfg["BDF"], cfg["BN"], cfg["BLF"], cfg["BLS"] // cfg["BLF"],
        D is not None, z is not None, delta_bias is not None, delta_softplus,
        s0 is not None, store_final, store_states, num_warps=cfg["nw_f"])
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
    K, P = torch.empty(Bt, Dm, NC, N, device=dev, dtype=f32), torch.empty(Bt, Dm, NC, N, device=dev, dtype=f32)
    _bwd_local_kernel[(triton.cdiv(Dm, BD), NC, Bt)](
        delta, A, C, zz, bias, dout, K, P, *_strides3(delta), *_strides3(zz), *_strides3(C), *_strides3(dout),
        Dm, N, L, NC, BD, BN, BL, **flags, num_warps=nw)
    ds0 = torch.empty(Bt, Dm, N, device=dev, dtype=f32) if need_ds0 else None
    BDc = max(1, min(16, 2048 // BN))
    _bwd_carry_kernel[(triton.cdiv(Dm, BDc), Bt)](
        delta, A, bias, dsf if dsf is not None else A, K, P, ds0 if need_ds0 else A, delta.stride(0), delta.stride(1),
        Dm, N, NC, BDc, BN, flags["HAS_BIAS"], delta_softplus, dsf is not None, need_ds0, num_warps=4)
    del P
    # pass 3: channel groups, so that (chunks x rows x groups) fill the GPU
    groups = max(1, min(triton.cdiv(Dm, 8 * BD), triton.cdiv(2 * _sm_count(dev), NC * Bt)))
    DPG = triton.cdiv(triton.cdiv(Dm, groups), BD) * BD
    du = torch.empty(Bt, Dm, L, device=dev, dtype=u.dtype)
    ddelta = torch.empty(Bt, Dm, L, device=dev, dtype=delta.dtype)
    dz = torch.empty(Bt, Dm, L, device=dev, dtype=z.dtype) if z is not None else du
    dB, dC = torch.zeros(Bt, N, L, device=dev, dtype=f32), torch.zeros(Bt, N, L, device=dev, dtype=f32)
    dA = torch.zeros(Dm, N, device=dev, dtype=f32)
    dD, dbias = torch.zeros(Dm, device=dev, dtype=f32), torch.zeros(Dm, device=dev, dtype=f32)
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
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, s0, delta_softplus, output_final_state):
        f = lambda x: x.float().contiguous() if x is not None else None  # noqa: E731  (small tensors)
        A32, D32, b32, s032 = f(A), f(D), f(delta_bias), f(s0)
        train = any(ctx.needs_input_grad)
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
                cast(ds0, ts0), None, None)
