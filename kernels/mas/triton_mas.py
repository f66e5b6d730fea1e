"""Monotonic alignment search in Triton: a forward sweep over mel frames, then a backtrack.

Forward: one program per batch item holds the whole text axis of the score column Q[:, j] in
registers (BLOCK_T = next power of two >= T_text) and sweeps j = 1 .. mel_len-1. The shifted
column Q[i-1, j-1] goes through a per-item scratch row in global memory, with a block barrier
between writing and reading it. Each step stores one bit per token: whether (i, j) came from
(i-1, j-1). Backtrack: one program per item walks those bits from (text_len-1, mel_len-1) back
to frame 0 and writes the 0/1 path.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

MAX_BLOCK_T = 16384  # one program holds a whole column; longer texts take the PyTorch path


@triton.jit
def _mas_fwd_kernel(v, diag, buf, mel_len, T, M, BLOCK_T: tl.constexpr):
    # v: [B, M, T] frame-major scores; diag: [B, M, T] int8; buf: [B, BLOCK_T + 1] scratch.
    b = tl.program_id(0).to(tl.int64)
    ty = tl.load(mel_len + b).to(tl.int32)
    i = tl.arange(0, BLOCK_T)
    valid = i < T
    vb = v + b * M * T
    db = diag + b * M * T
    bb = buf + b * (BLOCK_T + 1)
    q = tl.load(vb + i, mask=valid & (i == 0), other=0.0)
    q = tl.where(i == 0, q, -float("inf"))
    tl.store(bb + i + 1, q)  # bb[i + 1] = Q[i, j - 1]; bb[0] stays -inf (no token -1)
    tl.debug_barrier()
    for j in range(1, ty):
        prev_diag = tl.load(bb + i)
        d = (q < prev_diag) | (i == j)
        tl.store(db + j * T + i, d.to(tl.int8), mask=valid)
        x = tl.load(vb + j * T + i, mask=valid, other=0.0)
        q = x + tl.maximum(q, prev_diag)
        tl.debug_barrier()  # every thread has read Q[:, j-1] before it is overwritten
        tl.store(bb + i + 1, q)
        tl.debug_barrier()


@triton.jit
def _mas_bwd_kernel(diag, path, text_len, mel_len, T, M):
    # path: [B, T, M] zeros on entry.
    b = tl.program_id(0).to(tl.int64)
    tx = tl.load(text_len + b).to(tl.int32)
    ty = tl.load(mel_len + b).to(tl.int32)
    db = diag + b * M * T
    pb = path + b * T * M
    idx = tx - 1
    for jj in range(0, ty):
        j = ty - 1 - jj
        tl.store(pb + idx * M + j, 1.0)
        d = tl.load(db + j * T + idx)
        idx = tl.where((idx > 0) & (d != 0), idx - 1, idx)


@torch.no_grad()
def triton_monotonic_alignment_search(value: torch.Tensor, text_lengths: torch.Tensor,
                                      mel_lengths: torch.Tensor) -> torch.Tensor:
    B, T, M = value.shape
    dev = value.device
    dt = torch.float64 if value.dtype == torch.float64 else torch.float32
    v = value.detach().to(dt).transpose(1, 2).contiguous()  # coalesced column loads
    BLOCK_T = max(16, triton.next_power_of_2(T))
    diag = torch.zeros(B, M, T, dtype=torch.int8, device=dev)
    buf = torch.full((B, BLOCK_T + 1), float("-inf"), dtype=dt, device=dev)
    path = torch.zeros(B, T, M, dtype=torch.float32, device=dev)
    tl_ = text_lengths.to(dev, torch.int32).contiguous()
    ml_ = mel_lengths.to(dev, torch.int32).contiguous()
    nw = max(1, min(16, BLOCK_T // 256))
    _mas_fwd_kernel[(B,)](v, diag, buf, ml_, T, M, BLOCK_T=BLOCK_T, num_warps=nw)
    _mas_bwd_kernel[(B,)](diag, path, tl_, ml_, T, M, num_warps=1)
    return path.to(value.dtype)
