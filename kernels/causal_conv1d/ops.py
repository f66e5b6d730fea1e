"""Public causal depthwise conv op: one signature on every device."""
from __future__ import annotations

import torch

from .._utils import check, check_float, check_shape, use_triton
from .naive import naive_causal_conv1d


def causal_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
                  initial_state: torch.Tensor | None = None, silu: bool = True) -> torch.Tensor:
    """``y_t = silu(bias + sum_k weight[:, k] x_{t - W + 1 + k})`` per channel (Mamba's short conv,
    Gu & Dao 2023, Sec. 3.4), with ``x_{t<0}`` taken from ``initial_state`` (else zeros).

    Args:
        x: [B, D, L] in any float dtype and any strides (a channels-last view, as a Mamba block's
            in_proj gives it, is read without a copy on CUDA).
        weight: [D, W] (``nn.Conv1d(D, D, W, groups=D).weight[:, 0]``); bias: [D] or None.
        initial_state: [B, D, W - 1], the last W - 1 inputs before x (chunked inference).
        silu: apply SiLU (else the plain convolution).

    Returns:
        y [B, D, L] in x's dtype (on CUDA in x's layout: channels-last for a channels-last x, else
        contiguous); differentiable in x, weight, bias and initial_state.
    """
    check_float("x", x)
    check(x.dim() == 3, f"x: expected shape [B, D, L], got {tuple(x.shape)}")
    Bt, D, L = x.shape
    check(L > 0, "x: sequence length L must be > 0")
    check_float("weight", weight)
    check(weight.dim() == 2 and weight.shape[0] == D and weight.shape[1] >= 1,
          f"weight: expected shape [D, W] with D = {D}, got {tuple(weight.shape)}")
    W = weight.shape[1]
    if bias is not None:
        check_shape("bias", bias, (D,), "[D]")
    if initial_state is not None:
        check_shape("initial_state", initial_state, (Bt, D, W - 1), "[B, D, W - 1]")
    if use_triton(x) and x.dtype != torch.float64:
        from .triton_conv import CausalConv1dFunction
        return CausalConv1dFunction.apply(x, weight, bias, initial_state, silu)
    return naive_causal_conv1d(x, weight, bias, initial_state, silu)
