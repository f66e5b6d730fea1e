"""What every metric shares: its error type and the checks on a (reference, estimate) pair."""

from __future__ import annotations

import numpy as np
import torch


class MetricError(ValueError):
    """A metric that cannot be computed for this pair; the message says why."""


def as_signal(x, name: str) -> np.ndarray:
    """A 1-D float64 numpy copy of a tensor or array, with finite samples."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise MetricError(f"{name}: expected a mono signal [samples], got shape {tuple(x.shape)}")
    if x.size == 0:
        raise MetricError(f"{name}: no samples")
    if not np.isfinite(x).all():
        raise MetricError(f"{name}: {int((~np.isfinite(x)).sum())} NaN/Inf samples")
    return x


def as_pair(ref, est) -> tuple[np.ndarray, np.ndarray]:
    """Both signals as float64, truncated to the shorter one."""
    r, e = as_signal(ref, "reference"), as_signal(est, "estimate")
    n = min(r.size, e.size)
    return r[:n], e[:n]


def require_nonsilent(ref: np.ndarray | None = None, est: np.ndarray | None = None) -> None:
    """Refuse digital silence (all zeros), for which ratio-based metrics are undefined."""
    if ref is not None and not np.any(ref):
        raise MetricError("reference is all zeros (digital silence)")
    if est is not None and not np.any(est):
        raise MetricError("estimate is all zeros (digital silence)")


def finite(value: float, what: str) -> float:
    value = float(value)
    if not np.isfinite(value):
        raise MetricError(f"{what} is not finite ({value}); is the estimate identical to the reference?")
    return value
