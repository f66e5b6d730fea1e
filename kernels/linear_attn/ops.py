"""Public lightning linear attention op: one signature, Triton on CUDA, chunked PyTorch elsewhere."""
from __future__ import annotations

import torch

from .._utils import check, check_float, check_shape, use_triton
from .chunk import chunk_linear_attention


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = True,
                     log_decay: torch.Tensor | None = None, scale: float | None = None,
                     initial_state: torch.Tensor | None = None, output_final_state: bool = False,
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Lightning linear attention (Qin et al. 2024, Lightning Attention-2, eq. 2-4), optionally decayed.

    ``o_t = sum_s lambda_h^|t-s| (scale q_t . k_s) v_s`` over s <= t (causal) or all s (non-causal),
    with per-head decay ``lambda_h = exp(log_decay[h])`` as in RetNet / TransNormerLLM. No softmax
    and no normaliser: callers normalise the output (e.g. RMSNorm, TransNormer's NormAttention).

    Args:
        q: [B, H, N, K] queries.
        k: [B, H, N, K] keys.
        v: [B, H, N, V] values.
        causal: only attend to s <= t. Non-causal takes no state.
        log_decay: [H] per-head log-decay, <= 0 (0 means no decay); differentiable.
        scale: multiplies q; default K ** -0.5.
        initial_state: [B, H, K, V] state S0 of earlier positions (causal only), for chunked or
            streaming inference: ``S_t = lambda S_{t-1} + k_t^T v_t``.
        output_final_state: also return S_{N-1} ([B, H, K, V], float32; float64 for float64 input).

    Returns:
        (o [B, H, N, V] in v's dtype, final state or None). Gradients flow to q, k, v,
        log_decay and initial_state, also through the final state.
    """
    check_float("q", q)
    check(q.dim() == 4, f"q: expected shape [B, H, N, K], got {tuple(q.shape)}")
    B, H, N, K = q.shape
    check_shape("k", k, (B, H, N, K), "[B, H, N, K]")
    check_float("v", v)
    check(v.dim() == 4 and tuple(v.shape[:3]) == (B, H, N), f"v: expected shape [B, H, N, V] = ({B}, {H}, {N}, V), got {tuple(v.shape)}")
    check(N > 0, "q: sequence length N must be > 0")
    check(q.dtype == k.dtype == v.dtype, f"q, k, v: expected one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    check(q.device == k.device == v.device, "q, k, v: expected tensors on one device")
    V = v.shape[-1]
    if log_decay is not None:
        check_shape("log_decay", log_decay, (H,), "[H]")
    if initial_state is not None:
        check_shape("initial_state", initial_state, (B, H, K, V), "[B, H, K, V]")
    scale = K ** -0.5 if scale is None else float(scale)
    if not causal:
        check(initial_state is None and not output_final_state,
              "initial_state/output_final_state: only defined for causal=True")
        return _non_causal(q, k, v, log_decay, scale), None
    if use_triton(q) and q.dtype != torch.float64 and K <= 256 and V <= 256:
        from .triton_chunk import triton_linear_attention
        return triton_linear_attention(q, k, v, log_decay, scale, initial_state, output_final_state)
    return chunk_linear_attention(q, k, v, log_decay, scale, initial_state, output_final_state)


def _non_causal(q, k, v, log_decay, scale):
    if log_decay is None:  # o = q (K^T V): two GEMMs, fastest in cuBLAS on any device
        dt = torch.float64 if q.dtype == torch.float64 else torch.float32
        kv = k.to(dt).transpose(-1, -2) @ v.to(dt)
        return ((q.to(dt) * scale) @ kv).to(v.dtype)
    # lambda^|t-s| = causal part + anti-causal part - the diagonal counted twice
    fwd, _ = linear_attention(q, k, v, log_decay=log_decay, scale=scale)
    rev, _ = linear_attention(q.flip(2), k.flip(2), v.flip(2), log_decay=log_decay, scale=scale)
    diag = (q * k).sum(-1, keepdim=True) * scale * v
    return fwd + rev.flip(2) - diag
