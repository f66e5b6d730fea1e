"""Matcha-TTS decoder: optimal-transport conditional flow matching with a 1D U-Net estimator.

Mehta et al. 2024, "Matcha-TTS: A fast TTS architecture with conditional flow matching"
(ICASSP). The decoder turns Gaussian noise into a mel spectrogram by integrating a learnt
vector field v(x_t, t | mu) from t = 0 to t = 1, where mu [B, n_mels, T] is the aligned
encoder output (the prior means, one column per frame). Training regresses v onto the OT-CFM
target (Sec. 2.2, Eq. 4 there; the path and target are Lipman et al. 2023, Eqs. 22-23, in
:mod:`audiokit.vocoder.flow_matching`, reused here):

    x_t = (1 - (1 - sigma_min) t) x0 + t x1,   u = x1 - (1 - sigma_min) x0,   x0 ~ N(0, I)
    L_CFM = sum over valid frames of |v(x_t, t | mu) - u|^2 / (frames * n_mels)

with one t ~ U[0, 1] per utterance. Synthesis starts from ``temperature * N(0, I)`` and takes
``steps`` Euler steps (Matcha: 10 steps, temperature 0.667).

The estimator (Matcha Sec. 3, Fig. 1; sizes of the LJSpeech model) is a 1D U-Net over time
with input channels [x_t; mu] (concatenated): per level a ResNet block (Grad-TTS's: two
conv3-GroupNorm-Mish blocks, the GroupNorm here over valid frames only, the time embedding added between them, a 1x1 residual) then
Transformer blocks (pre-LayerNorm self-attention and a feed-forward layer with a SnakeBeta
activation); down-sampling by a stride-2 conv, up-sampling by a transposed conv, skips
concatenated. Channels (256, 256), 2 mid blocks, 1 Transformer block per level, 2 heads of 64,
dropout 0.05. t enters through a sinusoidal embedding of 1000 t and a two-layer SiLU MLP. The
attention is :class:`audiokit.nn.attention.MultiHeadAttention` with its padding mask, so its
kind (softmax as Matcha, or a linear-time one for long inputs) is one config value.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from audiokit.nn.attention import MultiHeadAttention
from audiokit.vocoder.flow_matching import SIGMA_MIN, ot_path, ot_target, solve

__all__ = ["CFMDecoder", "UNet1D", "CONFIGS"]

CONFIGS: dict[str, dict] = {
    # Matcha-TTS LJSpeech decoder (configs/model/decoder/default.yaml of the authors' code).
    "matcha": dict(channels=(256, 256), num_mid_blocks=2, n_blocks=1, heads=2, head_dim=64, dropout=0.05),
    "tiny": dict(channels=(32, 32), num_mid_blocks=1, n_blocks=1, heads=2, head_dim=16, dropout=0.0),
}


class SnakeBeta(nn.Module):
    """Linear(in, out) then x + sin^2(a x) / b with per-channel log-scale a, b (BigVGAN's SnakeBeta)."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out)
        self.log_alpha = nn.Parameter(torch.zeros(dim_out))
        self.log_beta = nn.Parameter(torch.zeros(dim_out))

    def forward(self, x):
        x = self.proj(x)
        return x + torch.sin(x * self.log_alpha.exp()).pow(2) / (self.log_beta.exp() + 1e-9)


class TransformerBlock(nn.Module):
    """x [B, T, C], mask [B, T] bool -> [B, T, C]: pre-norm self-attention + SnakeBeta feed-forward."""

    def __init__(self, dim, heads, head_dim, dropout, attention):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        # No rotary: position reaches the decoder through its convolutions, as in Matcha.
        self.attn = MultiHeadAttention(dim, heads, kind=attention, rotary=False, head_dim=head_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(SnakeBeta(dim, 4 * dim), nn.Dropout(dropout), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask):
        x = x + self.drop(self.attn(self.norm1(x), mask))
        return x + self.drop(self.ff(self.norm2(x)))


class MaskedGroupNorm(nn.GroupNorm):
    """GroupNorm over valid frames only: x [B, C, T], mask [B, 1, T].

    Matcha's GroupNorm also averages the zeroed padding, so an utterance's output would depend
    on how long the others in its batch are; with statistics over its own frames it does not.
    """

    def forward(self, x, mask):
        B, C, T = x.shape
        g = x.reshape(B, self.num_groups, -1, T)
        m = mask[:, None]                                         # [B, 1, 1, T]
        n = m.sum(-1, keepdim=True).clamp_min(1) * g.shape[2]
        mean = (g * m).sum((2, 3), keepdim=True) / n
        var = (((g - mean) * m) ** 2).sum((2, 3), keepdim=True) / n
        g = (g - mean) * torch.rsqrt(var + self.eps)
        return g.reshape(B, C, T) * self.weight[:, None] + self.bias[:, None]


class Block1D(nn.Module):
    def __init__(self, dim, dim_out, groups=8):
        super().__init__()
        self.conv = nn.Conv1d(dim, dim_out, 3, padding=1)
        self.norm = MaskedGroupNorm(groups, dim_out)

    def forward(self, x, mask):
        return F.mish(self.norm(self.conv(x * mask), mask)) * mask


class ResnetBlock1D(nn.Module):
    """x [B, C, T], mask [B, 1, T], t_emb [B, D] -> [B, C_out, T] (Grad-TTS ResnetBlock, 1D)."""

    def __init__(self, dim, dim_out, time_dim):
        super().__init__()
        self.mlp = nn.Sequential(nn.Mish(), nn.Linear(time_dim, dim_out))
        self.block1, self.block2 = Block1D(dim, dim_out), Block1D(dim_out, dim_out)
        self.res = nn.Conv1d(dim, dim_out, 1)

    def forward(self, x, mask, t_emb):
        h = self.block1(x, mask) + self.mlp(t_emb)[..., None]
        return self.block2(h, mask) + self.res(x * mask)


class _Level(nn.Module):
    """ResNet block then Transformer blocks (attention over valid frames only)."""

    def __init__(self, dim_in, dim, time_dim, n_blocks, heads, head_dim, dropout, attention):
        super().__init__()
        self.resnet = ResnetBlock1D(dim_in, dim, time_dim)
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, head_dim, dropout, attention)
                                    for _ in range(n_blocks))

    def forward(self, x, mask, t_emb):
        x = self.resnet(x, mask, t_emb).transpose(1, 2)
        m = mask[:, 0].bool()
        for blk in self.blocks:
            x = blk(x, m)
        return x.transpose(1, 2) * mask


def time_embedding(t: torch.Tensor, dim: int, scale: float = 1000.0) -> torch.Tensor:
    """t [B] in [0, 1] -> [B, dim]: sin/cos of scale * t at geometric frequencies (DDPM's, as Matcha)."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / (half - 1))
    ang = scale * t.float()[:, None] * freq[None]
    return torch.cat([ang.sin(), ang.cos()], -1)


class UNet1D(nn.Module):
    """The vector field estimator v(x, t | mu): x, mu [B, n_mels, T], mask [B, 1, T], t [B] -> [B, n_mels, T].

    T need not be a multiple of the U-Net's down-sampling: inputs are zero-padded (masked) to
    one and the output is cropped back.
    """

    def __init__(self, n_mels: int = 80, channels=(256, 256), num_mid_blocks: int = 2, n_blocks: int = 1,
                 heads: int = 2, head_dim: int = 64, dropout: float = 0.05, attention: str = "softmax"):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if not channels or any(c % 8 for c in channels):
            raise ValueError(f"UNet1D: channels must be non-empty multiples of 8 (GroupNorm(8)), got {channels}")
        in_ch = 2 * n_mels
        self.in_ch, self.multiple = in_ch, 2 ** (len(channels) - 1)
        time_dim = 4 * channels[0]
        self.time_mlp = nn.Sequential(nn.Linear(in_ch, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
        lvl = lambda a, b: _Level(a, b, time_dim, n_blocks, heads, head_dim, dropout, attention)  # noqa: E731
        self.down, self.down_sample = nn.ModuleList(), nn.ModuleList()
        prev = in_ch
        for i, c in enumerate(channels):
            last = i == len(channels) - 1
            self.down.append(lvl(prev, c))
            self.down_sample.append(nn.Conv1d(c, c, 3, padding=1) if last else nn.Conv1d(c, c, 3, 2, 1))
            prev = c
        self.mid = nn.ModuleList(lvl(channels[-1], channels[-1]) for _ in range(num_mid_blocks))
        self.up, self.up_sample = nn.ModuleList(), nn.ModuleList()
        rev = channels[::-1] + (channels[0],)
        for i in range(len(channels)):
            last = i == len(channels) - 1
            self.up.append(lvl(2 * rev[i], rev[i + 1]))
            self.up_sample.append(nn.Conv1d(rev[i + 1], rev[i + 1], 3, padding=1) if last
                                  else nn.ConvTranspose1d(rev[i + 1], rev[i + 1], 4, 2, 1))
        self.final = Block1D(channels[0], channels[0])
        self.proj = nn.Conv1d(channels[0], n_mels, 1)
        self._init()

    def _init(self):
        # Matcha's initialisation: Kaiming-normal (ReLU gain) convs and linears, zero biases.
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x, mask, mu, t):
        T = x.shape[-1]
        pad = -T % self.multiple
        if pad:
            x, mu, mask = (F.pad(a, (0, pad)) for a in (x, mu, mask))
        t = t.reshape(-1).expand(x.shape[0]) if t.numel() == 1 else t
        t_emb = self.time_mlp(time_embedding(t, self.in_ch).to(x.dtype))
        h = torch.cat([x, mu], 1)
        skips, masks = [], [mask]
        for level, down in zip(self.down, self.down_sample):
            m = masks[-1]
            h = level(h, m, t_emb)
            skips.append(h)
            h = down(h * m)
            masks.append(m[:, :, ::2])
        masks.pop()                       # the last level does not down-sample
        for level in self.mid:
            h = level(h, masks[-1], t_emb)
        for level, up in zip(self.up, self.up_sample):
            m = masks.pop()
            h = level(torch.cat([h, skips.pop()], 1), m, t_emb)
            h = up(h * m)
        out = self.proj(self.final(h, mask) * mask) * mask
        return out[..., :T]


class CFMDecoder(nn.Module):
    """OT-CFM around :class:`UNet1D`: :meth:`loss` for training, :meth:`sample` for synthesis.

    Args:
        n_mels: mel channels (x and mu each).
        sigma_min: OT path's final noise level (Matcha/Lipman 1e-4).
        channels, num_mid_blocks, n_blocks, heads, head_dim, dropout, attention: :class:`UNet1D`.
    """

    def __init__(self, n_mels: int = 80, sigma_min: float = SIGMA_MIN, **unet):
        super().__init__()
        self.n_mels, self.sigma_min = n_mels, float(sigma_min)
        self.estimator = UNet1D(n_mels, **unet)

    def loss(self, x1: torch.Tensor, mask: torch.Tensor, mu: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """CFM loss for target x1 [B, n_mels, T] given mu [B, n_mels, T] and mask [B, 1, T] (0/1)."""
        B = x1.shape[0]
        t = torch.rand(B, device=x1.device, dtype=x1.dtype, generator=generator)
        x0 = torch.randn(x1.shape, device=x1.device, dtype=x1.dtype, generator=generator)
        xt = ot_path(x0, x1, t, self.sigma_min)
        v = self.estimator(xt, mask, mu, t)
        err = (v - ot_target(x0, x1, self.sigma_min)) ** 2 * mask
        return err.sum() / (mask.sum() * self.n_mels)

    @torch.no_grad()
    def sample(self, mu: torch.Tensor, mask: torch.Tensor, steps: int = 10, temperature: float = 0.667,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Euler integration from temperature * N(0, I) at t = 0 to t = 1 -> [B, n_mels, T] (masked)."""
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature!r}")
        z = torch.randn(mu.shape, device=mu.device, dtype=mu.dtype, generator=generator) * temperature
        x = solve(lambda x, t: self.estimator(x, mask, mu, t), z, steps, "euler")
        return x * mask
