"""Benchmark of the long-sequence kernels on one GPU: audiokit vs PyTorch SDPA vs flash-linear-attention.

    python tools/bench/bench_kernels.py [--lengths 2048,8192,32768,131072] [--out table.md]

B=2, H=8, D=64, bf16. For every N: forward and forward+backward median time (triton do_bench),
peak extra memory, and the fraction of the memory-traffic bound (bytes that must move at least
once, divided by the measured device-to-device copy bandwidth). fla (fla-core) is used when importable.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from triton.testing import do_bench

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audiokit.kernels.gla import gated_linear_attention  # noqa: E402
from audiokit.kernels.linear_attn import linear_attention  # noqa: E402
from audiokit.kernels.selective_scan import selective_scan  # noqa: E402

B, H, D = 2, 8, 64
DT = torch.bfloat16


def copy_bandwidth():
    x = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    y = torch.empty_like(x)
    ms = do_bench(lambda: y.copy_(x), warmup=10, rep=50, return_mode="median")
    return 2 * x.numel() / (ms * 1e-3)


def measure(fn, inputs, backward):
    """(median ms, peak extra MiB) of fn(), or of fn() followed by backward of its output."""
    def run():
        out = fn()
        if backward:
            out.backward(torch.ones_like(out) if out.dim() == 0 else grad_out[0])
    grad_out = [None]
    if backward:
        with torch.no_grad():
            grad_out[0] = torch.randn_like(fn())
    torch.cuda.synchronize()
    ms = do_bench(run, warmup=10, rep=50, grad_to_none=inputs, return_mode="median")
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    run()
    torch.cuda.synchronize()
    return ms, (torch.cuda.max_memory_allocated() - base) / 2**20


def cases(N):
    gen = torch.Generator(device="cuda").manual_seed(N)
    r = lambda *s: torch.randn(*s, generator=gen, device="cuda", dtype=DT)  # noqa: E731
    q, k, v = r(B, H, N, D), r(B, H, N, D), r(B, H, N, D)
    g = (F.logsigmoid(r(B, H, N, D).float()) / 16).to(DT)
    ld = -torch.exp(-torch.arange(5, 5 + H, device="cuda", dtype=torch.float32) * 0.7)  # RetNet-like
    tensor = B * H * N * D * 2
    yield "audiokit linear_attention", (q, k, v), lambda q, k, v: linear_attention(q, k, v)[0], 4 * tensor, 11 * tensor
    yield "audiokit linear_attention+decay", (q, k, v), \
        lambda q, k, v: linear_attention(q, k, v, log_decay=ld)[0], 4 * tensor, 11 * tensor
    # the same decay as a trained parameter (TransNormerLLM's and RetNet's rates are fixed): its
    # gradient too
    yield "audiokit linear_attention+learned decay", (q, k, v, ld), \
        lambda q, k, v, ld: linear_attention(q, k, v, log_decay=ld)[0], 4 * tensor, 11 * tensor
    yield "audiokit gla", (q, k, v, g), lambda q, k, v, g: gated_linear_attention(q, k, v, g)[0], 5 * tensor, 14 * tensor
    yield "torch sdpa causal", (q, k, v), \
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), 4 * tensor, 11 * tensor
    try:
        from fla.ops.gla import chunk_gla
        from fla.ops.linear_attn import chunk_linear_attn
    except Exception as e:  # noqa: BLE001 - report whatever stops the import
        print(f"# fla not importable: {type(e).__name__}: {e}")
    else:
        t = lambda x: x.transpose(1, 2).contiguous()  # noqa: E731  fla wants [B, T, H, D]
        qt, kt, vt, gt = t(q), t(k), t(v), t(g)
        yield "fla chunk_linear_attn", (qt, kt, vt), \
            lambda q, k, v: chunk_linear_attn(q, k, v, normalize=False)[0], 4 * tensor, 11 * tensor
        yield "fla chunk_gla", (qt, kt, vt, gt), lambda q, k, v, g: chunk_gla(q, k, v, g)[0], 5 * tensor, 14 * tensor
    # Mamba-1 selective scan at d_inner = H * D channels, 16 states, with D skip, delta bias and z gate.
    # Bytes: the forward reads u, delta, z, B, C and writes y; the backward re-reads them with dy and
    # writes du, ddelta, dz, dB, dC (the convention of the rows above: fwd+bwd = fwd + bwd traffic).
    Dm, Ns = H * D, 16
    u, dl, z = r(B, Dm, N), r(B, Dm, N), r(B, Dm, N)
    A = -torch.rand(Dm, Ns, device="cuda")
    Dskip, dbias = torch.randn(Dm, device="cuda"), torch.randn(Dm, device="cuda")
    Bm, Cm = r(B, Ns, N), r(B, Ns, N)
    yb, bc = B * Dm * N * 2, B * Ns * N * 2
    yield "audiokit selective_scan", (u, dl, Bm, Cm, z), \
        lambda u, dl, Bm, Cm, z: selective_scan(u, dl, A, Bm, Cm, Dskip, z, delta_bias=dbias, delta_softplus=True)[0], \
        4 * yb + 2 * bc, 11 * yb + 6 * bc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lengths", default="2048,8192,32768,131072")
    ap.add_argument("--out", default=None, help="also write the table (markdown) here")
    ap.add_argument("--only", default="", help="comma-separated texts: run only the ops whose name contains one")
    args = ap.parse_args()
    bw = copy_bandwidth()
    lines = [f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, copy bandwidth {bw / 1e12:.2f} TB/s",
             f"B={B} H={H} D={D} {str(DT).split('.')[-1]}; bound = minimum bytes / copy bandwidth",
             "", "| N | op | fwd ms | fwd MiB | fwd % bound | fwd+bwd ms | fwd+bwd MiB | fwd+bwd % bound |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    print("\n".join(lines), flush=True)
    for N in map(int, args.lengths.split(",")):
        for name, inputs, fn, fwd_bytes, bwd_bytes in cases(N):
            if args.only and not any(t in name for t in args.only.split(",")):
                continue
            row = [str(N), name]
            for backward, nbytes in ((False, fwd_bytes), (True, bwd_bytes)):
                xs = [x.detach().requires_grad_(backward) for x in inputs]
                try:
                    if backward:
                        ms, mib = measure(lambda: fn(*xs), xs, True)
                    else:
                        with torch.no_grad():
                            ms, mib = measure(lambda: fn(*xs), None, False)
                    row += [f"{ms:.3f}", f"{mib:.0f}", f"{100 * nbytes / bw / (ms * 1e-3):.0f}%"]
                except Exception as e:  # noqa: BLE001 - a failing baseline is a table entry, not a crash
                    row += [f"n/a ({type(e).__name__})", "", ""]
                    torch.cuda.empty_cache()
            lines.append("| " + " | ".join(row) + " |")
            print(lines[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
