"""Readable monotonic alignment search, one item at a time: the oracle the fast paths are tested against."""
from __future__ import annotations

import numpy as np
import torch


def _mas_one(value: np.ndarray, tx: int, ty: int) -> np.ndarray:
    """Glow-TTS Algorithm 1 on value[:tx, :ty] (numpy scalars keep the input's float precision)."""
    neg_inf = value.dtype.type(-np.inf)
    q = np.full((tx, ty), neg_inf, dtype=value.dtype)
    q[0, 0] = value[0, 0]
    for j in range(1, ty):
        for i in range(min(tx, j + 1)):  # token i cannot be reached before frame i
            stay = q[i, j - 1]
            diag = q[i - 1, j - 1] if i > 0 else neg_inf
            q[i, j] = value[i, j] + max(stay, diag)
    path = np.zeros((tx, ty), dtype=bool)
    i = tx - 1
    for j in range(ty - 1, -1, -1):
        path[i, j] = True
        # Tie rule of the Glow-TTS reference: step down only if the diagonal is strictly better
        # (or forced: token i needs frames 0..i-1 for tokens 0..i-1).
        if i > 0 and (i == j or q[i, j - 1] < q[i - 1, j - 1]):
            i -= 1
    return path


@torch.no_grad()
def naive_monotonic_alignment_search(value: torch.Tensor, text_lengths: torch.Tensor,
                                     mel_lengths: torch.Tensor) -> torch.Tensor:
    """Double loop per item; same contract as ``monotonic_alignment_search`` (no argument checks).

    Scores are accumulated in value's precision (float32 for half types), as the fast paths do,
    so all three agree bit for bit.
    """
    dt = torch.float64 if value.dtype == torch.float64 else torch.float32
    v = value.detach().to("cpu", dt).numpy()
    path = torch.zeros(value.shape, dtype=value.dtype)
    for b, (tx, ty) in enumerate(zip(text_lengths.tolist(), mel_lengths.tolist())):
        path[b, :tx, :ty] = torch.from_numpy(_mas_one(v[b], int(tx), int(ty))).to(value.dtype)
    return path.to(value.device)
