"""PeriodWave: multi-period conditional flow matching vocoder (mel -> waveform).

Lee, Choi & Lee 2024, "PeriodWave: Multi-Period Flow Matching for High-Fidelity Waveform
Generation" (arXiv 2408.07547). What is implemented, with the paper's sections:

* Conditional flow matching on the OT path with sigma_min = 1e-4 (Sec. 3.1, Eqs. 1-4;
  maths in :mod:`audiokit.vocoder.flow_matching`).
* Energy-based prior (Sec. 3.2, after PriorGrad): the frame energy ``e = sqrt(sum_f exp(mel))``
  min-max normalised with corpus statistics and floored at 0.1 gives a per-sample standard
  deviation ``sigma``; ``x0 ~ N(0, (noise_scale * sigma)^2)`` with noise_scale 0.25, the loss
  is the MSE weighted by ``sigma^-2`` and ``sigma`` (per frame) joins the mel as one more
  input channel.
* Period-aware estimator (Sec. 3.3): for each period p in {1, 2, 3, 5, 7} the waveform is
  reshaped to ``[T/p, p]`` and passed through ONE shared 2D U-Net (strided convolutions
  along time only, 4x per level, three levels) conditioned on time + a learned period
  embedding; the mel enters at the U-Net's middle through a ConvNeXt-V2 encoder upsampled
  to the middle's resolution; the period outputs are summed (scaled by 1/sqrt(P)) and a
  1D residual block stack projects to the waveform's vector field.
* FreeU at inference (Sec. 3.5): in the decoder, backbone features are scaled by
  ``freeu_backbone`` (1.1) and skip features by ``freeu_skip`` (0.9).
* Sampling (Sec. 4): 16 midpoint steps, prior temperature 0.667.

Inference runs the same maths in another layout (:class:`PackedPeriods`): the columns of
every period are laid end to end in one sequence with zero gaps between them, so one U-Net
call serves all periods and everything that does not depend on the ODE step (mel encoder,
prior, reshaping indices, condition maps, the time/period embeddings of every ODE
evaluation) is computed once per utterance. Tests hold it equal to the training layout.
:class:`GraphedGenerate` replays the whole sampler as one CUDA graph for a fixed shape.

Layer sizes follow the authors' public code (periods [1,2,3,5,7], hidden 512 -> "B",
768 with deeper middle/final stacks -> "L"); "S" is hidden 256. Use :data:`CONFIGS`.
Audio is expected peak-normalised (the authors train on ``x / max|x| * 0.95``).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from audiokit.frontend.mel import MelSpectrogram
from audiokit.vocoder import flow_matching as fm

__all__ = ["PeriodWave", "PackedPeriods", "GraphedGenerate", "CONFIGS", "periodify", "unperiodify"]

_UNET_STRIDE = 4   # time stride of each down/up level
_UNET_LEVELS = 3   # strided levels below the input level (incl. the middle) -> 4^3 = 64


# Model sizes (constructor kwargs on top of the mel settings). Params are counted with
# weight normalisation, as the authors count them.
CONFIGS: dict[str, dict] = {
    "tiny": dict(hidden_dim=32, encoder_blocks=1, cond_blocks=1, mid_dilations=(1,),
                 final_dilations=(1,), periods=(1, 2, 3)),
    "S": dict(hidden_dim=256),
    "B": dict(hidden_dim=512),
    "L": dict(hidden_dim=768, mid_dilations=(1, 2, 1, 4), final_dilations=(1, 2, 1, 4)),
}


def periodify(x: torch.Tensor, period: int, multiple: int = 1) -> torch.Tensor:
    """``[B, C, T]`` -> ``[B, C, T'/p, p]``, reflect-padding T to T' = a multiple of ``p * multiple``."""
    t = x.shape[-1]
    n = period * multiple
    pad = (-t) % n
    if pad:
        if pad >= t:  # reflect needs pad < length
            x = F.pad(x, (0, pad))
        else:
            x = F.pad(x, (0, pad), mode="reflect")
    b, c, tp = x.shape
    return x.reshape(b, c, tp // period, period)


def unperiodify(x: torch.Tensor, length: int) -> torch.Tensor:
    """Inverse of :func:`periodify`: ``[B, C, T'/p, p]`` -> ``[B, C, length]``."""
    return x.flatten(-2)[..., :length]


class SinusoidalEmbedding(nn.Module):
    """Transformer sinusoids of ``1000 t`` (t in [0, 1]), as in Grad-TTS / PeriodWave."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / (half - 1))
        arg = 1000.0 * t.float()[:, None] * freqs[None]
        return torch.cat([arg.sin(), arg.cos()], dim=-1)


class GRN(nn.Module):
    """ConvNeXt-V2 global response normalisation over time, on ``[B, T, C]``."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(dim))
        self.beta = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        g = x.norm(p=2, dim=1, keepdim=True)
        n = g / (g.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * n) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    """Woo et al. 2023 (ConvNeXt V2) block in 1D: dwconv7, LN, MLP with GRN, stochastic depth."""

    def __init__(self, dim: int, inner: int, drop_path: float = 0.0):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, inner)
        self.grn = GRN(inner)
        self.pw2 = nn.Linear(inner, dim)
        self.drop_path = drop_path

    def forward(self, x):
        h = self.dwconv(x).transpose(1, 2)
        h = self.pw2(self.grn(F.gelu(self.pw1(self.norm(h))))).transpose(1, 2)
        if self.training and self.drop_path > 0:
            keep = 1.0 - self.drop_path
            h = h * x.new_empty(x.shape[0], 1, 1).bernoulli_(keep) / keep
        return x + h


# The U-Net's 2D convolutions have kernels (k, 1): they run along time (rows of the
# [T/p, p] layout) and never mix columns. They are therefore computed as 1D convolutions
# on the columns folded into the batch, [B * p, C, T/p] - the same maths and parameters,
# and much faster on CPU than (k, 1) conv2d.


class ResBlock(nn.Module):
    """``x + conv(silu(conv_d(silu(x))))`` with kernel 3 along time."""

    def __init__(self, ch: int, dilation: int):
        super().__init__()
        self.c1 = weight_norm(nn.Conv1d(ch, ch, 3, dilation=dilation, padding=dilation))
        self.c2 = weight_norm(nn.Conv1d(ch, ch, 3, padding=1))

    def forward(self, x):
        return x + self.c2(F.silu(self.c1(F.silu(x))))


def _res_stack(ch, dilations):
    return nn.Sequential(*[ResBlock(ch, d) for d in dilations])


def _res_packed(stack, x, pk, level):
    """A residual stack in the packed layout: gaps zeroed before every convolution."""
    for blk in stack:
        h = blk.c1(pk.zero_gaps(F.silu(x), level))
        h = blk.c2(pk.zero_gaps(F.silu(h, inplace=True), level))
        x = h.add_(x)
    return x


class Down(nn.Module):
    """(SiLU) strided conv along time, + time/period embedding, two residual blocks."""

    def __init__(self, cin, cout, kernel, stride, emb_dim, act=True):
        super().__init__()
        self.act = act
        self.conv = weight_norm(nn.Conv1d(cin, cout, kernel, stride, (kernel - 1) // 2, bias=False))
        self.emb = nn.Linear(emb_dim, cout)
        self.res = _res_stack(cout, (1, 2))

    def forward(self, x, emb):
        x = self.conv(F.silu(x) if self.act else x)
        return self.res(x + self.emb(F.silu(emb))[:, :, None])

    def forward_packed(self, x, e, pk, level):
        """``x`` at ``level - 1`` (``level`` for the first, unstrided block) in the packed layout;
        ``e`` [B, P, C] this block's embedding vectors (``self.emb(silu(emb))``, precomputed per t)."""
        x = pk.layout(self.conv(pk.zero_gaps(F.silu(x), level - 1) if self.act else x))
        return _res_packed(self.res, pk.add_per_period(x, e, level), pk, level)


class Middle(nn.Module):
    """Last strided conv; the mel condition is added here (the U-Net's bottleneck)."""

    def __init__(self, cin, cout, kernel, stride, dilations):
        super().__init__()
        self.conv = weight_norm(nn.Conv1d(cin, cout, kernel, stride, (kernel - 1) // 2, bias=False))
        self.res = _res_stack(cout, dilations)

    def forward(self, x, cond):
        x = self.conv(F.silu(x))
        return self.res(x + cond[:, :, : x.shape[-1]])

    def forward_packed(self, x, pk, level):
        x = self.conv(pk.zero_gaps(F.silu(x), level - 1))
        return _res_packed(self.res, x.add_(pk.cond), pk, level)


class Up(nn.Module):
    """Transposed conv x4 along time, FreeU-weighted sum with the skip, embedding, two res blocks."""

    def __init__(self, cin, cout, stride, emb_dim):
        super().__init__()
        self.conv = weight_norm(nn.ConvTranspose1d(cin, cout, 2 * stride, stride, stride // 2, bias=False))
        self.emb = nn.Linear(emb_dim, cout)
        self.res = _res_stack(cout, (1, 2))

    def forward(self, x, skip, emb, s_skip=1.0, s_backbone=1.0):
        x = self.conv(F.silu(x))
        x = s_backbone * x + s_skip * skip + self.emb(F.silu(emb))[:, :, None]
        return self.res(x)

    def forward_packed(self, x, skip, e, pk, level, s_skip=1.0, s_backbone=1.0):
        x = self.conv(pk.zero_gaps(F.silu(x), level + 1))
        if s_backbone != 1.0:
            x.mul_(s_backbone)
        x.add_(skip, alpha=s_skip)
        return _res_packed(self.res, pk.add_per_period(x, e, level), pk, level)


class PeriodUNet(nn.Module):
    """The shared period-conditional 2D U-Net: ``[B, 1, T]`` -> ``[B, H/16, T]`` for one period."""

    def __init__(self, hidden: int, kernel: int, mid_dilations):
        super().__init__()
        s = _UNET_STRIDE
        self.downs = nn.ModuleList([
            Down(1, hidden // 16, 1, 1, hidden, act=False),
            Down(hidden // 16, hidden // 8, kernel, s, hidden),
            Down(hidden // 8, hidden // 4, kernel, s, hidden),
        ])
        self.mid = Middle(hidden // 4, hidden, kernel, s, mid_dilations)
        self.ups = nn.ModuleList([
            Up(hidden, hidden // 4, s, hidden),
            Up(hidden // 4, hidden // 8, s, hidden),
            Up(hidden // 8, hidden // 16, s, hidden),
        ])

    def forward(self, x, period, emb, cond, s_skip=1.0, s_backbone=1.0):
        """x [B, 1, T], emb [B, H], cond [B, H, rows] (shared by the p columns) -> [B, H/16, T]."""
        b, t = x.shape[0], x.shape[-1]
        h = periodify(x, period, _UNET_STRIDE ** _UNET_LEVELS)           # [B, 1, T'/p, p]
        rows = h.shape[2]
        h = h.permute(0, 3, 1, 2).reshape(b * period, 1, rows)           # columns -> batch
        emb = emb.repeat_interleave(period, dim=0)
        cond = cond.repeat_interleave(period, dim=0)
        skips = []
        for down in self.downs:
            h = down(h, emb)
            skips.append(h)
        h = self.mid(h, cond)
        for up in self.ups:
            h = up(h, skips.pop(), emb, s_skip, s_backbone)
        h = h.reshape(b, period, -1, rows).permute(0, 2, 3, 1)            # [B, C, T'/p, p]
        return unperiodify(h, t)

    def block_embeddings(self, emb):
        """``emb`` [..., H] -> each block's projected embedding ``[..., C_block]`` (downs, then ups).

        They depend on t alone, so a sampler computes them once for all its ODE evaluations."""
        e = F.silu(emb)
        return [blk.emb(e) for blk in (*self.downs, *self.ups)]

    def forward_packed(self, x, embs, pk, s_skip=1.0, s_backbone=1.0):
        """All periods at once: ``x`` [1, 1, L] packed (:class:`PackedPeriods`), ``embs`` the
        :meth:`block_embeddings` of an ``[B, P, H]`` embedding."""
        skips = []
        for level, down in enumerate(self.downs):
            x = down.forward_packed(x, embs[level], pk, level)
            skips.append(x)
        x = self.mid.forward_packed(x, pk, _UNET_LEVELS)
        for i, (level, up) in enumerate(zip(range(_UNET_LEVELS - 1, -1, -1), self.ups)):
            x = up.forward_packed(x, skips.pop(), embs[len(self.downs) + i], pk, level, s_skip, s_backbone)
        return x


@functools.lru_cache(maxsize=4)
def _pack_geometry(periods: tuple, batch: int, length: int, gap: int, device: torch.device):
    """Index work of :class:`PackedPeriods`, a function of the shapes only (cached: a fixed-shape
    caller builds it once; vectorised on ``device``, so a cache miss costs a few kernels, not a
    host loop over every sample).

    Returns rows, seg (column + gap), offsets (per period), size L, the gather index
    (packed position -> sample of ``x.flatten()``, or ``batch * length``: a zero) and, per
    U-Net level, the positions of the gaps.
    """
    unit = _UNET_STRIDE ** _UNET_LEVELS
    rows = [math.ceil(length / (p * unit)) * unit for p in periods]
    seg = [r + gap for r in rows]
    spans = [batch * p * s for p, s in zip(periods, seg)]
    offsets = [sum(spans[:i]) for i in range(len(spans))]
    # Plain tensors even under inference_mode: a training-mode caller may index with them.
    with torch.inference_mode(False), torch.no_grad():
        zero = batch * length
        items = torch.arange(batch, device=device)[:, None, None] * length
        parts = []
        for p, r, s in zip(periods, rows, seg):
            # periodify's padded signal: position n = row * p + column; n >= length is its
            # reflect padding (2 (length - 1) - n) or, when the pad is not shorter than the
            # signal, zero padding.
            n = torch.arange(r, device=device)[None, :] * p + torch.arange(p, device=device)[:, None]
            pad = r * p - length
            src = torch.where(n < length, n, 2 * (length - 1) - n if pad < length else -1)
            cols = torch.where(src[None] >= 0, src[None] + items, zero)          # [B, p, rows]
            parts.append(F.pad(cols, (0, s - r), value=zero).reshape(-1))
        index = torch.cat(parts)
        gaps = []
        for level in range(_UNET_LEVELS + 1):
            k = _UNET_STRIDE ** level
            g = [o // k + torch.arange(batch * p, device=device)[:, None] * (s // k) + r // k
                 + torch.arange((s - r) // k, device=device)[None]
                 for p, r, s, o in zip(periods, rows, seg, offsets)]
            gaps.append(torch.cat([x.reshape(-1) for x in g]))
    return rows, seg, offsets, sum(spans), index, gaps


class PackedPeriods:
    """Inference layout of the U-Net input: all periods (and items) in ONE sequence.

    The U-Net convolves each column of the ``[T'/p, p]`` layout on its own (kernels along
    time only), with zero padding at the column's ends. Laying every column of every period
    end to end in one sequence ``[1, C, L]``, each followed by a gap of zeros at least as
    wide as any convolution's padding, gives the same numbers at the column positions: a
    convolution there reads the column and zeros, exactly as in its own padding. Columns
    start at multiples of 64 and gaps are multiples of 64 samples, so every strided level
    keeps the alignment. Gaps fill with garbage after each layer and are zeroed again
    (:meth:`zero_gaps`) before each convolution. Per period (and item), the range of the
    sequence holding its columns gets its embedding (:meth:`add_per_period`) and the
    bottleneck its mel condition (:attr:`cond`, packed once).

    Built once per utterance from the encoder's condition maps; the index work (reflect
    padding of :func:`periodify`, gap positions) is a function of the shapes alone, done on
    the device and cached (:func:`_pack_geometry`), never per ODE step.
    """

    def __init__(self, periods, batch: int, length: int, conds, gap_bottom: int,
                 channels_last: bool = False, which=None):
        unit = _UNET_STRIDE ** _UNET_LEVELS
        self.periods, self.batch, self.length = tuple(periods), batch, length
        self.which = tuple(range(len(self.periods)) if which is None else which)  # embedding rows
        self.channels_last = channels_last
        geo = _pack_geometry(self.periods, batch, length, gap_bottom * unit, conds[0].device)
        self.rows, self.seg, self.offsets, self.size, self.index, self.gaps = geo
        spans = [batch * p * s for p, s in zip(self.periods, self.seg)]
        # The bottleneck condition, shared by the p columns of a period.
        k = unit
        cond = self.layout(conds[0].new_zeros(1, conds[0].shape[1], self.size // k))
        for c, p, r, s, o, n in zip(conds, self.periods, self.rows, self.seg, self.offsets, spans):
            dst = cond[0, :, o // k:(o + n) // k].view(-1, batch, p, s // k)[..., : r // k]
            dst.copy_(c[:, :, : r // k].transpose(0, 1)[:, :, None].expand_as(dst))
        self.cond = cond

    def layout(self, x):
        """``[1, C, L]`` in the memory layout convolutions get (time-major when channels_last)."""
        if not self.channels_last:
            return x
        return x.unsqueeze(2).contiguous(memory_format=torch.channels_last).squeeze(2)

    def pack(self, x):
        """``[B, 1, T]`` -> ``[1, 1, L]`` (zeros in the gaps)."""
        return F.pad(x.reshape(-1), (0, 1))[self.index].view(1, 1, -1)

    def zero_gaps(self, x, level: int):
        return x.index_fill_(-1, self.gaps[level], 0.0)

    def add_per_period(self, x, emb, level: int):
        """``x [1, C, L_level] += emb [B, P, C]``, each period's (item's) vector on its own range."""
        k = _UNET_STRIDE ** level
        for i, p, s, o in zip(self.which, self.periods, self.seg, self.offsets):
            n = self.batch * p * s
            x[0, :, o // k:(o + n) // k].view(x.shape[1], self.batch, -1).add_(emb[:, i].T[:, :, None])
        return x

    def unpack_sum(self, y):
        """``[1, C, L]`` -> ``[B, C, T]``: each period's columns back to time order, summed."""
        b, c = self.batch, y.shape[1]
        out = torch.zeros(b, c, max(r * p for r, p in zip(self.rows, self.periods)), dtype=y.dtype, device=y.device)
        for p, r, s, o in zip(self.periods, self.rows, self.seg, self.offsets):
            cols = y[0, :, o:o + b * p * s].view(c, b, p, s)[..., :r].permute(1, 0, 3, 2)
            out[..., : r * p].view(b, c, r, p).add_(cols)
        return out[..., : self.length]


class MelEncoder(nn.Module):
    """ConvNeXt-V2 mel encoder -> one condition map per period at the U-Net middle's resolution.

    ``[B, n_mels + 1, frames]`` -> list of ``[B, H, >= ceil(frames * up / p)]`` where the
    transposed conv upsamples frames by ``up = hop / 64`` (one vector per 64 samples).
    """

    def __init__(self, n_in, hidden, periods, up, encoder_blocks, cond_blocks, drop_path):
        super().__init__()
        self.embed = nn.Conv1d(n_in, hidden, 7, padding=3)
        self.blocks = nn.Sequential(*[ConvNeXtV2Block(hidden, 3 * hidden, drop_path) for _ in range(encoder_blocks)])
        self.up = weight_norm(nn.ConvTranspose1d(hidden, hidden // 2, 2 * up, up, padding=up // 2)) if up > 1 \
            else weight_norm(nn.Conv1d(hidden, hidden // 2, 1))
        self.cond = nn.Sequential(*[ConvNeXtV2Block(hidden // 2, 2 * hidden, drop_path) for _ in range(cond_blocks)])
        self.periods = tuple(periods)
        # Per-period projection: stride p along time matches the 2D layout [T/p, p].
        self.proj = nn.ModuleList([
            weight_norm(nn.Conv1d(hidden // 2, hidden, 2 * p, p, p - 1)) for p in periods])

    def forward(self, mel):
        x = self.embed(mel)
        x = self.blocks(x) + x
        x = self.cond(self.up(F.silu(x)))
        x = F.silu(x)                                   # [B, H/2, frames * up]
        conds = []
        for p, proj in zip(self.periods, self.proj):
            pad = p - x.shape[-1] % p                   # >= 1 so the strided conv covers the end
            xp = F.pad(x, (0, pad), mode="reflect" if pad < x.shape[-1] else "replicate")
            conds.append(proj(xp))
        return conds


class PeriodWave(nn.Module):
    """PeriodWave vocoder. See the module docstring for the method and :data:`CONFIGS` for sizes.

    Args (all plain numbers, recorded in ``config.yaml``):
        sample_rate, n_fft, hop_length, win_length, n_mels, fmin, fmax: the mel the model
            consumes (:class:`~audiokit.frontend.mel.MelSpectrogram`); ``hop_length`` must be a
            multiple of 64 (the U-Net's total stride).
        periods: reshaping periods of the shared U-Net.
        hidden_dim: width H of the U-Net bottleneck and mel encoder; U-Net channels are
            H/16, H/8, H/4, H from top to bottom (output width H/16).
        kernel_size: kernel of the strided convolutions along time.
        encoder_blocks, cond_blocks: ConvNeXt-V2 blocks at frame rate (width H) and after
            upsampling (width H/2).
        mid_dilations, final_dilations: residual blocks of the U-Net middle and the output stack.
        drop_path: stochastic depth of the ConvNeXt-V2 blocks during training.
        sigma_min: OT-path minimum noise. noise_scale: prior std scale (0.25).
        energy_min, energy_max, std_min: energy-prior statistics (corpus min/max of
            ``sqrt(sum exp(mel))``; defaults measured on 360 LJSpeech clips peak-normalised to
            0.95). They are buffers too, so :meth:`set_energy_stats` before training sticks.
        steps, method, temperature, freeu: :meth:`generate` defaults (16 midpoint steps, 0.667,
            FreeU on; a PeriodWave-Turbo model records its fixed step count here).
        freeu_skip, freeu_backbone: FreeU factors (0.9, 1.1).
    """

    def __init__(self, sample_rate: int = 22050, n_fft: int = 1024, hop_length: int = 256,
                 win_length: int = 1024, n_mels: int = 80, fmin: float = 0.0,
                 fmax: float | None = 8000.0, periods=(1, 2, 3, 5, 7), hidden_dim: int = 512,
                 kernel_size: int = 9, encoder_blocks: int = 8, cond_blocks: int = 4,
                 mid_dilations=(1, 2, 4), final_dilations=(1, 2, 4), drop_path: float = 0.1,
                 sigma_min: float = fm.SIGMA_MIN, noise_scale: float = 0.25,
                 energy_min: float = 0.086, energy_max: float = 5.42, std_min: float = 0.1,
                 steps: int = 16, method: str = "midpoint", temperature: float = 0.667,
                 freeu: bool = True, freeu_skip: float = 0.9, freeu_backbone: float = 1.1):
        super().__init__()
        if hop_length % 64 or hop_length < 64:
            raise ValueError(f"PeriodWave: hop_length must be a multiple of 64, got {hop_length}")
        if hidden_dim % 16 or hidden_dim < 16:
            raise ValueError(f"PeriodWave: hidden_dim must be a multiple of 16, got {hidden_dim}")
        periods = tuple(int(p) for p in periods)
        if not periods or any(p < 1 for p in periods):
            raise ValueError(f"PeriodWave: periods must be positive ints, got {periods}")
        if method not in fm.METHODS:
            raise ValueError(f"PeriodWave: method must be one of {sorted(fm.METHODS)}, got {method!r}")
        self.mel = MelSpectrogram(sample_rate, n_fft, hop_length, win_length, n_mels, fmin, fmax)
        self.sample_rate, self.hop_length, self.n_mels = sample_rate, hop_length, n_mels
        self.mel_settings = self.mel.settings()
        self.periods = periods
        self.sigma_min, self.noise_scale, self.std_min = sigma_min, noise_scale, std_min
        self.steps, self.method, self.temperature = steps, method, temperature
        self.freeu, self.freeu_skip, self.freeu_backbone = freeu, freeu_skip, freeu_backbone
        self.hparams = dict(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
            n_mels=n_mels, fmin=float(fmin), fmax=self.mel.fmax, periods=list(periods),
            hidden_dim=hidden_dim, kernel_size=kernel_size, encoder_blocks=encoder_blocks,
            cond_blocks=cond_blocks, mid_dilations=list(mid_dilations),
            final_dilations=list(final_dilations), drop_path=drop_path, sigma_min=sigma_min,
            noise_scale=noise_scale, energy_min=energy_min, energy_max=energy_max, std_min=std_min,
            steps=steps, method=method, temperature=temperature, freeu=freeu,
            freeu_skip=freeu_skip, freeu_backbone=freeu_backbone)
        self.register_buffer("energy_min", torch.tensor(float(energy_min)))
        self.register_buffer("energy_max", torch.tensor(float(energy_max)))

        h = hidden_dim
        self.encoder = MelEncoder(n_mels + 1, h, periods, hop_length // 64, encoder_blocks,
                                  cond_blocks, drop_path)
        # Time (sinusoidal) and period (learned) embeddings, H/2 each, mixed by an MLP.
        self.time_emb = SinusoidalEmbedding(h // 2)
        self.period_emb = nn.Embedding(len(periods), h // 2)
        nn.init.normal_(self.period_emb.weight, 0.0, (h // 2) ** -0.5)
        self.emb_mlp = nn.Sequential(nn.Linear(h, 4 * h), nn.SiLU(), nn.Linear(4 * h, h))
        self.unet = PeriodUNet(h, kernel_size, mid_dilations)
        self.final = _res_stack(h // 16, final_dilations)
        self.out = weight_norm(nn.Conv1d(h // 16, 1, 7, padding=3, bias=False))

    # ---- configuration -------------------------------------------------------------
    def init_kwargs(self) -> dict:
        """Constructor kwargs that rebuild this model (energy statistics from the buffers)."""
        return {**self.hparams, "energy_min": float(self.energy_min), "energy_max": float(self.energy_max)}

    def set_sampling(self, steps: int | None = None, method: str | None = None,
                     temperature: float | None = None, freeu: bool | None = None) -> None:
        """Change :meth:`generate`'s defaults (recorded by :meth:`init_kwargs`); Turbo fixes 2 or 4 Euler steps."""
        if method is not None and method not in fm.METHODS:
            raise ValueError(f"PeriodWave: method must be one of {sorted(fm.METHODS)}, got {method!r}")
        if steps is not None and (not isinstance(steps, int) or steps < 1):
            raise ValueError(f"PeriodWave: steps must be a positive int, got {steps!r}")
        for k, v in (("steps", steps), ("method", method), ("temperature", temperature), ("freeu", freeu)):
            if v is not None:
                setattr(self, k, v)
                self.hparams[k] = v

    def remove_weight_norm(self) -> "PeriodWave":
        """Fold the weight-norm reparametrisation into plain weights for inference (otherwise
        every estimator call recomputes ``g * v / |v|`` for each conv). The state dict then
        has plain ``weight`` keys: save or fine-tune (Turbo) before calling this."""
        for m in self.modules():
            if parametrize.is_parametrized(m, "weight"):
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
        return self

    @staticmethod
    def frame_energy(mel: torch.Tensor) -> torch.Tensor:
        """``sqrt(sum_f exp(mel))`` per frame: ``[B, n_mels, frames]`` -> ``[B, frames]``."""
        return mel.float().exp().sum(1).sqrt()

    def set_energy_stats(self, energy_min: float, energy_max: float) -> None:
        """Corpus min/max of :meth:`frame_energy` over the training set (call before training)."""
        if not energy_max > energy_min:
            raise ValueError(f"PeriodWave: need energy_max > energy_min, got {energy_min}, {energy_max}")
        self.energy_min.fill_(float(energy_min))
        self.energy_max.fill_(float(energy_max))

    # ---- prior and estimator -------------------------------------------------------
    def _check(self, mel: torch.Tensor):
        if not isinstance(mel, torch.Tensor) or mel.dim() != 3 or mel.shape[1] != self.n_mels:
            raise ValueError(f"PeriodWave: mel must be [B, {self.n_mels}, frames], got "
                             f"{tuple(getattr(mel, 'shape', ()))}")

    def prior_std(self, mel: torch.Tensor) -> torch.Tensor:
        """Energy-based prior std per frame ``[B, frames]`` (Sec. 3.2), floored at ``std_min``."""
        e = self.frame_energy(mel)
        return ((e - self.energy_min) / (self.energy_max - self.energy_min)).clamp_min(self.std_min)

    def encode(self, mel: torch.Tensor, std: torch.Tensor):
        """Mel + prior std channel -> per-period condition maps (computed once per utterance)."""
        return self.encoder(torch.cat([mel, std[:, None].to(mel.dtype)], dim=1))

    def _embedding(self, t: torch.Tensor, b: int, dtype) -> torch.Tensor:
        """Time + period embeddings mixed by the MLP: ``[B, P, H]``."""
        t = t.reshape(-1).expand(b) if t.numel() == 1 else t
        te = self.time_emb(t).to(dtype)                                     # [B, H/2]
        pe = self.period_emb.weight * math.sqrt(self.period_emb.embedding_dim)  # [P, H/2]
        return self.emb_mlp(torch.cat([te[:, None].expand(-1, len(self.periods), -1),
                                       pe[None].expand(b, -1, -1).to(dtype)], dim=-1))

    def vector_field(self, x: torch.Tensor, t: torch.Tensor, conds, freeu: bool = False) -> torch.Tensor:
        """Estimator ``v(x_t, t)``: ``x`` [B, 1, T], ``t`` [] or [B] -> [B, 1, T] (training layout)."""
        emb = self._embedding(t, x.shape[0], x.dtype)
        s_skip, s_back = (self.freeu_skip, self.freeu_backbone) if freeu else (1.0, 1.0)
        out = 0
        for i, p in enumerate(self.periods):  # one shared U-Net, conditioned on the period
            out = out + self.unet(x, p, emb[:, i], conds[i], s_skip, s_back)
        out = out / math.sqrt(len(self.periods))
        return self.out(F.silu(self.final(out)))

    def pack(self, conds, batch: int, length: int, channels_last: bool = False,
             groups: int = 1) -> list[PackedPeriods]:
        """The inference layout for ``batch`` items of ``length`` samples (see :class:`PackedPeriods`):
        the periods split into ``groups`` U-Net calls (1: all at once; ``len(periods)``: one
        call per period, which keeps a CPU's working set in cache)."""
        k = self.hparams["kernel_size"]
        gap = max((k - 1) // 2, 2, *self.hparams["mid_dilations"])  # widest padding, bottom level
        n = len(self.periods)
        groups = max(1, min(int(groups), n))
        split = [list(range(n))[g::groups] for g in range(groups)]
        return [PackedPeriods([self.periods[i] for i in w], batch, length, [conds[i] for i in w], gap,
                              channels_last, w) for w in split]

    def vector_field_packed(self, x: torch.Tensor, t: torch.Tensor, packed: list[PackedPeriods],
                            freeu: bool = False) -> torch.Tensor:
        """:meth:`vector_field` in the packed layout (:meth:`pack`): one U-Net call per group."""
        embs = self.unet.block_embeddings(self._embedding(t, x.shape[0], x.dtype))
        return self.estimate_packed(x, embs, packed, freeu)

    def estimate_packed(self, x: torch.Tensor, embs, packed: list[PackedPeriods],
                        freeu: bool = False) -> torch.Tensor:
        """The estimator's per-step work in the packed layout, its t-only inputs given:
        ``embs`` = ``unet.block_embeddings(_embedding(t))`` (each [B, P, C_block])."""
        s_skip, s_back = (self.freeu_skip, self.freeu_backbone) if freeu else (1.0, 1.0)
        out = None
        for pk in packed:
            y = pk.unpack_sum(self.unet.forward_packed(pk.pack(x), embs, pk, s_skip, s_back))
            out = y if out is None else out.add_(y)
        out = out.mul_(1.0 / math.sqrt(len(self.periods)))
        return self.out(F.silu(self.final(out)))

    # ---- training ------------------------------------------------------------------
    def loss(self, wav: torch.Tensor, mel: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """CFM loss with the energy prior: ``mean(((v - u) / sigma)^2)`` over valid samples.

        wav ``[B, T]`` with ``T = frames * hop_length``; mel ``[B, n_mels, frames]`` (the mel
        of ``wav``); lengths ``[B]`` valid samples per item (padding excluded), optional.
        """
        self._check(mel)
        b, frames = mel.shape[0], mel.shape[2]
        if wav.dim() != 2 or wav.shape[0] != b or wav.shape[1] != frames * self.hop_length:
            raise ValueError(f"PeriodWave.loss: wav must be [B, frames * hop] = [{b}, "
                             f"{frames * self.hop_length}], got {tuple(wav.shape)}")
        std_f = self.prior_std(mel)
        std = std_f.repeat_interleave(self.hop_length, dim=1)[:, None]     # [B, 1, T]
        x1 = wav[:, None]
        mask = torch.ones_like(x1)
        if lengths is not None:
            mask = (torch.arange(x1.shape[-1], device=x1.device) < lengths.to(x1.device)[:, None])[:, None].to(x1.dtype)
            x1 = x1 * mask
        x0 = torch.randn_like(x1) * self.noise_scale * std * mask
        t = torch.rand(b, device=wav.device, dtype=wav.dtype)
        xt = fm.ot_path(x0, x1, t, self.sigma_min)
        u = fm.ot_target(x0, x1, self.sigma_min)
        v = self.vector_field(xt, t, self.encode(mel, std_f))
        err = ((v.float() - u.float()) / std) ** 2 * mask
        return err.sum() / mask.sum()

    forward = loss

    # ---- inference -----------------------------------------------------------------
    def sample(self, mel: torch.Tensor, steps: int | None = None, method: str | None = None,
               temperature: float | None = None, freeu: bool | None = None,
               generator: torch.Generator | None = None, packed: bool | None = None,
               groups: int | None = None, channels_last: bool = False,
               noise: torch.Tensor | None = None) -> torch.Tensor:
        """ODE sampling -> ``[B, frames*hop]``; differentiable (PeriodWave-Turbo trains through it).

        ``packed`` picks :meth:`vector_field_packed` over the training layout (default: on
        a GPU when gradients are off; on a CPU the training layout measured faster, its
        per-period tensors staying in cache), with ``groups`` U-Net calls per step (see
        :meth:`pack`); ``channels_last`` stores its activations time-major (for
        reduced-precision convolutions on GPUs). ``noise``: the standard-normal draw
        ``[B, 1, frames*hop]`` of the prior, instead of drawing it from ``generator`` (a CUDA
        graph draws it outside the graph: :class:`GraphedGenerate`).

        Work that does not change along the ODE runs once per call, not per step: the prior,
        the mel encoder, the packed layout and, in the packed path, the time/period
        embeddings of every evaluation time (:func:`~audiokit.vocoder.flow_matching.eval_times`).
        """
        self._check(mel)
        steps = self.steps if steps is None else steps
        method = self.method if method is None else method
        temperature = self.temperature if temperature is None else temperature
        freeu = self.freeu if freeu is None else freeu
        std_f = self.prior_std(mel)
        # = repeat_interleave(hop, dim=1), as a view: no device sync (CUDA-graph capturable)
        std = std_f[:, None, :, None].expand(-1, -1, -1, self.hop_length).flatten(2).to(mel.dtype)
        if noise is None:
            noise = torch.randn(std.shape, generator=generator, device=std.device, dtype=std.dtype)
        elif noise.shape != std.shape:
            raise ValueError(f"PeriodWave: noise must be [B, 1, frames * hop] = {tuple(std.shape)}, "
                             f"got {tuple(noise.shape)}")
        x0 = noise.to(std.dtype) * self.noise_scale * std * temperature
        conds = self.encode(mel, std_f)
        b = x0.shape[0]
        if packed if packed is not None else (mel.is_cuda and not torch.is_grad_enabled()):
            pk = self.pack(conds, b, x0.shape[-1], channels_last, groups or 1)
            # Every evaluation's block embeddings in one batch (row k: the solver's k-th call,
            # whose time is times[k] by construction of fm.eval_times).
            times = fm.eval_times(steps, method, device=x0.device, dtype=x0.dtype)
            embs = self.unet.block_embeddings(self._embedding(times, len(times), x0.dtype))
            calls = iter(range(len(times)))

            def f(x, t):
                k = next(calls)
                return self.estimate_packed(x, [e[k].expand(b, -1, -1) for e in embs], pk, freeu)
            x = fm.solve(f, x0, steps, method)
        else:
            x = fm.solve(lambda x, t: self.vector_field(x, t, conds, freeu), x0, steps, method)
        return x[:, 0]

    @torch.no_grad()
    def generate(self, mel: torch.Tensor, steps: int | None = None, method: str | None = None,
                 temperature: float | None = None, freeu: bool | None = None,
                 generator: torch.Generator | None = None, packed: bool | None = None,
                 groups: int | None = None, channels_last: bool = False,
                 noise: torch.Tensor | None = None) -> torch.Tensor:
        """mel ``[B, n_mels, frames]`` -> waveform ``[B, frames * hop_length]`` in [-1, 1].

        ``None`` arguments take the model's defaults (``self.steps``, ``self.method``, ...);
        ``packed``/``groups``/``channels_last``/``noise`` as in :meth:`sample` (same maths,
        faster layout). For many calls of one shape on a GPU see :meth:`graphed`.
        """
        return self.sample(mel, steps, method, temperature, freeu, generator, packed, groups,
                           channels_last, noise).clamp(-1.0, 1.0)

    def graphed(self, batch: int, frames: int, dtype: torch.dtype | None = None, **sampling) -> "GraphedGenerate":
        """:meth:`generate` for one input shape, replayed as one CUDA graph (see :class:`GraphedGenerate`)."""
        return GraphedGenerate(self, batch, frames, dtype, **sampling)


_SAMPLING = {"steps", "method", "temperature", "freeu", "packed", "groups", "channels_last"}


class GraphedGenerate:
    """:meth:`PeriodWave.generate` for one input shape, captured once as a CUDA graph and replayed.

    A few-step sampler on a GPU is launch-bound: each ODE step is some 300 small kernels,
    each launched from Python. Here the whole of ``generate`` (prior, mel encoder, packed
    layout, every step, clamp) is recorded once with :class:`torch.cuda.CUDAGraph` after
    ``warmup`` eager calls (cuDNN algorithm choice, allocator), and each call is one
    replay. The prior's standard-normal draw is made outside the graph from the caller's
    generator, exactly as ``generate`` draws it, so the output equals ``generate``'s with the
    same generator. The graph reads the weights where they lie: in-place updates show,
    swapped parameter tensors do not (rebuild it then).

    On a CPU it calls ``generate`` (under autocast when ``dtype`` is given): same interface,
    no graph.

    Args:
        model: an eval-mode :class:`PeriodWave` (weight norm removed is faster).
        batch, frames: the mel shape ``[batch, n_mels, frames]`` every call must have.
        dtype: autocast dtype (``torch.bfloat16``) or None for fp32.
        **sampling: ``generate``'s steps, method, temperature, freeu, packed, groups, channels_last.
    """

    def __init__(self, model: PeriodWave, batch: int, frames: int, dtype: torch.dtype | None = None,
                 warmup: int = 2, **sampling):
        unknown = set(sampling) - _SAMPLING
        if unknown:
            raise ValueError(f"GraphedGenerate: unknown sampling arguments {sorted(unknown)}; known: {sorted(_SAMPLING)}")
        if batch < 1 or frames < 1:
            raise ValueError(f"GraphedGenerate: batch and frames must be positive, got {batch}, {frames}")
        self.model, self.dtype, self.sampling = model, dtype, sampling
        self.shape = (batch, model.n_mels, frames)
        self.device = next(model.parameters()).device
        self.graph = None
        if self.device.type == "cuda":
            self._capture(warmup)

    def _generate(self, mel, generator=None, noise=None):
        # No autocast weight cache: casts made during capture must be recorded in the graph.
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None,
                            cache_enabled=False):
            return self.model.generate(mel, generator=generator, noise=noise, **self.sampling)

    @torch.no_grad()
    def _capture(self, warmup: int):
        b, _, frames = self.shape
        self.mel = torch.full(self.shape, -5.0, device=self.device)   # a log-mel-like level
        self.noise = torch.zeros(b, 1, frames * self.model.hop_length, device=self.device)
        # Hold the packed layout's cached index tensors: the graph reads them by address.
        conds = self.model.encode(self.mel, self.model.prior_std(self.mel))
        self._geometry = self.model.pack(conds, b, self.noise.shape[-1], self.sampling.get("channels_last", False),
                                         self.sampling.get("groups") or 1)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(warmup):
                self._generate(self.mel, noise=self.noise)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.out = self._generate(self.mel, noise=self.noise)
        self.graph = graph

    @torch.no_grad()
    def __call__(self, mel: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """mel ``[batch, n_mels, frames]`` -> waveform ``[batch, frames * hop]`` (a fresh tensor)."""
        if tuple(mel.shape) != self.shape:
            raise ValueError(f"GraphedGenerate: mel must be {list(self.shape)} (the captured shape), "
                             f"got {list(mel.shape)}")
        if self.graph is None:
            return self._generate(mel, generator)
        self.mel.copy_(mel)
        # generate()'s own draw: same shape, dtype and generator -> the same numbers.
        self.noise.copy_(torch.randn(self.noise.shape, generator=generator, device=self.device))
        self.graph.replay()
        return self.out.clone()
