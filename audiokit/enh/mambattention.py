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

Swap point beyond the paper: ``time_attention="linear"`` replaces the softmax attention of the
time pass by audiokit's non-causal linear attention with RetNet decay
(:class:`audiokit.nn.attention.MultiHeadAttention`, kind "linear"), so time and memory grow
linearly with the recording's length. The frequency pass (F' = 100 bins) keeps softmax attention
computed through the same q/k/v and output projections, so the weights stay shared.

The Mamba blocks run on :mod:`audiokit.kernels.selective_scan`, one op on every device: the same
checkpoint trains and infers on GPU and CPU, without the ``mamba-ssm`` package.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiokit.enh.mpsenet import DenseEncoder, MaskDecoder, MPSENet, PhaseDecoder
from audiokit.frontend.stft import STFT
from audiokit.nn.attention import MultiHeadAttention
from audiokit.nn.mamba import BiMamba

__all__ = ["SharedTFAttention", "MambAttentionBlock", "MambAttention"]

TIME_ATTENTION = ("softmax", "linear")


class SharedTFAttention(nn.Module):
    """``MHA(LN(x))`` on ``[N, L, K]`` with one set of weights for the time and the frequency pass.

    ``time_attention="softmax"``: PyTorch's multi-head attention with biases and no positional
    encoding, as published. ``"linear"``: audiokit's linear attention (decay + rotary) on the
    time axis; the frequency axis uses softmax attention through the same projections.
    """

    def __init__(self, dim: int, num_heads: int, time_attention: str = "softmax"):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.linear_time = time_attention == "linear"
        if self.linear_time:
            self.attn = MultiHeadAttention(dim, num_heads, kind="linear", causal=False, decay=True)
        else:
            self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)

    def forward(self, x: torch.Tensor, axis: str) -> torch.Tensor:
        x = self.norm(x)
        if not self.linear_time:
            return self.attn(x, x, x, need_weights=False)[0]
        if axis == "time":
            return self.attn(x)
        n, length, _ = x.shape
        h, d = self.attn.h, self.attn.d
        q, k, v = self.attn.qkv(x).view(n, length, 3, h, d).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v)
        return self.attn.out(o.transpose(1, 2).reshape(n, length, h * d))


class MambAttentionBlock(nn.Module):
    """``[B, K, T, F] -> [B, K, T, F]``: shared MHA then BiMamba over time, then over frequency
    (see the module docstring)."""

    def __init__(self, channels: int = 64, num_heads: int = 8, d_state: int = 16, d_conv: int = 4,
                 expand: int = 4, norm_eps: float = 1e-5, time_attention: str = "softmax"):
        super().__init__()
        self.attention = SharedTFAttention(channels, num_heads, time_attention)
        mamba = dict(merge="concat", norm="rms", norm_eps=norm_eps, d_state=d_state, d_conv=d_conv,
                     expand=expand)
        self.time_mamba = BiMamba(channels, **mamba)
        self.freq_mamba = BiMamba(channels, **mamba)
        self.time_proj = nn.ConvTranspose1d(2 * channels, channels, 1)
        self.freq_proj = nn.ConvTranspose1d(2 * channels, channels, 1)

    @staticmethod
    def _mamba(bimamba: BiMamba, proj: nn.ConvTranspose1d, x: torch.Tensor) -> torch.Tensor:
        return proj(bimamba(x).transpose(1, 2)).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, f = x.shape
        x = x.permute(0, 3, 2, 1).reshape(b * f, t, c)
        x = x + self.attention(x, "time")
        x = x + self._mamba(self.time_mamba, self.time_proj, x)
        x = x.view(b, f, t, c).transpose(1, 2).reshape(b * t, f, c)
        x = x + self.attention(x, "freq")
        x = x + self._mamba(self.freq_mamba, self.freq_proj, x)
        return x.view(b, t, f, c).permute(0, 3, 1, 2)


class MambAttention(nn.Module):
    """MambAttention generator (see the module docstring for the architecture).

    Args:
        dense_channel: channels K of the encoder, blocks and decoders (64).
        num_blocks: number of MambAttention blocks (4).
        num_heads: attention heads (8).
        d_state, d_conv, expand: Mamba-1 state size, conv kernel and expansion (16, 4, 4).
        norm_eps: epsilon of the Mamba blocks' RMSNorm (1e-5).
        time_attention: "softmax" (published) or "linear" (linear-time attention along time).
        n_fft, hop_length, win_length, compress_factor: STFT front-end, 400 / 100 / 400 / 0.3.
        beta: upper bound of the magnitude mask (2.0). dense_depth: DenseBlock layers (4).
        sample_rate: rate the model is trained for; :meth:`enhance` expects it.

    Same interface as :class:`~audiokit.enh.mpsenet.MPSENet`: ``forward(noisy_mag, noisy_pha)``
    maps compressed magnitude and phase ``[B, F, T]`` to ``(mag, pha, com [B, F, T, 2])``, and
    ``enhance(wav)`` does the RMS-normalised waveform-to-waveform path; both are MP-SENet's own
    methods, since only the backbone (``self.blocks``) differs.
    """

    def __init__(self, dense_channel: int = 64, num_blocks: int = 4, num_heads: int = 8,
                 d_state: int = 16, d_conv: int = 4, expand: int = 4, norm_eps: float = 1e-5,
                 time_attention: str = "softmax", n_fft: int = 400, hop_length: int = 100,
                 win_length: int = 400, compress_factor: float = 0.3, beta: float = 2.0,
                 dense_depth: int = 4, sample_rate: int = 16000):
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
        if not beta > 0:
            raise ValueError(f"MambAttention: beta must be > 0, got {beta!r}")
        self.sample_rate = sample_rate
        self.time_attention = time_attention
        self.stft = STFT(n_fft, hop_length, win_length, compress_factor)
        self.n_freqs = n_fft // 2 + 1
        if self.n_freqs < 3:
            raise ValueError(f"MambAttention: n_fft={n_fft} gives fewer than 3 frequency bins")
        self.encoder = DenseEncoder(2, dense_channel, dense_depth)
        self.blocks = nn.ModuleList(
            MambAttentionBlock(dense_channel, num_heads, d_state, d_conv, expand, norm_eps, time_attention)
            for _ in range(num_blocks))
        self.mask_decoder = MaskDecoder(dense_channel, self.n_freqs, beta, dense_depth)
        self.phase_decoder = PhaseDecoder(dense_channel, self.n_freqs, dense_depth)

    # The encoder -> blocks -> decoders path and the RMS-normalised enhance() are MP-SENet's.
    forward = MPSENet.forward
    enhance = MPSENet.enhance
