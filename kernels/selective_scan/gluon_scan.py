"""The selective scan's forward and the backward's first pass on NVIDIA GPUs, in Gluon (Triton's
dialect with explicit layouts).

Same maths and outputs as ``triton_scan._fwd_kernel`` (Mamba-1, Gu & Dao 2023, Alg. 2, eq. 2a/4),
with a layout plain Triton does not reach (it takes layouts from the loads): one channel per thread
and all its N states in that thread, so y_t = C_t . h_t is a sum inside the thread (no shuffles), and
steps in blocks of 4 whose per-step inputs arrive as vector loads, u, delta and z as a [channels,
4] tile and B and C as a [states, 4] tile in every thread, taken apart into steps by splits (register
renaming). Softplus and the gate run once per channel and step. On an H100 this forward is 2.8x
faster than the Triton one at issue 4's shape and 1.4x at MambAttention's channels-first time pass
(BENCHMARKS.md, kernels run 6); the backward's first pass in this layout makes the whole forward
plus backward 1.1-1.4x faster. Gluon kernels do not run under Triton's CPU interpreter: there the
Triton kernels serve, and the tests run these on a GPU.
"""
from __future__ import annotations

from triton.experimental import gluon
from triton.experimental.gluon import language as gl


@gluon.jit
def _halves(x):
    """(columns 0, 2, ..., columns 1, 3, ...) of an [R, W] tile held in one thread; [R] at W = 2."""
    R: gl.constexpr = x.shape[0]
    W: gl.constexpr = x.shape[1]
    a, b = gl.split(x.reshape([R, W // 2, 2]))
    if W == 2:
        a = a.reshape([R])
        b = b.reshape([R])
    return a, b


@gluon.jit
def _columns(x):
    """The 4 columns of an [R, 4] tile held in one thread."""
    e, o = _halves(x)
    x0, x2 = _halves(e)
    x1, x3 = _halves(o)
    return x0, x1, x2, x3


@gluon.jit
def _step(h, a2, dt, du, bt, LD: gl.constexpr, LN: gl.constexpr):
    # h_t = exp(delta_t A) h_{t-1} + delta_t u_t B_t
    return gl.exp2(gl.convert_layout(dt, LD)[:, None] * a2) * h + \
        gl.convert_layout(du, LD)[:, None] * gl.convert_layout(bt, LN)[None, :]


@gluon.jit
def _y(h, ct, LN: gl.constexpr):
    return gl.sum(h * gl.convert_layout(ct, LN)[None, :], axis=1)


@gluon.jit
def _softplus(x):
    return gl.maximum(x, 0.0) + gl.log(1.0 + gl.exp(-gl.abs(x)))


@gluon.constexpr_function
def _layouts(BN, NW):
    """[channels, states] (h, A: a channel per thread, its states in it), [channels, 4 steps] (u,
    delta, z, y) and [states, 4 steps] (B, C: the whole tile in every thread)."""
    return (gl.BlockedLayout([1, BN], [32, 1], [NW, 1], [1, 0]), gl.BlockedLayout([1, 4], [32, 1], [NW, 1], [1, 0]),
            gl.BlockedLayout([BN, 4], [1, 32], [1, NW], [1, 0]))


@gluon.jit
def _program_tiles(A, bias, i_d, Dm, N, BN: gl.constexpr, NW: gl.constexpr, HAS_BIAS: gl.constexpr):
    """Indices and masks of a program's channels and states in the three layouts, A (scaled for exp2)
    and delta_bias. Masked channels/states get A = 0 (a = 1) and delta = 0 (b = 0): they carry zeros."""
    BD: gl.constexpr = 32 * NW
    L2: gl.constexpr = _layouts(BN, NW)[0]
    LDU: gl.constexpr = _layouts(BN, NW)[1]
    LBU: gl.constexpr = _layouts(BN, NW)[2]
    rd = i_d * BD + gl.arange(0, BD, layout=gl.SliceLayout(1, L2))
    rn = gl.arange(0, BN, layout=gl.SliceLayout(0, L2))
    mdn = (rd < Dm)[:, None] & (rn < N)[None, :]
    a2 = gl.load(A + rd[:, None] * N + rn[None, :], mask=mdn, other=0.0) * 1.4426950408889634
    rdu = i_d * BD + gl.arange(0, BD, layout=gl.SliceLayout(1, LDU))
    ru = gl.arange(0, 4, layout=gl.SliceLayout(0, LDU))
    rnb = gl.arange(0, BN, layout=gl.SliceLayout(1, LBU))
    rub = gl.arange(0, 4, layout=gl.SliceLayout(0, LBU))
    if HAS_BIAS:
        dbias = gl.load(bias + rdu, mask=rdu < Dm, other=0.0)[:, None]
    else:
        dbias = gl.zeros([BD, 1], gl.float32, layout=LDU)
    return rd, rn, mdn, a2, rdu, ru, rdu < Dm, rnb, rub, rnb < N, dbias


@gluon.jit
def _block(h, acc_dt, c, t_hi, a2, dskip, dbias, pu, pd, pz, po, pb, pc, S, i_b, Dm, N, NS, rd, rn, mdn, mdu, ru,
           mnb, rub, su_l, sd_l, sz_l, so_l, sb_l, sc_l,
           BD: gl.constexpr, UB: gl.constexpr, BLS: gl.constexpr, L2: gl.constexpr, LDU: gl.constexpr,
           TAIL: gl.constexpr, LOCAL: gl.constexpr, HAS_Z: gl.constexpr, SOFTPLUS: gl.constexpr,
           STORE_S: gl.constexpr):
    """Steps c .. c + UB - 1 (those before t_hi when TAIL): returns the new state and sum of delta."""
    LD: gl.constexpr = gl.SliceLayout(1, L2)
    LN: gl.constexpr = gl.SliceLayout(0, L2)
    if STORE_S:
        # SEG is a multiple of BLS, BLS of the block: the state entering every BLS-step chunk
        gl.store(S + ((i_b * Dm + rd[:, None]) * NS + c // BLS) * N + rn[None, :], h, mask=mdn & (c % BLS == 0))
    if TAIL:
        m2 = mdu[:, None] & ((c + ru) < t_hi)[None, :]
        mb = mnb[:, None] & ((c + rub) < t_hi)[None, :]
    else:
        m2 = mdu[:, None] & (ru >= 0)[None, :]
        mb = mnb[:, None] & (rub >= 0)[None, :]
    x = gl.load(pd + c * sd_l, mask=m2, other=0.0).to(gl.float32) + dbias
    if SOFTPLUS:
        x = _softplus(x)
    dt = gl.where(m2, x, 0.0)
    ut = gl.load(pu + c * su_l, mask=m2, other=0.0).to(gl.float32)
    if LOCAL:
        acc_dt += gl.sum(dt, axis=1)
    d0, d1, d2, d3 = _columns(dt)
    e0, e1, e2, e3 = _columns(dt * ut)
    b0, b1, b2, b3 = _columns(gl.load(pb + c * sb_l, mask=mb, other=0.0).to(gl.float32))
    if LOCAL:
        h = _step(h, a2, d0, e0, b0, LD, LN)
        h = _step(h, a2, d1, e1, b1, LD, LN)
        h = _step(h, a2, d2, e2, b2, LD, LN)
        h = _step(h, a2, d3, e3, b3, LD, LN)
    else:
        c0, c1, c2, c3 = _columns(gl.load(pc + c * sc_l, mask=mb, other=0.0).to(gl.float32))
        h = _step(h, a2, d0, e0, b0, LD, LN)
        y0 = _y(h, c0, LN)
        h = _step(h, a2, d1, e1, b1, LD, LN)
        y1 = _y(h, c1, LN)
        h = _step(h, a2, d2, e2, b2, LD, LN)
        y2 = _y(h, c2, LN)
        h = _step(h, a2, d3, e3, b3, LD, LN)
        y3 = _y(h, c3, LN)
        # [BD, 2, 2] with (j, k) holding step 2 j + k, then [BD, UB] in the tile's layout
        y = gl.convert_layout(gl.join(gl.join(y0, y2), gl.join(y1, y3)).reshape([BD, UB]), LDU)
        y = y + dskip * ut
        if HAS_Z:
            zt = gl.load(pz + c * sz_l, mask=m2, other=0.0).to(gl.float32)
            y = y * zt / (1.0 + gl.exp(-zt))
        gl.store(po + c * so_l, y.to(po.dtype.element_ty), mask=m2)
    return h, acc_dt


@gluon.jit
def fwd_kernel(u, delta, A, B, C, Dv, z, bias, s0, out, sf, S, H, sdt,
               su_b, su_d, su_l, sd_b, sd_d, sd_l, sz_b, sz_d, sz_l,
               sb_b, sb_n, sb_l, sc_b, sc_n, sc_l, so_b, so_d, so_l,
               Dm, N, L, NSEG, SEG, NS,
               BN: gl.constexpr, NW: gl.constexpr, BLS: gl.constexpr,
               LOCAL: gl.constexpr, HAS_D: gl.constexpr, HAS_Z: gl.constexpr, HAS_BIAS: gl.constexpr,
               SOFTPLUS: gl.constexpr, HAS_S0: gl.constexpr, STORE_FINAL: gl.constexpr, STORE_S: gl.constexpr):
    """One program: batch row i_b, channels [i_d BD, (i_d + 1) BD) with BD = 32 NW, the SEG steps of
    segment i_s. Arguments, LOCAL and the buffers H, sdt, S, sf as in ``triton_scan._fwd_kernel``."""
    BD: gl.constexpr = 32 * NW
    UB: gl.constexpr = 4
    L2: gl.constexpr = _layouts(BN, NW)[0]
    LDU: gl.constexpr = _layouts(BN, NW)[1]
    i_d = gl.program_id(0)
    i_s = gl.program_id(1)
    i_b = gl.program_id(2).to(gl.int64)
    rd, rn, mdn, a2, rdu, ru, mdu, rnb, rub, mnb, dbias = _program_tiles(A, bias, i_d, Dm, N, BN, NW, HAS_BIAS)
    if HAS_D:
        dskip = gl.load(Dv + rdu, mask=mdu, other=0.0)[:, None]
    else:
        dskip = gl.zeros([BD, 1], gl.float32, layout=LDU)
    state_off = (i_b * Dm + rd[:, None]) * N + rn[None, :]
    h = gl.zeros([BD, BN], gl.float32, layout=L2)
    if not LOCAL:
        if i_s > 0:
            # (H is a dummy of out's dtype when NSEG = 1)
            h = gl.load(H + ((i_b * NSEG + i_s) * Dm + rd[:, None]) * N + rn[None, :], mask=mdn,
                        other=0.0).to(gl.float32)
        elif HAS_S0:
            h = gl.load(s0 + state_off, mask=mdn, other=0.0).to(gl.float32)
    acc_dt = gl.zeros([BD], gl.float32, layout=gl.SliceLayout(1, LDU))
    t_lo = i_s * SEG
    t_hi = gl.minimum(t_lo + SEG, L)
    pu = u + i_b * su_b + rdu[:, None] * su_d + ru[None, :] * su_l
    pd = delta + i_b * sd_b + rdu[:, None] * sd_d + ru[None, :] * sd_l
    pz = z + i_b * sz_b + rdu[:, None] * sz_d + ru[None, :] * sz_l
    po = out + i_b * so_b + rdu[:, None] * so_d + ru[None, :] * so_l
    pb = B + i_b * sb_b + rnb[:, None] * sb_n + rub[None, :] * sb_l
    pc = C + i_b * sc_b + rnb[:, None] * sc_n + rub[None, :] * sc_l
    # full blocks without time masks (a mask that varies along the block's steps splits its vector
    # loads into scalar ones), then the last, partial block with them
    t_full = t_lo + (t_hi - t_lo) // UB * UB
    for c in range(t_lo, t_full, UB):
        h, acc_dt = _block(h, acc_dt, c, t_hi, a2, dskip, dbias, pu, pd, pz, po, pb, pc, S, i_b, Dm, N, NS, rd, rn,
                           mdn, mdu, ru, mnb, rub, su_l, sd_l, sz_l, so_l, sb_l, sc_l,
                           BD, UB, BLS, L2, LDU, False, LOCAL, HAS_Z, SOFTPLUS, STORE_S)
    if t_full < t_hi:
        h, acc_dt = _block(h, acc_dt, t_full, t_hi, a2, dskip, dbias, pu, pd, pz, po, pb, pc, S, i_b, Dm, N, NS, rd,
                           rn, mdn, mdu, ru, mnb, rub, su_l, sd_l, sz_l, so_l, sb_l, sc_l,
                           BD, UB, BLS, L2, LDU, True, LOCAL, HAS_Z, SOFTPLUS, STORE_S)
    if LOCAL:
        gl.store(H + ((i_b * NSEG + i_s) * Dm + rd[:, None]) * N + rn[None, :], h, mask=mdn)
        gl.store(sdt + (i_b * NSEG + i_s) * Dm + rdu, acc_dt, mask=mdu)
    elif STORE_FINAL:
        if i_s == NSEG - 1:
            gl.store(sf + state_off, h, mask=mdn)


@gluon.jit
def bwd_local_kernel(delta, A, C, z, bias, dout, Gl, P,
                     sd_b, sd_d, sd_l, sz_b, sz_d, sz_l, sc_b, sc_n, sc_l, so_b, so_d, so_l,
                     Dm, N, L, NC,
                     BN: gl.constexpr, NW: gl.constexpr, BL: gl.constexpr,
                     HAS_Z: gl.constexpr, HAS_BIAS: gl.constexpr, SOFTPLUS: gl.constexpr):
    """The backward's first pass (``triton_scan._bwd_local_kernel``) in the forward's layout: for
    chunk c of BL steps, the adjoint g_t = dy_t C_t + a_{t+1} g_{t+1} run back from zero to the
    chunk's first step (Gl) and the product of the chunk's a_{t+1} (P), both [Bt, D, NC, N]."""
    BD: gl.constexpr = 32 * NW
    UB: gl.constexpr = 4
    L2: gl.constexpr = _layouts(BN, NW)[0]
    LD: gl.constexpr = gl.SliceLayout(1, L2)
    LN: gl.constexpr = gl.SliceLayout(0, L2)
    i_d = gl.program_id(0)
    c = gl.program_id(1)
    i_b = gl.program_id(2).to(gl.int64)
    rd, rn, mdn, a2, rdu, ru, mdu, rnb, rub, mnb, dbias = _program_tiles(A, bias, i_d, Dm, N, BN, NW, HAS_BIAS)
    pd = delta + i_b * sd_b + rdu[:, None] * sd_d + ru[None, :] * sd_l
    pz = z + i_b * sz_b + rdu[:, None] * sz_d + ru[None, :] * sz_l
    po = dout + i_b * so_b + rdu[:, None] * so_d + ru[None, :] * so_l
    pc = C + i_b * sc_b + rnb[:, None] * sc_n + rub[None, :] * sc_l
    g = gl.zeros([BD, BN], gl.float32, layout=L2)
    p = gl.full([BD, BN], 1.0, gl.float32, layout=L2)
    t_lo = c * BL
    t_hi = gl.minimum(t_lo + BL, L)
    nblk = (t_hi - t_lo + UB - 1) // UB
    for j in range(0, nblk):
        c0 = t_lo + (nblk - 1 - j) * UB
        # delta_{t+1}: the step after the chunk's last is the next chunk's first; none after L (a = 1)
        mn1 = mdu[:, None] & ((c0 + 1 + ru) < L)[None, :]
        x = gl.load(pd + (c0 + 1) * sd_l, mask=mn1, other=0.0).to(gl.float32) + dbias
        if SOFTPLUS:
            x = _softplus(x)
        dnx = gl.where(mn1, x, 0.0)
        m2 = mdu[:, None] & ((c0 + ru) < t_hi)[None, :]
        dy = gl.load(po + c0 * so_l, mask=m2, other=0.0).to(gl.float32)
        if HAS_Z:
            zt = gl.load(pz + c0 * sz_l, mask=m2, other=0.0).to(gl.float32)
            dy = dy * zt / (1.0 + gl.exp(-zt))
        mb = mnb[:, None] & ((c0 + rub) < t_hi)[None, :]
        d0, d1, d2, d3 = _columns(dnx)
        y0, y1, y2, y3 = _columns(dy)
        c0_, c1_, c2_, c3_ = _columns(gl.load(pc + c0 * sc_l, mask=mb, other=0.0).to(gl.float32))
        g, p = _adjoint_step(g, p, a2, d3, y3, c3_, LD, LN)
        g, p = _adjoint_step(g, p, a2, d2, y2, c2_, LD, LN)
        g, p = _adjoint_step(g, p, a2, d1, y1, c1_, LD, LN)
        g, p = _adjoint_step(g, p, a2, d0, y0, c0_, LD, LN)
    off = ((i_b * Dm + rd[:, None]) * NC + c) * N + rn[None, :]
    gl.store(Gl + off, g, mask=mdn)
    gl.store(P + off, p, mask=mdn)


@gluon.jit
def _adjoint_step(g, p, a2, dnx, dy, ct, LD: gl.constexpr, LN: gl.constexpr):
    # g_t = dy_t C_t + a_{t+1} g_{t+1}, and the running product of the a_{t+1}
    an = gl.exp2(gl.convert_layout(dnx, LD)[:, None] * a2)
    return an * g + gl.convert_layout(dy, LD)[:, None] * gl.convert_layout(ct, LN)[None, :], p * an
