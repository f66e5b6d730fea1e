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
for every step (O(L D N)), the forward writes the state at each chunk boundary ([Bt, D, L/BL, N]
fp32) and the backward recomputes h inside a chunk from it. dB and dC are sums over channels:
the programs of different channel blocks add into one fp32 [Bt, N, L] buffer with atomics (the
per-block partials would cost Dm/BD times that memory).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._triton_utils import block

LOG2E = 1.4426950408889634


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
    """[BD, BL] tile of a [Bt, D, L] tensor, in fp32."""
    return tl.load(p + i_b * s_b + rd[:, None] * s_d + t[None, :] * s_l, mask=m, other=0.0).to(tl.float32)


@triton.jit
def _load_nl(p, s_b, s_n, s_l, i_b, rn, t, m):
    """[BN, BL] tile of a [Bt, N, L] tensor, in fp32."""
    return tl.load(p + i_b * s_b + rn[:, None] * s_n + t[None, :] * s_l, mask=m, other=0.0).to(tl.float32)


@triton.jit
def _fwd_kernel(u, delta, A, B, C, Dv, z, bias, s0, out, sf, S,
                su_b, su_d, su_l, sd_b, sd_d, sd_l, sz_b, sz_d, sz_l,
                sb_b, sb_n, sb_l, sc_b, sc_n, sc_l,
                Dm, N, L, NC,
                BD: tl.constexpr, BN: tl.constexpr, BL: tl.constexpr,
                HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                HAS_S0: tl.constexpr, STORE_FINAL: tl.constexpr, STORE_S: tl.constexpr):
    i_d, i_b = tl.program_id(0), tl.program_id(1)
    rd = i_d * BD + tl.arange(0, BD)
    rn = tl.arange(0, BN)
    rt = tl.arange(0, BL)
    md, mn = rd < Dm, rn < N
    mdn = md[:, None] & mn[None, :]
    # masked channels/states get A = 0 (a = 1) and delta = 0 (b = 0): they carry zeros harmlessly
    a2 = tl.load(A + rd[:, None] * N + rn[None, :], mask=mdn, other=0.0).to(tl.float32) * 1.4426950408889634
    dskip = tl.load(Dv + rd, mask=md, other=0.0).to(tl.float32) if HAS_D else tl.zeros([BD], tl.float32)
    dbias = tl.load(bias + rd, mask=md, other=0.0).to(tl.float32) if HAS_BIAS else tl.zeros([BD], tl.float32)
    state_off = (i_b * Dm + rd[:, None]) * N + rn[None, :]
    h = tl.zeros([BD, BN], dtype=tl.float32)
    if HAS_S0:
        h = tl.load(s0 + state_off, mask=mdn, other=0.0).to(tl.float32)
    # the next chunk's inputs are loaded one iteration ahead, so their latency hides behind a scan
    m2 = md[:, None] & (rt < L)[None, :]
    mb = mn[:, None] & (rt < L)[None, :]
    u_n = _load_dl(u, su_b, su_d, su_l, i_b, rd, rt, m2)
    d_n = _load_dl(delta, sd_b, sd_d, sd_l, i_b, rd, rt, m2)
    z_n = _load_dl(z, sz_b, sz_d, sz_l, i_b, rd, rt, m2) if HAS_Z else u_n
    b_n = _load_nl(B, sb_b, sb_n, sb_l, i_b, rn, rt, mb)
    c_n = _load_nl(C, sc_b, sc_n, sc_l, i_b, rn, rt, mb)
    for c in range(0, NC):
        t = c * BL + rt
        m2 = md[:, None] & (t < L)[None, :]
        ut, dt, zt, bt, ct = u_n, d_n, z_n, b_n, c_n
        tn = t + BL
        m2n = md[:, None] & (tn < L)[None, :]
        mbn = mn[:, None] & (tn < L)[None, :]
        u_n = _load_dl(u, su_b, su_d, su_l, i_b, rd, tn, m2n)
        d_n = _load_dl(delta, sd_b, sd_d, sd_l, i_b, rd, tn, m2n)
        if HAS_Z:
            z_n = _load_dl(z, sz_b, sz_d, sz_l, i_b, rd, tn, m2n)
        b_n = _load_nl(B, sb_b, sb_n, sb_l, i_b, rn, tn, mbn)
        c_n = _load_nl(C, sc_b, sc_n, sc_l, i_b, rn, tn, mbn)
        if STORE_S:
            tl.store(S + ((i_b * Dm + rd[:, None]) * NC + c) * N + rn[None, :], h, mask=mdn)
        dt = dt + dbias[:, None]
        if SOFTPLUS:
            dt = _softplus(dt)
        dt = tl.where(m2, dt, 0.0)
        a = tl.exp2(dt[:, None, :] * a2[:, :, None])                      # [BD, BN, BL]
        b = (dt * ut)[:, None, :] * bt[None, :, :]
        pa, pb = tl.associative_scan((a, b), 2, _affine)
        hs = pa * h[:, :, None] + pb
        y = tl.sum(hs * ct[None, :, :], 1) + dskip[:, None] * ut           # [BD, BL]
        if HAS_Z:
            y = y * zt * _sigmoid(zt)
        tl.store(out + (i_b * Dm + rd[:, None]) * L + t[None, :], y.to(out.dtype.element_ty), mask=m2)
        # padded steps past L have a = 1, b = 0, so the last column is h_{min(L, end) - 1}
        h = tl.sum(tl.where((rt == BL - 1)[None, None, :], hs, 0.0), 2)
    if STORE_FINAL:
        tl.store(sf + state_off, h, mask=mdn)


@triton.jit
def _bwd_kernel(u, delta, A, B, C, Dv, z, bias, S, dout, dsf,
                du, ddelta, dz, dA, dB, dC, dD, dbias_p, ds0,
                su_b, su_d, su_l, sd_b, sd_d, sd_l, sz_b, sz_d, sz_l,
                sb_b, sb_n, sb_l, sc_b, sc_n, sc_l, so_b, so_d, so_l,
                Dm, N, L, NC,
                BD: tl.constexpr, BN: tl.constexpr, BL: tl.constexpr,
                HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                HAS_DSF: tl.constexpr, NEED_DS0: tl.constexpr):
    i_d, i_b = tl.program_id(0), tl.program_id(1)
    rd = i_d * BD + tl.arange(0, BD)
    rn = tl.arange(0, BN)
    rt = tl.arange(0, BL)
    md, mn = rd < Dm, rn < N
    mdn = md[:, None] & mn[None, :]
    a_nat = tl.load(A + rd[:, None] * N + rn[None, :], mask=mdn, other=0.0).to(tl.float32)
    a2 = a_nat * 1.4426950408889634
    dskip = tl.load(Dv + rd, mask=md, other=0.0).to(tl.float32) if HAS_D else tl.zeros([BD], tl.float32)
    dbias = tl.load(bias + rd, mask=md, other=0.0).to(tl.float32) if HAS_BIAS else tl.zeros([BD], tl.float32)
    state_off = (i_b * Dm + rd[:, None]) * N + rn[None, :]
    # g: the adjoint at the first step of the chunk after this one (dsf enters past the last step,
    # where the decay taken for it is 1)
    g = tl.zeros([BD, BN], dtype=tl.float32)
    if HAS_DSF:
        g = tl.load(dsf + state_off, mask=mdn, other=0.0).to(tl.float32)
    dA_acc = tl.zeros([BD, BN], dtype=tl.float32)
    dD_acc = tl.zeros([BD], dtype=tl.float32)
    db_acc = tl.zeros([BD], dtype=tl.float32)
    out_off = (i_b * Dm + rd[:, None]) * L
    for i in range(0, NC):
        c = NC - 1 - i
        t = c * BL + rt
        mt = t < L
        m2 = md[:, None] & mt[None, :]
        mb = mn[:, None] & mt[None, :]
        m2n = md[:, None] & (t + 1 < L)[None, :]
        ut = _load_dl(u, su_b, su_d, su_l, i_b, rd, t, m2)
        dpre = _load_dl(delta, sd_b, sd_d, sd_l, i_b, rd, t, m2) + dbias[:, None]
        dnx = _load_dl(delta, sd_b, sd_d, sd_l, i_b, rd, t + 1, m2n) + dbias[:, None]
        do = _load_dl(dout, so_b, so_d, so_l, i_b, rd, t, m2)
        bt = _load_nl(B, sb_b, sb_n, sb_l, i_b, rn, t, mb)
        ct = _load_nl(C, sc_b, sc_n, sc_l, i_b, rn, t, mb)
        h0 = tl.load(S + ((i_b * Dm + rd[:, None]) * NC + c) * N + rn[None, :], mask=mdn, other=0.0)
        if SOFTPLUS:
            dt = _softplus(dpre)
            dnx = _softplus(dnx)
        else:
            dt = dpre
        dt = tl.where(m2, dt, 0.0)
        dnx = tl.where(m2n, dnx, 0.0)
        # recompute the chunk's states from its boundary state
        a = tl.exp2(dt[:, None, :] * a2[:, :, None])
        b = (dt * ut)[:, None, :] * bt[None, :, :]
        pa, pb = tl.associative_scan((a, b), 2, _affine)
        hs = pa * h0[:, :, None] + pb
        if HAS_Z:
            zt = _load_dl(z, sz_b, sz_d, sz_l, i_b, rd, t, m2)
            sz = _sigmoid(zt)
            y = tl.sum(hs * ct[None, :, :], 1) + dskip[:, None] * ut
            tl.store(dz + out_off + t[None, :], (do * y * sz * (1.0 + zt * (1.0 - sz))).to(dz.dtype.element_ty),
                     mask=m2)
            dy = do * zt * sz
        else:
            dy = do
        tl.atomic_add(dC + (i_b * N + rn[:, None]) * L + t[None, :], tl.sum(dy[:, None, :] * hs, 0), mask=mb)
        # adjoint: reverse scan of (a_{t+1}, dy_t C_t); the carry enters at the chunk's last step
        an = tl.exp2(dnx[:, None, :] * a2[:, :, None])
        x = dy[:, None, :] * ct[None, :, :]
        x = tl.where((rt == BL - 1)[None, None, :], x + an * g[:, :, None], x)
        _, gs = tl.associative_scan((an, x), 2, _affine, reverse=True)
        gB = tl.sum(gs * bt[None, :, :], 1)                                 # [BD, BL]
        tl.store(du + out_off + t[None, :], (dskip[:, None] * dy + dt * gB).to(du.dtype.element_ty), mask=m2)
        tl.atomic_add(dB + (i_b * N + rn[:, None]) * L + t[None, :], tl.sum(gs * (dt * ut)[:, None, :], 0), mask=mb)
        gh = gs * (hs - b)                                                  # g_t a_t h_{t-1}
        ddt = ut * gB + tl.sum(gh * a_nat[:, :, None], 1)
        dA_acc += tl.sum(gh * dt[:, None, :], 2)
        if SOFTPLUS:
            ddt = ddt * _sigmoid(dpre)
        ddt = tl.where(m2, ddt, 0.0)
        tl.store(ddelta + out_off + t[None, :], ddt.to(ddelta.dtype.element_ty), mask=m2)
        db_acc += tl.sum(ddt, 1)
        dD_acc += tl.sum(dy * ut, 1)
        g = tl.sum(tl.where((rt == 0)[None, None, :], gs, 0.0), 2)
    if NEED_DS0:
        # dh_in = a_0 g_0
        d0 = tl.load(delta + i_b * sd_b + rd * sd_d, mask=md, other=0.0).to(tl.float32) + dbias
        if SOFTPLUS:
            d0 = _softplus(d0)
        tl.store(ds0 + state_off, tl.exp2(d0[:, None] * a2) * g, mask=mdn)
    tl.store(dA + state_off, dA_acc, mask=mdn)
    tl.store(dD + i_b * Dm + rd, dD_acc, mask=md)
    tl.store(dbias_p + i_b * Dm + rd, db_acc, mask=md)


def config(Bt: int, Dm: int, N: int, L: int) -> tuple[int, int, int, int]:
    """(BD, BN, BL, num_warps). BD channels share the loads of B and C; the [BD, BN, BL] tile stays
    at 4096 fp32 elements (about 16 per thread and tensor at 8 warps) so the backward's tiles fit
    in registers; BD shrinks when there are few channel rows, to keep enough programs, and BL when
    the sequence is short."""
    BN = block(N, 256)
    BD = 4
    while BD > 1 and Bt * triton.cdiv(Dm, BD) < 256:
        BD //= 2
    BL = max(16, min(256, 4096 // (BD * BN), triton.next_power_of_2(L)))
    return BD, BN, BL, 8 if BD * BN * BL >= 4096 else 4


def _strides3(x):
    return x.stride(0), x.stride(1), x.stride(2)


def scan_fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus, s0, store_final, store_states):
    Bt, Dm, L = u.shape
    N = A.shape[1]
    BD, BN, BL, nw = config(Bt, Dm, N, L)
    NC = triton.cdiv(L, BL)
    dev, f32 = u.device, torch.float32
    out = torch.empty(Bt, Dm, L, device=dev, dtype=u.dtype)
    sf = torch.empty(Bt, Dm, N, device=dev, dtype=f32) if store_final else out
    S = torch.empty(Bt, Dm, NC, N, device=dev, dtype=f32) if store_states else out
    zz = z if z is not None else u
    _fwd_kernel[(triton.cdiv(Dm, BD), Bt)](
        u, delta, A, B, C, D if D is not None else A, zz, delta_bias if delta_bias is not None else A,
        s0 if s0 is not None else A, out, sf, S,
        *_strides3(u), *_strides3(delta), *_strides3(zz), *_strides3(B), *_strides3(C),
        Dm, N, L, NC, BD, BN, BL, D is not None, z is not None, delta_bias is not None, delta_softplus,
        s0 is not None, store_final, store_states, num_warps=nw)
    return out, (sf if store_final else None), (S if store_states else None)


def scan_bwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus, S, dout, dsf, need_ds0):
    Bt, Dm, L = u.shape
    N = A.shape[1]
    BD, BN, BL, nw = config(Bt, Dm, N, L)
    NC = triton.cdiv(L, BL)
    dev, f32 = u.device, torch.float32
    du, ddelta = torch.empty_like(u, memory_format=torch.contiguous_format), \
        torch.empty(Bt, Dm, L, device=dev, dtype=delta.dtype)
    dz = torch.empty(Bt, Dm, L, device=dev, dtype=z.dtype) if z is not None else du
    dB, dC = torch.zeros(Bt, N, L, device=dev, dtype=f32), torch.zeros(Bt, N, L, device=dev, dtype=f32)
    dA, ds0 = torch.empty(Bt, Dm, N, device=dev, dtype=f32), torch.empty(Bt, Dm, N, device=dev, dtype=f32)
    dD, dbias = torch.empty(Bt, Dm, device=dev, dtype=f32), torch.empty(Bt, Dm, device=dev, dtype=f32)
    zz = z if z is not None else u
    _bwd_kernel[(triton.cdiv(Dm, BD), Bt)](
        u, delta, A, B, C, D if D is not None else A, zz, delta_bias if delta_bias is not None else A,
        S, dout, dsf if dsf is not None else A, du, ddelta, dz, dA, dB, dC, dD, dbias, ds0,
        *_strides3(u), *_strides3(delta), *_strides3(zz), *_strides3(B), *_strides3(C), *_strides3(dout),
        Dm, N, L, NC, BD, BN, BL, D is not None, z is not None, delta_bias is not None, delta_softplus,
        dsf is not None, need_ds0, num_warps=nw)
    return du, ddelta, dA.sum(0), dB, dC, dD.sum(0), dz if z is not None else None, dbias.sum(0), \
        (ds0 if need_ds0 else None)


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
