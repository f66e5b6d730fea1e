"""Triton kernels for long-sequence blocks, each beside a plain-PyTorch reference (imported as audiokit.kernels)."""
