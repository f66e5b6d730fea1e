"""Vocoder metrics: the objective columns of HiFi-GAN / BigVGAN / PeriodWave tables.

Reference = the original recording, estimate = the vocoded one.

- :func:`mstft`: multi-resolution STFT distance as ``auraloss.freq.MultiResolutionSTFTLoss``
  defines it with its defaults (Yamamoto et al., "Parallel WaveGAN", ICASSP 2020, Eq. 3-6):
  for FFT sizes (1024, 2048, 512), hops (120, 240, 50) and Hann windows (600, 1200, 240)
  the spectral convergence ``||S - Ŝ||_F / ||S||_F`` plus the mean ``|log S - log Ŝ|``, with
  ``S = sqrt(max(|STFT|^2, 1e-8))`` of a centred (reflect-padded) STFT, averaged over the
  three resolutions. PeriodWave(-Turbo) report it as "M-STFT" at the vocoder's rate, so it
  runs at the file's rate.
- :func:`mel_l1`: mean absolute difference of HiFi-GAN log-mels
  (:mod:`audiokit.frontend.mel`, preset ``ljspeech_22k``) at 22.05 kHz.
- :func:`periodicity`, :func:`vuv_f1`, :func:`pitch_rmse`: CREPE-based, as in the CARGAN
  evaluation (Morrison et al., "Chunked Autoregressive GAN for Conditional Waveform
  Synthesis", ICLR 2022, Sec. 5.1 / ``cargan.evaluate.objective.metrics``) that PeriodWave
  follows: on 16 kHz audio, reflect-padded by ``(1024 - hop) // 2``, torchcrepe with hop
  ``int(256 * 16000 / 22050) = 185`` samples (one frame per 22.05 kHz mel frame), fmin
  50 Hz, fmax 550 Hz, Viterbi decoding, model ``"full"``; periodicity (the network's max
  probability) set to 0 where the A-weighted loudness is below -60 dB
  (``torchcrepe.threshold.Silence``); voiced = ``torchcrepe.threshold.Hysteresis()``
  (bounds 0.19 / 0.31) leaves a pitch. Then
  periodicity = RMSE of the two periodicity tracks over all frames; V/UV F1 of the
  estimate's voicing against the reference's; pitch RMSE in cents over frames voiced in
  both. CARGAN pools frames over the whole test set; here each utterance is scored and
  ``audiokit score`` averages utterances.

  One deliberate difference: torchcrepe dithers each decoded pitch with independent
  triangular noise of +-20 cents (one bin), so CARGAN's pitch RMSE of a signal against
  itself is about 11.5 cents, not 0, and varies from run to run. Here the pitch is the
  decoded bin's centre without dither: deterministic, and 0 for identical signals. In
  expectation the two differ by the dither's variance (2 * 20^2 / 6 cents^2):
  ``rmse_cargan ~= sqrt(rmse^2 + 133.3)``. Periodicity does not depend on it.

CREPE runs with the ``AUDIOKIT_CREPE_MODEL`` model (default ``"full"``, the papers'; ``"tiny"``
is much cheaper) on ``AUDIOKIT_CREPE_DEVICE`` (default ``cuda`` when available, else
``cpu``; the full model needs about 10 s of CPU per second of audio on 2 cores). The three
CREPE metrics share one CREPE pass per (reference, estimate) pair through a small cache.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict

import numpy as np
import torch

from audiokit.metrics.common import MetricError, as_pair, finite, require_nonsilent

__all__ = ["mstft", "mel_l1", "periodicity", "vuv_f1", "pitch_rmse", "crepe_tracks",
           "CREPE_MODEL", "MSTFT_RESOLUTIONS"]

# (fft_size, hop, win_length): auraloss MultiResolutionSTFTLoss defaults.
MSTFT_RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))
_MSTFT_EPS = 1e-8

CREPE_MODEL = os.environ.get("AUDIOKIT_CREPE_MODEL", "full")  # the papers' model
CREPE_SR = 16000
CREPE_HOP = int(256 * CREPE_SR / 22050)  # 185: CARGAN's resampled mel hop
CREPE_NFFT = 1024
CREPE_FMIN, CREPE_FMAX = 50.0, 550.0


def _tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


# ----------------------------------------------------------------------------- spectral

def mstft(ref: np.ndarray, est: np.ndarray, sr: int | None = None) -> float:
    """Multi-resolution STFT distance (auraloss defaults); 0 for identical signals."""
    r, e = as_pair(ref, est)
    require_nonsilent(ref=r)
    if r.size < 1024:  # reflect padding needs more than n_fft / 2 samples
        raise MetricError(f"mstft: needs at least 1024 samples, got {r.size}")
    x = torch.from_numpy(np.stack([r, e]))  # float64 for a reference-grade number
    total = 0.0
    for n_fft, hop, win in MSTFT_RESOLUTIONS:
        spec = torch.stft(x, n_fft, hop, win, torch.hann_window(win, dtype=x.dtype),
                          center=True, pad_mode="reflect", return_complex=True)
        mag = torch.sqrt(torch.clamp(spec.real ** 2 + spec.imag ** 2, min=_MSTFT_EPS))
        s_ref, s_est = mag[0], mag[1]
        sc = torch.linalg.norm(s_ref - s_est) / torch.linalg.norm(s_ref)
        log_mag = torch.mean(torch.abs(torch.log(s_ref) - torch.log(s_est)))
        total += float(sc + log_mag)
    return finite(total / len(MSTFT_RESOLUTIONS), "mstft")


_MEL = None


def mel_l1(ref: np.ndarray, est: np.ndarray, sr: int = 22050) -> float:
    """Mean |log-mel(ref) - log-mel(est)| with the ``ljspeech_22k`` mel; ``sr`` must be 22050."""
    global _MEL
    if sr != 22050:
        raise MetricError(f"mel_l1 needs 22050 Hz audio (the LJSpeech mel), got {sr} Hz")
    r, e = as_pair(ref, est)
    if r.size <= 1024:
        raise MetricError(f"mel_l1: needs more than 1024 samples, got {r.size}")
    if _MEL is None:
        from audiokit.frontend.mel import MelSpectrogram

        _MEL = MelSpectrogram.from_preset("ljspeech_22k")
    with torch.no_grad():
        m = _MEL(torch.from_numpy(np.stack([r, e])))
    return finite(torch.mean(torch.abs(m[0] - m[1])), "mel_l1")


# ----------------------------------------------------------------------------- CREPE

def _crepe_device() -> str:
    return os.environ.get("AUDIOKIT_CREPE_DEVICE") or ("cuda" if torch.cuda.is_available()
                                                        else "cpu")


def _viterbi_undithered(logits):
    """torchcrepe's Viterbi decoding, pitch at the bin centre (no dither)."""
    import torchcrepe

    bins, _ = torchcrepe.decode.viterbi(logits)
    cents = torchcrepe.CENTS_PER_BIN * bins.to(torch.float64) + 1997.3794084376191
    return bins, (10 * 2 ** (cents / 1200)).to(torch.float32)


def crepe_tracks(wav: np.ndarray, sr: int = CREPE_SR, model: str | None = None,
                 device: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pitch_hz [frames], periodicity [frames])`` of a 16 kHz signal, CARGAN's way
    (see the module docstring); silent frames have periodicity 0."""
    import torchcrepe

    model = model or CREPE_MODEL
    device = device or _crepe_device()
    if model not in ("full", "tiny"):
        raise MetricError(f"CREPE model must be 'full' or 'tiny', got {model!r}")
    if sr != CREPE_SR:
        raise MetricError(f"CREPE metrics need {CREPE_SR} Hz audio, got {sr} Hz")
    pad = (CREPE_NFFT - CREPE_HOP) // 2
    x = _tensor(wav)[None]
    if x.shape[-1] <= pad:
        raise MetricError(f"CREPE metrics: signal of {x.shape[-1]} samples is too short "
                          f"(need more than {pad})")
    x = torch.nn.functional.pad(x[None], (pad, pad), mode="reflect")[0]
    with torch.no_grad():
        pitch, per = torchcrepe.predict(x, CREPE_SR, CREPE_HOP, CREPE_FMIN, CREPE_FMAX,
                                        model=model, decoder=_viterbi_undithered,
                                        return_periodicity=True, batch_size=512,
                                        device=device, pad=False)
        pitch, per = pitch.cpu(), per.cpu()
        per = torchcrepe.threshold.Silence()(per, x, CREPE_SR, hop_length=CREPE_HOP, pad=False)
    return pitch[0], per[0]


_CACHE: OrderedDict = OrderedDict()


def _crepe_pair(ref, est, sr: int, model: str | None):
    model = model or CREPE_MODEL
    r, e = as_pair(ref, est)
    require_nonsilent(ref=r)
    key = (hashlib.sha1(r.tobytes()).hexdigest(), hashlib.sha1(e.tobytes()).hexdigest(),
           int(sr), model)
    if key not in _CACHE:
        _CACHE[key] = (crepe_tracks(r, sr, model), crepe_tracks(e, sr, model))
        while len(_CACHE) > 4:
            _CACHE.popitem(last=False)
    return _CACHE[key]


def _voiced(pitch: torch.Tensor, per: torch.Tensor) -> torch.Tensor:
    import torchcrepe

    return ~torch.isnan(torchcrepe.threshold.Hysteresis()(pitch[None].clone(),
                                                         per[None].clone()))[0]


def periodicity(ref: np.ndarray, est: np.ndarray, sr: int = CREPE_SR,
                model: str | None = None) -> float:
    """RMSE between the CREPE periodicity tracks of reference and estimate (lower is better)."""
    (_, p_ref), (_, p_est) = _crepe_pair(ref, est, sr, model)
    return finite(torch.sqrt(torch.mean((p_ref - p_est) ** 2)), "periodicity")


def vuv_f1(ref: np.ndarray, est: np.ndarray, sr: int = CREPE_SR,
           model: str | None = None) -> float:
    """F1 of the estimate's voiced/unvoiced decisions against the reference's."""
    (f_ref, p_ref), (f_est, p_est) = _crepe_pair(ref, est, sr, model)
    v_ref, v_est = _voiced(f_ref, p_ref), _voiced(f_est, p_est)
    tp = int((v_ref & v_est).sum())
    fp = int((~v_ref & v_est).sum())
    fn = int((v_ref & ~v_est).sum())
    if tp + fp + fn == 0:
        raise MetricError("vuv_f1: no voiced frame in either signal")
    return 2 * tp / (2 * tp + fp + fn)  # = 2PR / (P + R)


def pitch_rmse(ref: np.ndarray, est: np.ndarray, sr: int = CREPE_SR,
               model: str | None = None) -> float:
    """RMSE in cents of the CREPE pitch over frames voiced in both signals."""
    (f_ref, p_ref), (f_est, p_est) = _crepe_pair(ref, est, sr, model)
    both = _voiced(f_ref, p_ref) & _voiced(f_est, p_est)
    if not bool(both.any()):
        raise MetricError("pitch_rmse: no frame is voiced in both signals")
    cents = 1200 * (torch.log2(f_ref[both].double()) - torch.log2(f_est[both].double()))
    return finite(torch.sqrt(torch.mean(cents ** 2)), "pitch_rmse")
