"""Public gated linear attention op: one signature, Triton on CUDA, chunked PyTorch elsewhere."""
from __future__ import annotations

import torch

from .._utils import check, check_float, check_shape, use_triton
from .chunk import chunk_gla


def gated_linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, *,
                           scale: float | None = None, initial_state: torch.Tensor | None = None,
                           output_final_state: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Causal gated linear attention (Yang et al. 2024, GLA, eq. 3): ``S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t``,
    ``o_t = scale q_t S_t``.

    Args:
        q: [B, H, N, K] queries.
        k: [B, H, N, K] keys.
        v: [B, H, N, V] values.
        g: [B, H, N, K] per-channel log-decay, <= 0 (e.g. logsigmoid(.) / 16 as in the GLA layer).
        scale: multiplies q; default K ** -0.5.
        initial_state: [B, H, K, V] state of earlier positions (chunked / streaming inference).
        output_final_state: also return S_{N-1} ([B, H, K, V], float32; float64 for float64 input).

    Returns:
        (o [B, H, N, V] in v's dtype, final state or None); differentiable in q, k, v, g, initial_state.
        For one decoding step use :func:`audiokit.kernels.gla.gla_step`.
    """
    check_float("q", q)
    check(q.dim() == 4, f"q: expected shape [B, H, N, K], got {tuple(q.shape)}")
    B, H, N, K = q.shape
    check(N > 0, "q: sequence length N must be > 0")
    check_shape("k", k, (B, H, N, K), "[B, H, N, K]")
    check_shape("g", g, (B, H, N, K), "[B, H, N, K]")
    check_float("v", v)
    check(v.dim() == 4 and tuple(v.shape[:3]) == (B, H, N), f"v: expected shape [B, H, N, V] = ({B}, {H}, {N}, V), got {tuple(v.shape)}")
    check(q.dtype == k.dtype == v.dtype, f"q, k, v: expected one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    check(len({q.device, k.device, v.device, g.device}) == 1, "q, k, v, g: expected tensors on one device")
    V = v.shape[-1]
    if initial_state is not None:
        check_shape("initial_state", initial_state, (B, H, K, V), "[B, H, K, V]")
    scale = K ** -0.5 if scale is None else float(scale)
    if use_triton(q) and q.dtype != torch.float64 and K <= 256 and V <= 256:
        from .triton_chunk import GLAFunction
        return GLAFunction.apply(q, k, v, g, scale, initial_state, output_final_state)
    return chunk_gla(q, k, v, g, scale, initial_state, output_final_state)
