"""Segmental SNR, LLR, WSS and the composite measures CSIG, CBAK, COVL.

Y. Hu and P. C. Loizou, "Evaluation of objective quality measures for speech
enhancement", IEEE TASLP 16(1):229–238, 2008 (and P. C. Loizou, *Speech Enhancement:
Theory and Practice*, Ch. 11). All three frame measures use 30 ms Hann frames
(``w[k] = 0.5 (1 - cos(2 pi k / (N + 1)))``, k = 1..N) with a 75 % overlap, as in the
authors' ``composite.m``:

- segmental SNR, per frame ``10 log10(sum c² / sum (c - p)²)`` clipped to [-10, 35] dB,
  averaged over all frames;
- log-likelihood ratio, per frame ``log(a_p R_c a_pᵀ / a_c R_c a_cᵀ)`` with ``a_c``,
  ``a_p`` the LPC polynomials (order 10 below 10 kHz, else 16; autocorrelation method,
  Levinson–Durbin) of the clean and processed frames and ``R_c`` the clean
  autocorrelation (Toeplitz) matrix; the mean of the lowest 95 % of frames;
- weighted spectral slope (D. Klatt, ICASSP 1982, p. 1280): 25 Gaussian-shaped critical
  band filters, slopes of the dB band energies, weights
  ``W = Kmax/(Kmax + Emax - E_k) · Klocmax/(Klocmax + Epeak_k - E_k)`` with Kmax = 20,
  Klocmax = 1, averaged between clean and processed; per frame
  ``sum W (slope_c - slope_p)² / sum W``; the mean of the lowest 95 % of frames;
- the regressions (clipped to [1, 5])::

      Csig = 3.093 - 1.029 LLR + 0.603 PESQ - 0.009 WSS
      Cbak = 1.634 + 0.478 PESQ - 0.007 WSS + 0.063 segSNR
      Covl = 1.594 + 0.805 PESQ - 0.512 LLR - 0.007 WSS

PESQ here is the wide-band P.862.2 MOS-LQO at 16 kHz. Hu & Loizou fitted the
regressions on raw narrow-band P.862 scores; the wide-band score is what the enhancement
literature (SEGAN, MetricGAN, CMGAN, MP-SENet on VoiceBank+DEMAND) puts in these
formulas, so our numbers are comparable with those tables, not with the 2008 paper's.
"""

from __future__ import annotations

import math

import numpy as np

from audiokit.metrics.common import MetricError, as_pair, require_nonsilent

__all__ = [
    "ssnr", "llr", "wss", "composite", "csig", "cbak", "covl",
    "segmental_snr_frames", "llr_frames", "wss_frames",
]

_EPS = np.finfo(np.float64).eps
_TRIM = 0.95  # fraction of (lowest) frame values kept for LLR and WSS
_SNR_RANGE = (-10.0, 35.0)
_KMAX, _KLOCMAX = 20.0, 1.0

# Critical band centre frequencies and bandwidths (Hz) of the WSS filter bank.
_CENTRE_HZ = np.array([
    50.0, 120.0, 190.0, 260.0, 330.0, 400.0, 470.0, 540.0, 617.372, 703.378, 798.717, 904.128,
    1020.38, 1148.30, 1288.72, 1442.54, 1610.70, 1794.16, 1993.93, 2211.08, 2446.71, 2701.97,
    2978.04, 3276.17, 3597.63])
_BANDWIDTH_HZ = np.array([
    70.0, 70.0, 70.0, 70.0, 70.0, 70.0, 70.0, 77.3724, 86.0056, 95.3398, 105.411, 116.256,
    127.914, 140.423, 153.823, 168.154, 183.457, 199.776, 217.153, 235.631, 255.255, 276.072,
    298.126, 321.465, 346.136])


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _prepare(ref, est) -> tuple[np.ndarray, np.ndarray]:
    r, e = as_pair(ref, est)
    # composite.m adds eps to both signals so all-zero frames keep a defined LPC model.
    return r + _EPS, e + _EPS


def _frames(x: np.ndarray, sr: int) -> np.ndarray:
    """``[n_frames, win]`` Hann-windowed 30 ms frames, hop win/4 (frame count as composite.m)."""
    win = _round_half_up(30 * sr / 1000)
    hop = win // 4
    n = (x.size - win) // hop
    if n < 1:
        raise MetricError(f"signal too short for 30 ms frame analysis: {x.size} samples at {sr} Hz")
    window = 0.5 * (1.0 - np.cos(2.0 * np.pi * np.arange(1, win + 1) / (win + 1)))
    idx = hop * np.arange(n)[:, None] + np.arange(win)[None, :]
    return x[idx] * window


def _trimmed_mean(values: np.ndarray) -> float:
    v = np.sort(values[np.isfinite(values)])  # degenerate (non-finite) frames are dropped
    if v.size == 0:
        raise MetricError("no frame gave a finite value")
    return float(v[: max(1, _round_half_up(v.size * _TRIM))].mean())


# ----------------------------------------------------------------------------- segSNR

def segmental_snr_frames(ref, est, sr: int) -> np.ndarray:
    """Per-frame segmental SNR in dB, clipped to [-10, 35]."""
    r, e = _prepare(ref, est)
    fc, fp = _frames(r, sr), _frames(e, sr)
    signal = (fc**2).sum(1)
    noise = ((fc - fp) ** 2).sum(1)
    snr = 10.0 * np.log10(signal / (noise + _EPS) + _EPS)
    return np.clip(snr, *_SNR_RANGE)


def ssnr(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    """Segmental SNR in dB (mean over all frames, each clipped to [-10, 35] dB)."""
    require_nonsilent(ref=as_pair(ref, est)[0])  # every frame would read -10 dB: not a score
    return float(segmental_snr_frames(ref, est, sr).mean())


# ----------------------------------------------------------------------------- LLR

def _autocorrelation(frames: np.ndarray, order: int) -> np.ndarray:
    n = frames.shape[1]
    return np.stack([(frames[:, : n - k] * frames[:, k:]).sum(1) for k in range(order + 1)], axis=1)


def _levinson(r: np.ndarray) -> np.ndarray:
    """Prediction polynomials ``[1, -a_1, ..., -a_P]`` for each row of autocorrelations ``r``."""
    n_frames, order = r.shape[0], r.shape[1] - 1
    a = np.zeros((n_frames, order))
    err = r[:, 0].copy()
    for i in range(order):
        k = (r[:, i + 1] - (a[:, :i] * r[:, i:0:-1]).sum(1)) / err
        prev = a[:, :i].copy()
        a[:, i] = k
        a[:, :i] = prev - k[:, None] * prev[:, ::-1]
        err = (1.0 - k * k) * err
    return np.concatenate([np.ones((n_frames, 1)), -a], axis=1)


def llr_frames(ref, est, sr: int) -> np.ndarray:
    """Per-frame log-likelihood ratio."""
    order = 10 if sr < 10000 else 16
    r, e = _prepare(ref, est)
    rc = _autocorrelation(_frames(r, sr), order)
    rp = _autocorrelation(_frames(e, sr), order)
    with np.errstate(divide="ignore", invalid="ignore"):
        ac, ap = _levinson(rc), _levinson(rp)
        lag = np.abs(np.arange(order + 1)[:, None] - np.arange(order + 1)[None, :])
        toeplitz = rc[:, lag]  # [frames, P+1, P+1]
        num = np.einsum("fi,fij,fj->f", ap, toeplitz, ap)
        den = np.einsum("fi,fij,fj->f", ac, toeplitz, ac)
        return np.log(num / den)


def llr(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    """LLR: mean of the lowest 95 % of frame values (lower is better)."""
    return _trimmed_mean(llr_frames(ref, est, sr))


# ----------------------------------------------------------------------------- WSS

def _critical_band_filters(sr: int, half: int) -> np.ndarray:
    nyquist = sr / 2.0
    f0 = np.floor(_CENTRE_HZ / nyquist * half)[:, None]
    bw = (_BANDWIDTH_HZ / nyquist * half)[:, None]
    norm = (np.log(_BANDWIDTH_HZ[0]) - np.log(_BANDWIDTH_HZ))[:, None]  # equal-area filters
    g = np.exp(-11.0 * ((np.arange(half)[None, :] - f0) / bw) ** 2 + norm)
    return g * (g > np.exp(-30.0 / (2.0 * 2.303)))  # drop the filter skirts below -30 dB


def _band_energies_db(frames: np.ndarray, filters: np.ndarray, n_fft: int) -> np.ndarray:
    spec = np.abs(np.fft.rfft(frames, n_fft, axis=1)[:, : n_fft // 2]) ** 2
    return 10.0 * np.log10(np.maximum(spec @ filters.T, 1e-10))


def _nearest_peak(energy: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Energy of the spectral peak each band climbs towards (Klatt's local maximum).

    Rising bands search upwards for the first non-positive slope, falling bands search
    downwards for the last positive one. On the rising side composite.m reads the band
    *below* the peak it stops at; we keep that so CSIG/CBAK/COVL match published tables.
    """
    n_slopes = slope.shape[1]
    up = np.empty((slope.shape[0], n_slopes + 1), dtype=np.int64)
    up[:, n_slopes] = n_slopes
    for i in range(n_slopes - 1, -1, -1):
        up[:, i] = np.where(slope[:, i] > 0, up[:, i + 1], i)
    down = np.empty_like(slope, dtype=np.int64)
    last = np.full(slope.shape[0], -1, dtype=np.int64)
    for i in range(n_slopes):
        last = np.where(slope[:, i] > 0, i, last)
        down[:, i] = last
    rising = np.take_along_axis(energy, up[:, :n_slopes] - 1, axis=1)
    falling = np.take_along_axis(energy, down + 1, axis=1)
    return np.where(slope > 0, rising, falling)


def _slope_weights(energy: np.ndarray, slope: np.ndarray) -> np.ndarray:
    e = energy[:, :-1]
    w_max = _KMAX / (_KMAX + energy.max(1, keepdims=True) - e)
    w_loc = _KLOCMAX / (_KLOCMAX + _nearest_peak(energy, slope) - e)
    return w_max * w_loc


def wss_frames(ref, est, sr: int) -> np.ndarray:
    """Per-frame weighted spectral slope distance."""
    r, e = _prepare(ref, est)
    fc, fp = _frames(r, sr), _frames(e, sr)
    n_fft = 1 << int(math.ceil(math.log2(2 * fc.shape[1])))
    filters = _critical_band_filters(sr, n_fft // 2)
    ec, ep = _band_energies_db(fc, filters, n_fft), _band_energies_db(fp, filters, n_fft)
    sc, sp = np.diff(ec, axis=1), np.diff(ep, axis=1)
    w = 0.5 * (_slope_weights(ec, sc) + _slope_weights(ep, sp))
    return (w * (sc - sp) ** 2).sum(1) / w.sum(1)


def wss(ref: np.ndarray, est: np.ndarray, sr: int) -> float:
    """WSS: mean of the lowest 95 % of frame values (lower is better)."""
    return _trimmed_mean(wss_frames(ref, est, sr))


# ----------------------------------------------------------------------------- composite

def _clip_mos(x: float) -> float:
    return float(min(5.0, max(1.0, x)))


def composite(ref: np.ndarray, est: np.ndarray, sr: int = 16000, *, pesq_score: float | None = None) -> dict[str, float]:
    """CSIG, CBAK, COVL and their ingredients (pesq, llr, wss, ssnr) for 16 kHz signals.

    ``pesq_score`` lets a caller that already computed the wide-band PESQ of this pair
    pass it in instead of paying for it twice.
    """
    if sr != 16000:
        raise MetricError(f"composite measures need 16000 Hz audio (wide-band PESQ), got {sr} Hz")
    if pesq_score is None:
        from audiokit.metrics.pesq import pesq_wb

        pesq_score = pesq_wb(ref, est, sr)
    l, w, s = llr(ref, est, sr), wss(ref, est, sr), ssnr(ref, est, sr)
    return {
        "csig": _clip_mos(3.093 - 1.029 * l + 0.603 * pesq_score - 0.009 * w),
        "cbak": _clip_mos(1.634 + 0.478 * pesq_score - 0.007 * w + 0.063 * s),
        "covl": _clip_mos(1.594 + 0.805 * pesq_score - 0.512 * l - 0.007 * w),
        "pesq": float(pesq_score), "llr": l, "wss": w, "ssnr": s,
    }


def csig(ref: np.ndarray, est: np.ndarray, sr: int = 16000) -> float:
    """Composite signal-distortion rating in [1, 5]."""
    return composite(ref, est, sr)["csig"]


def cbak(ref: np.ndarray, est: np.ndarray, sr: int = 16000) -> float:
    """Composite background-intrusiveness rating in [1, 5]."""
    return composite(ref, est, sr)["cbak"]


def covl(ref: np.ndarray, est: np.ndarray, sr: int = 16000) -> float:
    """Composite overall-quality rating in [1, 5]."""
    return composite(ref, est, sr)["covl"]
