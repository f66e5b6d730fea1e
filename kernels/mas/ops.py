"""Public monotonic alignment search: one signature, Triton on CUDA, vectorised PyTorch elsewhere."""
from __future__ import annotations

import torch

from .._utils import check, check_float, use_triton
from .vectorized import vectorized_monotonic_alignment_search


def _lengths(name: str, x, B: int, limit: int, dim: str, device) -> torch.Tensor:
    if x is None:
        return torch.full((B,), limit, dtype=torch.long, device=device)
    x = torch.as_tensor(x)
    check(not x.is_floating_point() and not x.is_complex() and x.dtype != torch.bool,
          f"{name}: expected an integer tensor, got {x.dtype}")
    check(tuple(x.shape) == (B,), f"{name}: expected shape [B] = ({B},), got {tuple(x.shape)}")
    lo, hi = (int(x.min()), int(x.max())) if B else (1, limit)
    check(lo >= 1 and hi <= limit, f"{name}: expected values in [1, {dim} = {limit}], got min {lo}, max {hi}")
    return x


@torch.no_grad()
def monotonic_alignment_search(value: torch.Tensor, text_lengths: torch.Tensor | None = None,
                               mel_lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Monotonic alignment search (Kim et al. 2020, Glow-TTS, Sec. 3.2 and Algorithm 1).

    For each item finds the monotonic, surjective alignment A of text tokens to mel frames that
    maximises sum_j value[A(j), j], by the dynamic programme
    ``Q[i, j] = value[i, j] + max(Q[i-1, j-1], Q[i, j-1])`` (Q[0, 0] = value[0, 0]) and a
    backtrack from (text_len-1, mel_len-1). Frame j stays on token i unless the diagonal
    predecessor scores strictly higher (the tie rule of the Glow-TTS / Matcha-TTS reference).
    Scores accumulate in float32 (float64 for float64 input). No gradient.

    Args:
        value: [B, T_text, T_mel] log-likelihood of frame j under token i (e.g. the Gaussian
            prior's log-density in Glow-TTS / Matcha-TTS). Padding is ignored.
        text_lengths: [B] integer, 1 <= text_len <= T_text (None: all T_text).
        mel_lengths: [B] integer, text_len <= mel_len <= T_mel (None: all T_mel).

    Returns:
        [B, T_text, T_mel] hard alignment in value's dtype and device: 1 where frame j is
        assigned to token i, 0 elsewhere and in the padding. Every valid frame has exactly one
        token, every valid token at least one frame, and the token index never decreases.

    Raises:
        KernelArgumentError (a ValueError) on bad shapes or lengths, including a mel length shorter
        than its text length (no surjective monotonic alignment exists).
    """
    check_float("value", value)
    check(value.dim() == 3, f"value: expected shape [B, T_text, T_mel], got {tuple(value.shape)}")
    B, T, M = value.shape
    check(T > 0 and M > 0, f"value: expected T_text > 0 and T_mel > 0, got {tuple(value.shape)}")
    tx = _lengths("text_lengths", text_lengths, B, T, "T_text", value.device)
    ty = _lengths("mel_lengths", mel_lengths, B, M, "T_mel", value.device)
    bad = (ty.cpu() < tx.cpu()).nonzero().flatten().tolist()
    check(not bad, f"mel_lengths: item(s) {bad[:5]} have fewer mel frames than text tokens "
                   f"(mel {ty.cpu()[bad[:5]].tolist()} < text {tx.cpu()[bad[:5]].tolist()}); "
                   "a monotonic alignment giving every token a frame needs mel_len >= text_len")
    if B == 0:
        return torch.zeros_like(value)
    if use_triton(value):
        from .triton_mas import MAX_BLOCK_T, triton_monotonic_alignment_search
        if T <= MAX_BLOCK_T:
            return triton_monotonic_alignment_search(value, tx, ty)
    return vectorized_monotonic_alignment_search(value, tx, ty)
