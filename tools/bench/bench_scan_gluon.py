"""A step-by-step Gluon prototype of the selective-scan forward (BENCHMARKS.md, kernels run 6, design
2: one channel per thread, its states in the thread, B and C loaded one state at a time) against
audiokit's forward (the Triton kernel, and since run 6 design 3, ``gluon_scan``), side by side.

    python tools/bench/bench_scan_gluon.py

Output pass only: no first pass of the time segments (a timing run starts every segment from h = 0),
no chunk states for the backward, no time masks (L must be a multiple of 4). bf16, N = 16, softplus,
D skip and z gate. Not used by audiokit; kept so design 2's numbers can be re-run.
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
        y = run(*x, torch.empty_like(x[0])).float()
    print(f"max |y - y_audiokit| / max |y_audiokit| = {((y - y_old).abs().max() / y_old.abs().max()).item():.1e}",
          flush=True)
    shapes = [("2x512x131072", 2, 512, 131072, False), ("2x512x8192", 2, 512, 8192, False),
              ("101x256x1600 cf", 101, 256, 1600, False), ("101x256x1600 cl", 101, 256, 1600, True),
              ("1600x256x104 cf", 1600, 256, 104, False), ("1600x256x104 cl", 1600, 256, 104, True)]
    print("| shape | audiokit fwd ms | design 2, best (warps, segments) |")
    print("|---|---:|---:|")
    for name, B, Dm, L, cl in shapes:
        x = make(B, Dm, L, cl)
        out = torch.empty_like(x[0])
        cur = do_bench(lambda: ts.scan_fwd(*x[:7], x[7], True, None, False, False), warmup=5, rep=30,
                       return_mode="median")
        res = []
        for nw, nseg in itertools.product((1, 2, 4), (1, 16, 32, 64) if B * Dm < 4096 else (1,)):
            if L % nseg == 0 and (L // nseg) % 4 == 0:
                res.append((do_bench(lambda: run(*x, out, nw=nw, U=4, nseg=nseg), warmup=3, rep=20,
                                     return_mode="median"), nw, nseg))
        t, nw, nseg = min(res)
        print(f"| {name} | {cur:.3f} | {t:.3f} ({nw}, {nseg}) |", flush=True)


if __name__ == "__main__":
    main()
