"""Mamba-1 selective scan (S6) with D skip, z gating, state in/out and a step form."""
from .naive import naive_selective_scan, selective_scan_step
from .ops import selective_scan

__all__ = ["naive_selective_scan", "selective_scan", "selective_scan_step"]
