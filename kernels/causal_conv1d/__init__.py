"""Causal depthwise 1D convolution with SiLU (the short convolution of a Mamba block), state in/out."""
from .naive import naive_causal_conv1d
from .ops import causal_conv1d

__all__ = ["causal_conv1d", "naive_causal_conv1d"]
