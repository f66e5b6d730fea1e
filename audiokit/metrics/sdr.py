"""Signal-to-distortion ratios: SI-SDR and BSS-Eval SDR.

SI-SDR follows J. Le Roux, S. Wisdom, H. Erdogan, J. R. Hershey, "SDR – half-baked or
well done?", ICASSP 2019, Eqs. (4)–(5) (the optimal scale alpha = <ŝ, s> / ||s||², then
SI-SDR = 10 log10(||alpha s||² / ||alpha s - ŝ||²)), on zero-mean signals as the paper
recommends.

SDR is BSS-Eval v3 (E. Vincent, R. Gribonval, C. Févotte, "Performance measurement in
blind audio source separation", IEEE TASLP 14(4), 2006, Eq. (4) with the target
projection through a 512-tap time-invariant filter, as in ``mir_eval.separation.
bss_eval_sources``), computed by ``fast_bss_eval`` with an exact solve so that it
agrees with mir_eval to numerical precision (checked in tests/metrics) at a fraction of
its cost.
"""

from __future__ import annotations

import numpy as np

from audiokit.metrics.common import MetricError, as_pair, finite, require_nonsilent

__all__ = ["si_sdr", "sdr"]


def si_sdr(ref: np.ndarray, est: np.ndarray, sr: int | None = None, *, zero_mean: bool = True) -> float:
    """Scale-invariant SDR in dB (``sr`` is unused; accepted for the common signature)."""
    r, e = as_pair(ref, est)
    if zero_mean:
        r, e = r - r.mean(), e - e.mean()
    require_nonsilent(r, e)
    alpha = np.dot(e, r) / np.dot(r, r)
    target = alpha * r
    noise = e - target
    with np.errstate(divide="ignore"):
        return finite(10.0 * np.log10(np.dot(target, target) / np.dot(noise, noise)), "SI-SDR")


def sdr(ref: np.ndarray, est: np.ndarray, sr: int | None = None, *, filter_length: int = 512) -> float:
    """BSS-Eval v3 SDR in dB for one source (``sr`` is unused)."""
    import fast_bss_eval

    r, e = as_pair(ref, est)
    require_nonsilent(r, e)
    if r.size < filter_length:
        raise MetricError(f"SDR: signal has {r.size} samples, fewer than the {filter_length}-tap distortion filter")
    with np.errstate(divide="ignore", invalid="ignore"):
        value = fast_bss_eval.sdr(r[None], e[None], filter_length=filter_length, use_cg_iter=None)[0]
    return finite(value, "SDR")
