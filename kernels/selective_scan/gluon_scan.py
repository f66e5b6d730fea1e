"""The selective scan on NVIDIA GPUs in Gluon (Triton's dialect with explicit layouts): the forward
and the backward's first and third passes.

Same maths and outputs as ``triton_scan``'s kernels (Mamba-1, Gu & Dao 2023, Alg. 2, eq. 2a/4),
with a layout plain Triton does not reach (it takes layouts from the loads): one channel per thread
and all its N states in that thread, so sums over states (y_t = C_t . h_t, and the backward's) are
sums inside the thread and no recurrence crosses threads. The forward goes through time in 16-step
pieces: u, delta and z arrive as [channels, 16] tiles (16 contiguous steps per thread, whole
32-byte sectors where time is contiguous) loaded one piece ahead and taken apart into steps by
splits (register renaming); B and C are read from shared memory that asynchronous copies fill one
piece ahead. Softplus and the gate run once per channel and step, on the special-function unit.
The backward's first pass goes back through its chunk in the same pieces.

The backward's third pass (``bwd_kernel``) needs h_t at every step in reverse order: it recomputes
16-step pieces forward from states the forward kept every 16 steps, onto a per-thread tape in
shared memory, then runs the adjoint back over the piece. dB_t and dC_t are sums over channels,
i.e. over the lanes of a warp: a reduce-scatter of shuffles (``_warp_sums``) gives each lane one of
the 32 sums, added to global memory by vector atomics.

On an H100 (BENCHMARKS.md, kernels runs 6-8) the forward is 4.3x faster than the Triton one at issue
4's shape (1.57 against 6.75 ms) and 1.4-1.5x at MambAttention's time pass; with the backward's
passes in this layout, forward plus backward is 2.7-4.1x faster than with the Triton third pass. Gluon kernels do
not run under Triton's CPU interpreter: there the Triton kernels serve, and the tests run these on a
GPU.
"""
from __future__ import annotations

from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.ampere import async_copy


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
def _join4(x0, x1, x2, x3, LDU: gl.constexpr):
    """Four per-step [BD] values as a [BD, 4] tile in the per-channel layout ([BD, 2, 2] with (j, k)
    holding step 2 j + k first)."""
    BD: gl.constexpr = x0.shape[0]
    return gl.convert_layout(gl.join(gl.join(x0, x2), gl.join(x1, x3)).reshape([BD, 4]), LDU)


@gluon.jit
def _split16(x):
    """The 16 columns of an [R, 16] tile held in one thread."""
    e, o = _halves(x)
    ee, eo = _halves(e)
    oe, oo = _halves(o)
    c0, c4, c8, c12 = _columns(ee)
    c2, c6, c10, c14 = _columns(eo)
    c1, c5, c9, c13 = _columns(oe)
    c3, c7, c11, c15 = _columns(oo)
    return c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15


@gluon.jit
def _interleave(e, o):
    """The inverse of ``_halves``: [R, 2 W] with e in the even columns and o in the odd ones."""
    R: gl.constexpr = e.shape[0]
    W: gl.constexpr = e.shape[1]
    return gl.join(e, o).reshape([R, 2 * W])


@gluon.jit
def _join16(c, LDP: gl.constexpr):
    """16 per-step [BD] values (a tuple) as a [BD, 16] tile in layout LDP."""
    LDU: gl.constexpr = gl.BlockedLayout([1, 4], [32, 1], [LDP.warps_per_cta[0], 1], [1, 0])
    e = _interleave(_join4(c[0], c[4], c[8], c[12], LDU), _join4(c[2], c[6], c[10], c[14], LDU))
    o = _interleave(_join4(c[1], c[5], c[9], c[13], LDU), _join4(c[3], c[7], c[11], c[15], LDU))
    return gl.convert_layout(_interleave(e, o), LDP)


@gluon.jit
def _lg2(x):
    # the special-function unit's log2 (gl.log is a ~25-instruction software routine)
    return gl.inline_asm_elementwise("lg2.approx.ftz.f32 $0, $1;", "=f,f", [x], dtype=gl.float32, is_pure=True,
                                     pack=1)


@gluon.jit
def _rcp(x):
    # 1 / x on the special-function unit (fp32 division is a multi-instruction routine)
    return gl.inline_asm_elementwise("rcp.approx.ftz.f32 $0, $1;", "=f,f", [x], dtype=gl.float32, is_pure=True,
                                     pack=1)


@gluon.jit
def _softplus(x):
    # log(1 + e^-|x|) + max(x, 0), from exp2 and log2 (gl.exp adds a denormal fix-up to each)
    return gl.maximum(x, 0.0) + _lg2(1.0 + gl.exp2(gl.abs(x) * -1.4426950408889634)) * 0.6931471805599453


@gluon.jit
def _sigmoid(x):
    return _rcp(1.0 + gl.exp2(x * -1.4426950408889634))


@gluon.constexpr_function
def _layouts(BN, NW):
    """[channels, states] (h, A: a channel per thread, its states in it) and [channels, 4 steps] (u,
    delta, z, y of a 4-step block)."""
    return gl.BlockedLayout([1, BN], [32, 1], [NW, 1], [1, 0]), gl.BlockedLayout([1, 4], [32, 1], [NW, 1], [1, 0])


@gluon.jit
def _program_tiles(A, bias, Dv, i_d, Dm, N, BN: gl.constexpr, NW: gl.constexpr, HAS_BIAS: gl.constexpr,
                   HAS_D: gl.constexpr):
    """Indices and masks of a program's channels and states in the two layouts, A (scaled for exp2),
    delta_bias and D. Masked channels/states get A = 0 (a = 1) and delta = 0 (b = 0): they carry zeros."""
    BD: gl.constexpr = 32 * NW
    L2: gl.constexpr = _layouts(BN, NW)[0]
    LDU: gl.constexpr = _layouts(BN, NW)[1]
    rd = i_d * BD + gl.arange(0, BD, layout=gl.SliceLayout(1, L2))
    rn = gl.arange(0, BN, layout=gl.SliceLayout(0, L2))
    mdn = (rd < Dm)[:, None] & (rn < N)[None, :]
    a2 = gl.load(A + rd[:, None] * N + rn[None, :], mask=mdn, other=0.0) * 1.4426950408889634
    rdu = i_d * BD + gl.arange(0, BD, layout=gl.SliceLayout(1, LDU))
    ru = gl.arange(0, 4, layout=gl.SliceLayout(0, LDU))
    if HAS_BIAS:
        dbias = gl.load(bias + rdu, mask=rdu < Dm, other=0.0)[:, None]
    else:
        dbias = gl.zeros([BD, 1], gl.float32, layout=LDU)
    if HAS_D:
        dskip = gl.load(Dv + rdu, mask=rdu < Dm, other=0.0)[:, None]
    else:
        dskip = gl.zeros([BD, 1], gl.float32, layout=LDU)
    return rd, rn, mdn, a2, rdu, ru, rdu < Dm, dbias, dskip


@gluon.jit
def _gate_store(y, ut, dskip, zraw, ptr, m, HAS_Z: gl.constexpr):
    """out = (C . h + D u) silu(z) of a tile of steps, stored in out's dtype."""
    y = y + dskip * ut
    if HAS_Z:
        zt = zraw.to(gl.float32)
        y = y * zt * _sigmoid(zt)
    gl.store(ptr, y.to(ptr.dtype.element_ty), mask=m)


@gluon.jit
def _keep_state(S, h, t, i_b, Dm, N, NS, rd, rn, mdn, BLS: gl.constexpr, S_TM: gl.constexpr):
    """For the backward: h, the state entering step t, to S when t starts a BLS-step chunk."""
    if S_TM:   # [Bt, NS, D, N]: a warp's 32 states are one contiguous 2 KiB store
        s_off = ((i_b * NS + t // BLS) * Dm + rd[:, None]) * N + rn[None, :]
    else:      # [Bt, D, NS, N]
        s_off = ((i_b * Dm + rd[:, None]) * NS + t // BLS) * N + rn[None, :]
    gl.store(S + s_off, h, mask=mdn & (t % BLS == 0))


@gluon.jit
def _tail_block(h, acc_dt, raw, c, t_hi, a2, dskip, dbias, po, S, i_b, Dm, N, NS, rd, rn, mdn, mdu, ru, so_l, bcs,
                bsub, csub, BLS: gl.constexpr, L2: gl.constexpr, LDU: gl.constexpr, LOCAL: gl.constexpr,
                HAS_Z: gl.constexpr, SOFTPLUS: gl.constexpr, STORE_S: gl.constexpr, S_TM: gl.constexpr):
    """Steps c .. c + 3 of a segment's last, partial piece (those before t_hi), given their
    ``_raw_block`` (raw delta, u, z; B_t and C_t: rows bsub + k and csub + k of bcs, k = step - c):
    returns the new state and sum of delta."""
    LD: gl.constexpr = gl.SliceLayout(1, L2)
    LN: gl.constexpr = gl.SliceLayout(0, L2)
    if STORE_S:   # (SEG is a multiple of BLS, BLS of 4)
        _keep_state(S, h, c, i_b, Dm, N, NS, rd, rn, mdn, BLS, S_TM)
    m2 = mdu[:, None] & ((c + ru) < t_hi)[None, :]
    x = raw[0].to(gl.float32) + dbias
    if SOFTPLUS:
        x = _softplus(x)
    dt = gl.where(m2, x, 0.0)
    ut = raw[1].to(gl.float32)
    if LOCAL:
        acc_dt += gl.sum(dt, axis=1)
    d = _columns(dt)
    e = _columns(dt * ut)
    ys = ()
    for k in gl.static_range(4):
        h = _step(h, a2, d[k], e[k], bcs.index(bsub + k).load(LN), LD, LN)
        if not LOCAL:
            ys = ys + (_y(h, bcs.index(csub + k).load(LN), LN),)
    if not LOCAL:
        _gate_store(_join4(ys[0], ys[1], ys[2], ys[3], LDU), ut, dskip, raw[2], po + c * so_l, m2, HAS_Z)
    return h, acc_dt


@gluon.jit
def _piece_rows(i_d, Dm, LDP: gl.constexpr):
    """A program's channels and a piece's 16 step offsets in the [BD, 16] layout LDP, and the mask of
    whole pieces (uniform over the steps, so that loads stay vectors)."""
    BD: gl.constexpr = LDP.threads_per_warp[0] * LDP.warps_per_cta[0]
    rdp = i_d * BD + gl.arange(0, BD, layout=gl.SliceLayout(1, LDP))
    rp = gl.arange(0, LDP.size_per_thread[1], layout=gl.SliceLayout(0, LDP))
    return rdp, rp, (rdp < Dm)[:, None] & (rp >= 0)[None, :]


@gluon.jit
def _tile_ptrs(x, i_b, s_b, s_d, s_l, rd, rt):
    """Pointers of a [channels, steps] tile of x [Bt, D, L] (channels rd, step offsets rt)."""
    return x + i_b * s_b + rd[:, None] * s_d + rt[None, :] * s_l


@gluon.jit
def _channel_values(v, rdp, Dm, HAS: gl.constexpr, LDP: gl.constexpr):
    """v[d] of the program's channels rdp as a [BD, 1] column in layout LDP (zeros without v)."""
    if HAS:
        return gl.load(v + rdp, mask=rdp < Dm, other=0.0)[:, None]
    else:
        return gl.zeros([rdp.shape[0], 1], gl.float32, layout=LDP)


@gluon.jit
def _piece(h, acc_dt, raw, c, a2, dskip, dbias, po, mp, S, i_b, Dm, N, NS, rd, rn, mdn, so_l, bcs, bsub, csub,
           BLS: gl.constexpr, L2: gl.constexpr, LDP: gl.constexpr, LOCAL: gl.constexpr, HAS_Z: gl.constexpr,
           SOFTPLUS: gl.constexpr, STORE_S: gl.constexpr, S_TM: gl.constexpr):
    """Steps c .. c + 15, all before the segment's end, given their delta, u and z as [BD, 16] tiles
    (16 contiguous steps: whole 32-byte sectors per thread where time is contiguous), B_t and C_t
    rows bsub + k and csub + k of bcs, mp the [BD, 16] mask of the program's channels: returns the new
    state and sum of delta."""
    LD: gl.constexpr = gl.SliceLayout(1, L2)
    LN: gl.constexpr = gl.SliceLayout(0, L2)
    x = raw[0].to(gl.float32) + dbias
    if SOFTPLUS:
        x = _softplus(x)
    ut = raw[1].to(gl.float32)
    if LOCAL:
        acc_dt += gl.convert_layout(gl.sum(x, axis=1), acc_dt.type.layout)
    d = _split16(x)
    e = _split16(x * ut)
    SB: gl.constexpr = BLS if BLS < 16 else 16
    ys = ()
    for k in gl.static_range(16):
        if STORE_S:
            if k % SB == 0:
                _keep_state(S, h, c + k, i_b, Dm, N, NS, rd, rn, mdn, BLS, S_TM)
        h = _step(h, a2, d[k], e[k], bcs.index(bsub + k).load(LN), LD, LN)
        if not LOCAL:
            ys = ys + (_y(h, bcs.index(csub + k).load(LN), LN),)
    if not LOCAL:
        _gate_store(_join16(ys, LDP), ut, dskip, raw[2], po + c * so_l, mp, HAS_Z)
    return h, acc_dt


@gluon.jit
def fwd_kernel(u, delta, A, B, C, Bf, Cf, Dv, z, bias, s0, out, sf, S, H, sdt,
               su_b, su_d, su_l, sd_b, sd_d, sd_l, sz_b, sz_d, sz_l,
               sb_b, sb_n, sb_l, sc_b, sc_n, sc_l, so_b, so_d, so_l,
               Dm, N, L, NSEG, SEG, NS,
               BN: gl.constexpr, NW: gl.constexpr, BLS: gl.constexpr,
               LOCAL: gl.constexpr, HAS_D: gl.constexpr, HAS_Z: gl.constexpr, HAS_BIAS: gl.constexpr,
               SOFTPLUS: gl.constexpr, HAS_S0: gl.constexpr, STORE_FINAL: gl.constexpr, STORE_S: gl.constexpr,
               S_TM: gl.constexpr = False):
    """One program: batch row i_b, channels [i_d BD, (i_d + 1) BD) with BD = 32 NW, the SEG steps of
    segment i_s. Arguments, LOCAL and the buffers H, sdt, S, sf as in ``triton_scan._fwd_kernel``
    (B and C unused). Time goes in 16-step pieces: each piece's B and C (from fp32 [Bt, L, 16] copies
    Bf, Cf) are copied into shared memory asynchronously, and its delta, u and z loaded as [BD, 16]
    tiles, while the piece before it runs (as the backward's third pass reads them)."""
    BD: gl.constexpr = 32 * NW
    P: gl.constexpr = 16
    LZ: gl.constexpr = HAS_Z and not LOCAL   # (the first pass needs no z)
    L2: gl.constexpr = _layouts(BN, NW)[0]
    LDU: gl.constexpr = _layouts(BN, NW)[1]
    LDP: gl.constexpr = gl.BlockedLayout([1, P], [32, 1], [NW, 1], [1, 0])
    i_d = gl.program_id(0)
    i_s = gl.program_id(1)
    i_b = gl.program_id(2).to(gl.int64)
    rd, rn, mdn, a2, rdu, ru, mdu, dbias, dskip = _program_tiles(A, bias, Dv, i_d, Dm, N, BN, NW, HAS_BIAS, HAS_D)
    state_off = (i_b * Dm + rd[:, None]) * N + rn[None, :]
    h = gl.zeros([BD, BN], gl.float32, layout=L2)
    if not LOCAL:
        if i_s > 0:
            # (H is a dummy of out's dtype when NSEG = 1)
            h = gl.load(H + ((i_b * NSEG + i_s - 1) * Dm + rd[:, None]) * N + rn[None, :], mask=mdn,
                        other=0.0).to(gl.float32)
        elif HAS_S0:
            h = gl.load(s0 + state_off, mask=mdn, other=0.0).to(gl.float32)
    acc_dt = gl.zeros([BD], gl.float32, layout=gl.SliceLayout(1, LDU))
    t_lo = i_s * SEG
    t_hi = gl.minimum(t_lo + SEG, L)
    # [BD, 16] tiles of full pieces: 16 contiguous steps per thread (two 16-byte loads of 16-bit data
    # where time is contiguous); a condition uniform over the piece keeps them vectors
    rdp, rp, fullp = _piece_rows(i_d, Dm, LDP)
    pu16 = _tile_ptrs(u, i_b, su_b, su_d, su_l, rdp, rp)
    pd16 = _tile_ptrs(delta, i_b, sd_b, sd_d, sd_l, rdp, rp)
    pz16 = _tile_ptrs(z, i_b, sz_b, sz_d, sz_l, rdp, rp)
    po16 = _tile_ptrs(out, i_b, so_b, so_d, so_l, rdp, rp)
    dbias_p = _channel_values(bias, rdp, Dm, HAS_BIAS, LDP)
    dskip_p = _channel_values(Dv, rdp, Dm, HAS_D, LDP)
    # B and C of a piece, two stages: [stage 0 B, stage 0 C, stage 1 B, stage 1 C] x [16, 16], written
    # by the copies through a rank-2 view and read a row at a time through a rank-1 one
    bcs_w = gl.allocate_shared_memory(gl.float32, [4 * P, 16], gl.SwizzledSharedLayout(1, 1, 1, order=[1, 0]))
    bcs = bcs_w._reinterpret(gl.float32, [4 * P, 16], gl.SwizzledSharedLayout(1, 1, 1, order=[0]))
    npc = gl.cdiv(t_hi - t_lo, P)
    n_full = (t_hi - t_lo) // P
    _stage_bc(bcs_w, 0, Bf, Cf, i_b * L, t_lo, L, P, NW, True)
    raw = _raw_block(t_lo, fullp & (n_full > 0), pd16, pu16, pz16, pz16, sd_l, su_l, sz_l, sz_l, LZ, False)
    for q in range(0, n_full):
        c = t_lo + q * P
        st = q % 2
        _stage_bc(bcs_w, 1 - st, Bf, Cf, i_b * L, c + P, L, P, NW, q + 1 < npc)
        async_copy.wait_group(1)
        gl.thread_barrier()
        raw_nx = _raw_block(c + P, fullp & (q + 1 < n_full), pd16, pu16, pz16, pz16, sd_l, su_l, sz_l, sz_l, LZ,
                            False)
        h, acc_dt = _piece(h, acc_dt, raw, c, a2, dskip_p, dbias_p, po16, fullp, S, i_b, Dm, N, NS, rd, rn, mdn,
                           so_l, bcs, 2 * st * P, (2 * st + 1) * P, BLS, L2, LDP, LOCAL, HAS_Z, SOFTPLUS, STORE_S,
                           S_TM)
        raw = raw_nx
        gl.thread_barrier()   # (the next piece's copy overwrites this stage)
    # the last, partial piece: 4-step blocks with time masks
    t_pf = t_lo + n_full * P
    if t_pf < t_hi:
        st = n_full % 2
        _stage_bc(bcs_w, 1 - st, Bf, Cf, i_b * L, t_pf + P, L, P, NW, False)   # (keeps the wait count)
        async_copy.wait_group(1)
        gl.thread_barrier()
        pu = _tile_ptrs(u, i_b, su_b, su_d, su_l, rdu, ru)
        pd = _tile_ptrs(delta, i_b, sd_b, sd_d, sd_l, rdu, ru)
        pz = _tile_ptrs(z, i_b, sz_b, sz_d, sz_l, rdu, ru)
        po = _tile_ptrs(out, i_b, so_b, so_d, so_l, rdu, ru)
        for c in range(t_pf, t_hi, 4):
            m2 = mdu[:, None] & ((c + ru) < t_hi)[None, :]
            rawt = _raw_block(c, m2, pd, pu, pz, pz, sd_l, su_l, sz_l, sz_l, LZ, False)
            h, acc_dt = _tail_block(h, acc_dt, rawt, c, t_hi, a2, dskip, dbias, po, S, i_b, Dm, N, NS, rd, rn, mdn,
                                    mdu, ru, so_l, bcs, 2 * st * P + c - t_pf, (2 * st + 1) * P + c - t_pf, BLS, L2,
                                    LDU, LOCAL, HAS_Z, SOFTPLUS, STORE_S, S_TM)
    async_copy.wait_group(0)
    if LOCAL:
        gl.store(H + ((i_b * NSEG + i_s) * Dm + rd[:, None]) * N + rn[None, :], h, mask=mdn)
        gl.store(sdt + (i_b * NSEG + i_s) * Dm + rdu, acc_dt, mask=mdu)
    elif STORE_FINAL:
        if i_s == NSEG - 1:
            gl.store(sf + state_off, h, mask=mdn)


@gluon.jit
def _delta_at(delta, bias, i_b, rd, t, Dm, L, sd_b, sd_d, sd_l, HAS_BIAS: gl.constexpr, SOFTPLUS: gl.constexpr):
    """delta_t of the channels rd (after bias and softplus), 0 at t >= L (there a_t = 1)."""
    mx = (rd < Dm) & (t < L)
    x = gl.load(delta + i_b * sd_b + rd * sd_d + t * sd_l, mask=mx, other=0.0).to(gl.float32)
    if HAS_BIAS:
        x += gl.load(bias + rd, mask=rd < Dm, other=0.0)
    if SOFTPLUS:
        x = _softplus(x)
    return gl.where(mx, x, 0.0)


@gluon.jit
def bwd_local_kernel(delta, A, Cf, z, bias, dout, Gl, P,
                     sd_b, sd_d, sd_l, sz_b, sz_d, sz_l, so_b, so_d, so_l,
                     Dm, N, L, NC,
                     BN: gl.constexpr, NW: gl.constexpr, BL: gl.constexpr,
                     HAS_Z: gl.constexpr, HAS_BIAS: gl.constexpr, SOFTPLUS: gl.constexpr):
    """The backward's first pass (``triton_scan._bwd_local_kernel``) in the forward's layout: for
    chunk c of BL steps, the adjoint g_t = dy_t C_t + a_{t+1} g_{t+1} run back from zero to the
    chunk's first step (Gl) and the product of the chunk's a_{t+1} (P), both [Bt, D, NC, N]. As the
    forward, in 16-step pieces (from the chunk's end): delta, dout and z as [BD, 16] tiles loaded a
    piece ahead, C (fp32 [Bt, L, 16] copy Cf) copied into shared memory a piece ahead; a last, partial
    piece goes first, in 4-step blocks with time masks."""
    BD: gl.constexpr = 32 * NW
    UB: gl.constexpr = 4
    PS: gl.constexpr = 16
    L2: gl.constexpr = _layouts(BN, NW)[0]
    LD: gl.constexpr = gl.SliceLayout(1, L2)
    LN: gl.constexpr = gl.SliceLayout(0, L2)
    LDP: gl.constexpr = gl.BlockedLayout([1, PS], [32, 1], [NW, 1], [1, 0])
    i_d = gl.program_id(0)
    c = gl.program_id(1)
    i_b = gl.program_id(2).to(gl.int64)
    rd, rn, mdn, a2, rdu, ru, mdu, dbias, _ = _program_tiles(A, bias, A, i_d, Dm, N, BN, NW, HAS_BIAS, False)
    t_lo = c * BL
    t_hi = gl.minimum(t_lo + BL, L)
    n_full = (t_hi - t_lo) // PS
    t_pf = t_lo + n_full * PS
    g = gl.zeros([BD, BN], gl.float32, layout=L2)
    p = gl.full([BD, BN], 1.0, gl.float32, layout=L2)
    bcs_w = gl.allocate_shared_memory(gl.float32, [4 * PS, 16], gl.SwizzledSharedLayout(1, 1, 1, order=[1, 0]))
    bcs = bcs_w._reinterpret(gl.float32, [4 * PS, 16], gl.SwizzledSharedLayout(1, 1, 1, order=[0]))
    row0 = i_b * L
    # the partial piece [t_pf, t_hi): C of it (rows 16 on: "C" of stage 0), 4-step blocks from its end
    _stage_bc(bcs_w, 0, Cf, Cf, row0, t_pf, L, PS, NW, t_pf < t_hi)
    async_copy.wait_group(0)
    gl.thread_barrier()
    pd = _tile_ptrs(delta, i_b, sd_b, sd_d, sd_l, rdu, ru)
    pz = _tile_ptrs(z, i_b, sz_b, sz_d, sz_l, rdu, ru)
    po = _tile_ptrs(dout, i_b, so_b, so_d, so_l, rdu, ru)
    nblk = (t_hi - t_pf + UB - 1) // UB
    for j in range(0, nblk):
        c0 = t_pf + (nblk - 1 - j) * UB
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
            dy = dy * zt * _sigmoid(zt)
        d = _columns(dnx)
        y = _columns(dy)
        for k in gl.static_range(3, -1, -1):
            g, p = _adjoint_step(g, p, a2, d[k], y[k], bcs.index(PS + c0 - t_pf + k).load(LN), LD, LN)
    gl.thread_barrier()   # (stage 0 is copied over next)
    # full pieces, from the last: delta_{t+1} of a piece's last step is the first of the piece after it
    dtn = _delta_at(delta, bias, i_b, rd, t_pf, Dm, L, sd_b, sd_d, sd_l, HAS_BIAS, SOFTPLUS)
    rdp, rp, fullp = _piece_rows(i_d, Dm, LDP)
    pd16 = _tile_ptrs(delta, i_b, sd_b, sd_d, sd_l, rdp, rp)
    pz16 = _tile_ptrs(z, i_b, sz_b, sz_d, sz_l, rdp, rp)
    po16 = _tile_ptrs(dout, i_b, so_b, so_d, so_l, rdp, rp)
    dbias_p = _channel_values(bias, rdp, Dm, HAS_BIAS, LDP)
    c_last = t_lo + (n_full - 1) * PS
    _stage_bc(bcs_w, 0, Cf, Cf, row0, c_last, L, PS, NW, n_full > 0)
    raw = _raw_block(c_last, fullp & (n_full > 0), pd16, po16, pz16, po16, sd_l, so_l, sz_l, so_l, HAS_Z, False)
    for q in range(0, n_full):
        cq = c_last - q * PS
        st = q % 2
        _stage_bc(bcs_w, 1 - st, Cf, Cf, row0, cq - PS, L, PS, NW, q + 1 < n_full)
        async_copy.wait_group(1)
        gl.thread_barrier()
        raw_nx = _raw_block(cq - PS, fullp & (q + 1 < n_full), pd16, po16, pz16, po16, sd_l, so_l, sz_l, so_l, HAS_Z,
                            False)
        xp = raw[0].to(gl.float32) + dbias_p
        if SOFTPLUS:
            xp = _softplus(xp)
        dyp = raw[1].to(gl.float32)
        if HAS_Z:
            zp = raw[2].to(gl.float32)
            dyp = dyp * zp * _sigmoid(zp)
        d = _split16(xp)
        y = _split16(dyp)
        csub = (2 * st + 1) * PS
        for k in gl.static_range(PS - 1, -1, -1):
            g, p = _adjoint_step(g, p, a2, dtn, y[k], bcs.index(csub + k).load(LN), LD, LN)
            dtn = gl.convert_layout(d[k], LD)
        raw = raw_nx
        gl.thread_barrier()   # (the next piece's copy overwrites this stage)
    async_copy.wait_group(0)
    off = ((i_b * Dm + rd[:, None]) * NC + c) * N + rn[None, :]
    gl.store(Gl + off, g, mask=mdn)
    gl.store(P + off, p, mask=mdn)


@gluon.jit
def _adjoint_step(g, p, a2, dnx, dy, ct, LD: gl.constexpr, LN: gl.constexpr):
    # g_t = dy_t C_t + a_{t+1} g_{t+1}, and the running product of the a_{t+1}
    an = gl.exp2(gl.convert_layout(dnx, LD)[:, None] * a2)
    return an * g + gl.convert_layout(dy, LD)[:, None] * gl.convert_layout(ct, LN)[None, :], p * an


# ----------------------------------------------------------------------------- the backward's third pass


@gluon.jit
def _bfly(x, OFF: gl.constexpr):
    """x of lane l ^ OFF (shfl.sync.bfly): Gluon has no shuffle of its own."""
    r = gl.inline_asm_elementwise("shfl.sync.bfly.b32 $0, $1, $2, 31, -1;", "=r,r,r",
                                  [x.to(gl.int32, bitcast=True), gl.full_like(x, OFF, dtype=gl.int32)],
                                  dtype=gl.int32, is_pure=True, pack=1)
    return r.to(gl.float32, bitcast=True)


@gluon.jit
def _rs_level(x, OFF: gl.constexpr):
    """One butterfly level of a reduce-scatter over a warp: with M > 1 values per lane, the lanes with
    bit OFF set keep the odd-indexed half and receive it from their partner, the others the even half
    (M / 2 shuffles, not M); with one value left, a plain butterfly sum."""
    R: gl.constexpr = x.shape[0]
    M: gl.constexpr = x.shape[1]
    if M > 1:
        e, o = gl.split(x.reshape([R, M // 2, 2]))
        lane = gl.arange(0, R, layout=gl.SliceLayout(1, e.type.layout)) % 32
        hi = ((lane & OFF) != 0)[:, None]
        x = gl.where(hi, o, e) + _bfly(gl.where(hi, e, o), OFF)
    else:
        x = x + _bfly(x, OFF)
    return x


@gluon.jit
def _warp_sums(x, LD: gl.constexpr):
    """x [BD, 32] (a channel per lane, 32 values in each): lane l gets the sum over its warp's 32
    channels of value v(l), v's bit k being bit 4 - k of l, in 31 shuffles where gl.sum takes 160."""
    BD: gl.constexpr = x.shape[0]
    x = _rs_level(x, 16)
    x = _rs_level(x, 8)
    x = _rs_level(x, 4)
    x = _rs_level(x, 2)
    x = _rs_level(x, 1)
    return gl.convert_layout(x.reshape([BD]), LD)


@gluon.jit
def _stage_bc(bcs, st, Bf, Cf, row0, s_lo, L, T: gl.constexpr, NW: gl.constexpr, ON):
    """Start copying B and C of steps s_lo .. s_lo + T - 1 (fp32, 16 states) into stage st of the
    shared buffer (rows 2 st T .. of [4 T, 16]: B, then C; zeros past L or when not ON), as one
    async-copy group."""
    LC: gl.constexpr = gl.BlockedLayout([1, 4], [8, 4], [NW, 1], [1, 0])
    rt = s_lo + gl.arange(0, T, layout=gl.SliceLayout(1, LC))
    off = (row0 + rt)[:, None] * 16 + gl.arange(0, 16, layout=gl.SliceLayout(0, LC))[None, :]
    m = ((rt < L) & ON)[:, None]
    if st == 0:   # (slices start at constants)
        async_copy.async_copy_global_to_shared(bcs.slice(0, T), Bf + off, mask=m)
        async_copy.async_copy_global_to_shared(bcs.slice(T, T), Cf + off, mask=m)
    else:
        async_copy.async_copy_global_to_shared(bcs.slice(2 * T, T), Bf + off, mask=m)
        async_copy.async_copy_global_to_shared(bcs.slice(3 * T, T), Cf + off, mask=m)
    async_copy.commit_group()


@gluon.jit
def _raw_block(c, m2, pd, pu, pz, po, sd_l, su_l, sz_l, so_l, HAS_Z: gl.constexpr, HAS_DO: gl.constexpr):
    """delta_raw, u, z and (HAS_DO) dout of steps c .. c + 3 ([BD, 4] each, in their own dtype; 0 where
    not m2; a stand-in where absent)."""
    x = gl.load(pd + c * sd_l, mask=m2, other=0.0)
    ut = gl.load(pu + c * su_l, mask=m2, other=0.0)
    if HAS_Z:
        zt = gl.load(pz + c * sz_l, mask=m2, other=0.0)
    else:
        zt = ut
    if HAS_DO:
        do = gl.load(po + c * so_l, mask=m2, other=0.0)
    else:
        do = ut
    return x, ut, zt, do


@gluon.jit
def _tape_block(h, dD_acc, raw, m2, tape, rows, bcs, bsub, c, s_lo, a2, dbias,
                L2: gl.constexpr, HAS_Z: gl.constexpr, SOFTPLUS: gl.constexpr):
    """Pass 3's forward over steps c .. c + 3 from h, given their ``_raw_block``: each h_t goes to the
    tape, and the per-channel factors the backward over these steps needs go to `rows` (delta, u,
    dy = dout silu(z), d delta / d delta_raw, d out / d z over y), so that it reads no global
    per-channel data. Steps outside m2 have delta = u = dout = 0 (and B = 0): they change nothing."""
    LD: gl.constexpr = gl.SliceLayout(1, L2)
    LN: gl.constexpr = gl.SliceLayout(0, L2)
    x = raw[0].to(gl.float32) + dbias
    if SOFTPLUS:
        dt = gl.where(m2, _softplus(x), 0.0)
        sx = _sigmoid(x)
    else:
        dt = gl.where(m2, x, 0.0)
        sx = gl.full_like(x, 1.0)
    ut = raw[1].to(gl.float32)
    do = raw[3].to(gl.float32)
    if HAS_Z:
        zt = raw[2].to(gl.float32)
        sz = _sigmoid(zt)
        dy = do * zt * sz
        wz = do * sz * (1.0 + zt * (1.0 - sz))
    else:
        dy = do
        wz = do
    dD_acc += gl.sum(dy * ut, axis=1)
    q = (c - s_lo) // 4
    for i in gl.static_range(5):
        rows[i].index(q).store((dt, ut, dy, sx, wz)[i])
    d0, d1, d2, d3 = _columns(dt)
    e0, e1, e2, e3 = _columns(dt * ut)
    for k in gl.static_range(4):
        d = (d0, d1, d2, d3)[k]
        e = (e0, e1, e2, e3)[k]
        bt = bcs.index(bsub + c - s_lo + k).load(LN)
        h = gl.exp2(gl.convert_layout(d, LD)[:, None] * a2) * h + gl.convert_layout(e, LD)[:, None] * bt[None, :]
        tape[k].index(q).store(h)
    return h, dD_acc


@gluon.jit
def _grad_step(g, dtn, dA_acc, h, a2, dt, dtu, dy, bt, ct, LD: gl.constexpr, HAS_Z: gl.constexpr):
    """One step of pass 3, backward in time, entering with g_{t+1} and delta_{t+1}: returns g_t, delta_t,
    the dA sum, and the step's sum_n g B, sum_n A g a h_{t-1} (in log2 units), C . h and the warp's sums
    of dB_t and dC_t (``_warp_sums``)."""
    dtc = gl.convert_layout(dt, LD)[:, None]
    dtuc = gl.convert_layout(dtu, LD)[:, None]
    dyc = gl.convert_layout(dy, LD)[:, None]
    bt = bt[None, :]
    ct = ct[None, :]
    g = gl.exp2(dtn[:, None] * a2) * g + dyc * ct     # a_{t+1} recomputed: one exp, no 16 live registers
    gh = g * (h - dtuc * bt)                        # g_t a_t h_{t-1}, as a_t h_{t-1} = h_t - b_t
    dA_acc += gh * dtc
    gB = gl.sum(g * bt, axis=1)
    sA = gl.sum(gh * a2, axis=1)
    if HAS_Z:
        y = gl.sum(h * ct, axis=1)
    else:
        y = gB
    BD: gl.constexpr = g.shape[0]
    BN: gl.constexpr = g.shape[1]
    r = _warp_sums(gl.join(dtuc * g, dyc * h).reshape([BD, 2 * BN]), LD)
    return g, gl.convert_layout(dt, LD), dA_acc, gB, sA, y, r


@gluon.jit
def _grad_block(g, dtn, dA_acc, db_acc, tape, rows, bcs, bsub, csub, c, s_lo, t_hi, a2, dskip, pg, pbc, du, ddelta, dz,
                dBC, v_ok, mdu, ru, L2: gl.constexpr, LDU: gl.constexpr, TAIL: gl.constexpr, HAS_Z: gl.constexpr):
    """Pass 3 on steps c + 3 .. c, backward in time: writes du, ddelta, dz, adds the warp's dB and dC."""
    LD: gl.constexpr = gl.SliceLayout(1, L2)
    LN: gl.constexpr = gl.SliceLayout(0, L2)
    if TAIL:
        m2 = mdu[:, None] & ((c + ru) < t_hi)[None, :]
        mv = v_ok & ((c + ru) < t_hi)[None, :]
    else:
        m2 = mdu[:, None] & (ru >= 0)[None, :]
        mv = v_ok & (ru >= 0)[None, :]
    q = (c - s_lo) // 4
    dt = rows[0].index(q).load(LDU)
    ut = rows[1].index(q).load(LDU)
    dy = rows[2].index(q).load(LDU)
    d0, d1, d2, d3 = _columns(dt)
    e0, e1, e2, e3 = _columns(dt * ut)
    y0, y1, y2, y3 = _columns(dy)
    for k in gl.static_range(3, -1, -1):
        g, dtn, dA_acc, gBk, sAk, yk, rk = _grad_step(
            g, dtn, dA_acc, tape[k].index(q).load(L2), a2, (d0, d1, d2, d3)[k], (e0, e1, e2, e3)[k],
            (y0, y1, y2, y3)[k], bcs.index(bsub + c - s_lo + k).load(LN), bcs.index(csub + c - s_lo + k).load(LN), LD,
            HAS_Z)
        if k == 3:
            gB3, sA3, h3, r3 = gBk, sAk, yk, rk
        elif k == 2:
            gB2, sA2, h2, r2 = gBk, sAk, yk, rk
        elif k == 1:
            gB1, sA1, h1, r1 = gBk, sAk, yk, rk
        else:
            gB0, sA0, h0, r0 = gBk, sAk, yk, rk
    gB = _join4(gB0, gB1, gB2, gB3, LDU)
    ddt = (ut * gB + _join4(sA0, sA1, sA2, sA3, LDU) * 0.6931471805599453) * rows[3].index(q).load(LDU)
    ddt = gl.where(m2, ddt, 0.0)
    gl.store(du + pg + c, (dskip * dy + dt * gB).to(du.dtype.element_ty), mask=m2)
    gl.store(ddelta + pg + c, ddt.to(ddelta.dtype.element_ty), mask=m2)
    if HAS_Z:
        yz = _join4(h0, h1, h2, h3, LDU) + dskip * ut
        gl.store(dz + pg + c, (yz * rows[4].index(q).load(LDU)).to(dz.dtype.element_ty), mask=m2)
    db_acc += gl.sum(ddt, axis=1)
    gl.atomic_add(dBC + pbc + c, _join4(r0, r1, r2, r3, LDU), mask=mv, sem="relaxed")
    return g, dtn, dA_acc, db_acc


@gluon.jit
def bwd_kernel(u, delta, A, Bf, Cf, Dv, z, bias, S, K, dout, du, ddelta, dz, dA, dBC, dD, dbias_p,
               su_b, su_d, su_l, sd_b, sd_d, sd_l, sz_b, sz_d, sz_l, so_b, so_d, so_l, Dm, N, L, NC, NSF,
               BN: gl.constexpr, NW: gl.constexpr, BL: gl.constexpr, T: gl.constexpr,
               HAS_D: gl.constexpr, HAS_Z: gl.constexpr, HAS_BIAS: gl.constexpr, SOFTPLUS: gl.constexpr):
    """The backward's third pass (``triton_scan._bwd_kernel``'s maths) with a channel per lane and time
    stepped in the lane, so no scan crosses lanes. Program: channels [i_d BD, (i_d + 1) BD), chunk c of
    BL steps, batch row i_b. The chunk is done backward in T-step pieces: each piece is recomputed
    forward from the state the forward stored at its start (S, every T steps: [Bt, NSF, D, N]), its
    states going to a per-lane tape in shared memory, then run backward from the adjoint (K at the
    chunk's end, [Bt, D, NC, N]), reading the tape. B and C come as fp32 [Bt, L, 16] copies (states
    padded with zeros), each piece's copied into shared memory asynchronously while the piece before
    it runs. dB_t and dC_t, sums over channels, are summed over each warp by a reduce-scatter of
    shuffles (``_warp_sums``) and added to dBC ([Bt, 2, N, L] fp32) by atomics; du, ddelta and dz
    are [Bt, D, L] contiguous."""
    gl.static_assert(BN == 16)
    gl.static_assert(NW == 1)   # (the copies into shared memory are synchronised within one warp)
    BD: gl.constexpr = 32
    UB: gl.constexpr = 4
    L2: gl.constexpr = _layouts(BN, NW)[0]
    LDU: gl.constexpr = _layouts(BN, NW)[1]
    i_d = gl.program_id(0)
    c = gl.program_id(1)
    i_b = gl.program_id(2).to(gl.int64)
    rd, rn, mdn, a2, rdu, ru, mdu, dbias, dskip = _program_tiles(A, bias, Dv, i_d, Dm, N, BN, NW, HAS_BIAS, HAS_D)
    t_lo = c * BL
    t_hi = gl.minimum(t_lo + BL, L)
    pu = _tile_ptrs(u, i_b, su_b, su_d, su_l, rdu, ru)
    pd = _tile_ptrs(delta, i_b, sd_b, sd_d, sd_l, rdu, ru)
    pz = _tile_ptrs(z, i_b, sz_b, sz_d, sz_l, rdu, ru)
    po = _tile_ptrs(dout, i_b, so_b, so_d, so_l, rdu, ru)
    pg = (i_b * Dm + rdu[:, None]) * L + ru[None, :]
    # after _warp_sums lane l holds value v = bit-reversed l of the 32 (v = 2 n + 0 for dB_n, + 1 for dC_n)
    lane = rdu % 32
    v = ((lane >> 4) & 1) | (((lane >> 3) & 1) << 1) | (((lane >> 2) & 1) << 2) | (((lane >> 1) & 1) << 3) | \
        ((lane & 1) << 4)
    v_ok = ((v >> 1) < N)[:, None]
    pbc = ((i_b * 2 + (v & 1)) * N + (v >> 1))[:, None] * L + ru[None, :]
    # the adjoint entering from later chunks, and delta at the step after the chunk (0 past L: a = 1)
    g = gl.load(K + ((i_b * Dm + rd[:, None]) * NC + c) * N + rn[None, :], mask=mdn, other=0.0)
    dtn = _delta_at(delta, bias, i_b, rd, t_hi, Dm, L, sd_b, sd_d, sd_l, HAS_BIAS, SOFTPLUS)
    dA_acc = gl.zeros([BD, BN], gl.float32, layout=L2)
    dD_acc = gl.zeros([BD], gl.float32, layout=gl.SliceLayout(1, LDU))
    db_acc = gl.zeros([BD], gl.float32, layout=gl.SliceLayout(1, LDU))
    # one buffer per step of a block and per factor: Triton puts a barrier between two stores to one
    # buffer (it cannot tell that every lane reads only what it wrote), not between different buffers
    LT: gl.constexpr = gl.SwizzledSharedLayout(1, 1, 1, order=[0, 1])
    LR: gl.constexpr = gl.SwizzledSharedLayout(1, 1, 1, order=[1, 0])
    tape = (gl.allocate_shared_memory(gl.float32, [T // UB, BD, BN], LT),
            gl.allocate_shared_memory(gl.float32, [T // UB, BD, BN], LT),
            gl.allocate_shared_memory(gl.float32, [T // UB, BD, BN], LT),
            gl.allocate_shared_memory(gl.float32, [T // UB, BD, BN], LT))
    rows = (gl.allocate_shared_memory(gl.float32, [T // UB, BD, UB], LR),
            gl.allocate_shared_memory(gl.float32, [T // UB, BD, UB], LR),
            gl.allocate_shared_memory(gl.float32, [T // UB, BD, UB], LR),
            gl.allocate_shared_memory(gl.float32, [T // UB, BD, UB], LR),
            gl.allocate_shared_memory(gl.float32, [T // UB, BD, UB], LR))
    # B and C of a piece, two stages: [stage 0 B, stage 0 C, stage 1 B, stage 1 C] x [T, 16]
    bcs_w = gl.allocate_shared_memory(gl.float32, [4 * T, 16], gl.SwizzledSharedLayout(1, 1, 1, order=[1, 0]))
    # the same rows, viewed for reading one step at a time (both views unswizzled row-major)
    bcs = bcs_w._reinterpret(gl.float32, [4 * T, 16], gl.SwizzledSharedLayout(1, 1, 1, order=[0]))
    row0 = i_b * L
    nsub = gl.cdiv(t_hi - t_lo, T)
    _stage_bc(bcs_w, 0, Bf, Cf, row0, t_lo + (nsub - 1) * T, L, T, NW, True)
    h_nx = gl.load(S + ((i_b * NSF + (t_lo // T + nsub - 1)) * Dm + rd[:, None]) * N + rn[None, :], mask=mdn,
                   other=0.0)
    # the first block of a piece is loaded during the piece before (the last piece in time, the first
    # done, is the only one that can be partial)
    full = mdu[:, None] & (ru >= 0)[None, :]
    s_lo0 = t_lo + (nsub - 1) * T
    raw_first = _raw_block(s_lo0, full & (s_lo0 + UB <= t_hi), pd, pu, pz, po, sd_l, su_l, sz_l, so_l, HAS_Z, True)
    for jj in range(0, nsub):
        s_lo = t_lo + (nsub - 1 - jj) * T
        s_hi = gl.minimum(s_lo + T, t_hi)
        s_full = s_lo + (s_hi - s_lo) // UB * UB
        st = jj % 2
        # the next piece's B and C (an empty group after the last, so the wait count stays 1)
        _stage_bc(bcs_w, 1 - st, Bf, Cf, row0, s_lo - T, L, T, NW, jj + 1 < nsub)
        async_copy.wait_group(1)
        gl.thread_barrier()
        bsub = 2 * st * T   # (first row of this stage's B; its C follows T rows on)
        # this piece's entering state, loaded a piece ahead, and the next one's
        h = h_nx
        h_nx = gl.load(S + ((i_b * NSF + gl.maximum(s_lo - T, 0) // T) * Dm + rd[:, None]) * N + rn[None, :],
                       mask=mdn & (jj + 1 < nsub), other=0.0)
        # full blocks, each block's inputs loaded a block ahead (a condition uniform over the block's
        # steps keeps the loads vectors), then the partial last one
        raw = raw_first
        for c0 in range(s_lo, s_full, UB):
            raw_nx = _raw_block(c0 + UB, full & (c0 + UB < s_full), pd, pu, pz, po, sd_l, su_l, sz_l, so_l, HAS_Z,
                                True)
            h, dD_acc = _tape_block(h, dD_acc, raw, full, tape, rows, bcs, bsub, c0, s_lo, a2, dbias,
                                    L2, HAS_Z, SOFTPLUS)
            raw = raw_nx
        raw_first = _raw_block(s_lo - T, full & (jj + 1 < nsub), pd, pu, pz, po, sd_l, su_l, sz_l, so_l, HAS_Z, True)
        if s_full < s_hi:
            m2 = mdu[:, None] & ((s_full + ru) < t_hi)[None, :]
            raw = _raw_block(s_full, m2, pd, pu, pz, po, sd_l, su_l, sz_l, so_l, HAS_Z, True)
            h, dD_acc = _tape_block(h, dD_acc, raw, m2, tape, rows, bcs, bsub, s_full, s_lo, a2, dbias,
                                    L2, HAS_Z, SOFTPLUS)
            g, dtn, dA_acc, db_acc = _grad_block(g, dtn, dA_acc, db_acc, tape, rows, bcs, bsub, bsub + T, s_full,
                                                 s_lo, t_hi, a2, dskip, pg, pbc, du, ddelta, dz, dBC, v_ok, mdu, ru,
                                                 L2, LDU, True, HAS_Z)
        for k in range(0, (s_full - s_lo) // UB):
            g, dtn, dA_acc, db_acc = _grad_block(g, dtn, dA_acc, db_acc, tape, rows, bcs, bsub, bsub + T,
                                                 s_full - UB - k * UB, s_lo, t_hi, a2, dskip, pg, pbc, du, ddelta, dz,
                                                 dBC, v_ok, mdu, ru, L2, LDU, False, HAS_Z)
        gl.thread_barrier()   # (the next piece's copy overwrites this stage)
    gl.atomic_add(dA + rd[:, None] * N + rn[None, :], dA_acc, mask=mdn, sem="relaxed")
    if HAS_D:
        gl.atomic_add(dD + rdu, dD_acc, mask=mdu, sem="relaxed")
    if HAS_BIAS:
        gl.atomic_add(dbias_p + rdu, db_acc, mask=mdu, sem="relaxed")
