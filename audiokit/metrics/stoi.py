"""STOI and extended STOI through ``pystoi``.

C. H. Taal, R. C. Hendriks, R. Heusdens, J. Jensen, "An Algorithm for Intelligibility
Prediction of Time-Frequency Weighted Noisy Speech", IEEE TASLP 19(7), 2011 (STOI);
J. Jensen, C. H. Taal, "An Algorithm for Predicting the Intelligibility of Speech Masked
by Modulated Noise Maskers", IEEE/ACM TASLP 24(11), 2016 (ESTOI).

Both work at 10 kHz internally; pystoi resamples from the rate it is given, so the
signals are passed at the file's rate.
"""

from __future__ import annotations

import warnings

import numpy as np

from audiokit.metrics.common import MetricError, as_pair, require_nonsilent

__all__ = ["stoi", "estoi"]


def _stoi(ref, est, sr: int, extended: bool) -> float:
    from pystoi import stoi as _pystoi

    r, e = as_pair(ref, est)
    require_nonsilent(ref=r)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(_pystoi(r, e, int(sr), extended=extended))
    # pystoi warns and returns 1e-5 when fewer than 30 speech frames (384 ms) remain
    # after dropping silent frames; that number is not a score.
    for w in caught:
        if "STFT frames" in str(w.message):
            raise MetricError(f"{'ESTOI' if extended else 'STOI'}: fewer than 30 non-silent frames "
                              "(utterance too short or silent)")
    return value


def stoi(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    """STOI in [0, 1] (Taal et al. 2011)."""
    return _stoi(ref, est, sr, extended=False)


def estoi(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    """Extended STOI (Jensen & Taal 2016)."""
    return _stoi(ref, est, sr, extended=True)
