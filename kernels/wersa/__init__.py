"""WERSA attention (multi-resolution Haar filtering + random features) on the linear-attention op."""
from .naive import naive_haar_filter, naive_wersa
from .ops import haar_filter, random_features, wersa_attention

__all__ = ["haar_filter", "naive_haar_filter", "naive_wersa", "random_features", "wersa_attention"]
