"""Launch-geometry helpers shared by the Triton kernels."""
from __future__ import annotations

import torch
import triton


def dot_precision(dtype: torch.dtype) -> str:
    # fp32 inputs get exact fp32 products (tf32 would cost ~1e-3 relative error); halves use tensor cores.
    return "ieee" if dtype == torch.float32 else "tf32"


def segments(n: int, chunk: int, programs: int, target: int = 256) -> tuple[int, int]:
    """Split n positions into NS segments (multiples of `chunk`) so that programs*NS fills the GPU.
    target: programs wanted in all. H100, B=2 H=8 N=131072 D=64 bf16 linear attention fwd / fwd+bwd:
    256 -> 0.555 / 1.60 ms, 512 -> 0.604 / 1.67, 1024 -> 0.606 / 1.73, 2048 -> 0.720 / 2.10."""
    nt = triton.cdiv(n, chunk)
    ns = max(1, min(nt, triton.cdiv(target, max(programs, 1))))
    seg_chunks = triton.cdiv(nt, ns)
    return triton.cdiv(nt, seg_chunks), seg_chunks * chunk


def block(d: int, cap: int) -> int:
    return min(max(16, triton.next_power_of_2(d)), cap)


def empty_bdl(ref: torch.Tensor, Bt: int, D: int, L: int, dtype=None) -> torch.Tensor:
    """An output [Bt, D, L] laid out like ``ref``: channels-last (stride 1 along D) when ref is, as a
    Mamba block's projections are, so the next matmul reads it without a copy; else contiguous."""
    dtype = dtype or ref.dtype
    if ref.stride(1) == 1 and L > 1:
        return torch.empty(Bt, L, D, device=ref.device, dtype=dtype).transpose(1, 2)
    return torch.empty(Bt, D, L, device=ref.device, dtype=dtype)
