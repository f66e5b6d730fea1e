"""Public selective-scan op (Mamba-1 S6): one signature on every device."""
from __future__ import annotations

import torch

from .._utils import check, check_float, check_shape, use_triton
from .chunk import chunk_selective_scan


def selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: torch.Tensor | None = None, z: torch.Tensor | None = None, *,
                   delta_bias: torch.Tensor | None = None, delta_softplus: bool = False,
                   initial_state: torch.Tensor | None = None, output_final_state: bool = False,
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Selective scan of Mamba-1 (Gu & Dao 2023, Alg. 2, eq. 2a, 4): input-dependent delta, B, C.

    ``h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t``, ``y_t = C_t h_t + D u_t``, ``out = y * silu(z)``,
    with ``delta = softplus(delta + delta_bias)`` when ``delta_softplus``.

    Args:
        u: [Bt, D, L] input sequence (D channels).
        delta: [Bt, D, L] step sizes (before bias / softplus).
        A: [D, N] state matrix (diagonal per channel; negative, e.g. -exp(A_log)).
        B: [Bt, N, L] input-dependent input projection.
        C: [Bt, N, L] input-dependent output projection.
        D: [D] skip connection, optional.
        z: [Bt, D, L] gate, optional.
        delta_bias: [D], optional.
        initial_state: [Bt, D, N] state before the first step (chunked inference).
        output_final_state: also return h_{L-1} ([Bt, D, N], float32; float64 for float64 input).

    Returns:
        (out [Bt, D, L] in u's dtype, final state or None); differentiable in every tensor argument.
        On CUDA out is channels-last (stride 1 along D) when z, or u without z, is: a Mamba block
        then feeds it to its output projection without a copy. Inputs may have any strides.
        For one decoding step use :func:`audiokit.kernels.selective_scan.selective_scan_step`.
    """
    check_float("u", u)
    check(u.dim() == 3, f"u: expected shape [Bt, D, L], got {tuple(u.shape)}")
    Bt, Dm, L = u.shape
    check(L > 0, "u: sequence length L must be > 0")
    check_shape("delta", delta, (Bt, Dm, L), "[Bt, D, L]")
    check_float("A", A)
    check(A.dim() == 2 and A.shape[0] == Dm, f"A: expected shape [D, N] with D = {Dm}, got {tuple(A.shape)}")
    N = A.shape[1]
    check_shape("B", B, (Bt, N, L), "[Bt, N, L]")
    check_shape("C", C, (Bt, N, L), "[Bt, N, L]")
    if D is not None:
        check_shape("D", D, (Dm,), "[D]")
    if z is not None:
        check_shape("z", z, (Bt, Dm, L), "[Bt, D, L]")
    if delta_bias is not None:
        check_shape("delta_bias", delta_bias, (Dm,), "[D]")
    if initial_state is not None:
        check_shape("initial_state", initial_state, (Bt, Dm, N), "[Bt, D, N]")
    if use_triton(u) and u.dtype != torch.float64 and N <= 256:
        return triton_selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state,
                                     output_final_state)
    return chunk_selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state,
                                output_final_state)


def triton_selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, initial_state, output_final_state):
    """The fused Triton kernels: inputs read once in their own dtype, fp32 math, out in u's dtype."""
    from .triton_scan import SelectiveScanFunction
    # (inside Function.forward grad mode is always off and needs_input_grad ignores it: decide here
    # whether a backward can follow, so that inference under no_grad keeps no states for one)
    grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (u, delta, A, B, C, D, z, delta_bias, initial_state))
    return SelectiveScanFunction.apply(u, delta, A, B, C, D, z, delta_bias, initial_state, delta_softplus,
                                       output_final_state, grad)
