"""Gated linear attention (data-dependent per-channel decay) with state in/out and a step form."""
from .naive import gla_step, naive_gla
from .ops import gated_linear_attention

__all__ = ["gated_linear_attention", "gla_step", "naive_gla"]
