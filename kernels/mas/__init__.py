"""Monotonic alignment search (Glow-TTS): naive oracle, vectorised PyTorch path, Triton kernel."""
from .naive import naive_monotonic_alignment_search
from .ops import monotonic_alignment_search

__all__ = ["monotonic_alignment_search", "naive_monotonic_alignment_search"]
