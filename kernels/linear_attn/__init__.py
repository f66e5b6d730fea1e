"""Lightning linear attention (causal / non-causal, per-head decay, state in/out)."""
from .naive import naive_linear_attention
from .ops import linear_attention

__all__ = ["linear_attention", "naive_linear_attention"]
