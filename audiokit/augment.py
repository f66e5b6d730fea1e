"""Additive-noise mixing for enhancement data: fit noise to length, mix at an SNR, avoid clipping.

The SNR is a power ratio (dB) between the clean signal and the scaled noise added to it,

    SNR = 10 log10( sum_t s[t]^2 / sum_t (g n[t])^2 ),   so   g = rms(s) / (rms(n) 10^(SNR/20)).

Two ways to measure the speech power are offered (``level=``):

* ``"whole"`` (default): the power of the whole clean signal, pauses included. It is what
  the mini corpus and the data-preparation scripts use, and it is exactly checkable from
  the written files (noise = noisy - clean).
* ``"active"``: the power over active frames only (20 ms frames whose energy lies within
  ``active_floor_db`` of the loudest frame), a simple stand-in for the ITU-T P.56 active
  speech level used by VoiceBank+DEMAND. For utterances with long pauses it gives a
  higher speech level, hence a louder noise, than ``"whole"``.

After mixing, if the mixture would exceed ``max_peak`` the mixture, the clean and the
noise are scaled by the same factor: the SNR is unchanged and ``noisy == clean + noise``
still holds for the returned signals, so the clean target matches what was mixed.

Functions take and return 1-D ``torch.Tensor`` or ``numpy`` arrays (the input's type is
kept); randomness comes only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

__all__ = ["Mixture", "mix_at_snr", "fit_length", "rms", "active_rms", "snr_db", "scale_to_rms_db"]

_EPS = 1e-12


class Mixture(NamedTuple):
    """Result of :func:`mix_at_snr`; all three have the clean signal's length and ``noisy == clean + noise``."""

    noisy: torch.Tensor | np.ndarray
    clean: torch.Tensor | np.ndarray
    noise: torch.Tensor | np.ndarray
    snr_db: float  # the SNR that was applied
    gain: float  # joint rescale factor applied to avoid clipping (1.0 = none)


def _as_tensor(x, name: str) -> tuple[torch.Tensor, bool]:
    is_np = isinstance(x, np.ndarray)
    t = torch.as_tensor(x, dtype=torch.float32) if is_np else x
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor or numpy array, got {type(x).__name__}")
    if t.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D signal [samples], got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name}: empty signal")
    return t.float(), is_np


def _back(t: torch.Tensor, to_np: bool):
    return t.numpy() if to_np else t


def rms(x) -> float:
    """Root mean square of a signal."""
    t, _ = _as_tensor(x, "signal")
    return float(torch.sqrt(torch.mean(t.double() ** 2)))


def active_rms(x, sample_rate: int = 16000, frame_ms: float = 20.0, active_floor_db: float = 40.0) -> float:
    """RMS over active frames: 20 ms frames within ``active_floor_db`` dB of the loudest frame."""
    t, _ = _as_tensor(x, "signal")
    frame = max(1, int(round(sample_rate * frame_ms / 1000)))
    n = (t.numel() + frame - 1) // frame
    padded = torch.nn.functional.pad(t.double(), (0, n * frame - t.numel()))
    energy = (padded.view(n, frame) ** 2).mean(1)
    peak = energy.max()
    if peak <= 0:
        return 0.0
    active = energy >= peak * 10 ** (-active_floor_db / 10)
    return float(torch.sqrt(energy[active].mean()))


def snr_db(clean, noise) -> float:
    """SNR in dB of ``clean`` against ``noise`` (whole-signal powers)."""
    c, _ = _as_tensor(clean, "clean")
    n, _ = _as_tensor(noise, "noise")
    return float(10 * torch.log10((c.double() ** 2).sum() / ((n.double() ** 2).sum() + _EPS) + _EPS))


def scale_to_rms_db(x, level_db: float):
    """Scale ``x`` so that its RMS is ``level_db`` dB re. full scale (1.0)."""
    t, is_np = _as_tensor(x, "signal")
    r = rms(t)
    if r <= 0:
        raise ValueError("signal is silent (RMS 0); cannot scale it to a level")
    return _back(t * (10 ** (level_db / 20) / r), is_np)


def fit_length(noise, length: int, rng: np.random.Generator | None = None):
    """Loop or crop ``noise`` to ``length`` samples, starting at a random offset.

    A short noise is tiled (its own start follows its end) before cropping, so every
    offset is equally likely and the result never has a gap. ``rng=None`` starts at 0.
    """
    t, is_np = _as_tensor(noise, "noise")
    if length <= 0:
        raise ValueError(f"length must be positive, got {length}")
    n = t.numel()
    offset = int(rng.integers(0, n)) if rng is not None else 0
    reps = (offset + length + n - 1) // n
    out = t.repeat(reps)[offset:offset + length] if reps > 1 else t[offset:offset + length]
    return _back(out.clone(), is_np)


def mix_at_snr(clean, noise, snr_db: float, rng: np.random.Generator | None = None, *,
               level: str = "whole", sample_rate: int = 16000, reference=None,
               max_peak: float = 0.99) -> Mixture:
    """Add ``noise`` to ``clean`` at ``snr_db`` dB.

    Args:
        clean: speech ``[T]``.
        noise: noise of any length; looped or cropped to ``T`` (random offset from ``rng``).
        snr_db: target SNR in dB.
        rng: ``numpy.random.Generator`` for the noise offset (``None``: offset 0).
        level: ``"whole"`` or ``"active"`` speech power (see the module docstring).
        sample_rate: used by ``level="active"`` for its 20 ms frames.
        reference: signal whose power defines the speech level instead of ``clean``
            (e.g. the whole utterance when ``clean`` is a crop that may be silent).
        max_peak: joint rescale threshold; ``None`` disables it.

    Returns:
        :class:`Mixture` ``(noisy, clean, noise, snr_db, gain)``.
    """
    c, is_np = _as_tensor(clean, "clean")
    n, _ = _as_tensor(noise, "noise")
    if not np.isfinite(snr_db):
        raise ValueError(f"snr_db must be finite, got {snr_db}")
    n = fit_length(n, c.numel(), rng)
    ref = c if reference is None else _as_tensor(reference, "reference")[0]
    if level == "whole":
        speech = rms(ref)
    elif level == "active":
        speech = active_rms(ref, sample_rate)
    else:
        raise ValueError(f"level must be 'whole' or 'active', got {level!r}")
    noise_rms = rms(n)
    if speech <= 0:
        raise ValueError("clean signal is silent; the SNR is undefined")
    if noise_rms <= 0:
        raise ValueError("noise is silent (all zeros); cannot scale it to an SNR")
    n = n * float(speech / (noise_rms * 10 ** (snr_db / 20)))
    noisy = c + n
    gain = 1.0
    if max_peak is not None:
        peak = float(noisy.abs().max())
        if peak > max_peak:
            gain = max_peak / peak
            noisy, c, n = noisy * gain, c * gain, n * gain
    return Mixture(_back(noisy, is_np), _back(c, is_np), _back(n, is_np), float(snr_db), gain)
