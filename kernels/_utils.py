"""Argument checks and dispatch helpers shared by the ops in audiokit.kernels."""
from __future__ import annotations

import os

import torch


class KernelArgumentError(ValueError):
    """A kernel was called with tensors of the wrong shape, dtype or device."""


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise KernelArgumentError(msg)


def check_float(name: str, t: torch.Tensor) -> None:
    check(isinstance(t, torch.Tensor), f"{name}: expected a tensor, got {type(t).__name__}")
    check(t.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64),
          f"{name}: expected a float16/bfloat16/float32/float64 tensor, got {t.dtype}")


def check_shape(name: str, t: torch.Tensor, shape: tuple, what: str) -> None:
    check_float(name, t)
    check(tuple(t.shape) == tuple(shape), f"{name}: expected shape {what} = {tuple(shape)}, got {tuple(t.shape)}")


def use_triton(*tensors: torch.Tensor) -> bool:
    """Triton on CUDA tensors (or on CPU tensors under TRITON_INTERPRET=1 when forced), else PyTorch."""
    if os.environ.get("AUDIOKIT_KERNELS_BACKEND", "") == "torch":
        return False
    if not all(t.is_cuda for t in tensors if t is not None):
        return False
    try:
        import triton  # noqa: F401
    except ImportError:  # pragma: no cover - triton ships with CUDA torch wheels
        return False
    return True


def acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """fp32 accumulation for half types; float64 stays float64 (tests use it as the oracle precision)."""
    return torch.float64 if dtype == torch.float64 else torch.float32
