"""HiFi-GAN-compatible log-mel spectrogram with Slaney-style mel filters.

The mel filterbank is the "Slaney" one of the Auditory Toolbox (M. Slaney, "Auditory
Toolbox", Interval Research Tech. Rep. 1998-010): a mel scale linear below 1 kHz
(200/3 Hz per mel) and logarithmic above (27 mels per factor 6.4), triangular filters between
adjacent centre frequencies, each scaled by ``2 / (f_{m+1} - f_{m-1})`` so that filters have
equal area. This is what librosa.filters.mel(htk=False, norm='slaney') computes, and what
HiFi-GAN (Kong, Kim & Bae, NeurIPS 2020), BigVGAN and the TTS models that feed them use.

The log-mel follows HiFi-GAN's ``meldataset.mel_spectrogram``:

1. reflect-pad the waveform by ``p = (n_fft - hop_length) // 2`` samples on each side;
2. STFT with a periodic Hann window, ``center=False``;
3. magnitude ``sqrt(re^2 + im^2 + 1e-9)`` (not the power);
4. mel = filterbank @ magnitude;
5. ``log(clamp(mel, min=1e-5))`` (natural log, no scaling).

Frame count with ``center=False``: ``frames = 1 + (T + 2p - n_fft) // hop_length``, which for
n_fft = 1024 and hop 256 is ``T // 256`` - one frame per hop, the alignment vocoders expect.
With ``center=True`` the waveform is instead reflect-padded by ``n_fft // 2`` (the usual
centred STFT) and ``frames = 1 + T // hop_length``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from audiokit.frontend.stft import _window

__all__ = ["hz_to_mel", "mel_to_hz", "mel_filterbank", "MelSpectrogram", "PRESETS"]

# Slaney mel scale constants.
_F_SP = 200.0 / 3.0                 # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0                # start of the log part
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # = 15 mels
_LOGSTEP = math.log(6.4) / 27.0     # 27 mels per factor 6.4

_MAG_EPS = 1e-9  # HiFi-GAN's epsilon inside the square root (finite gradient at 0)


def hz_to_mel(freq):
    """Slaney mel of ``freq`` (Hz); numpy array or scalar."""
    f = np.asarray(freq, dtype=np.float64)
    lin = f / _F_SP
    log = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log, lin)


def mel_to_hz(mel):
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(mel, dtype=np.float64)
    lin = m * _F_SP
    log = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(m, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, log, lin)


def mel_filterbank(sr: int, n_fft: int, n_mels: int = 80, fmin: float = 0.0,
                   fmax: float | None = None) -> torch.Tensor:
    """Slaney-scale, area-normalised triangular mel filters.

    Args:
        sr: sample rate in Hz.
        n_fft: FFT size; the filters act on its ``n_fft // 2 + 1`` non-negative bins.
        n_mels: number of filters.
        fmin, fmax: lowest and highest band edges in Hz (fmax defaults to ``sr / 2``).

    Returns:
        float32 ``[n_mels, n_fft // 2 + 1]``; row m is the triangle rising from mel point m
        to m+1 and falling to m+2 (n_mels + 2 points equally spaced in mel between fmin and
        fmax), scaled by ``2 / (f[m+2] - f[m])``.
    """
    for name, v in (("sr", sr), ("n_fft", n_fft), ("n_mels", n_mels)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"mel_filterbank: {name} must be a positive int, got {v!r}")
    if fmax is None:
        fmax = sr / 2.0
    if not 0.0 <= fmin < fmax:
        raise ValueError(f"mel_filterbank: need 0 <= fmin < fmax, got fmin={fmin}, fmax={fmax}")
    if fmax > sr / 2.0:
        raise ValueError(f"mel_filterbank: fmax={fmax} Hz is above the Nyquist frequency "
                         f"{sr / 2.0} Hz of sr={sr}")
    fft_freqs = np.arange(n_fft // 2 + 1, dtype=np.float64) * (sr / n_fft)
    mel_pts = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    hz_pts = mel_to_hz(mel_pts)
    widths = np.diff(hz_pts)                          # [n_mels + 1]
    dist = hz_pts[:, None] - fft_freqs[None, :]       # [n_mels + 2, F]
    rising = -dist[:-2] / widths[:-1, None]
    falling = dist[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (hz_pts[2:] - hz_pts[:-2]))[:, None]
    return torch.from_numpy(weights.astype(np.float32))


# Frame settings of the two standard vocoder/TTS set-ups.
PRESETS: dict[str, dict] = {
    # HiFi-GAN V1 (config_v1.json), FastSpeech 2 and most LJSpeech TTS models.
    "ljspeech_22k": dict(sample_rate=22050, n_fft=1024, hop_length=256, win_length=1024,
                         n_mels=80, fmin=0.0, fmax=8000.0),
    # BigVGAN / Vocos-style 24 kHz, 100-band set-up used for LibriTTS.
    "libritts_24k": dict(sample_rate=24000, n_fft=1024, hop_length=256, win_length=1024,
                         n_mels=100, fmin=0.0, fmax=12000.0),
}


class MelSpectrogram(nn.Module):
    """HiFi-GAN's log-mel spectrogram: ``[B, T]`` (or ``[T]``) -> ``[B, n_mels, frames]``.

    See the module docstring for the steps and the frame count. The window and the mel
    basis are non-persistent buffers (they follow ``.to(device)``, are not saved, and are
    rebuilt from the settings). Compare :meth:`settings` between a vocoder and the model
    that feeds it to check that they agree.
    """

    def __init__(self, sample_rate: int = 22050, n_fft: int = 1024, hop_length: int = 256,
                 win_length: int = 1024, n_mels: int = 80, fmin: float = 0.0,
                 fmax: float | None = 8000.0, center: bool = False, clamp: float = 1e-5):
        super().__init__()
        for name, v in (("hop_length", hop_length), ("win_length", win_length)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"MelSpectrogram: {name} must be a positive int, got {v!r}")
        if win_length > n_fft:
            raise ValueError(f"MelSpectrogram: win_length ({win_length}) must be <= n_fft "
                             f"({n_fft})")
        if hop_length > n_fft:
            raise ValueError(f"MelSpectrogram: hop_length ({hop_length}) must be <= n_fft "
                             f"({n_fft})")
        if not clamp > 0:
            raise ValueError(f"MelSpectrogram: clamp must be > 0, got {clamp!r}")
        fmax = float(sample_rate) / 2.0 if fmax is None else float(fmax)
        basis = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax)
        self.sample_rate, self.n_fft, self.hop_length = sample_rate, n_fft, hop_length
        self.win_length, self.n_mels = win_length, n_mels
        self.fmin, self.fmax = float(fmin), fmax
        self.center, self.clamp = center, clamp
        self.register_buffer("window", torch.hann_window(win_length, dtype=torch.float64).float(),
                             persistent=False)
        self.register_buffer("mel_basis", basis, persistent=False)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "MelSpectrogram":
        """Build from :data:`PRESETS` (``"ljspeech_22k"`` or ``"libritts_24k"``)."""
        if name not in PRESETS:
            raise ValueError(f"MelSpectrogram: unknown preset {name!r}; known: {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def settings(self) -> dict:
        """The settings that must agree between a mel producer and consumer."""
        return dict(sample_rate=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
                    win_length=self.win_length, n_mels=self.n_mels, fmin=self.fmin,
                    fmax=self.fmax)

    @property
    def padding(self) -> int:
        """Reflect padding on each side of the waveform."""
        return self.n_fft // 2 if self.center else (self.n_fft - self.hop_length) // 2

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for ``num_samples`` samples: ``1 + (T + 2p - n_fft) // hop``."""
        return 1 + (num_samples + 2 * self.padding - self.n_fft) // self.hop_length

    def magnitude(self, wav: torch.Tensor) -> torch.Tensor:
        """Linear magnitude spectrogram ``[B, n_fft//2+1, frames]`` used by :meth:`forward`."""
        if not isinstance(wav, torch.Tensor) or not wav.is_floating_point():
            raise ValueError("MelSpectrogram: wav must be a real floating torch.Tensor, got "
                             f"{getattr(wav, 'dtype', type(wav).__name__)}")
        if wav.dim() not in (1, 2):
            raise ValueError(f"MelSpectrogram: wav must be [T] or [B, T], got shape "
                             f"{tuple(wav.shape)}")
        p = self.padding
        if wav.shape[-1] <= p or wav.shape[-1] + 2 * p < self.n_fft:
            raise ValueError(f"MelSpectrogram: wav has {wav.shape[-1]} samples, too short for "
                             f"n_fft={self.n_fft} with reflect padding {p}")
        if wav.dtype not in (torch.float32, torch.float64):
            wav = wav.float()
        # F.pad's reflect mode needs a channel axis.
        x = torch.nn.functional.pad(wav.unsqueeze(-2), (p, p), mode="reflect").squeeze(-2)
        spec = torch.stft(x, self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                          window=_window(self.win_length, x, self.window), center=False,
                          normalized=False, onesided=True, return_complex=True)
        return torch.sqrt(spec.real.square() + spec.imag.square() + _MAG_EPS)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        mag = self.magnitude(wav)
        basis = self.mel_basis
        if basis.dtype != mag.dtype:  # e.g. float64 input, or a module cast with .half()
            basis = mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, self.fmin,
                                   self.fmax).to(device=mag.device, dtype=mag.dtype)
        mel = torch.matmul(basis, mag)
        return torch.log(torch.clamp(mel, min=self.clamp))

    def extra_repr(self) -> str:
        s = ", ".join(f"{k}={v}" for k, v in self.settings().items())
        return f"{s}, center={self.center}, clamp={self.clamp}"
