"""HiFi-GAN generator (Kong, Kim & Bae, "HiFi-GAN: Generative Adversarial Networks for
Efficient and High Fidelity Speech Synthesis", NeurIPS 2020, Sec. 2.1, Fig. 1, Appendix A).

A 7-tap conv lifts the mel to ``upsample_initial_channel`` channels; each upsampling stage
is a leaky-ReLU + transposed conv (stride u_i, kernel k_u_i, channels halved) followed by
the multi-receptive-field fusion (MRF): the average of one residual block per kernel size
k_r with dilations D_r. A 7-tap conv and tanh give the waveform. Weight norm everywhere
(removed for inference with :meth:`HiFiGANGenerator.remove_weight_norm`); the stage
convolutions are initialised N(0, 0.01) as in the reference code.

Published configurations (constructor keyword arguments; the paper's Table/Appendix A):

=====  ==================  ======================  =====  ==========  ======================================  =========
name   upsample_rates      upsample_kernel_sizes   h_u    resblock    resblock_kernel_sizes / dilations        params
=====  ==================  ======================  =====  ==========  ======================================  =========
V1     [8, 8, 2, 2]        [16, 16, 4, 4]          512    "1"         [3, 7, 11] / [[1, 3, 5]] * 3             13.92M
V2     [8, 8, 2, 2]        [16, 16, 4, 4]          128    "1"         [3, 7, 11] / [[1, 3, 5]] * 3             0.92M
V3     [8, 8, 4]           [16, 16, 8]             256    "2"         [3, 5, 7] / [[1, 2], [2, 6], [3, 12]]    1.46M
=====  ==================  ======================  =====  ==========  ======================================  =========

As a YAML model section: ``{name: hifigan, upsample_initial_channel: 128}`` is V2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from audiokit.frontend.mel import PRESETS

__all__ = ["HiFiGANGenerator", "CONFIGS"]

LRELU_SLOPE = 0.1

CONFIGS: dict[str, dict] = {
    "v1": dict(upsample_rates=[8, 8, 2, 2], upsample_kernel_sizes=[16, 16, 4, 4],
               upsample_initial_channel=512, resblock="1", resblock_kernel_sizes=[3, 7, 11],
               resblock_dilation_sizes=[[1, 3, 5]] * 3),
    "v2": dict(upsample_rates=[8, 8, 2, 2], upsample_kernel_sizes=[16, 16, 4, 4],
               upsample_initial_channel=128, resblock="1", resblock_kernel_sizes=[3, 7, 11],
               resblock_dilation_sizes=[[1, 3, 5]] * 3),
    "v3": dict(upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8],
               upsample_initial_channel=256, resblock="2", resblock_kernel_sizes=[3, 5, 7],
               resblock_dilation_sizes=[[1, 2], [2, 6], [3, 12]]),
}


def _conv(cin, cout, k, dilation=1):
    conv = nn.Conv1d(cin, cout, k, dilation=dilation, padding=(k * dilation - dilation) // 2)
    nn.init.normal_(conv.weight, 0.0, 0.01)
    return weight_norm(conv)


class ResBlock1(nn.Module):
    """MRF block type 1: per dilation d, ``x + conv_1(lrelu(conv_d(lrelu(x))))``."""

    def __init__(self, channels: int, kernel_size: int, dilations):
        super().__init__()
        self.convs1 = nn.ModuleList(_conv(channels, channels, kernel_size, d) for d in dilations)
        self.convs2 = nn.ModuleList(_conv(channels, channels, kernel_size) for _ in dilations)

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    """MRF block type 2 (V3): per dilation d, ``x + conv_d(lrelu(x))``."""

    def __init__(self, channels: int, kernel_size: int, dilations):
        super().__init__()
        self.convs = nn.ModuleList(_conv(channels, channels, kernel_size, d) for d in dilations)

    def forward(self, x):
        for c in self.convs:
            x = x + c(F.leaky_relu(x, LRELU_SLOPE))
        return x


class HiFiGANGenerator(nn.Module):
    """Mel spectrogram ``[B, n_mels, frames]`` -> waveform ``[B, 1, frames * hop_length]``.

    The defaults are HiFi-GAN V1 on the LJSpeech mel (``audiokit.frontend.mel`` preset
    ``ljspeech_22k``). ``mel_preset`` or the explicit mel arguments record which mel the
    model expects; :attr:`mel_settings` is compared with ``MelSpectrogram.settings()`` by
    ``audiokit vocode``. The product of ``upsample_rates`` must equal ``hop_length``.
    """

    def __init__(self, upsample_rates=(8, 8, 2, 2), upsample_kernel_sizes=(16, 16, 4, 4),
                 upsample_initial_channel: int = 512, resblock: str = "1",
                 resblock_kernel_sizes=(3, 7, 11), resblock_dilation_sizes=((1, 3, 5),) * 3,
                 mel_preset: str | None = "ljspeech_22k", sample_rate: int | None = None,
                 n_fft: int | None = None, hop_length: int | None = None,
                 win_length: int | None = None, n_mels: int | None = None,
                 fmin: float | None = None, fmax: float | None = None):
        super().__init__()
        if mel_preset is not None and mel_preset not in PRESETS:
            raise ValueError(f"HiFiGANGenerator: unknown mel_preset {mel_preset!r}; known: "
                             f"{sorted(PRESETS)} or None with explicit mel settings")
        mel = dict(PRESETS[mel_preset]) if mel_preset else {}
        given = dict(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length,
                     win_length=win_length, n_mels=n_mels, fmin=fmin, fmax=fmax)
        mel.update({k: v for k, v in given.items() if v is not None})
        missing = [k for k in given if k not in mel]
        if missing:
            raise ValueError(f"HiFiGANGenerator: mel settings missing: {missing} (give "
                             "mel_preset or every setting)")
        self.mel_settings = {k: (float(v) if k in ("fmin", "fmax") else int(v))
                             for k, v in mel.items()}
        self.sample_rate = self.mel_settings["sample_rate"]
        self.hop_length = self.mel_settings["hop_length"]
        self.n_mels = self.mel_settings["n_mels"]

        rates, kernels = list(upsample_rates), list(upsample_kernel_sizes)
        if len(rates) != len(kernels):
            raise ValueError("HiFiGANGenerator: upsample_rates and upsample_kernel_sizes differ "
                             f"in length ({len(rates)} vs {len(kernels)})")
        prod = 1
        for u in rates:
            prod *= int(u)
        if prod != self.hop_length:
            raise ValueError(f"HiFiGANGenerator: product of upsample_rates ({prod}) must equal "
                             f"the mel hop_length ({self.hop_length})")
        if len(resblock_kernel_sizes) != len(resblock_dilation_sizes):
            raise ValueError("HiFiGANGenerator: resblock_kernel_sizes and "
                             "resblock_dilation_sizes differ in length")
        blocks = {"1": ResBlock1, "2": ResBlock2}
        if str(resblock) not in blocks:
            raise ValueError(f"HiFiGANGenerator: resblock must be '1' or '2', got {resblock!r}")
        block = blocks[str(resblock)]
        self.num_kernels = len(resblock_kernel_sizes)

        ch = int(upsample_initial_channel)
        self.conv_pre = weight_norm(nn.Conv1d(self.n_mels, ch, 7, 1, padding=3))
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (u, k) in enumerate(zip(rates, kernels)):
            cin, cout = ch // 2 ** i, ch // 2 ** (i + 1)
            up = nn.ConvTranspose1d(cin, cout, k, u, padding=(k - u) // 2)
            nn.init.normal_(up.weight, 0.0, 0.01)
            self.ups.append(weight_norm(up))
            for kr, dr in zip(resblock_kernel_sizes, resblock_dilation_sizes):
                self.resblocks.append(block(cout, int(kr), [int(d) for d in dr]))
        self.conv_post = weight_norm(nn.Conv1d(ch // 2 ** len(rates), 1, 7, 1, padding=3))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if not isinstance(mel, torch.Tensor) or mel.dim() != 3 or mel.shape[1] != self.n_mels:
            shape = tuple(mel.shape) if isinstance(mel, torch.Tensor) else type(mel).__name__
            raise ValueError(f"HiFiGANGenerator: mel must be [B, {self.n_mels}, frames], got "
                             f"{shape}")
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels:(i + 1) * self.num_kernels]
            x = sum(b(x) for b in blocks) / self.num_kernels
        # The reference applies leaky ReLU with PyTorch's default slope (0.01) here.
        x = self.conv_post(F.leaky_relu(x))
        return torch.tanh(x)

    def remove_weight_norm(self) -> "HiFiGANGenerator":
        """Fold the weight-norm reparametrisation into plain weights (inference speed).
        The state dict then has plain ``weight`` keys: save models before calling this."""
        for m in self.modules():
            if parametrize.is_parametrized(m, "weight"):
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
        return self
