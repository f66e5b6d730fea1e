"""Prototype selective-scan forwards in Gluon (Triton's explicit-layout dialect) against audiokit's
current Triton forward, side by side on one GPU (BENCHMARKS.md, kernels run 6, designs 2 and 3).

    python tools/bench/bench_scan_gluon.py

Output pass only: no first pass of the time segments (a timing run starts every segment from h = 0),
no chunk states for the backward, no time masks (L must be a multiple of 4). bf16, N = 16, softplus,
D skip and z gate. Not used by audiokit; kept so the measured numbers can be re-run.
"""
import itertools
import sys
from pathlib import Path

import torch
import triton
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.testing import do_bench

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
@gluon.jit
def g_fwd(u, delta, A, B, C, Dv, z, bias, out,
          su_b, su_d, su_l, sd_b, sd_d, sd_l, sz_b, sz_d, sz_l,
          sb_b, sb_n, sb_l, sc_b, sc_n, sc_l, so_b, so_d, so_l,
          Dm, N, L, SEG,
          BN: gl.constexpr, NW: gl.constexpr, U: gl.constexpr):
    BD: gl.constexpr = 32 * NW
    L2: gl.constexpr = gl.BlockedLayout(size_per_thread=[1, BN], threads_per_warp=[32, 1],
                                        warps_per_cta=[NW, 1], order=[1, 0])
    LD: gl.constexpr = gl.SliceLayout(1, L2)
    LN: gl.constexpr = gl.SliceLayout(0, L2)
    i_d = gl.program_id(0)
    i_s = gl.program_id(1)
    i_b = gl.program_id(2).to(gl.int64)
    rd = i_d * BD + gl.arange(0, BD, layout=LD)
    rn = gl.arange(0, BN, layout=LN)
    md = rd < Dm
    mn = rn < N
    mdn = md[:, None] & mn[None, :]
    a2 = gl.load(A + rd[:, None] * N + rn[None, :], mask=mdn, other=0.0) * 1.4426950408889634
    dskip = gl.load(Dv + rd, mask=md, other=0.0)
    dbias = gl.load(bias + rd, mask=md, other=0.0)
    h = gl.zeros([BD, BN], gl.float32, layout=L2)
    pu = u + i_b * su_b + rd * su_d
    pd = delta + i_b * sd_b + rd * sd_d
    pz = z + i_b * sz_b + rd * sz_d
    po = out + i_b * so_b + rd * so_d
    pb = B + i_b * sb_b + rn * sb_n
    pc = C + i_b * sc_b + rn * sc_n
    t_lo = i_s * SEG
    for t0 in range(t_lo, t_lo + SEG, U):
        for i in gl.static_range(U):
            t = t0 + i
            ut = gl.load(pu + t * su_l, mask=md, other=0.0).to(gl.float32)
            x = gl.load(pd + t * sd_l, mask=md, other=0.0).to(gl.float32) + dbias
            dt = gl.maximum(x, 0.0) + gl.log(1.0 + gl.exp(-gl.abs(x)))
            bt = gl.load(pb + t * sb_l, mask=mn, other=0.0).to(gl.float32)
            ct = gl.load(pc + t * sc_l, mask=mn, other=0.0).to(gl.float32)
            zt = gl.load(pz + t * sz_l, mask=md, other=0.0).to(gl.float32)
            h = gl.exp2(dt[:, None] * a2) * h + (dt * ut)[:, None] * bt[None, :]
            y = gl.sum(h * ct[None, :], axis=1) + dskip * ut
            y = y * zt / (1.0 + gl.exp(-zt))
            gl.store(po + t * so_l, y.to(out.dtype.element_ty), mask=md)


def run(u, delta, A, B, C, Dv, z, bias, out, nw=1, U=4, nseg=1):
    Bt, Dm, L = u.shape
    N = A.shape[1]
    seg = triton.cdiv(triton.cdiv(L, nseg), U) * U
    nseg = triton.cdiv(L, seg)
    assert L % seg == 0
    s3 = lambda x: (x.stride(0), x.stride(1), x.stride(2))  # noqa: E731
    g_fwd[(triton.cdiv(Dm, 32 * nw), nseg, Bt)](u, delta, A, B, C, Dv, z, bias, out, *s3(u), *s3(delta), *s3(z),
                                                 *s3(B), *s3(C), *s3(out), Dm, N, L, seg, BN=N, NW=nw, U=U,
                                                 num_warps=nw)
    return out


@gluon.jit
def _halves(x):
    # (columns 0, 2, 4..., columns 1, 3, 5...) of an [R, U] tile held in one thread
    R: gl.constexpr = x.shape[0]
    U: gl.constexpr = x.shape[1]
    a, b = gl.split(x.reshape([R, U // 2, 2]))
    if U == 2:
        a = a.reshape([R])
        b = b.reshape([R])
    return a, b


@gluon.jit
def g_fwd2(u, delta, A, B, C, Dv, z, bias, out,
           su_b, su_d, su_l, sd_b, sd_d, sd_l, sz_b, sz_d, sz_l,
           sb_b, sb_n, sb_l, sc_b, sc_n, sc_l, so_b, so_d, so_l,
           Dm, N, L, SEG,
           BN: gl.constexpr, NW: gl.constexpr):
    """4-step blocks: u, delta, z loaded as [channels, 4] and B, C as [states, 4] tiles in the thread
    (vector loads), softplus once per channel-step, columns taken apart by splits."""
    U: gl.constexpr = 4
    BD: gl.constexpr = 32 * NW
    L2: gl.constexpr = gl.BlockedLayout([1, BN], [32, 1], [NW, 1], [1, 0])
    LD: gl.constexpr = gl.SliceLayout(1, L2)
    LN: gl.constexpr = gl.SliceLayout(0, L2)
    LDU: gl.constexpr = gl.BlockedLayout([1, U], [32, 1], [NW, 1], [1, 0])
    LBU: gl.constexpr = gl.BlockedLayout([BN, U], [1, 32], [1, NW], [1, 0])
    i_d = gl.program_id(0)
    i_s = gl.program_id(1)
    i_b = gl.program_id(2).to(gl.int64)
    rd = i_d * BD + gl.arange(0, BD, layout=LD)
    rn = gl.arange(0, BN, layout=LN)
    md = rd < Dm
    mn = rn < N
    a2 = gl.load(A + rd[:, None] * N + rn[None, :], mask=md[:, None] & mn[None, :], other=0.0) * 1.4426950408889634
    rdu = i_d * BD + gl.arange(0, BD, layout=gl.SliceLayout(1, LDU))
    ru = gl.arange(0, U, layout=gl.SliceLayout(0, LDU))
    mdu = (rdu < Dm)[:, None] & (ru >= 0)[None, :]
    rnb = gl.arange(0, BN, layout=gl.SliceLayout(1, LBU))
    rub = gl.arange(0, U, layout=gl.SliceLayout(0, LBU))
    mnb = (rnb < N)[:, None] & (rub >= 0)[None, :]
    dskip = gl.load(Dv + rdu, mask=rdu < Dm, other=0.0)[:, None]
    dbias = gl.load(bias + rdu, mask=rdu < Dm, other=0.0)[:, None]
    h = gl.zeros([BD, BN], gl.float32, layout=L2)
    pu = u + i_b * su_b + rdu[:, None] * su_d + ru[None, :] * su_l
    pd = delta + i_b * sd_b + rdu[:, None] * sd_d + ru[None, :] * sd_l
    pz = z + i_b * sz_b + rdu[:, None] * sz_d + ru[None, :] * sz_l
    po = out + i_b * so_b + rdu[:, None] * so_d + ru[None, :] * so_l
    pb = B + i_b * sb_b + rnb[:, None] * sb_n + rub[None, :] * sb_l
    pc = C + i_b * sc_b + rnb[:, None] * sc_n + rub[None, :] * sc_l
    t_lo = i_s * SEG
    for t0 in range(t_lo, t_lo + SEG, U):
        ut = gl.load(pu + t0 * su_l, mask=mdu, other=0.0).to(gl.float32)
        x = gl.load(pd + t0 * sd_l, mask=mdu, other=0.0).to(gl.float32) + dbias
        dt = gl.maximum(x, 0.0) + gl.log(1.0 + gl.exp(-gl.abs(x)))
        du = dt * ut
        bt = gl.load(pb + t0 * sb_l, mask=mnb, other=0.0).to(gl.float32)
        ct = gl.load(pc + t0 * sc_l, mask=mnb, other=0.0).to(gl.float32)
        d02, d13 = _halves(dt)
        d0, d2 = _halves(d02)
        d1, d3 = _halves(d13)
        e02, e13 = _halves(du)
        e0, e2 = _halves(e02)
        e1, e3 = _halves(e13)
        b02, b13 = _halves(bt)
        b0, b2 = _halves(b02)
        b1, b3 = _halves(b13)
        c02, c13 = _halves(ct)
        c0, c2 = _halves(c02)
        c1, c3 = _halves(c13)
        h = gl.exp2(gl.convert_layout(d0, LD)[:, None] * a2) * h + gl.convert_layout(e0, LD)[:, None] * gl.convert_layout(b0, LN)[None, :]
        y0 = gl.sum(h * gl.convert_layout(c0, LN)[None, :], axis=1)
        h = gl.exp2(gl.convert_layout(d1, LD)[:, None] * a2) * h + gl.convert_layout(e1, LD)[:, None] * gl.convert_layout(b1, LN)[None, :]
        y1 = gl.sum(h * gl.convert_layout(c1, LN)[None, :], axis=1)
        h = gl.exp2(gl.convert_layout(d2, LD)[:, None] * a2) * h + gl.convert_layout(e2, LD)[:, None] * gl.convert_layout(b2, LN)[None, :]
        y2 = gl.sum(h * gl.convert_layout(c2, LN)[None, :], axis=1)
        h = gl.exp2(gl.convert_layout(d3, LD)[:, None] * a2) * h + gl.convert_layout(e3, LD)[:, None] * gl.convert_layout(b3, LN)[None, :]
        y3 = gl.sum(h * gl.convert_layout(c3, LN)[None, :], axis=1)
        y = gl.join(gl.join(y0, y2), gl.join(y1, y3))      # [BD, 2, 2]: (j, k) holds step 2 j + k
        y = gl.convert_layout(y.reshape([BD, U]), LDU)
        zt = gl.load(pz + t0 * sz_l, mask=mdu, other=0.0).to(gl.float32)
        y = (y + dskip * ut) * zt / (1.0 + gl.exp(-zt))
        gl.store(po + t0 * so_l, y.to(out.dtype.element_ty), mask=mdu)


def run2(u, delta, A, B, C, Dv, z, bias, out, nw=1, nseg=1):
    Bt, Dm, L = u.shape
    N = A.shape[1]
    seg = triton.cdiv(triton.cdiv(L, nseg), 4) * 4
    nseg = triton.cdiv(L, seg)
    assert L % seg == 0
    s3 = lambda x: (x.stride(0), x.stride(1), x.stride(2))  # noqa: E731
    g_fwd2[(triton.cdiv(Dm, 32 * nw), nseg, Bt)](u, delta, A, B, C, Dv, z, bias, out, *s3(u), *s3(delta), *s3(z),
                                                  *s3(B), *s3(C), *s3(out), Dm, N, L, seg, BN=N, NW=nw, num_warps=nw)
    return out


def main():
    from audiokit.kernels.selective_scan import triton_scan as ts
    print(torch.cuda.get_device_name(), flush=True)
    N = 16

    def make(B, Dm, L, cl):
        g = torch.Generator(device="cuda").manual_seed(0)
        r = lambda *s: torch.randn(*s, device="cuda", dtype=torch.bfloat16, generator=g)  # noqa: E731
        t = (lambda x: x.transpose(1, 2).contiguous().transpose(1, 2)) if cl else (lambda x: x)  # noqa: E731
        u, dl, z, Bm, Cm = t(r(B, Dm, L)), t(r(B, Dm, L)), t(r(B, Dm, L)), t(r(B, N, L)), t(r(B, N, L))
        A = -torch.rand(Dm, N, device="cuda") * 4
        return (u, dl, A, Bm, Cm, torch.randn(Dm, device="cuda"), z, torch.randn(Dm, device="cuda"))

    x = make(2, 64, 512, False)
    with torch.no_grad():
        y_old = ts.scan_fwd(*x[:7], x[7], True, None, False, False)[0].float()
        for name, fn in (("step", run), ("4-step", run2)):
            y = fn(*x, torch.empty_like(x[0])).float()
            print(f"{name}: max |y - y_current| / max |y_current| = "
                  f"{((y - y_old).abs().max() / y_old.abs().max()).item():.1e}", flush=True)
    shapes = [("2x512x131072", 2, 512, 131072, False), ("2x512x8192", 2, 512, 8192, False),
              ("101x256x1600 cf", 101, 256, 1600, False), ("101x256x1600 cl", 101, 256, 1600, True),
              ("1600x256x104 cf", 1600, 256, 104, False), ("1600x256x104 cl", 1600, 256, 104, True)]
    print("| shape | current fwd ms | Gluon step, best (warps, segments) | Gluon 4-step, best |")
    print("|---|---:|---:|---:|")
    for name, B, Dm, L, cl in shapes:
        x = make(B, Dm, L, cl)
        out = torch.empty_like(x[0])
        cur = do_bench(lambda: ts.scan_fwd(*x[:7], x[7], True, None, False, False), warmup=5, rep=30,
                       return_mode="median")
        best = []
        for fn in (lambda nw, s: run(*x, out, nw=nw, U=4, nseg=s), lambda nw, s: run2(*x, out, nw=nw, nseg=s)):
            res = []
            for nw, nseg in itertools.product((1, 2, 4), (1, 16, 32, 64) if B * Dm < 4096 else (1,)):
                if L % nseg == 0 and (L // nseg) % 4 == 0:
                    res.append((do_bench(lambda: fn(nw, nseg), warmup=3, rep=20, return_mode="median"), nw, nseg))
            best.append(min(res))
        print(f"| {name} | {cur:.3f} | " + " | ".join(f"{t:.3f} ({nw}, {s})" for t, nw, s in best) + " |", flush=True)


if __name__ == "__main__":
    main()
