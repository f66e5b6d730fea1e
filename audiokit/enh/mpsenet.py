"""MP-SENet: parallel denoising of magnitude and phase spectra.

Lu, Ai & Ling, "MP-SENet: A Speech Enhancement Model with Parallel Denoising of Magnitude and
Phase Spectra", Interspeech 2023 (Sec. 2, Fig. 1), extended in "Explicit Estimation of
Magnitude and Phase Spectra in Parallel for High-Quality Speech Enhancement",
arXiv:2308.08926 (Sec. 3).

Signal flow (shapes for the 16 kHz defaults, F = n_fft/2 + 1 = 201 bins, T frames)::

    noisy (Y_m^c, Y_p) [B, F, T] x2 --stack--> [B, 2, T, F]
      DenseEncoder        1x1 conv -> dilated DenseBlock -> (1,3)/stride-2 conv  -> [B, C, T, F']
      TSConformerBlock xN conformer over time, then over frequency (residual)    -> [B, C, T, F']
      MaskDecoder         DenseBlock -> (1,3)/stride-2 transposed conv -> learnable sigmoid
                          mask M in (0, beta); X_m^c = Y_m^c * M                  -> [B, F, T]
      PhaseDecoder        DenseBlock -> transposed conv -> two parallel 1x1 convs (R, I);
                          X_p = atan2(I, R) ("parallel phase estimation")        -> [B, F, T]
      X_c = (X_m^c cos X_p, X_m^c sin X_p)                                        -> [B, F, T, 2]

Defaults are the paper's configuration (C = dense_channel = 64, 4 TS-Conformer blocks with 4
heads, FFN x4, conv kernel 31, dropout 0.2, beta = 2, n_fft 400 / hop 100 / win 400,
compression 0.3): 2.05 M parameters, as published. Published anchors on VoiceBank+DEMAND:
PESQ 3.50 (Interspeech 2023); the journal version reports 3.60 with longer training and a
TF-Transformer (GRU feed-forward) backbone, which is not this module.

A smaller configuration of the same model (e.g. ``dense_channel=16, num_tsblocks=2``) is
what the CPU tests and the mini recipe train.

Deviation from the public code, on purpose: its ``nn.MultiheadAttention`` is built with
``batch_first=False`` but fed ``[B*F, T, C]``, so it attends across the batch-times-frequency
axis instead of time (yxlu-0102/MP-SENet issue #21). Here attention runs along time, then
frequency, as the paper describes. The parameter count is the same.

The encoder, TS block and decoders are separate modules so other models (MambAttention)
reuse them.
"""

from __future__ import annotations

import torch
from torch import nn

from audiokit.frontend.stft import STFT
from audiokit.nn.conformer import ConformerBlock

__all__ = ["LearnableSigmoid", "DenseBlock", "DenseEncoder", "TSConformerBlock", "MaskDecoder",
           "PhaseDecoder", "MPSENet"]

# Keeps atan2 away from (0, 0), where its gradient is 0/0 (same offsets as the STFT front-end).
_ATAN_EPS_IM = 1e-10
_ATAN_EPS_RE = 1e-5


class LearnableSigmoid(nn.Module):
    """``beta * sigmoid(slope * x)`` with one trainable slope per feature (MP-SENet Sec. 2.3).

    ``slope`` has shape ``[num_features, 1]`` and broadcasts over ``[..., num_features, L]``;
    with ``num_features=1`` it acts on any shape. Initialised to 1 (a plain scaled sigmoid).
    beta > 1 lets the magnitude mask exceed 1, which the paper found helpful (beta = 2).
    """

    def __init__(self, num_features: int, beta: float = 1.0):
        super().__init__()
        self.beta = float(beta)
        self.slope = nn.Parameter(torch.ones(num_features, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        slope = self.slope if x.dim() >= 2 else self.slope.view(-1)
        return self.beta * torch.sigmoid(slope * x)


def _conv_norm_act(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.InstanceNorm2d(channels, affine=True), nn.PReLU(channels))


class DenseBlock(nn.Module):
    """Dilated DenseNet on ``[B, C, T, F]`` (MP-SENet Sec. 2.2).

    Layer i (0-based) sees the concatenation of the block input and all earlier outputs
    (``C * (i + 1)`` channels) and applies a ``kernel_size`` conv dilated by ``2**i`` along
    time, then InstanceNorm and PReLU. Output: the last layer's ``C`` channels.
    """

    def __init__(self, channels: int, depth: int = 4, kernel_size: tuple[int, int] = (3, 3)):
        super().__init__()
        kt, kf = kernel_size
        self.layers = nn.ModuleList(
            _conv_norm_act(nn.Conv2d(channels * (i + 1), channels, kernel_size,
                                     dilation=(2 ** i, 1),
                                     padding=((kt - 1) * 2 ** i // 2, (kf - 1) // 2)), channels)
            for i in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x
        for layer in self.layers:
            x = layer(skip)
            skip = torch.cat([x, skip], dim=1)
        return x


class DenseEncoder(nn.Module):
    """``[B, in_channels, T, F] -> [B, C, T, (F - 3) // 2 + 1]``: 1x1 conv, DenseBlock, and a
    (1, 3) conv with stride 2 along frequency (MP-SENet Sec. 2.2)."""

    def __init__(self, in_channels: int = 2, channels: int = 64, depth: int = 4):
        super().__init__()
        self.conv_in = _conv_norm_act(nn.Conv2d(in_channels, channels, 1), channels)
        self.dense = DenseBlock(channels, depth)
        self.conv_out = _conv_norm_act(nn.Conv2d(channels, channels, (1, 3), (1, 2)), channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.dense(self.conv_in(x)))


def _upsample_freq(channels: int, n_freqs: int) -> nn.ConvTranspose2d:
    # Inverse of the encoder's (1, 3)/2 conv; output_padding restores an even bin count.
    return nn.ConvTranspose2d(channels, channels, (1, 3), (1, 2),
                              output_padding=(0, 1 - n_freqs % 2))


class TSConformerBlock(nn.Module):
    """Two-stage conformer on ``[B, C, T, F]``: a conformer along time for every frequency
    bin, then one along frequency for every frame, each with an outer residual
    (MP-SENet Sec. 2.2, "TS-Conformer")."""

    def __init__(self, channels: int = 64, num_heads: int = 4, ff_mult: int = 4,
                 conv_kernel_size: int = 31, dropout: float = 0.2):
        super().__init__()
        kw = dict(num_heads=num_heads, ff_mult=ff_mult, conv_kernel_size=conv_kernel_size,
                  ff_dropout=dropout, attn_dropout=dropout)
        self.time = ConformerBlock(channels, **kw)
        self.freq = ConformerBlock(channels, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, f = x.shape
        x = x.permute(0, 3, 2, 1).reshape(b * f, t, c)
        x = self.time(x) + x
        x = x.view(b, f, t, c).transpose(1, 2).reshape(b * t, f, c)
        x = self.freq(x) + x
        return x.view(b, t, f, c).permute(0, 3, 1, 2)


class MaskDecoder(nn.Module):
    """``[B, C, T, F'] -> [B, F, T]`` magnitude mask in (0, beta) (MP-SENet Sec. 2.3):
    DenseBlock, transposed conv back to F bins, 1x1 conv to one channel with
    InstanceNorm/PReLU, 1x1 conv, and a learnable sigmoid with one slope per bin."""

    def __init__(self, channels: int = 64, n_freqs: int = 201, beta: float = 2.0, depth: int = 4):
        super().__init__()
        self.dense = DenseBlock(channels, depth)
        self.up = _upsample_freq(channels, n_freqs)
        self.proj = nn.Sequential(_conv_norm_act(nn.Conv2d(channels, 1, 1), 1), nn.Conv2d(1, 1, 1))
        self.lsigmoid = LearnableSigmoid(n_freqs, beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(self.up(self.dense(x)))[:, 0]               # [B, T, F]
        return self.lsigmoid(x.transpose(1, 2).float())           # fp32 under AMP


class PhaseDecoder(nn.Module):
    """``[B, C, T, F'] -> [B, F, T]`` wrapped phase in (-pi, pi] (MP-SENet Sec. 2.3):
    DenseBlock, transposed conv with InstanceNorm/PReLU, then two parallel 1x1 convs give the
    pseudo real part R and pseudo imaginary part I, and the phase is atan2(I, R)."""

    def __init__(self, channels: int = 64, n_freqs: int = 201, depth: int = 4):
        super().__init__()
        self.dense = DenseBlock(channels, depth)
        self.up = _conv_norm_act(_upsample_freq(channels, n_freqs), channels)
        self.real = nn.Conv2d(channels, 1, 1)
        self.imag = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.up(self.dense(x))
        re = self.real(x)[:, 0].float()                           # phase maths in fp32
        im = self.imag(x)[:, 0].float()
        return torch.atan2(im + _ATAN_EPS_IM, re + _ATAN_EPS_RE).transpose(1, 2)


class MPSENet(nn.Module):
    """MP-SENet generator (see the module docstring for the architecture).

    Args:
        dense_channel: channels C of the encoder, TS blocks and decoders (64 in the paper).
        num_tsblocks: number of TS-Conformer blocks (4).
        n_fft, hop_length, win_length, compress_factor: the STFT front-end
            (:mod:`audiokit.frontend.stft`), 400 / 100 / 400 / 0.3 at 16 kHz.
        beta: upper bound of the learnable-sigmoid magnitude mask (2.0).
        num_heads, ff_mult, conv_kernel_size, dropout: conformer settings (4, 4, 31, 0.2).
        dense_depth: layers per dilated DenseBlock (4).
        sample_rate: rate the model is trained for; :meth:`enhance` expects it.

    ``forward(noisy_mag, noisy_pha)`` maps compressed magnitude and phase ``[B, F, T]`` to
    ``(mag [B, F, T], pha [B, F, T], com [B, F, T, 2])``; ``enhance(wav)`` does the whole
    waveform-to-waveform path.
    """

    def __init__(self, dense_channel: int = 64, num_tsblocks: int = 4, n_fft: int = 400,
                 hop_length: int = 100, win_length: int = 400, compress_factor: float = 0.3,
                 beta: float = 2.0, num_heads: int = 4, dense_depth: int = 4, ff_mult: int = 4,
                 conv_kernel_size: int = 31, dropout: float = 0.2, sample_rate: int = 16000):
        super().__init__()
        for name, v in (("dense_channel", dense_channel), ("num_tsblocks", num_tsblocks),
                        ("num_heads", num_heads), ("dense_depth", dense_depth),
                        ("sample_rate", sample_rate)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"MPSENet: {name} must be a positive int, got {v!r}")
        if dense_channel % num_heads:
            raise ValueError(f"MPSENet: dense_channel ({dense_channel}) must be divisible by "
                             f"num_heads ({num_heads})")
        if not beta > 0:
            raise ValueError(f"MPSENet: beta must be > 0, got {beta!r}")
        self.sample_rate = sample_rate
        self.stft = STFT(n_fft, hop_length, win_length, compress_factor)
        self.n_freqs = n_fft // 2 + 1
        if self.n_freqs < 3:
            raise ValueError(f"MPSENet: n_fft={n_fft} gives fewer than 3 frequency bins")
        self.encoder = DenseEncoder(2, dense_channel, dense_depth)
        self.blocks = nn.ModuleList(
            TSConformerBlock(dense_channel, num_heads, ff_mult, conv_kernel_size, dropout)
            for _ in range(num_tsblocks))
        self.mask_decoder = MaskDecoder(dense_channel, self.n_freqs, beta, dense_depth)
        self.phase_decoder = PhaseDecoder(dense_channel, self.n_freqs, dense_depth)

    def forward(self, noisy_mag: torch.Tensor, noisy_pha: torch.Tensor):
        if noisy_mag.dim() != 3 or noisy_mag.shape != noisy_pha.shape:
            raise ValueError(f"MPSENet: noisy_mag and noisy_pha must both be [B, F, T], got "
                             f"{tuple(noisy_mag.shape)} and {tuple(noisy_pha.shape)}")
        if noisy_mag.shape[1] != self.n_freqs:
            raise ValueError(f"MPSENet: expected {self.n_freqs} frequency bins "
                             f"(n_fft={self.stft.n_fft}), got {noisy_mag.shape[1]}")
        x = torch.stack((noisy_mag, noisy_pha), dim=1).transpose(2, 3)  # [B, 2, T, F]
        x = self.encoder(x)
        for block in self.blocks:
            x = block(x)
        mag = noisy_mag.float() * self.mask_decoder(x)
        pha = self.phase_decoder(x)
        com = torch.stack((mag * torch.cos(pha), mag * torch.sin(pha)), dim=-1)
        return mag, pha, com

    @torch.no_grad()
    def enhance(self, wav: torch.Tensor) -> torch.Tensor:
        """Enhance ``[T]`` or ``[B, T]`` audio at ``self.sample_rate``; same shape out.

        As in MP-SENet's inference, each signal is scaled to unit RMS
        (``norm = sqrt(T / sum(x^2))``) before the STFT and scaled back afterwards, since the
        model was trained on RMS-normalised input. Signals shorter than ``n_fft`` are
        zero-padded for the STFT and trimmed back.
        """
        if not isinstance(wav, torch.Tensor) or wav.dim() not in (1, 2) or wav.shape[-1] == 0:
            raise ValueError("MPSENet.enhance: wav must be a non-empty [T] or [B, T] tensor, got "
                             f"{getattr(wav, 'shape', type(wav).__name__)}")
        squeeze = wav.dim() == 1
        device = next(self.parameters()).device
        x = (wav[None] if squeeze else wav).to(device=device, dtype=torch.float32)
        length = x.shape[-1]
        rms = x.square().mean(dim=-1, keepdim=True).sqrt().clamp_min(1e-8)
        x = x / rms
        if length < self.stft.n_fft:
            x = nn.functional.pad(x, (0, self.stft.n_fft - length))
        mag, pha, _ = self.stft(x)
        mag, pha, _ = self(mag, pha)
        y = self.stft.inverse(mag, pha, length=x.shape[-1])[..., :length] * rms
        return y[0] if squeeze else y
