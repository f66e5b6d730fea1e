"""STFT / iSTFT with power-law compressed magnitude and explicit phase.

This is the front-end of MP-SENet (Lu, Ai & Ling, "MP-SENet: A Speech Enhancement Model with
Parallel Denoising of Magnitude and Phase Spectra", Interspeech 2023, Sec. 2.1; and the
extended version "Explicit estimation of magnitude and phase spectra in parallel for
high-quality speech enhancement", arXiv:2308.08926, Sec. 3.1):

* ``Y = STFT(y)`` with a periodic Hann window, ``center=True`` and reflect padding
  (torch.stft's convention, which MP-SENet trains with);
* magnitude ``Y_m = |Y| ** c`` (power-law compression, c = 0.3);
* phase ``Y_p = angle(Y)``;
* compressed complex spectrum ``Y_c = Y_m * exp(j Y_p)``, stored as ``[..., 2]`` (re, im).

The defaults are MP-SENet's 16 kHz setting: n_fft 400 (25 ms), hop 100 (6.25 ms), win 400.

Numerical safety follows MP-SENet: ``|Y| = sqrt(re^2 + im^2 + 1e-9)`` keeps the magnitude
away from 0, so neither the square root nor ``|Y| ** c`` (whose derivative is infinite at 0
for c < 1) produce NaN/Inf gradients on silence, and the phase is
``atan2(im + 1e-10, re + 1e-5)`` so that atan2 is never evaluated at (0, 0). The price is a
bias of about 3e-5 on the magnitude of empty bins; reconstruction error on speech is
of order 1e-6 (see tests/frontend/test_stft.py).

STFTs are computed in float32 (or float64 if given): half precision input is upcast, since
cuFFT only supports half for power-of-two sizes and n_fft=400 is not one.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["mag_pha_stft", "mag_pha_istft", "STFT"]

# MP-SENet's epsilons (see module docstring).
_MAG_EPS = 1e-9
_PHA_EPS_IM = 1e-10
_PHA_EPS_RE = 1e-5


def _check_settings(n_fft: int, hop_length: int, win_length: int, compress_factor: float) -> None:
    for name, v in (("n_fft", n_fft), ("hop_length", hop_length), ("win_length", win_length)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"STFT: {name} must be a positive int, got {v!r}")
    if win_length > n_fft:
        raise ValueError(f"STFT: win_length ({win_length}) must be <= n_fft ({n_fft})")
    if hop_length > win_length:
        raise ValueError(f"STFT: hop_length ({hop_length}) must be <= win_length ({win_length}) "
                         "for the iSTFT to be invertible")
    if not compress_factor > 0:
        raise ValueError(f"STFT: compress_factor must be > 0, got {compress_factor!r}")


def _as_real(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"STFT: {name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"STFT: {name} must be a real floating tensor, got dtype {x.dtype}")
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _window(win_length: int, x: torch.Tensor, window: torch.Tensor | None) -> torch.Tensor:
    """Periodic Hann window (librosa's 'hann') in x's dtype and device.

    A cached window is used only if its dtype already matches; otherwise it is rebuilt in
    float64 and rounded once, so float64 input gets a float64-exact window and a module that
    was cast with ``.half()`` does not degrade the STFT.
    """
    if window is not None and window.dtype == x.dtype:
        return window.to(x.device)
    return torch.hann_window(win_length, dtype=torch.float64, device=x.device).to(x.dtype)


def _stft(wav, n_fft, hop_length, win_length, compress_factor, center, window):
    wav = _as_real(wav, "wav")
    if wav.dim() not in (1, 2):
        raise ValueError(f"STFT: wav must be [T] or [B, T], got shape {tuple(wav.shape)}")
    _check_settings(n_fft, hop_length, win_length, compress_factor)
    T = wav.shape[-1]
    if center and T <= n_fft // 2:
        raise ValueError(f"STFT: wav has {T} samples; reflect padding with center=True needs "
                         f"more than n_fft//2 = {n_fft // 2}")
    if not center and T < n_fft:
        raise ValueError(f"STFT: wav has {T} samples; center=False needs at least n_fft = {n_fft}")
    spec = torch.stft(wav, n_fft, hop_length=hop_length, win_length=win_length,
                      window=_window(win_length, wav, window), center=center, pad_mode="reflect",
                      normalized=False, onesided=True, return_complex=True)
    re, im = spec.real, spec.imag
    mag = torch.sqrt(re.square() + im.square() + _MAG_EPS)
    pha = torch.atan2(im + _PHA_EPS_IM, re + _PHA_EPS_RE)
    mag = mag.pow(compress_factor)
    com = torch.stack((mag * torch.cos(pha), mag * torch.sin(pha)), dim=-1)
    return mag, pha, com


def _istft(mag, pha, n_fft, hop_length, win_length, compress_factor, center, length, window):
    mag = _as_real(mag, "mag")
    pha = _as_real(pha, "pha")
    if mag.shape != pha.shape:
        raise ValueError(f"iSTFT: mag {tuple(mag.shape)} and pha {tuple(pha.shape)} must have "
                         "the same shape")
    if mag.dim() not in (2, 3):
        raise ValueError(f"iSTFT: mag/pha must be [F, frames] or [B, F, frames], got "
                         f"{tuple(mag.shape)}")
    _check_settings(n_fft, hop_length, win_length, compress_factor)
    if mag.shape[-2] != n_fft // 2 + 1:
        raise ValueError(f"iSTFT: mag/pha have {mag.shape[-2]} frequency bins, expected "
                         f"n_fft//2+1 = {n_fft // 2 + 1} for n_fft={n_fft}")
    if length is not None and (not isinstance(length, int) or length < 1):
        raise ValueError(f"iSTFT: length must be a positive int or None, got {length!r}")
    dtype = torch.promote_types(mag.dtype, pha.dtype)
    mag, pha = mag.to(dtype), pha.to(dtype)
    mag = mag.pow(1.0 / compress_factor)
    spec = torch.complex(mag * torch.cos(pha), mag * torch.sin(pha))
    return torch.istft(spec, n_fft, hop_length=hop_length, win_length=win_length,
                       window=_window(win_length, mag, window), center=center,
                       normalized=False, onesided=True, length=length, return_complex=False)


def mag_pha_stft(wav: torch.Tensor, n_fft: int = 400, hop_length: int = 100,
                 win_length: int = 400, compress_factor: float = 0.3, center: bool = True):
    """Compressed magnitude, phase and compressed complex spectrum of ``wav``.

    Args:
        wav: ``[B, T]`` or ``[T]`` real waveform.
        n_fft, hop_length, win_length: STFT sizes in samples (Hann window of win_length,
            zero-padded to n_fft).
        compress_factor: c in ``|Y| ** c``; 1.0 gives the plain magnitude.
        center: pad ``n_fft // 2`` samples on both sides by reflection, so frame t is
            centred at ``t * hop_length``; frames = ``1 + T // hop_length``. Without centring,
            frames = ``1 + (T - n_fft) // hop_length``.

    Returns:
        ``(mag, pha, com)``: mag ``[B, F, frames]`` (compressed), pha ``[B, F, frames]`` in
        (-pi, pi], com ``[B, F, frames, 2]`` = (mag cos pha, mag sin pha); F = n_fft//2 + 1.
        A ``[T]`` input gives outputs without the batch axis.
    """
    return _stft(wav, n_fft, hop_length, win_length, compress_factor, center, None)


def mag_pha_istft(mag: torch.Tensor, pha: torch.Tensor, n_fft: int = 400, hop_length: int = 100,
                  win_length: int = 400, compress_factor: float = 0.3, center: bool = True,
                  length: int | None = None) -> torch.Tensor:
    """Waveform from compressed magnitude and phase (inverse of :func:`mag_pha_stft`).

    Args:
        mag: ``[B, F, frames]`` or ``[F, frames]`` compressed magnitude, ``|Y| ** c``.
        pha: phase, same shape as ``mag``.
        length: trim or zero-pad the output to this many samples (pass the input length to
            undo :func:`mag_pha_stft` exactly); default ``hop_length * (frames - 1)`` when
            centred.

    Returns:
        ``[B, T]`` (or ``[T]`` for unbatched input) waveform, by windowed overlap-add
        (least-squares inverse, Griffin & Lim 1984).
    """
    return _istft(mag, pha, n_fft, hop_length, win_length, compress_factor, center, length, None)


class STFT(nn.Module):
    """MP-SENet's compressed magnitude/phase STFT as a module, holding its settings.

    The Hann window is a non-persistent buffer: it follows ``.to(device)`` and is not saved
    in state dicts. ``forward(wav)`` returns ``(mag, pha, com)`` as :func:`mag_pha_stft`;
    ``inverse(mag, pha, length=None)`` as :func:`mag_pha_istft`.
    """

    def __init__(self, n_fft: int = 400, hop_length: int = 100, win_length: int = 400,
                 compress_factor: float = 0.3, center: bool = True):
        super().__init__()
        _check_settings(n_fft, hop_length, win_length, compress_factor)
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        self.compress_factor, self.center = compress_factor, center
        self.register_buffer("window", torch.hann_window(win_length, dtype=torch.float64).float(),
                             persistent=False)

    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a waveform of ``num_samples`` samples."""
        if self.center:
            return 1 + num_samples // self.hop_length
        return 1 + (num_samples - self.n_fft) // self.hop_length

    def forward(self, wav: torch.Tensor):
        return _stft(wav, self.n_fft, self.hop_length, self.win_length, self.compress_factor,
                     self.center, self.window)

    def inverse(self, mag: torch.Tensor, pha: torch.Tensor, length: int | None = None):
        return _istft(mag, pha, self.n_fft, self.hop_length, self.win_length,
                      self.compress_factor, self.center, length, self.window)

    def extra_repr(self) -> str:
        return (f"n_fft={self.n_fft}, hop_length={self.hop_length}, win_length={self.win_length}, "
                f"compress_factor={self.compress_factor}, center={self.center}")
