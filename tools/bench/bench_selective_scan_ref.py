"""audiokit's selective scan against the Mamba authors' CUDA kernel (``selective_scan_cuda`` of
state-spaces/mamba), side by side on one GPU: forward and forward+backward times, and how far the
two agree.

    python tools/bench/bench_selective_scan_ref.py                         # mamba-ssm installed
    python tools/bench/bench_selective_scan_ref.py --mamba-src ~/src/mamba --bf16-only

The reference comes from an installed ``mamba-ssm`` (its ``selective_scan_cuda`` extension) or is
built here from a checkout of https://github.com/state-spaces/mamba (``--mamba-src``) with
torch.utils.cpp_extension and the nvcc flags of that project's setup.py, for this GPU's architecture.
``--bf16-only`` builds just the bf16 / real-weight units (what this benchmark calls; about 1.5 min
on 16 cores instead of all ten units) and loads the module with lazy symbol binding, so that the
dtype instantiations left out are never resolved. Nothing of mamba is part of audiokit.

Shapes: issue 4's (2 x 512 x 131072), a shorter one, MambAttention's time pass (101 x 256 x 1600)
and a Mamba-130M-like training batch (8 x 1536 x 2048); bf16 u, delta, z, B, C ([Bt, 16, L]), fp32
A = -rand (as tools/bench/bench_kernels.py), D and delta_bias, softplus on; time-contiguous inputs
(the reference needs stride 1 along L). The backward computes every gradient in both.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from triton.testing import do_bench

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audiokit.kernels.selective_scan import selective_scan  # noqa: E402

SHAPES = ((2, 512, 131072), (2, 512, 32768), (101, 256, 1600), (8, 1536, 2048))
NVCC_FLAGS = ["-O3", "-std=c++17", "-U__CUDA_NO_HALF_OPERATORS__", "-U__CUDA_NO_HALF_CONVERSIONS__",
              "-U__CUDA_NO_BFLOAT16_OPERATORS__", "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
              "-U__CUDA_NO_BFLOAT162_OPERATORS__", "-U__CUDA_NO_BFLOAT162_CONVERSIONS__",
              "--expt-relaxed-constexpr", "--expt-extended-lambda", "--use_fast_math", "--threads", "4"]


def reference_module(src: str | None, bf16_only: bool):
    """The reference extension: installed, or built from a mamba checkout."""
    if src is None:
        import selective_scan_cuda  # noqa: PLC0415  (mamba-ssm's extension)
        return selective_scan_cuda, "installed selective_scan_cuda"
    from torch.utils.cpp_extension import load  # noqa: PLC0415
    d = Path(src).expanduser() / "csrc" / "selective_scan"
    units = ["fwd_bf16", "bwd_bf16_real"] if bf16_only else \
        [f"fwd_{t}" for t in ("fp32", "fp16", "bf16")] + \
        [f"bwd_{t}_{w}" for t in ("fp32", "fp16", "bf16") for w in ("real", "complex")]
    major, minor = torch.cuda.get_device_capability()
    arch = [f"-gencode=arch=compute_{major}{minor},code=sm_{major}{minor}"]
    build = Path(os.environ.get("TMPDIR", "/tmp")) / f"selective_scan_ref_{'bf16' if bf16_only else 'all'}"
    build.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MAX_JOBS", str(os.cpu_count() or 4))
    flags = sys.getdlopenflags()
    if bf16_only:   # the dispatch also names the dtypes not built: leave them unresolved
        sys.setdlopenflags(os.RTLD_LAZY | os.RTLD_GLOBAL)
    t0 = time.time()
    try:
        mod = load(f"selective_scan_ref_{'bf16' if bf16_only else 'all'}",
                   [str(d / "selective_scan.cpp")] + [str(d / f"selective_scan_{u}.cu") for u in units],
                   extra_cflags=["-O3", "-std=c++17"], extra_cuda_cflags=NVCC_FLAGS + arch,
                   extra_include_paths=[str(d)], build_directory=str(build), verbose=False)
    finally:
        sys.setdlopenflags(flags)
    return mod, f"built from {src} ({len(units)} units, {time.time() - t0:.0f} s)"


def reference_fn(ssc):
    class Ref(torch.autograd.Function):
        """The reference's forward (keeping its chunk states) and backward, as mamba_ssm calls them
        (z given; B and C [Bt, N, L] as one group)."""
        @staticmethod
        def forward(ctx, u, delta, A, B, C, D, z, bias):
            B4, C4 = B.unsqueeze(1), C.unsqueeze(1)
            out, x, out_z = ssc.fwd(u, delta, A, B4, C4, D, z, bias, True)
            ctx.save_for_backward(u, delta, A, B4, C4, D, z, bias, x, out)
            return out_z

        @staticmethod
        def backward(ctx, dout):
            u, delta, A, B4, C4, D, z, bias, x, out = ctx.saved_tensors
            du, ddelta, dA, dB, dC, dD, dbias, dz = ssc.bwd(u, delta, A, B4, C4, D, z, bias, dout.contiguous(), x,
                                                            out, None, True, False)
            return du, ddelta, dA, dB.squeeze(1), dC.squeeze(1), dD, dz, dbias
    return Ref.apply


def audiokit_fn(u, dl, A, Bm, Cm, D, z, bias):
    return selective_scan(u, dl, A, Bm, Cm, D, z, delta_bias=bias, delta_softplus=True)[0]


def inputs(Bt, Dm, L, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    r = lambda *s: torch.randn(*s, device="cuda", dtype=torch.bfloat16, generator=g)  # noqa: E731
    u, dl, z, Bm, Cm = r(Bt, Dm, L), r(Bt, Dm, L), r(Bt, Dm, L), r(Bt, 16, L), r(Bt, 16, L)
    A = -torch.rand(Dm, 16, device="cuda", generator=g)
    D, bias = torch.randn(Dm, device="cuda", generator=g), torch.randn(Dm, device="cuda", generator=g)
    return [u, dl, A, Bm, Cm, D, z, bias]


def agreement(ref) -> str:
    """Largest difference over largest value, audiokit against the reference, of out and each gradient."""
    xs = [x.requires_grad_() for x in inputs(2, 64, 5000, seed=1)]
    dy = torch.randn_like(xs[0])
    res = []
    for f in (audiokit_fn, ref):
        for x in xs:
            x.grad = None
        y = f(*xs)
        y.backward(dy)
        res.append([y.float()] + [x.grad.float() for x in xs])
    names = "out du ddelta dA dB dC dD dz ddelta_bias".split()
    return ", ".join(f"{n} {((a - b).abs().max() / b.abs().max()).item():.1e}" for n, a, b in zip(names, *res))


def time_shape(ref, Bt, Dm, L):
    """((reference fwd, fwd+bwd), (audiokit fwd, fwd+bwd)) ms: medians, the best of three interleaved rounds."""
    xs = inputs(Bt, Dm, L)
    dy = torch.randn_like(xs[0])
    best = {}
    for _ in range(3):
        for name, f in (("ref", ref), ("ours", audiokit_fn)):
            with torch.no_grad():
                a = do_bench(lambda: f(*xs), warmup=5, rep=40, return_mode="median")
            ys = [x.detach().requires_grad_(x.dtype == torch.bfloat16) for x in xs]
            b = do_bench(lambda: f(*ys).backward(dy), warmup=3, rep=30, grad_to_none=ys, return_mode="median")
            o = best.get(name, (float("inf"),) * 2)
            best[name] = (min(o[0], a), min(o[1], b))
    return best["ref"], best["ours"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mamba-src", default=None, help="a checkout of state-spaces/mamba to build the reference from")
    ap.add_argument("--bf16-only", action="store_true", help="build only the bf16 / real-weight units")
    ap.add_argument("--out", default=None, help="also write the table (markdown) here")
    args = ap.parse_args()
    ssc, how = reference_module(args.mamba_src, args.bf16_only)
    ref = reference_fn(ssc)
    lines = [f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}; reference: {how}",
             f"agreement at 2 x 64 x 5000 (max |audiokit - reference| / max |reference|): {agreement(ref)}", "",
             "| Bt x D x L (bf16, 16 states) | reference fwd ms | audiokit fwd ms | ratio | "
             "reference fwd+bwd ms | audiokit fwd+bwd ms | ratio |", "|---|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    for Bt, Dm, L in SHAPES:
        (rf, rb), (of, ob) = time_shape(ref, Bt, Dm, L)
        lines.append(f"| {Bt} x {Dm} x {L} | {rf:.3f} | {of:.3f} | {rf / of:.2f} | {rb:.3f} | {ob:.3f} | "
                     f"{rb / ob:.2f} |")
        print(lines[-1], flush=True)
        torch.cuda.empty_cache()
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
