"""FastSpeech acoustic model with a built-in aligner (no teacher).

Architecture: FastSpeech (Ren et al. 2019, Fig. 1): phoneme embedding -> N feed-forward
Transformer (FFT) blocks -> length regulator (Sec. 3.2, Eq. 1) -> N FFT blocks -> linear to
mel. An FFT block is self-attention then a two-layer 1D convolution, each with a residual and
a post layer norm (Sec. 3.1). The duration predictor (Sec. 3.3) is two conv layers with ReLU,
layer norm and dropout, then a linear layer, regressing log durations. Default sizes are
FastSpeech 2's (Ren et al. 2021, Appendix A: hidden 256, 4 + 4 layers, 2 heads, conv kernels
(9, 1), filter 1024; duration predictor kernel 3, filter 256, dropout 0.5).

Durations come from monotonic alignment search instead of an autoregressive teacher, as in
Glow-TTS (Kim et al. 2020, Sec. 3.2) and Matcha-TTS (Mehta et al. 2024, Sec. 3.1): a linear
projection of the encoder gives per-token means mu of a unit-variance Gaussian prior over mel
frames; MAS (under no_grad) picks the most likely monotonic path; its column sums are the
duration targets; training minimises prior loss + duration loss + mel loss (L1 or MSE).

Decoders (``decoder``): ``ffn`` is FastSpeech's: length-regulated encoder states -> N FFT
blocks -> linear to mel, trained with L1 or MSE. ``cfm`` is Matcha-TTS's (Mehta et al. 2024,
:mod:`audiokit.tts.cfm_decoder`): an OT-CFM decoder conditioned on the aligned prior means
mu_y = mu A (one column per frame), trained with the CFM loss (Sec. 2.2, Eq. 4 there) and
sampled with Euler steps from temperature-scaled noise. Either way the training loss is
Matcha's sum (Sec. 3): prior loss (Glow-TTS's NLL of the mel under N(mu_y, I)) + duration
loss (MSE of log durations, FastSpeech Sec. 3.3 / Glow-TTS Eq. 6) + decoder loss (mel L1/MSE
or CFM). ``CONFIGS["matcha"]`` is the Matcha-TTS LJSpeech size (encoder 6 layers of 192 with
2 heads, filter 768 and conv kernels (3, 3), a 3-layer conv prenet; duration predictor 256,
kernel 3, dropout 0.1; decoder channels (256, 256)): 18.2M parameters, as Matcha's. Its
encoder differs from Matcha's in details: rotary positions on the whole head (Matcha: half)
and bias-free linear attention projections (Matcha: 1x1 convolutions with biases).

The encoder's self-attention is one config value (``attention``: softmax | linear | gla |
wersa, see :mod:`audiokit.nn.attention`), applied with a key padding mask, so a padded batch
gives every utterance what it would get alone (exact for every kind; see that module for how).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiokit.frontend.mel import PRESETS
from audiokit.nn.attention import MultiHeadAttention
from audiokit.tts import alignment
from audiokit.tts.alignment import sequence_mask
from audiokit.tts.cfm_decoder import CONFIGS as CFM_CONFIGS
from audiokit.tts.cfm_decoder import CFMDecoder

DECODERS = ("ffn", "cfm")

CONFIGS: dict[str, dict] = {
    "base": dict(hidden=256, encoder_layers=4, decoder_layers=4, heads=2, conv_kernel=9,
                 filter_size=1024, dp_filter=256, dp_kernel=3),
    "tiny": dict(hidden=32, encoder_layers=1, decoder_layers=1, heads=2, conv_kernel=3,
                 filter_size=64, dp_filter=32, dp_kernel=3),
    "matcha": dict(hidden=192, encoder_layers=6, decoder_layers=0, heads=2, conv_kernel=3, conv_kernel2=3,
                   filter_size=768, dp_filter=256, dp_kernel=3, dp_dropout=0.1, prenet_layers=3,
                   decoder="cfm", cfm=dict(CFM_CONFIGS["matcha"])),
}


class FFTBlock(nn.Module):
    """x [B, T, C], mask [B, T, 1] -> [B, T, C]: post-norm self-attention + conv FFN (FastSpeech Sec. 3.1)."""

    def __init__(self, hidden, heads, kernel, filter_size, attention, dropout, kernel2=1):
        super().__init__()
        self.attn = MultiHeadAttention(hidden, heads, kind=attention)
        self.norm1 = nn.LayerNorm(hidden)
        self.conv1 = nn.Conv1d(hidden, filter_size, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(filter_size, hidden, kernel2, padding=kernel2 // 2)
        self.norm2 = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask):
        x = self.norm1(x + self.drop(self.attn(x * mask, mask[..., 0].bool()))) * mask
        y = self.conv2(F.relu(self.conv1(x.transpose(1, 2))) * mask.transpose(1, 2)).transpose(1, 2)
        return self.norm2(x + self.drop(y)) * mask


class ConvPrenet(nn.Module):
    """x [B, T, C] -> [B, T, C]: conv5-LayerNorm-ReLU-dropout layers and a zero-initialised
    residual projection (Glow-TTS's encoder pre-net, which Matcha-TTS keeps)."""

    def __init__(self, hidden, layers, kernel=5, dropout=0.5):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden, hidden)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x, mask):
        h = x
        for conv, norm in zip(self.convs, self.norms):
            h = self.drop(F.relu(norm(conv((h * mask).transpose(1, 2)).transpose(1, 2))))
        return (x + self.proj(h)) * mask


class DurationPredictor(nn.Module):
    """x [B, T, C] -> log durations [B, T] (FastSpeech Sec. 3.3)."""

    def __init__(self, hidden, filter_size, kernel, dropout):
        super().__init__()
        self.conv1 = nn.Conv1d(hidden, filter_size, kernel, padding=kernel // 2)
        self.norm1 = nn.LayerNorm(filter_size)
        self.conv2 = nn.Conv1d(filter_size, filter_size, kernel, padding=kernel // 2)
        self.norm2 = nn.LayerNorm(filter_size)
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(filter_size, 1)

    def forward(self, x, mask):
        x = self.drop(self.norm1(F.relu(self.conv1((x * mask).transpose(1, 2))).transpose(1, 2)))
        x = self.drop(self.norm2(F.relu(self.conv2((x * mask).transpose(1, 2))).transpose(1, 2)))
        return self.proj(x * mask).squeeze(-1) * mask.squeeze(-1)


class FastSpeech(nn.Module):
    """Tokens -> mel; training returns losses, :meth:`synthesize` returns mels.

    Args:
        vocab_size: number of token ids; or give ``symbols`` (a ``SymbolTable.to_dict()``,
            stored in the config so a saved model carries its table) and leave this None.
        n_mels, mel_preset: output mel; the preset's settings are kept in :attr:`mel_settings`
            for checking against a vocoder (n_mels must agree with the preset).
        hidden, encoder_layers, decoder_layers, heads, conv_kernel, filter_size: FFT sizes.
        conv_kernel2: kernel of the FFT block's second conv (FastSpeech 2: 1; Matcha: 3).
        prenet_layers: conv pre-net layers before the encoder (0: none; Matcha: 3).
        attention: "softmax" | "linear" | "gla" | "wersa" for every FFT block.
        dropout: in FFT blocks; dp_filter, dp_kernel, dp_dropout: duration predictor.
        decoder: "ffn" (FFT blocks + linear, ``mel_loss``) or "cfm" (Matcha's flow-matching
            decoder built from ``cfm``: :class:`~audiokit.tts.cfm_decoder.CFMDecoder` kwargs;
            its ``attention`` defaults to the encoder's).
        mel_loss: "l1" | "mse" for the ffn decoder's output.
        mel_mean, mel_std: the model works on (mel - mean) / std (the prior has unit variance);
            synthesize returns un-normalised log-mels.
    """

    def __init__(self, vocab_size: int | None = None, symbols: dict | None = None, n_mels: int = 80,
                 mel_preset: str | None = "ljspeech_22k", hidden: int = 256, encoder_layers: int = 4,
                 decoder_layers: int = 4, heads: int = 2, conv_kernel: int = 9, filter_size: int = 1024,
                 attention: str = "softmax", dropout: float = 0.1, dp_filter: int = 256,
                 dp_kernel: int = 3, dp_dropout: float = 0.5, mel_loss: str = "l1",
                 mel_mean: float = 0.0, mel_std: float = 1.0, conv_kernel2: int = 1, prenet_layers: int = 0,
                 decoder: str = "ffn", cfm: dict | None = None):
        super().__init__()
        if symbols is not None:
            from audiokit.text.symbols import SymbolTable

            table = SymbolTable.from_dict(symbols)
            if vocab_size is not None and vocab_size != len(table):
                raise ValueError(f"FastSpeech: vocab_size={vocab_size} disagrees with the symbol table ({len(table)})")
            vocab_size, self.symbols = len(table), table
        else:
            self.symbols = None
        if not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(f"FastSpeech: give vocab_size (int >= 2) or symbols, got vocab_size={vocab_size!r}")
        if mel_preset is not None:
            if mel_preset not in PRESETS:
                raise ValueError(f"FastSpeech: unknown mel_preset {mel_preset!r}; known: {sorted(PRESETS)}")
            if PRESETS[mel_preset]["n_mels"] != n_mels:
                raise ValueError(f"FastSpeech: n_mels={n_mels} but mel_preset {mel_preset!r} has "
                                 f"{PRESETS[mel_preset]['n_mels']}")
        if decoder not in DECODERS:
            raise ValueError(f"FastSpeech: decoder must be one of {DECODERS}, got {decoder!r}")
        if mel_loss not in ("l1", "mse"):
            raise ValueError(f"FastSpeech: mel_loss must be 'l1' or 'mse', got {mel_loss!r}")
        if not mel_std > 0:
            raise ValueError(f"FastSpeech: mel_std must be positive, got {mel_std!r}")
        self.mel_settings = dict(PRESETS[mel_preset]) if mel_preset else {"n_mels": n_mels}
        self.vocab_size, self.n_mels, self.mel_loss = vocab_size, n_mels, mel_loss
        self.mel_mean, self.mel_std = float(mel_mean), float(mel_std)

        self.decoder_kind = decoder
        self.embed = nn.Embedding(vocab_size, hidden, padding_idx=0)
        self.prenet = ConvPrenet(hidden, prenet_layers) if prenet_layers else None
        block = lambda: FFTBlock(hidden, heads, conv_kernel, filter_size, attention, dropout, conv_kernel2)  # noqa: E731
        self.encoder = nn.ModuleList(block() for _ in range(encoder_layers))
        self.prior = nn.Linear(hidden, n_mels)           # mu of N(mu_i, I) for MAS (Glow-TTS)
        self.duration = DurationPredictor(hidden, dp_filter, dp_kernel, dp_dropout)
        if decoder == "ffn":
            self.decoder = nn.ModuleList(block() for _ in range(decoder_layers))
            self.mel_out = nn.Linear(hidden, n_mels)
        else:
            self.cfm = CFMDecoder(n_mels, **{"attention": attention, **dict(cfm or CFM_CONFIGS["matcha"])})

    # ------------------------------------------------------------------ pieces
    def _check_tokens(self, tokens, token_lengths):
        if tokens.dim() != 2 or tokens.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"FastSpeech: tokens must be integer [B, T_text], got {tuple(tokens.shape)} {tokens.dtype}")
        if token_lengths is None:
            token_lengths = torch.full((tokens.shape[0],), tokens.shape[1], device=tokens.device)
        token_lengths = token_lengths.to(tokens.device).long()
        if token_lengths.shape != tokens.shape[:1] or (token_lengths < 1).any() or (token_lengths > tokens.shape[1]).any():
            raise ValueError(f"FastSpeech: token_lengths must be [B] in 1..{tokens.shape[1]}, got {token_lengths.tolist()}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(f"FastSpeech: token ids must be in 0..{self.vocab_size - 1}")
        return token_lengths

    def encode(self, tokens, token_lengths):
        """-> (h [B, T_text, C], mu [B, n_mels, T_text], log_dur [B, T_text], mask [B, T_text, 1])."""
        mask = sequence_mask(token_lengths, tokens.shape[1])[..., None].float()
        h = self.embed(tokens) * mask
        if self.prenet is not None:
            h = self.prenet(h, mask)
        for blk in self.encoder:
            h = blk(h, mask)
        mu = (self.prior(h) * mask).transpose(1, 2)
        # Detached as in Glow-TTS: the duration loss must not shape the encoder (Sec. 3.3 there).
        log_dur = self.duration(h.detach(), mask)
        return h, mu, log_dur, mask

    def decode(self, h_frames, mel_lengths):
        """Length-regulated states [B, T_mel, C] -> normalised mel [B, n_mels, T_mel]."""
        mask = sequence_mask(mel_lengths, h_frames.shape[1])[..., None].float()
        x = h_frames
        for blk in self.decoder:
            x = blk(x, mask)
        return (self.mel_out(x) * mask).transpose(1, 2)

    # ------------------------------------------------------------------ training
    def forward(self, tokens, token_lengths, mel, mel_lengths) -> dict:
        """Training losses.

        Args:
            tokens: [B, T_text] ids (0 = pad); token_lengths: [B].
            mel: [B, n_mels, T_mel] log-mel (un-normalised); mel_lengths: [B] (>= token_lengths).
        Returns:
            {"loss": prior + duration + decoder loss, "prior", "duration", and "mel" (ffn) or
            "cfm" (cfm): scalars; "durations": [B, T_text] long (MAS)}.
        """
        token_lengths = self._check_tokens(tokens, token_lengths)
        if mel.dim() != 3 or mel.shape[1] != self.n_mels or mel.shape[0] != tokens.shape[0]:
            raise ValueError(f"FastSpeech: mel must be [B={tokens.shape[0]}, {self.n_mels}, T_mel], got {tuple(mel.shape)}")
        mel_lengths = mel_lengths.to(mel.device).long()
        if (mel_lengths > mel.shape[-1]).any() or (mel_lengths < token_lengths).any():
            raise ValueError("FastSpeech: mel_lengths must be <= T_mel and >= token_lengths "
                             f"(each token needs a frame), got {mel_lengths.tolist()} for {token_lengths.tolist()}")
        y = (mel - self.mel_mean) / self.mel_std
        h, mu, log_dur, _ = self.encode(tokens, token_lengths)
        with torch.no_grad():
            ll = alignment.prior_log_likelihood(mu.float(), y.float())
            path = alignment.maximum_path(ll, token_lengths, mel_lengths).to(h.dtype)   # [B, Tt, Tm]
        durations = alignment.durations_from_path(path)
        mu_y = torch.bmm(mu, path)                                                      # [B, n_mels, Tm]
        prior = alignment.prior_loss(mu_y, y, mel_lengths)
        dur = alignment.duration_loss(log_dur, durations, token_lengths)
        fmask = sequence_mask(mel_lengths, y.shape[-1])[:, None, :].to(y.dtype)
        if self.decoder_kind == "cfm":
            cfm = self.cfm.loss(y, fmask, mu_y)
            return {"loss": prior + dur + cfm, "prior": prior, "duration": dur, "cfm": cfm, "durations": durations}
        h_frames = torch.bmm(path.transpose(1, 2), h)           # = length_regulate(h, durations)
        y_hat = self.decode(h_frames, mel_lengths)
        err = (y_hat - y).abs() if self.mel_loss == "l1" else (y_hat - y) ** 2
        mel_l = (err * fmask).sum() / (fmask.sum() * self.n_mels)
        return {"loss": prior + dur + mel_l, "prior": prior, "duration": dur, "mel": mel_l, "durations": durations}

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict_durations(self, tokens, token_lengths=None, speed: float = 1.0):
        """Frames per token [B, T_text]: round(exp(log_dur) / speed), at least 1 on valid tokens;
        also the encoder states h [B, T_text, C] and prior means mu [B, n_mels, T_text]."""
        token_lengths = self._check_tokens(tokens, token_lengths)
        h, mu, log_dur, mask = self.encode(tokens, token_lengths)
        d = alignment.round_durations(log_dur.exp(), speed).clamp_min(1) * mask.squeeze(-1).long()
        return d, h, mu

    @torch.no_grad()
    def synthesize(self, tokens, token_lengths=None, speed: float = 1.0, steps: int = 10,
                   temperature: float = 0.667, generator: torch.Generator | None = None):
        """tokens [B, T_text] -> (mel [B, n_mels, T] log-mel, zero-padded past mel_lengths [B]).

        speed > 1 speaks faster. The cfm decoder takes ``steps`` Euler steps from noise scaled by
        ``temperature`` (Matcha's defaults 10 and 0.667; ``generator`` seeds the noise); the ffn
        decoder ignores the three.
        """
        d, h, mu = self.predict_durations(tokens, token_lengths, speed)
        if self.decoder_kind == "cfm":
            mu_y, mel_lengths = alignment.length_regulate(mu.transpose(1, 2), d)
            mask = sequence_mask(mel_lengths, mu_y.shape[1])[:, None, :].to(mu.dtype)
            y = self.cfm.sample(mu_y.transpose(1, 2), mask, steps=steps, temperature=temperature,
                                generator=generator)
        else:
            h_frames, mel_lengths = alignment.length_regulate(h, d)
            y = self.decode(h_frames, mel_lengths)
            mask = sequence_mask(mel_lengths, y.shape[-1])[:, None, :].to(y.dtype)
        return (y * self.mel_std + self.mel_mean) * mask, mel_lengths
