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


class LayerNorm(nn.LayerNorm):
    """:class:`torch.nn.LayerNorm` that keeps a half-precision input in its dtype under autocast.

    Autocast runs layer_norm in fp32 and returns fp32, so a bf16 stream is widened, normalised at
    twice the bytes and narrowed again by the next matmul (MambAttention: 8 fp32 norms of 245 us
    against 104 us in bf16 per 10 s pass on an H100). Here a half input is normalised in its own
    dtype (the kernel accumulates in fp32) with the affine parameters cast to it; other inputs, or
    no autocast, take ``nn.LayerNorm``'s path. Same parameters and state dict.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype in (torch.float16, torch.bfloat16) and torch.is_autocast_enabled(x.device.type):
            with torch.autocast(x.device.type, enabled=False):
                w = self.weight.to(x.dtype) if self.weight is not None else None
                b = self.bias.to(x.dtype) if self.bias is not None else None
                return F.layer_norm(x, self.normalized_shape, w, b, self.eps)
        return super().forward(x)
