"""GAN vocoder losses, shared by HiFi-GAN and PeriodWave-Turbo.

HiFi-GAN (Kong et al., NeurIPS 2020, Sec. 2.4): least-squares GAN losses (Eq. 1-2),
mel-spectrogram L1 loss (Eq. 3), feature-matching loss (Eq. 4), combined with
``lambda_fm = 2`` and ``lambda_mel = 45`` (Eq. 5-6). Each sum runs over all
sub-discriminators (Eq. 6). The weights are the functions' defaults, so
``generator_adversarial_loss + feature_matching_loss + mel_l1_loss`` is HiFi-GAN's
generator loss for one discriminator set.

PeriodWave-Turbo (Lee, Choi & Lee 2024, "Accelerating High-Fidelity Waveform Generation
via Adversarial Flow Matching Optimization") follows BigVGAN-v2: the same LSGAN and
feature-matching terms with MPD + MS-SB-CQTD, and :class:`MultiScaleMelLoss` (the
multi-scale mel loss of DAC, Kumar et al. 2023: 7 scales, windows 32..2048, 5..320 mels,
L1 of log10-mel) in place of the single-scale mel loss, weighted 45 (the authors' runs are
named ``msmel_45``; BigVGAN-v2's own configs use 15).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from audiokit.frontend.mel import MelSpectrogram, mel_filterbank

__all__ = ["LAMBDA_FM", "LAMBDA_MEL", "discriminator_loss", "generator_adversarial_loss",
           "feature_matching_loss", "mel_l1_loss", "MultiScaleMelLoss"]

LAMBDA_FM = 2.0    # HiFi-GAN Eq. 5
LAMBDA_MEL = 45.0  # HiFi-GAN Eq. 5; PeriodWave-Turbo's multi-scale mel weight


def _check_lists(name: str, *lists):
    for x in lists:
        if not isinstance(x, (list, tuple)) or not x:
            raise ValueError(f"{name}: expected a non-empty list of tensors (one per "
                             f"sub-discriminator), got {type(x).__name__}")
    if len({len(x) for x in lists}) != 1:
        raise ValueError(f"{name}: lists differ in length: {[len(x) for x in lists]}")


def discriminator_loss(real_scores: Sequence[torch.Tensor],
                       fake_scores: Sequence[torch.Tensor]) -> torch.Tensor:
    """LSGAN discriminator loss (HiFi-GAN Eq. 1, summed over sub-discriminators per Eq. 6):
    ``sum_k mean((D_k(x) - 1)^2) + mean(D_k(G(s))^2)``. Pass fake scores of a detached
    generator output."""
    _check_lists("discriminator_loss", real_scores, fake_scores)
    return sum(torch.mean((1 - r.float()) ** 2) + torch.mean(g.float() ** 2)
               for r, g in zip(real_scores, fake_scores))


def generator_adversarial_loss(fake_scores: Sequence[torch.Tensor]) -> torch.Tensor:
    """LSGAN generator loss (HiFi-GAN Eq. 2): ``sum_k mean((D_k(G(s)) - 1)^2)``."""
    _check_lists("generator_adversarial_loss", fake_scores)
    return sum(torch.mean((1 - g.float()) ** 2) for g in fake_scores)


def feature_matching_loss(real_feats: Sequence[Sequence[torch.Tensor]],
                          fake_feats: Sequence[Sequence[torch.Tensor]],
                          weight: float = LAMBDA_FM) -> torch.Tensor:
    """``weight * sum_k sum_i mean|D_k^i(x) - D_k^i(G(s))|`` (HiFi-GAN Eq. 4: the L1 norm of
    layer i divided by its number of elements N_i). The reference code multiplies by 2
    inside its ``feature_loss`` and adds it with weight 1; ``weight=2`` here is the same."""
    _check_lists("feature_matching_loss", real_feats, fake_feats)
    total = 0.0
    for rs, gs in zip(real_feats, fake_feats):
        _check_lists("feature_matching_loss (layers)", rs, gs)
        for r, g in zip(rs, gs):
            total = total + torch.mean(torch.abs(r.float() - g.float()))
    return weight * total


def mel_l1_loss(y: torch.Tensor, y_hat: torch.Tensor, mel: MelSpectrogram,
                weight: float = LAMBDA_MEL) -> torch.Tensor:
    """``weight * mean|mel(y) - mel(y_hat)|`` on log-mels (HiFi-GAN Eq. 3).

    Args:
        y, y_hat: waveforms ``[B, T]`` or ``[B, 1, T]``.
        mel: the log-mel front-end. HiFi-GAN computes this loss on the full band
            (``fmax_for_loss: null``), i.e. ``MelSpectrogram.from_preset("ljspeech_22k",
            fmax=None)``, not on the 8 kHz-limited mel the generator is conditioned on.
    """
    if y.dim() == 3:
        y = y.squeeze(1)
    if y_hat.dim() == 3:
        y_hat = y_hat.squeeze(1)
    if y.shape != y_hat.shape:
        raise ValueError(f"mel_l1_loss: y {tuple(y.shape)} and y_hat {tuple(y_hat.shape)} differ")
    return weight * F.l1_loss(mel(y_hat.float()), mel(y.float()))


class MultiScaleMelLoss(nn.Module):
    """Multi-scale log-mel L1 loss (DAC, Kumar et al. 2023, Sec. 3.4; BigVGAN-v2; PeriodWave-Turbo).

    For each (window w, mels M): centred STFT with a periodic Hann window of w samples,
    n_fft = w, hop w/4; magnitude; Slaney mel filterbank with M bands over [fmin, fmax];
    ``mean|log10(max(mel(y_hat), eps)) - log10(max(mel(y), eps))|``. Returns
    ``weight * sum over scales``.
    """

    def __init__(self, sample_rate: int, window_lengths=(32, 64, 128, 256, 512, 1024, 2048),
                 n_mels=(5, 10, 20, 40, 80, 160, 320), fmin: float = 0.0,
                 fmax: float | None = None, clamp_eps: float = 1e-5,
                 weight: float = LAMBDA_MEL):
        super().__init__()
        if len(window_lengths) != len(n_mels):
            raise ValueError("MultiScaleMelLoss: window_lengths and n_mels must have the same "
                             f"length, got {len(window_lengths)} and {len(n_mels)}")
        self.sample_rate, self.clamp_eps, self.weight = int(sample_rate), clamp_eps, weight
        self.window_lengths = tuple(int(w) for w in window_lengths)
        self.n_mels = tuple(int(m) for m in n_mels)
        for i, (w, m) in enumerate(zip(self.window_lengths, self.n_mels)):
            self.register_buffer(f"basis{i}", mel_filterbank(sample_rate, w, m, fmin, fmax),
                                 persistent=False)
            self.register_buffer(f"window{i}", torch.hann_window(w), persistent=False)

    def forward(self, y: torch.Tensor, y_hat: torch.Tensor) -> torch.Tensor:
        y = y.reshape(-1, y.shape[-1]).float()
        y_hat = y_hat.reshape(-1, y_hat.shape[-1]).float()
        if y.shape != y_hat.shape:
            raise ValueError(f"MultiScaleMelLoss: y {tuple(y.shape)} and y_hat "
                             f"{tuple(y_hat.shape)} differ")
        both = torch.cat([y, y_hat])
        total = 0.0
        for i, w in enumerate(self.window_lengths):
            spec = torch.stft(both, w, hop_length=w // 4, window=getattr(self, f"window{i}"),
                              center=True, pad_mode="reflect", return_complex=True).abs()
            mel = torch.matmul(getattr(self, f"basis{i}"), spec)
            logmel = torch.log10(torch.clamp(mel, min=self.clamp_eps))
            total = total + F.l1_loss(logmel[y.shape[0]:], logmel[:y.shape[0]])
        return self.weight * total
