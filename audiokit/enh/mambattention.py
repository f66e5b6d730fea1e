"""MambAttention: Mamba with shared time/frequency multi-head attention for speech enhancement.

Kühne, Jensen, Østergaard & Tan, "MambAttention: Mamba with Multi-Head Attention for
Generalizable Single-Channel Speech Enhancement", arXiv:2507.00966 (2025): the MambAttention
block of Sec. III and Fig. 1, with the wiring of the authors' public code where the text is brief.

MP-SENet's signal path (:mod:`audiokit.enh.mpsenet`: compressed magnitude/phase STFT, dense
encoder, magnitude-mask and phase decoders, RMS-normalised input) around a different backbone:
``num_blocks`` MambAttention blocks on ``[B, K, T, F']``. Each block, with X reshaped to
``[B*F', T, K]`` for the time pass and ``[B*T, F', K]`` for the frequency pass (the paper's
block equations)::

    X1 = X  + MHA(LN(X))             time pass
    X2 = X1 + TConv(BiMamba_T(X1))
    X3 = X2 + MHA(LN(X2))            frequency pass: the SAME MHA and LN as the time pass
    X4 = X3 + TConv(BiMamba_F(X3))

BiMamba runs one Mamba-1 block on the sequence and one on the reversed sequence, each as the
pre-norm residual block ``x + Mamba(RMSNorm(x))`` of Mamba's reference model, and concatenates
them (2K channels); TConv is a 1x1 transposed convolution 2K -> K. Sharing the attention and its
layer norm between the two axes is the paper's regulariser for out-of-domain generalisation
(the paper's ablation). Published configuration: K = 64, 4 blocks, 8 heads, Mamba d_state 16,
d_conv 4, expand 4, RMSNorm eps 1e-5; 2,325,841 parameters (about 2.33M).

Swap points beyond the paper:

* ``time_attention="linear"`` replaces the softmax attention of the time pass by audiokit's
  non-causal linear attention with RetNet decay (:class:`audiokit.nn.attention.MultiHeadAttention`,
  kind "linear"), so time and memory grow linearly with the recording's length. The frequency
  pass (F' = 100 bins) keeps softmax attention through the same q/k/v and output projections.
* ``causal=True`` (needs ``time_attention="linear"``) makes the time axis of the backbone causal:
  causal linear attention (decay, no rotary positions, so the carried state is position-free) and
  ONE forward Mamba (``x + Mamba(RMSNorm(x))``, TConv K -> K) instead of BiMamba. The backbone then
  streams exactly: :meth:`MambAttention.backbone` carries the linear-attention state ``S`` and the
  Mamba conv/SSM state from chunk to chunk, and chunk by chunk equals one pass. The frequency pass
  works inside one frame and streams as it is. What does NOT stream exactly is MP-SENet's
  encoder/decoders around it (dilated convolutions see 15 frames ahead, InstanceNorm takes its
  statistics over the whole recording) and, in the published/bidirectional model, BiMamba's
  backward direction and the non-causal attention, which need the future of the whole sequence.

Long recordings in one pass: without gradients, inputs longer than ``tile_frames`` frames run
through :meth:`MambAttention._forward_tiled`, which computes exactly the same function as the
plain forward (tested) in bounded memory: the encoder/decoders in time tiles with a halo of
their receptive field and InstanceNorm statistics gathered over the whole recording first, the
backbone's time pass in groups of frequency rows and its frequency pass in groups of frames
(rows are independent sequences). Resident memory is then a few copies of ``[K, F', T]``:
estimated for the published size in bf16 at 100 frames/s, 12.8 KB per frame per copy, about
5 MB per second of audio with the STFT/iSTFT tensors (an hour: ~20 GB) plus a working set
bounded by ``tile_frames`` and ``max_elements``. The plain forward instead holds the full-band
dense blocks (~280 KB/frame) and the Mamba inputs of all rows at once (~600 KB/frame).

The Mamba blocks run on :mod:`audiokit.kernels.selective_scan`, one op on every device: the same
checkpoint trains and infers on GPU and CPU, without the ``mamba-ssm`` package.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from audiokit.enh.mpsenet import DenseEncoder, MaskDecoder, MPSENet, PhaseDecoder
from audiokit.frontend.stft import STFT
from audiokit.kernels.linear_attn import linear_attention
from audiokit.nn.attention import MultiHeadAttention
from audiokit.nn.mamba import BiMamba, Mamba, MambaState
from audiokit.nn.norm import LayerNorm, RMSNorm

__all__ = ["SharedTFAttention", "MambAttentionBlock", "BlockState", "MambAttention"]

TIME_ATTENTION = ("softmax", "linear")


class BlockState(NamedTuple):
    """Streaming state of one causal block: linear-attention ``S`` [B*F', H, d, d] (float32) and
    the time Mamba's conv/SSM state (batch B*F')."""
    attn: torch.Tensor
    mamba: MambaState


class SharedTFAttention(nn.Module):
    """``MHA(LN(x))`` on ``[N, L, K]`` with one set of weights for the time and the frequency pass.

    ``time_attention="softmax"``: PyTorch's multi-head attention with biases and no positional
    encoding, as published. ``"linear"``: audiokit's linear attention (decay; rotary positions
    unless ``causal``) on the time axis; the frequency axis uses softmax attention through the same
    projections. ``causal`` (linear only): the time pass attends to the past and takes/returns
    the recurrent state ``S`` (``forward(x, "time", state, return_state=True)``).
    """

    def __init__(self, dim: int, num_heads: int, time_attention: str = "softmax", causal: bool = False):
        super().__init__()
        self.norm = LayerNorm(dim)
        self.linear_time = time_attention == "linear"
        self.causal = causal
        if self.linear_time:
            self.attn = MultiHeadAttention(dim, num_heads, kind="linear", causal=causal, decay=True,
                                           rotary=not causal)
        else:
            self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)

    def forward(self, x: torch.Tensor, axis: str, state: torch.Tensor | None = None,
                return_state: bool = False):
        x = self.norm(x)
        if not self.linear_time:
            return self.attn(x, x, x, need_weights=False)[0]
        n, length, _ = x.shape
        h, d = self.attn.h, self.attn.d
        if axis == "time" and not self.causal:
            return self.attn(x)
        q, k, v = self.attn.qkv(x).view(n, length, 3, h, d).permute(2, 0, 3, 1, 4)
        if axis == "time":
            # MultiHeadAttention's causal linear branch, with the state passed through.
            o, state = linear_attention(F.silu(q), F.silu(k), v, causal=True, log_decay=self.attn.log_decay,
                                        initial_state=state, output_final_state=return_state)
            o = self.attn.norm(o)
        else:
            o = F.scaled_dot_product_attention(q, k, v)
        o = self.attn.out(o.transpose(1, 2).reshape(n, length, h * d))
        return (o, state) if return_state else o


class MambAttentionBlock(nn.Module):
    """``[B, K, T, F] -> [B, K, T, F]``: shared MHA then (Bi)Mamba over time, then over frequency
    (see the module docstring)."""

    def __init__(self, channels: int = 64, num_heads: int = 8, d_state: int = 16, d_conv: int = 4,
                 expand: int = 4, norm_eps: float = 1e-5, time_attention: str = "softmax",
                 causal: bool = False):
        super().__init__()
        self.causal = causal
        self.attention = SharedTFAttention(channels, num_heads, time_attention, causal)
        mamba = dict(d_state=d_state, d_conv=d_conv, expand=expand)
        bimamba = dict(merge="concat", norm="rms", norm_eps=norm_eps, **mamba)
        if causal:
            self.time_mamba = Mamba(channels, **mamba)
            self.time_norm = RMSNorm(channels, eps=norm_eps)
            self.time_proj = nn.ConvTranspose1d(channels, channels, 1)
        else:
            self.time_mamba = BiMamba(channels, **bimamba)
            self.time_proj = nn.ConvTranspose1d(2 * channels, channels, 1)
        self.freq_mamba = BiMamba(channels, **bimamba)
        self.freq_proj = nn.ConvTranspose1d(2 * channels, channels, 1)

    @staticmethod
    def _proj(proj: nn.ConvTranspose1d, y) -> torch.Tensor:
        """The kernel-1 transposed conv, a linear map of the channels, on channels-last rows (no
        transposes, no cuDNN layout conversions). y: a tensor, or BiMamba's two direction outputs,
        whose concatenation is never built: the map is split into its two halves instead."""
        w = proj.weight[:, :, 0]                                            # [in, out]
        if isinstance(y, tuple):
            y_f, y_b = y
            k = y_f.shape[-1]
            return F.linear(y_f, w[:k].t()) + F.linear(y_b, w[k:].t(), proj.bias)
        return F.linear(y, w.t(), proj.bias)

    def _time(self, x, state: BlockState | None = None, return_state: bool = False):
        """Time pass on ``[N, T, K]`` sequences (independent along N)."""
        if not self.causal:
            x = x + self.attention(x, "time")
            return x + self._proj(self.time_proj, self.time_mamba.pair(x))
        a, s_attn = self.attention(x, "time", None if state is None else state.attn, return_state=True)
        x = x + a
        y, s_mamba = self.time_mamba(self.time_norm(x), None if state is None else state.mamba, return_state=True)
        x = x + self._proj(self.time_proj, x + y)
        return (x, BlockState(s_attn, s_mamba)) if return_state else x

    def _freq(self, x):
        """Frequency pass on ``[N, F, K]`` (one frame per row)."""
        x = x + self.attention(x, "freq")
        return x + self._proj(self.freq_proj, self.freq_mamba.pair(x))

    def forward(self, x: torch.Tensor, state: BlockState | None = None, return_state: bool = False,
                max_elements: int | None = None):
        """x [B, K, T, F] -> [B, K, T, F] (and the new :class:`BlockState` when ``return_state``).

        ``state``/``return_state``: carry the time pass across chunks of T (causal blocks only).
        ``max_elements``: run each pass over groups of rows so that one group's widest tensor
        (rows x length x Mamba width) stays below this; the result is the same.
        """
        if (state is not None or return_state) and not self.causal:
            raise ValueError("MambAttentionBlock: state in/out needs causal=True (BiMamba's backward "
                             "direction and non-causal attention read the future)")
        b, c, t, f = x.shape
        xt = x.permute(0, 3, 2, 1).reshape(b * f, t, c)
        if return_state:
            xt, state = self._time(xt, state, return_state=True)
        else:
            xt = _by_rows(self._time, xt, max_elements, self._width, own=not _shares(xt, x))
        xf = xt.view(b, f, t, c).transpose(1, 2).reshape(b * t, f, c)
        xf = _by_rows(self._freq, xf, max_elements, self._width, own=not _shares(xf, x))
        x = xf.view(b, t, f, c).permute(0, 3, 1, 2)
        return (x, state) if return_state else x

    @property
    def _width(self) -> int:
        return 2 * self.freq_mamba.fwd.d_inner      # in_proj output, the widest per-step tensor


def _shares(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def _by_rows(fn, x: torch.Tensor, max_elements: int | None, width: int, own: bool) -> torch.Tensor:
    """fn over groups of rows of x [N, L, K] (rows are independent sequences); with ``own`` (x is a
    private copy) and no autograd the results overwrite the rows they were computed from."""
    n, length = x.shape[:2]
    rows = n if max_elements is None else max(1, max_elements // (length * width))
    if rows >= n:
        return fn(x)
    out = x if own and not torch.is_grad_enabled() else torch.empty_like(x)
    for i in range(0, n, rows):
        out[i:i + rows] = fn(x[i:i + rows])
    return out


class _Stop(Exception):
    """Ends a tiled sweep once the InstanceNorm being measured has seen its input."""


@torch.no_grad()
def _tiled(module: nn.Module, x: torch.Tensor, tile: int, out_time_dim: int) -> torch.Tensor:
    """``module(x)`` for x [B, C, T, F] computed over time tiles; equal to one call.

    Convolutions are local in time, so a tile extended by the stack's receptive field (the halo)
    gives exact outputs inside it. InstanceNorm is global over (T, F): its statistics are
    gathered first, one norm at a time over every tile (mean/variance merged with Chan et al.'s
    pairwise update), and then applied as a fixed affine map.
    """
    halo = 0
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            if m.stride[0] != 1:
                raise ValueError(f"_tiled: {type(m).__name__} strides along time")
            halo += (m.kernel_size[0] - 1) * m.dilation[0] // 2
    norms = [m for m in module.modules() if isinstance(m, nn.InstanceNorm2d)]
    T = x.shape[2]
    spans = [(s, min(s + tile, T)) for s in range(0, T, tile)]
    stats: list[tuple[torch.Tensor, torch.Tensor]] = []
    window = {}

    def norm_forward(i, norm, y):
        dt = torch.promote_types(y.dtype, torch.float32)         # bf16 in, float32 maths
        if i < len(stats):
            mean, rstd = stats[i]
            z = (y.to(dt) - mean[..., None, None].to(dt)) * rstd[..., None, None].to(dt)
            if norm.affine:
                z = z * norm.weight[:, None, None] + norm.bias[:, None, None]
            return z.to(y.dtype)
        v = y[:, :, window["lo"]:window["hi"]].to(dt)
        n = v.shape[2] * v.shape[3]
        m, var = v.mean((2, 3)).double(), v.var((2, 3), unbiased=False).double()
        acc = window["acc"]
        if acc is None:
            window["acc"] = (n, m, var * n)
        else:                                   # Chan, Golub & LeVeque's pairwise merge
            n0, m0, s0 = acc
            d = m - m0
            window["acc"] = (n0 + n, m0 + d * n / (n0 + n), s0 + var * n + d * d * n0 * n / (n0 + n))
        raise _Stop

    def run(span):
        a, b = max(0, span[0] - halo), min(T, span[1] + halo)
        window.update(lo=span[0] - a, hi=span[1] - a)
        return module(x[:, :, a:b]), span[0] - a

    for i, norm in enumerate(norms):
        norm.forward = lambda y, i=i, norm=norm: norm_forward(i, norm, y)
    try:
        for i, norm in enumerate(norms):
            window["acc"] = None
            for span in spans:
                try:
                    run(span)
                except _Stop:
                    pass
            n, m, s = window["acc"]
            stats.append((m, torch.rsqrt(s / n + norm.eps)))
        out = None
        for span in spans:
            y, lo = run(span)
            y = y.narrow(out_time_dim, lo, span[1] - span[0])
            if out is None:
                shape = list(y.shape)
                shape[out_time_dim] = T
                out = y.new_empty(shape)
            out.narrow(out_time_dim, span[0], span[1] - span[0]).copy_(y)
        return out
    finally:
        for norm in norms:
            del norm.forward


class MambAttention(nn.Module):
    """MambAttention generator (see the module docstring for the architecture).

    Args:
        dense_channel: channels K of the encoder, blocks and decoders (64).
        num_blocks: number of MambAttention blocks (4).
        num_heads: attention heads (8).
        d_state, d_conv, expand: Mamba-1 state size, conv kernel and expansion (16, 4, 4).
        norm_eps: epsilon of the Mamba blocks' RMSNorm (1e-5).
        time_attention: "softmax" (published) or "linear" (linear-time attention along time).
        causal: causal time axis in the backbone (needs "linear"); the backbone then streams.
        n_fft, hop_length, win_length, compress_factor: STFT front-end, 400 / 100 / 400 / 0.3.
        beta: upper bound of the magnitude mask (2.0). dense_depth: DenseBlock layers (4).
        sample_rate: rate the model is trained for; :meth:`enhance` expects it.

    Same interface as :class:`~audiokit.enh.mpsenet.MPSENet`: ``forward(noisy_mag, noisy_pha)``
    maps compressed magnitude and phase ``[B, F, T]`` to ``(mag, pha, com [B, F, T, 2])``, and
    ``enhance(wav)`` does the RMS-normalised waveform-to-waveform path; both are MP-SENet's own
    methods, since only the backbone (``self.blocks``) differs. ``linear_in_time`` tells
    ``audiokit enhance`` that a whole recording can go through in one pass.

    Attributes (not part of the config, execution only): ``tile_frames`` (frames above which a
    forward without gradients runs tiled, and the tile length; 6000 = 60 s) and ``max_elements``
    (the backbone's per-group budget: rows x frames x 2 d_inner <= 2**29, i.e. a few GiB of
    working memory; larger groups keep more of a GPU busy, since the scan runs sequentially in time).
    """

    tile_frames = 6000
    max_elements = 2 ** 29

    def __init__(self, dense_channel: int = 64, num_blocks: int = 4, num_heads: int = 8,
                 d_state: int = 16, d_conv: int = 4, expand: int = 4, norm_eps: float = 1e-5,
                 time_attention: str = "softmax", causal: bool = False, n_fft: int = 400,
                 hop_length: int = 100, win_length: int = 400, compress_factor: float = 0.3,
                 beta: float = 2.0, dense_depth: int = 4, sample_rate: int = 16000):
        super().__init__()
        for name, v in (("dense_channel", dense_channel), ("num_blocks", num_blocks),
                        ("num_heads", num_heads), ("d_state", d_state), ("d_conv", d_conv),
                        ("expand", expand), ("dense_depth", dense_depth), ("sample_rate", sample_rate)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"MambAttention: {name} must be a positive int, got {v!r}")
        if dense_channel % num_heads:
            raise ValueError(f"MambAttention: dense_channel ({dense_channel}) must be divisible by "
                             f"num_heads ({num_heads})")
        if time_attention not in TIME_ATTENTION:
            raise ValueError(f"MambAttention: time_attention must be one of {TIME_ATTENTION}, "
                             f"got {time_attention!r}")
        if causal and time_attention != "linear":
            raise ValueError("MambAttention: causal=True needs time_attention='linear' (causal softmax "
                             "attention would keep a key/value cache growing with the recording)")
        if not beta > 0:
            raise ValueError(f"MambAttention: beta must be > 0, got {beta!r}")
        self.sample_rate = sample_rate
        self.time_attention = time_attention
        self.causal = causal
        self.stft = STFT(n_fft, hop_length, win_length, compress_factor)
        self.n_freqs = n_fft // 2 + 1
        if self.n_freqs < 3:
            raise ValueError(f"MambAttention: n_fft={n_fft} gives fewer than 3 frequency bins")
        self.encoder = DenseEncoder(2, dense_channel, dense_depth)
        self.blocks = nn.ModuleList(
            MambAttentionBlock(dense_channel, num_heads, d_state, d_conv, expand, norm_eps, time_attention,
                               causal)
            for _ in range(num_blocks))
        self.mask_decoder = MaskDecoder(dense_channel, self.n_freqs, beta, dense_depth)
        self.phase_decoder = PhaseDecoder(dense_channel, self.n_freqs, dense_depth)

    @property
    def linear_in_time(self) -> bool:
        """True when no part of the network is quadratic in the number of frames."""
        return self.time_attention == "linear"

    def backbone(self, x: torch.Tensor, states: list[BlockState] | None = None, return_state: bool = False,
                 max_elements: int | None = None):
        """The blocks on x [B, K, T, F']; with ``return_state`` (causal models) also the per-block
        states, which a call on the next chunk of T takes as ``states``."""
        new = []
        for i, block in enumerate(self.blocks):
            if return_state or states is not None:
                x, s = block(x, None if states is None else states[i], return_state=True)
                new.append(s)
            else:
                x = block(x, max_elements=max_elements)
        return (x, new) if return_state else x

    def forward(self, noisy_mag: torch.Tensor, noisy_pha: torch.Tensor):
        if torch.is_grad_enabled() or noisy_mag.dim() != 3 or noisy_mag.shape[-1] <= self.tile_frames:
            return MPSENet.forward(self, noisy_mag, noisy_pha)
        return self._forward_tiled(noisy_mag, noisy_pha)

    @torch.no_grad()
    def _forward_tiled(self, noisy_mag: torch.Tensor, noisy_pha: torch.Tensor, tile: int | None = None):
        """MP-SENet's forward in bounded memory (module docstring); same inputs, same outputs."""
        if noisy_mag.shape != noisy_pha.shape or noisy_mag.shape[1] != self.n_freqs:
            return MPSENet.forward(self, noisy_mag, noisy_pha)     # its error messages
        tile = tile or self.tile_frames
        x = torch.stack((noisy_mag, noisy_pha), dim=1).transpose(2, 3)       # [B, 2, T, F]
        x = _tiled(self.encoder, x, tile, out_time_dim=2)
        x = self.backbone(x, max_elements=self.max_elements)
        mag = noisy_mag.float() * _tiled(self.mask_decoder, x, tile, out_time_dim=2)
        pha = _tiled(self.phase_decoder, x, tile, out_time_dim=2)
        com = torch.stack((mag * torch.cos(pha), mag * torch.sin(pha)), dim=-1)
        return mag, pha, com

    enhance = MPSENet.enhance
