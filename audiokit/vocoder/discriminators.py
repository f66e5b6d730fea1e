"""GAN discriminators for vocoders: one home for each, shared by HiFi-GAN and PeriodWave-Turbo.

- :class:`MultiPeriodDiscriminator` (MPD) and :class:`MultiScaleDiscriminator` (MSD):
  J. Kong, J. Kim, J. Bae, "HiFi-GAN: Generative Adversarial Networks for Efficient and
  High Fidelity Speech Synthesis", NeurIPS 2020, Sec. 2.2-2.3 and Appendix A.
- :class:`MultiScaleSubbandCQTDiscriminator` (MS-SB-CQTD): Y. Gu, X. Zhang, L. Xue,
  Z. Wu, "Multi-Scale Sub-Band Constant-Q Transform Discriminator for High-Fidelity
  Vocoder", ICASSP 2024, Sec. 2 (hop lengths 512/256/256, 9 octaves, 24/36/48 bins per
  octave, as BigVGAN-v2 and PeriodWave-Turbo use it). The CQT is :class:`ConstantQTransform`.

Common interface (HiFi-GAN's): every discriminator's ``forward(y, y_hat)`` takes the real
and generated waveforms ``[B, 1, T]`` (or ``[B, T]``) and returns
``(real_scores, fake_scores, real_feats, fake_feats)``: one score tensor ``[B, N_k]`` per
sub-discriminator k, and per sub-discriminator the list of its hidden activations
(feature maps for the feature-matching loss). Real and fake go through the network in
one batch (there is no batch norm, so this equals two calls).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

__all__ = ["Discriminator", "DiscriminatorP", "MultiPeriodDiscriminator", "DiscriminatorS",
           "MultiScaleDiscriminator", "ConstantQTransform", "DiscriminatorCQT",
           "MultiScaleSubbandCQTDiscriminator"]

LRELU_SLOPE = 0.1  # HiFi-GAN and MS-SB-CQTD


def _as_batch_channel(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"{name} must be a floating torch.Tensor [B, 1, T] or [B, T]")
    if x.dim() == 2:
        x = x.unsqueeze(1)
    if x.dim() != 3 or x.shape[1] != 1:
        raise ValueError(f"{name} must be [B, 1, T] or [B, T], got shape {tuple(x.shape)}")
    return x


class Discriminator(nn.Module):
    """Base class: a list of sub-discriminators ``self.discriminators``, each mapping
    ``[B, 1, T]`` to ``(score [B, N], features list[Tensor])``."""

    discriminators: nn.ModuleList

    def forward(self, y: torch.Tensor, y_hat: torch.Tensor):
        y, y_hat = _as_batch_channel(y, "y"), _as_batch_channel(y_hat, "y_hat")
        if y.shape != y_hat.shape:
            raise ValueError(f"y and y_hat must have the same shape, got {tuple(y.shape)} "
                             f"and {tuple(y_hat.shape)}")
        b = y.shape[0]
        both = torch.cat([y, y_hat], dim=0)
        real_scores, fake_scores, real_feats, fake_feats = [], [], [], []
        for d in self.discriminators:
            score, feats = d(both)
            real_scores.append(score[:b])
            fake_scores.append(score[b:])
            real_feats.append([f[:b] for f in feats])
            fake_feats.append([f[b:] for f in feats])
        return real_scores, fake_scores, real_feats, fake_feats


# ----------------------------------------------------------------------------- MPD

MPD_CHANNELS = (32, 128, 512, 1024)  # HiFi-GAN Appendix A (Fig. 2b): the strided convs
MSD_CHANNELS = (128, 128, 256, 512, 1024, 1024, 1024)  # MelGAN / HiFi-GAN MSD conv widths
MSD_GROUPS = (1, 4, 16, 16, 16, 16, 1)


def _channel_list(channels, n: int, who: str) -> tuple[int, ...]:
    chans = tuple(int(c) for c in channels)
    if len(chans) != n or any(c < 1 for c in chans):
        raise ValueError(f"{who}: channels must be {n} positive ints, got {list(channels)!r}")
    return chans


class DiscriminatorP(nn.Module):
    """One period-p discriminator: the waveform reshaped to ``[B, 1, T/p, p]`` (reflect-padded
    to a multiple of p), 2-D convolutions with kernel (5, 1) and stride (3, 1) along time.

    ``channels`` are the widths of the four strided convs; the fifth (stride 1) keeps the
    last width. The default is the published (32, 128, 512, 1024); narrower lists give the
    same network at a lower cost (CPU runs)."""

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3,
                 channels=MPD_CHANNELS):
        super().__init__()
        if not isinstance(period, int) or period < 1:
            raise ValueError(f"DiscriminatorP: period must be a positive int, got {period!r}")
        self.period = period
        pad = (kernel_size - 1) // 2
        chans = (1, *_channel_list(channels, 4, "DiscriminatorP"))
        convs = [weight_norm(nn.Conv2d(cin, cout, (kernel_size, 1), (stride, 1), (pad, 0)))
                 for cin, cout in zip(chans[:-1], chans[1:])]
        convs.append(weight_norm(nn.Conv2d(chans[-1], chans[-1], (kernel_size, 1), 1, (pad, 0))))
        self.convs = nn.ModuleList(convs)
        self.conv_post = weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), 1, (1, 0)))

    def forward(self, x: torch.Tensor):
        b, c, t = x.shape
        if t % self.period:
            x = F.pad(x, (0, self.period - t % self.period), mode="reflect")
        x = x.view(b, c, -1, self.period)
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            feats.append(x)
        x = self.conv_post(x)
        feats.append(x)
        return torch.flatten(x, 1), feats


class MultiPeriodDiscriminator(Discriminator):
    """HiFi-GAN MPD: one :class:`DiscriminatorP` per period (2, 3, 5, 7, 11: primes, so the
    sub-discriminators see disjoint periodic structure)."""

    def __init__(self, periods=(2, 3, 5, 7, 11), channels=MPD_CHANNELS):
        super().__init__()
        self.periods = tuple(int(p) for p in periods)
        self.discriminators = nn.ModuleList(DiscriminatorP(p, channels=channels)
                                            for p in self.periods)


# ----------------------------------------------------------------------------- MSD

class DiscriminatorS(nn.Module):
    """One MelGAN-style scale discriminator (grouped strided 1-D convolutions).

    ``channels`` are the widths of its seven convs (published: 128, 128, 256, 512, 1024,
    1024, 1024) and ``groups`` their group counts (published: 1, 4, 16, 16, 16, 16, 1);
    each group count must divide the conv's input and output widths."""

    def __init__(self, use_spectral_norm: bool = False, channels=MSD_CHANNELS,
                 groups=MSD_GROUPS):
        super().__init__()
        norm = spectral_norm if use_spectral_norm else weight_norm
        outs = _channel_list(channels, 7, "DiscriminatorS")
        groups = _channel_list(groups, 7, "DiscriminatorS groups")
        ins = (1, *outs[:-1])
        for i, o, g in zip(ins, outs, groups):
            if i % g or o % g:
                raise ValueError(f"DiscriminatorS: groups {g} must divide the conv widths "
                                 f"{i} -> {o} (channels {list(outs)}, groups {list(groups)})")
        # (kernel, stride, padding), HiFi-GAN Appendix A / MelGAN.
        shape = [(15, 1, 7), (41, 2, 20), (41, 2, 20), (41, 4, 20), (41, 4, 20), (41, 1, 20),
                 (5, 1, 2)]
        self.convs = nn.ModuleList(norm(nn.Conv1d(i, o, k, s, groups=g, padding=p))
                                   for i, o, g, (k, s, p) in zip(ins, outs, groups, shape))
        self.conv_post = norm(nn.Conv1d(outs[-1], 1, 3, 1, padding=1))

    def forward(self, x: torch.Tensor):
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            feats.append(x)
        x = self.conv_post(x)
        feats.append(x)
        return torch.flatten(x, 1), feats


class _Pooled(nn.Module):
    """A scale discriminator behind ``n_pools`` 4-tap average poolings (stride 2)."""

    def __init__(self, disc: nn.Module, n_pools: int):
        super().__init__()
        self.disc, self.n_pools = disc, n_pools

    def forward(self, x):
        for _ in range(self.n_pools):
            x = F.avg_pool1d(x, 4, 2, padding=2)
        return self.disc(x)


class MultiScaleDiscriminator(Discriminator):
    """HiFi-GAN MSD: three :class:`DiscriminatorS` on raw, x2- and x4-average-pooled audio;
    the first (raw audio) with spectral norm, the others with weight norm."""

    def __init__(self, n_scales: int = 3, channels=MSD_CHANNELS, groups=MSD_GROUPS):
        super().__init__()
        self.discriminators = nn.ModuleList(
            _Pooled(DiscriminatorS(use_spectral_norm=(i == 0), channels=channels, groups=groups), i)
            for i in range(n_scales))


# ----------------------------------------------------------------------------- CQT

def _lowpass_half_band(taps: int = 129, beta: float = 8.0) -> torch.Tensor:
    """Kaiser-windowed sinc, cutoff at a quarter of the sample rate, unit DC gain (float64)."""
    n = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    h = 0.5 * torch.sinc(0.5 * n) * torch.kaiser_window(taps, periodic=False, beta=beta,
                                                        dtype=torch.float64)
    return h / h.sum()


def _hann(t: torch.Tensor, length: float) -> torch.Tensor:
    """Hann window of real-valued ``length`` centred on t = 0, zero for |t| >= length / 2."""
    return torch.where(t.abs() < length / 2, 0.5 + 0.5 * torch.cos(2 * math.pi * t / length),
                       torch.zeros_like(t))


class ConstantQTransform(nn.Module):
    """Complex constant-Q transform ``[B, T]`` -> ``[B, n_bins, frames, 2]`` (real, imag).

    Bin k has centre frequency ``f_k = fmin * 2^(k / b)`` (b = bins_per_octave), quality
    ``Q = filter_scale / (2^(1/b) - 1)`` and window length ``N_k = Q * sr / f_k``
    (J. C. Brown, "Calculation of a constant Q spectral transform", JASA 89(1), 1991, Eq. 5-6).
    With the Hann window ``w_k(t) = 0.5 + 0.5 cos(2 pi t / N_k)`` for ``|t| < N_k / 2`` (0
    elsewhere) centred on frame m's sample ``m * hop`` (zero padding outside the signal)::

        X[k, m] = sqrt(N_k) / sum_t w_k(t) * sum_t w_k(t) x[m*hop + t] exp(-2 pi i f_k t / sr)

    over integer t (the 1/sum(w) kernel normalisation with the sqrt(N_k) output scale is
    librosa's and nnAudio's default; the window keeps its real-valued length N_k so a
    kernel sampled at half the rate is the same window). As in nnAudio's CQT2010v2 (which the
    MS-SB-CQTD paper uses) the bins are computed octave by octave (Schoerkhuber & Klapuri
    2010): the top octave's kernels run at the full rate, then the signal is low-passed and
    decimated by 2 and the same kernels give the next octave down, so every octave costs
    the same. ``hop`` must therefore be divisible by ``2^(n_octaves - 1)``.
    """

    def __init__(self, sample_rate: int, hop_length: int, n_octaves: int = 9,
                 bins_per_octave: int = 24, fmin: float = 32.70, filter_scale: float = 1.0):
        super().__init__()
        if hop_length % (2 ** (n_octaves - 1)):
            raise ValueError(f"ConstantQTransform: hop_length ({hop_length}) must be divisible "
                             f"by 2^(n_octaves-1) = {2 ** (n_octaves - 1)}")
        top = fmin * 2.0 ** (n_octaves - 1 / bins_per_octave)
        if top >= sample_rate / 2:
            raise ValueError(f"ConstantQTransform: highest bin {top:.0f} Hz is above the Nyquist "
                             f"frequency of {sample_rate} Hz")
        self.sample_rate, self.hop_length = int(sample_rate), int(hop_length)
        self.n_octaves, self.bins_per_octave = int(n_octaves), int(bins_per_octave)
        self.fmin, self.filter_scale = float(fmin), float(filter_scale)
        self.q = filter_scale / (2.0 ** (1.0 / bins_per_octave) - 1.0)
        # Top-octave kernels at the full rate, centred in a common odd-length buffer.
        freqs = fmin * 2.0 ** ((torch.arange(bins_per_octave, dtype=torch.float64)
                                + (n_octaves - 1) * bins_per_octave) / bins_per_octave)
        lengths = self.q * sample_rate / freqs
        half = int(lengths[0].item() // 2)
        t = torch.arange(-half, half + 1, dtype=torch.float64)
        kernels = torch.zeros(bins_per_octave, 2 * half + 1, dtype=torch.complex128)
        for j, (f, n_k) in enumerate(zip(freqs.tolist(), lengths.tolist())):
            w = _hann(t, n_k)
            kernels[j] = w / w.sum() * math.sqrt(n_k) * torch.exp(-2j * math.pi * f * t / sample_rate)
        self.kernel_size = 2 * half + 1
        # conv1d is a correlation, so the kernel is used as is: out = sum_n k[n] x[m*hop+n-c].
        weight = torch.cat([kernels.real, kernels.imag]).unsqueeze(1)  # [2b, 1, size]
        self.register_buffer("weight", weight.float(), persistent=False)
        self.register_buffer("lowpass", _lowpass_half_band().float().view(1, 1, -1),
                             persistent=False)

    @property
    def n_bins(self) -> int:
        return self.n_octaves * self.bins_per_octave

    def frequencies(self) -> torch.Tensor:
        """Centre frequency of every bin, lowest first (Hz, float64)."""
        return self.fmin * 2.0 ** (torch.arange(self.n_bins, dtype=torch.float64)
                                   / self.bins_per_octave)

    def num_frames(self, num_samples: int) -> int:
        return 1 + (num_samples - 1) // self.hop_length

    def _decimate(self, x: torch.Tensor) -> torch.Tensor:
        h = self.lowpass.to(x.dtype)
        return F.conv1d(x, h, stride=2, padding=(h.shape[-1] - 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _as_batch_channel(x, "ConstantQTransform input")
        n_frames = self.num_frames(x.shape[-1])
        w = self.weight.to(x.dtype)
        half, b = self.kernel_size // 2, self.bins_per_octave
        octaves = []
        for o in range(self.n_octaves):  # o = 0 is the top octave
            if o:
                x = self._decimate(x)
            y = F.conv1d(F.pad(x, (half, half)), w, stride=self.hop_length >> o)
            y = y[..., :n_frames]
            if y.shape[-1] < n_frames:
                y = F.pad(y, (0, n_frames - y.shape[-1]))
            # The kernel sums average over 2^o fewer samples; sqrt(N_k) grows by 2^(o/2).
            octaves.append(y * 2.0 ** (o / 2))
        octaves.reverse()  # lowest octave first
        re = torch.cat([y[:, :b] for y in octaves], dim=1)
        im = torch.cat([y[:, b:] for y in octaves], dim=1)
        return torch.stack([re, im], dim=-1)


def _pad2d(kernel, dilation=(1, 1)):
    return ((kernel[0] - 1) * dilation[0] // 2, (kernel[1] - 1) * dilation[1] // 2)


class DiscriminatorCQT(nn.Module):
    """One MS-SB-CQTD scale (Gu et al. 2024, Fig. 1).

    The waveform is resampled to twice its rate (so nine octaves from 32.7 Hz fit under
    Nyquist), transformed by :class:`ConstantQTransform`, the real and imaginary parts
    stacked as 2 channels ``[B, 2, frames, bins]``; each octave's bins get their own
    (3, 9) convolution (the sub-band processing), are concatenated back along frequency,
    then pass a (3, 9) conv, one strided (1, 2) conv per dilation (dilated along time),
    a (3, 3) conv and a (3, 3) output conv; leaky ReLU 0.1 in between.
    """

    def __init__(self, sample_rate: int, hop_length: int, n_octaves: int, bins_per_octave: int,
                 filters: int = 32, max_filters: int = 1024, filters_scale: int = 1,
                 dilations=(1, 2, 4), in_channels: int = 1, out_channels: int = 1,
                 fmin: float = 32.70):
        super().__init__()
        if in_channels != 1:
            raise ValueError("DiscriminatorCQT: only mono input (in_channels=1) is supported")
        self.sample_rate = int(sample_rate)
        self.cqt = ConstantQTransform(2 * sample_rate, hop_length, n_octaves, bins_per_octave,
                                      fmin=fmin)
        k = (3, 9)
        self.conv_pres = nn.ModuleList(nn.Conv2d(2, 2, k, padding=_pad2d(k))
                                       for _ in range(n_octaves))
        convs = [nn.Conv2d(2, filters, k, padding=_pad2d(k))]
        cin = min(filters_scale * filters, max_filters)
        for i, d in enumerate(dilations):
            cout = min(filters_scale ** (i + 1) * filters, max_filters)
            convs.append(weight_norm(nn.Conv2d(cin, cout, k, stride=(1, 2), dilation=(d, 1),
                                               padding=_pad2d(k, (d, 1)))))
            cin = cout
        cout = min(filters_scale ** (len(dilations) + 1) * filters, max_filters)
        convs.append(weight_norm(nn.Conv2d(cin, cout, (3, 3), padding=(1, 1))))
        self.convs = nn.ModuleList(convs)
        self.conv_post = weight_norm(nn.Conv2d(cout, out_channels, (3, 3), padding=(1, 1)))

    def forward(self, x: torch.Tensor):
        import torchaudio.functional as AF

        x = AF.resample(x, self.sample_rate, 2 * self.sample_rate)
        with torch.autocast(device_type=x.device.type, enabled=False):
            z = self.cqt(x.float())                      # [B, bins, frames, 2]
        z = z.permute(0, 3, 2, 1)                        # [B, 2, frames, bins]
        b = self.cqt.bins_per_octave
        z = torch.cat([conv(z[..., i * b:(i + 1) * b]) for i, conv in enumerate(self.conv_pres)],
                      dim=-1)
        feats = []
        for conv in self.convs:
            z = F.leaky_relu(conv(z), LRELU_SLOPE)
            feats.append(z)
        z = self.conv_post(z)
        return torch.flatten(z, 1), feats


class MultiScaleSubbandCQTDiscriminator(Discriminator):
    """MS-SB-CQTD (Gu et al. 2024): three :class:`DiscriminatorCQT` with hop lengths
    (512, 256, 256), 9 octaves each and 24 / 36 / 48 bins per octave (the published and
    BigVGAN-v2 / PeriodWave-Turbo setting). ``sample_rate`` is the waveform's rate."""

    def __init__(self, sample_rate: int = 22050, hop_lengths=(512, 256, 256),
                 n_octaves=(9, 9, 9), bins_per_octaves=(24, 36, 48), filters: int = 32,
                 max_filters: int = 1024, filters_scale: int = 1, dilations=(1, 2, 4),
                 fmin: float = 32.70):
        super().__init__()
        if not len(hop_lengths) == len(n_octaves) == len(bins_per_octaves):
            raise ValueError("MultiScaleSubbandCQTDiscriminator: hop_lengths, n_octaves and "
                             "bins_per_octaves must have the same length")
        self.discriminators = nn.ModuleList(
            DiscriminatorCQT(sample_rate, h, o, b, filters=filters, max_filters=max_filters,
                             filters_scale=filters_scale, dilations=tuple(dilations), fmin=fmin)
            for h, o, b in zip(hop_lengths, n_octaves, bins_per_octaves))
