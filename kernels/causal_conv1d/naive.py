"""The oracle of the causal depthwise conv: F.conv1d over the inputs with the past prepended."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def naive_causal_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                        initial_state: torch.Tensor | None = None, silu: bool = True) -> torch.Tensor:
    """The reference: ``F.conv1d`` over the inputs with the past prepended (zeros by default)."""
    W = weight.shape[1]
    past = initial_state.to(x.dtype) if initial_state is not None else x.new_zeros(x.shape[0], x.shape[1], W - 1)
    y = F.conv1d(torch.cat([past, x], -1), weight[:, None, :].to(x.dtype),
                 bias.to(x.dtype) if bias is not None else None, groups=x.shape[1])
    return F.silu(y) if silu else y
