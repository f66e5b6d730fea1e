"""Closeness of synthesized speech to the recording: MCD, F0 RMSE, speaker similarity.

Reference = the recording, estimate = the synthesized utterance of the same text. The two
need not have the same length or timing: MCD and F0 RMSE align them with DTW, speaker
similarity compares utterance-level embeddings, and the scoring runner passes these
metrics whole signals (``Metric.truncate=False``).

**WORLD analysis** (Morise, Yokomori & Ozawa, "WORLD: a vocoder-based high-quality speech
synthesis system for real-time applications", IEICE Trans. 2016) through ``pyworld``, 5 ms
frames: F0 by DIO refined by StoneMask (WORLD's standard estimator; Harvest is about 30x
slower), spectral envelope by CheapTrick.

**Mel-cepstrum** of order :data:`MCEP_ORDER` = 24 from the envelope, as SPTK's
``freqt``-based conversion defines it: the cepstrum of the log power envelope (``c[0]``
halved: SPTK's one-sided convention, ``log|H(w)| = c0 + sum_m c_m cos(m w)``) is warped by
the first-order all-pass ``(z^-1 - a) / (1 - a z^-1)`` with the recursion of Oppenheim &
Johnson ("Discrete representation of signals", Proc. IEEE 1972). ``a`` is the value that
best fits the warping to the mel scale at the signal's rate (:func:`mcep_alpha`; 0.410 at
16 kHz, 0.455 at 22.05 kHz, 0.466 at 24 kHz).

**MCD** (Kubichek, "Mel-cepstral distance measure for objective speech quality
assessment", 1993; the form of Kominek, Schultz & Black, SLTU 2008, with c0 excluded):
per frame pair ``(10 / ln 10) * sqrt(2 * sum_{d=1..24} (c_d - c'_d)^2)`` dB, averaged
over the frame pairs of the DTW path that minimises the summed Euclidean distance of
c1..c24 (steps (1,1), (1,0), (0,1), unit weights). All frames count, silence included
(no trimming): a long leading silence in one signal raises the score. For scale, on
the first 25 LJSpeech clips WORLD analysis-synthesis scores 3.2 dB, F0 RMSE 7.2 Hz and
spk_sim 0.91 against the recordings.

**F0 RMSE** in Hz over the pairs of that same DTW path where both frames are voiced
(F0 > 0): ``sqrt(mean((f0_ref - f0_est)^2))``.

**Speaker similarity** (``spk_sim``): cosine similarity of the utterance embeddings of
the d-vector encoder of Wan et al. ("Generalized end-to-end loss for speaker
verification", ICASSP 2018) that the ``resemblyzer`` package ships with its weights
(Apache-2.0; 16 kHz; its own volume normalisation and webrtcvad silence trimming first).
Computed per pair, between each estimate and the recording of the same utterance id (not
against a centroid of the reference speaker's recordings): 1 for identical signals,
about 0.8 for two LJSpeech recordings of different sentences, below 0.6 against
another speaker.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from audiokit.metrics.common import MetricError, as_signal, require_nonsilent

__all__ = ["MCEP_ORDER", "FRAME_PERIOD_MS", "mcep_alpha", "freqt", "sp2mcep", "world_features", "dtw",
           "mcd", "f0_rmse", "spk_sim", "speaker_embedding"]

MCEP_ORDER = 24
FRAME_PERIOD_MS = 5.0
_MCD_CONST = 10.0 / np.log(10.0) * np.sqrt(2.0)


# ----------------------------------------------------------------------------- mel-cepstrum

@lru_cache(maxsize=16)
def mcep_alpha(sr: int) -> float:
    """All-pass constant whose warping best fits the mel scale at rate ``sr``.

    Least squares over 1000 frequencies in [0, sr/2) between the normalised mel scale
    ``log(1 + f / 1000)`` and the normalised phase response of the all-pass, on a
    0.001 grid of ``a`` (the fit SPTK's tables and pysptk's ``mcepalpha`` use).
    """
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    n = 1000
    f = np.arange(n) * (sr / 2.0) / n
    mel = np.log1p(f / 1000.0)
    mel /= mel[-1]
    w = np.arange(n) * np.pi / n
    best, best_err = 0.0, np.inf
    for a in np.arange(0.0, 1.0, 0.001):
        warped = np.arctan2((1 - a * a) * np.sin(w), (1 + a * a) * np.cos(w) - 2 * a)
        warped = np.where(warped < 0, warped + np.pi, warped)
        err = np.sqrt(np.mean((mel - warped / warped[-1]) ** 2))
        if err < best_err:
            best, best_err = float(a), err
    return round(best, 3)


@lru_cache(maxsize=16)
def _freqt_matrix(in_order: int, out_order: int, alpha: float) -> np.ndarray:
    """``[out_order + 1, in_order + 1]`` linear map of :func:`freqt` (warping is linear)."""
    eye = np.eye(in_order + 1)
    return freqt(eye, out_order, alpha, _direct=True).T


def freqt(c: np.ndarray, order: int, alpha: float, *, _direct: bool = False) -> np.ndarray:
    """Frequency-warp one-sided cepstra ``c [..., m1 + 1]`` to order ``order`` by the
    all-pass ``alpha`` (SPTK ``freqt``): ``[..., order + 1]``."""
    c = np.asarray(c, dtype=np.float64)
    if not _direct:
        return c @ _freqt_matrix(c.shape[-1] - 1, order, float(alpha)).T
    beta = 1.0 - alpha * alpha
    g = np.zeros(c.shape[:-1] + (order + 1,))
    for i in range(c.shape[-1] - 1, -1, -1):  # input order from the top down
        d = np.empty_like(g)
        d[..., 0] = c[..., i] + alpha * g[..., 0]
        if order >= 1:
            d[..., 1] = beta * g[..., 0] + alpha * g[..., 1]
        for j in range(2, order + 1):
            d[..., j] = g[..., j - 1] + alpha * (g[..., j] - d[..., j - 1])
        g = d
    return g


def sp2mcep(sp: np.ndarray, order: int, alpha: float) -> np.ndarray:
    """Mel-cepstra ``[frames, order + 1]`` of power envelopes ``sp [frames, fft/2 + 1]``."""
    sp = np.asarray(sp, dtype=np.float64)
    c = np.fft.irfft(np.log(np.maximum(sp, 1e-300)), axis=-1)[..., : sp.shape[-1]]
    c[..., 0] /= 2.0  # log power -> log amplitude for c0; c_m (m >= 1) are one-sided already
    return freqt(c, order, alpha)


@dataclass(frozen=True)
class WorldFeatures:
    f0: np.ndarray    # [frames] Hz, 0 where unvoiced
    mcep: np.ndarray  # [frames, MCEP_ORDER + 1]


def world_features(x, sr: int) -> WorldFeatures:
    """F0 (DIO + StoneMask) and the order-24 mel-cepstrum of the CheapTrick envelope."""
    import pyworld

    x = as_signal(x, "signal")
    require_nonsilent(ref=x)
    x = np.ascontiguousarray(x)
    f0, t = pyworld.dio(x, sr, frame_period=FRAME_PERIOD_MS)
    f0 = pyworld.stonemask(x, f0, t, sr)
    sp = pyworld.cheaptrick(x, f0, t, sr)
    return WorldFeatures(f0=f0, mcep=sp2mcep(sp, MCEP_ORDER, mcep_alpha(int(sr))))


# ----------------------------------------------------------------------------- DTW

def dtw(cost: np.ndarray) -> tuple[float, np.ndarray]:
    """Dynamic time warping of a local cost matrix ``[n, m]``.

    Steps (1,1), (1,0), (0,1) with unit weights, from (0, 0) to (n-1, m-1). Returns the
    accumulated cost and the path ``[length, 2]`` of (i, j) pairs. Ties on the way back
    prefer the diagonal, then (i, j-1), then (i-1, j) (librosa's order).
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2 or 0 in cost.shape:
        raise ValueError(f"dtw: expected a non-empty [n, m] cost matrix, got shape {cost.shape}")
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    # anti-diagonals k = i + j depend only on the previous two: vectorise along each
    for k in range(n + m - 1):
        i = np.arange(max(0, k - m + 1), min(k, n - 1) + 1)
        j = k - i
        best = np.minimum(np.minimum(acc[i, j], acc[i, j + 1]), acc[i + 1, j])
        acc[i + 1, j + 1] = cost[i, j] + best
    path = [(n - 1, m - 1)]
    i, j = n, m
    while (i, j) != (1, 1):
        steps = ((i - 1, j - 1), (i, j - 1), (i - 1, j))
        i, j = min(steps, key=lambda s: acc[s])  # min() keeps the first of equal values
        path.append((i - 1, j - 1))
    return float(acc[n, m]), np.asarray(path[::-1])


# ----------------------------------------------------------------------------- MCD, F0

_CACHE: OrderedDict = OrderedDict()
_LOCK = threading.Lock()



def _each_side(fn, ref, est, sr):
    """``fn`` on both signals, an error naming the side that failed."""
    out = []
    for side, x in (("reference", ref), ("estimate", est)):
        try:
            out.append(fn(x, sr))
        except MetricError as err:
            raise MetricError(f"{side}: {err}") from None
    return out

def _aligned(ref, est, sr: int):
    """``(ref features, est features, DTW path)``, cached: mcd and f0_rmse of one pair
    share the analysis and the alignment."""
    from scipy.spatial.distance import cdist

    r, e = as_signal(ref, "reference"), as_signal(est, "estimate")
    key = (int(sr), hashlib.sha1(r.tobytes()).hexdigest(), hashlib.sha1(e.tobytes()).hexdigest())
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    fr, fe = _each_side(world_features, r, e, sr)
    _, path = dtw(cdist(fr.mcep[:, 1:], fe.mcep[:, 1:]))
    out = (fr, fe, path)
    with _LOCK:
        _CACHE[key] = out
        while len(_CACHE) > 4:
            _CACHE.popitem(last=False)
    return out


def mcd(ref, est, sr: int) -> float:
    """Mel-cepstral distortion (dB) after DTW; 0 for identical signals."""
    fr, fe, path = _aligned(ref, est, sr)
    diff = fr.mcep[path[:, 0], 1:] - fe.mcep[path[:, 1], 1:]
    return float(np.mean(_MCD_CONST * np.sqrt(np.sum(diff * diff, axis=1))))


def f0_rmse(ref, est, sr: int) -> float:
    """F0 RMSE (Hz) over DTW-aligned frame pairs voiced in both signals."""
    fr, fe, path = _aligned(ref, est, sr)
    a, b = fr.f0[path[:, 0]], fe.f0[path[:, 1]]
    voiced = (a > 0) & (b > 0)
    if not voiced.any():
        raise MetricError("f0_rmse: no aligned frame is voiced in both signals")
    return float(np.sqrt(np.mean((a[voiced] - b[voiced]) ** 2)))


# ----------------------------------------------------------------------------- speaker

SPK_SAMPLE_RATE = 16000
_ENCODER = None


def speaker_embedding(x, sr: int = SPK_SAMPLE_RATE) -> np.ndarray:
    """Unit-norm 256-d resemblyzer embedding of one utterance at 16 kHz."""
    global _ENCODER
    if sr != SPK_SAMPLE_RATE:
        raise MetricError(f"spk_sim needs {SPK_SAMPLE_RATE} Hz audio, got {sr} Hz")
    try:
        from resemblyzer import VoiceEncoder, preprocess_wav
    except ImportError:
        raise MetricError("spk_sim needs resemblyzer (its speaker encoder ships in the package): "
                          "pip install resemblyzer") from None
    x = as_signal(x, "signal")
    require_nonsilent(ref=x)
    wav = preprocess_wav(x.astype(np.float32), source_sr=sr)
    if wav.size < sr // 10:
        raise MetricError(f"spk_sim: only {wav.size} samples of speech left after silence trimming")
    with _LOCK:
        if _ENCODER is None:
            _ENCODER = VoiceEncoder("cpu", verbose=False)
    return np.asarray(_ENCODER.embed_utterance(wav), dtype=np.float64)


def spk_sim(ref, est, sr: int) -> float:
    """Cosine similarity of the speaker embeddings of ``ref`` and ``est`` (-1..1)."""
    a, b = _each_side(speaker_embedding, ref, est, sr)
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
