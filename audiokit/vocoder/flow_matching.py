"""Conditional flow matching with the optimal-transport path, and fixed-step ODE solvers.

Lipman et al. 2023, "Flow Matching for Generative Modeling" (ICLR), Sec. 4.1, Example II:
with prior sample ``x0``, data sample ``x1`` and ``t ~ U[0, 1]`` the OT conditional path is

    x_t = (1 - (1 - sigma_min) t) x0 + t x1                                   (Eq. 22)

and its (time-constant) conditional vector field, the regression target, is

    u_t = x1 - (1 - sigma_min) x0                                            (Eq. 23)

The estimator ``v(x_t, t)`` is trained with ``|v - u_t|^2`` (CFM loss, Eq. 9); sampling
integrates ``dx/dt = v(x, t)`` from t = 0 (prior) to t = 1 (data). The solvers below are
plain PyTorch and differentiable (PeriodWave-Turbo back-propagates through them); wrap them
in ``torch.no_grad()`` for inference. Used by PeriodWave and reusable by any CFM decoder
(``f(x, t)`` is the only interface).
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["SIGMA_MIN", "ot_path", "ot_target", "euler", "midpoint", "solve", "eval_times", "METHODS"]

SIGMA_MIN = 1e-4

VectorField = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _bcast(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``t`` of shape [] or [B] -> broadcastable against ``x`` [B, ...]."""
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    return t.reshape(t.shape + (1,) * (x.dim() - t.dim())) if t.dim() else t


def ot_path(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor,
            sigma_min: float = SIGMA_MIN) -> torch.Tensor:
    """Point ``x_t`` on the OT path (Eq. 22). ``t``: scalar or [B] (one time per item)."""
    t = _bcast(t, x1)
    return (1 - (1 - sigma_min) * t) * x0 + t * x1


def ot_target(x0: torch.Tensor, x1: torch.Tensor, sigma_min: float = SIGMA_MIN) -> torch.Tensor:
    """Target vector field ``u_t = x1 - (1 - sigma_min) x0`` (Eq. 23); independent of t."""
    return x1 - (1 - sigma_min) * x0


def _check(steps: int):
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"ODE solver: steps must be a positive int, got {steps!r}")


def eval_times(steps: int, method: str, t0: float = 0.0, t1: float = 1.0, device=None,
               dtype=torch.float32) -> torch.Tensor:
    """The times at which :func:`solve` evaluates ``f``, in call order: ``[steps]`` (Euler) or
    ``[2 * steps]`` (midpoint: t, t + h/2 per step).

    Built on ``device`` by one ``arange`` (no host-to-device copy per step: that copy would
    synchronise the GPU every step and cannot be captured in a CUDA graph). A sampler may
    compute everything that depends on t alone once per utterance from this grid.
    """
    if method not in METHODS:
        raise ValueError(f"ODE solver: unknown method {method!r}; known: {sorted(METHODS)}")
    _check(steps)
    per = 2 if method == "midpoint" else 1
    h = (t1 - t0) / (steps * per)
    # float64 then cast: the same rounding as the Python float t0 + i * h
    return (torch.arange(steps * per, device=device, dtype=torch.float64) * h + t0).to(dtype)


def euler(f: VectorField, x: torch.Tensor, steps: int, t0: float = 0.0,
          t1: float = 1.0) -> torch.Tensor:
    """Explicit Euler on a uniform grid: ``x <- x + h f(x, t)``; ``steps`` evaluations of f.

    ``f(x, t)`` gets ``t`` as a 0-dim tensor on ``x``'s device. Global error O(h).
    """
    ts = eval_times(steps, "euler", t0, t1, x.device, x.dtype)
    h = (t1 - t0) / steps
    for i in range(steps):
        x = torch.add(x, f(x, ts[i]), alpha=h)
    return x


def midpoint(f: VectorField, x: torch.Tensor, steps: int, t0: float = 0.0,
             t1: float = 1.0) -> torch.Tensor:
    """Explicit midpoint (RK2): ``x <- x + h f(x + h/2 f(x, t), t + h/2)``; 2 evaluations a step.

    Global error O(h^2). PeriodWave samples with 16 midpoint steps (32 evaluations).
    """
    ts = eval_times(steps, "midpoint", t0, t1, x.device, x.dtype)
    h = (t1 - t0) / steps
    for i in range(steps):
        x = torch.add(x, f(torch.add(x, f(x, ts[2 * i]), alpha=0.5 * h), ts[2 * i + 1]), alpha=h)
    return x


METHODS = {"euler": euler, "midpoint": midpoint}


def solve(f: VectorField, x: torch.Tensor, steps: int, method: str = "euler",
          t0: float = 0.0, t1: float = 1.0) -> torch.Tensor:
    """Integrate ``dx/dt = f(x, t)`` from ``t0`` to ``t1`` with ``method`` in :data:`METHODS`."""
    if method not in METHODS:
        raise ValueError(f"ODE solver: unknown method {method!r}; known: {sorted(METHODS)}")
    return METHODS[method](f, x, steps, t0, t1)
