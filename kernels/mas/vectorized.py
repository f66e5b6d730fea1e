"""Monotonic alignment search in PyTorch, vectorised over batch and text: the CPU path.

One loop over mel frames j computes the column Q[:, :, j] from Q[:, :, j-1] and its shift by one
token; a second loop over j backtracks all items at once. O(T_mel) tensor ops of size B x T_text.
"""
from __future__ import annotations

import torch


@torch.no_grad()
def vectorized_monotonic_alignment_search(value: torch.Tensor, text_lengths: torch.Tensor,
                                          mel_lengths: torch.Tensor) -> torch.Tensor:
    B, T, M = value.shape
    dt = torch.float64 if value.dtype == torch.float64 else torch.float32
    dev = value.device
    # Frame-major copy so that each step reads one contiguous [B, T] slab.
    v = value.detach().to(dt).permute(2, 0, 1).contiguous()
    tok = torch.arange(T, device=dev)
    neg_inf = torch.full((B, 1), float("-inf"), dtype=dt, device=dev)
    # Tokens past an item's text length never feed tokens before it (the DP only looks at i-1),
    # and frames past its mel length are never read back, so no per-item mask is needed here.
    q = torch.where(tok == 0, v[0], torch.tensor(float("-inf"), dtype=dt, device=dev))
    diag = torch.zeros(M, B, T, dtype=torch.bool, device=dev)  # diag[j, b, i]: (i, j) came from (i-1, j-1)
    for j in range(1, M):
        prev_diag = torch.cat([neg_inf, q[:, :-1]], dim=1)
        diag[j] = (q < prev_diag) | (tok == j)
        q = v[j] + torch.maximum(q, prev_diag)
    path = torch.zeros(B, T, M, dtype=value.dtype, device=dev)
    idx = (text_lengths.to(dev, torch.long) - 1).clamp_min(0)
    mel = mel_lengths.to(dev, torch.long)
    rows = torch.arange(B, device=dev)
    for j in range(M - 1, -1, -1):
        active = j < mel
        path[rows, idx, j] = active.to(value.dtype)
        step = active & (idx > 0) & diag[j, rows, idx]
        idx = idx - step.long()
    return path
