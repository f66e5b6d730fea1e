"""Normalisation layers."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.RMSNorm):
    """:class:`torch.nn.RMSNorm` that runs the fused kernel under autocast too.

    Under bf16/fp16 autocast the input arrives in half precision while the weight stays fp32, and
    torch then falls back to several unfused elementwise kernels (MambAttention's 16 Mamba pre-norms
    cost milliseconds per 10 s clip). The weight is cast to the input's dtype instead; the kernel
    accumulates in fp32 either way. Same parameters and state dict as ``nn.RMSNorm``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) if self.weight is not None else None
        return F.rms_norm(x, self.normalized_shape, w, self.eps)
