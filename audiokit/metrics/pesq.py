"""PESQ, ITU-T P.862 (narrow-band, MOS-LQO per P.862.1) and P.862.2 (wide-band).

Computed by the ``pesq`` package, a wrapper of the ITU reference C implementation. On
the package's own test pair (speech.wav vs speech_bab_0dB.wav, 16 kHz) it reads
wb 1.0832 and nb 1.6072; tests/metrics checks both.
"""

from __future__ import annotations

import numpy as np

from audiokit.metrics.common import MetricError, as_pair, require_nonsilent

__all__ = ["pesq_wb", "pesq_nb"]


def _pesq(ref, est, sr: int, mode: str) -> float:
    from pesq import PesqError, pesq

    r, e = as_pair(ref, est)
    # The package divides by the pair's peak, so a silent estimate turns into NaNs and
    # a cryptic error; say what it is instead. A silent reference is left to PESQ's
    # own voice activity detector ("no utterances detected").
    require_nonsilent(est=e)
    try:
        return float(pesq(int(sr), r, e, mode))
    except PesqError as err:
        msg = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
        raise MetricError(f"PESQ ({mode}): {msg}") from None
    except ValueError as err:
        raise MetricError(f"PESQ ({mode}): {err}") from None


def pesq_wb(ref: np.ndarray, est: np.ndarray, sr: int = 16000) -> float:
    """Wide-band PESQ (ITU-T P.862.2) MOS-LQO, range about 1.04..4.64; ``sr`` must be 16000."""
    if sr != 16000:
        raise MetricError(f"pesq_wb needs 16000 Hz audio, got {sr} Hz")
    return _pesq(ref, est, sr, "wb")


def pesq_nb(ref: np.ndarray, est: np.ndarray, sr: int = 16000) -> float:
    """Narrow-band PESQ (ITU-T P.862 with the P.862.1 MOS-LQO mapping); ``sr`` 8000 or 16000."""
    if sr not in (8000, 16000):
        raise MetricError(f"pesq_nb needs 8000 or 16000 Hz audio, got {sr} Hz")
    return _pesq(ref, est, sr, "nb")
