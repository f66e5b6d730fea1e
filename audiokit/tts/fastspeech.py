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

The encoder's self-attention is one config value (``attention``: softmax | linear | gla |
wersa, see :mod:`audiokit.nn.attention`). Padding: that module takes no mask. For ``linear``
and ``gla`` padded positions are zeroed before and after attention, which is exact: their keys
and values are then zero (no qkv bias) and add nothing to the recurrent states. ``softmax``
would still give padded keys probability mass and ``wersa``'s Haar levels and mean-pooled
gates would see the padding, so for those a padded batch runs attention once per utterance
on its valid frames (exact, but B calls per layer; a mask argument in the attention module
would make it one call).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiokit.frontend.mel import PRESETS
from audiokit.nn.attention import MultiHeadAttention
from audiokit.tts import alignment
from audiokit.tts.alignment import sequence_mask

# Kinds whose output on valid positions is unchanged by zeroed padding (zero keys/values add
# nothing to their states); the others attend per utterance when a batch is padded.
_PAD_EXACT = ("linear", "gla")

CONFIGS: dict[str, dict] = {
    "base": dict(hidden=256, encoder_layers=4, decoder_layers=4, heads=2, conv_kernel=9,
                 filter_size=1024, dp_filter=256, dp_kernel=3),
    "tiny": dict(hidden=32, encoder_layers=1, decoder_layers=1, heads=2, conv_kernel=3,
                 filter_size=64, dp_filter=32, dp_kernel=3),
}


class FFTBlock(nn.Module):
    """x [B, T, C], mask [B, T, 1] -> [B, T, C]: post-norm self-attention + conv FFN (FastSpeech Sec. 3.1)."""

    def __init__(self, hidden, heads, kernel, filter_size, attention, dropout):
        super().__init__()
        self.attn = MultiHeadAttention(hidden, heads, kind=attention)
        self.norm1 = nn.LayerNorm(hidden)
        self.conv1 = nn.Conv1d(hidden, filter_size, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(filter_size, hidden, 1)
        self.norm2 = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)

    def _attend(self, x, mask):
        lengths = mask[:, :, 0].sum(1).long()
        if self.attn.kind in _PAD_EXACT or bool((lengths == x.shape[1]).all()):
            return self.attn(x * mask) * mask
        # No mask in MultiHeadAttention: attend within each utterance's valid frames.
        parts = [self.attn(x[b:b + 1, :n])[0] for b, n in enumerate(lengths.tolist())]
        out = nn.utils.rnn.pad_sequence(parts, batch_first=True)
        return F.pad(out, (0, 0, 0, x.shape[1] - out.shape[1]))

    def forward(self, x, mask):
        x = self.norm1(x + self.drop(self._attend(x, mask))) * mask
        y = self.conv2(F.relu(self.conv1(x.transpose(1, 2)))).transpose(1, 2)
        return self.norm2(x + self.drop(y)) * mask


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
        attention: "softmax" | "linear" | "gla" | "wersa" for every FFT block.
        dropout: in FFT blocks; dp_filter, dp_kernel, dp_dropout: duration predictor.
        mel_loss: "l1" | "mse" for the decoder output.
        mel_mean, mel_std: the model works on (mel - mean) / std (the prior has unit variance);
            synthesize returns un-normalised log-mels.
    """

    def __init__(self, vocab_size: int | None = None, symbols: dict | None = None, n_mels: int = 80,
                 mel_preset: str | None = "ljspeech_22k", hidden: int = 256, encoder_layers: int = 4,
                 decoder_layers: int = 4, heads: int = 2, conv_kernel: int = 9, filter_size: int = 1024,
                 attention: str = "softmax", dropout: float = 0.1, dp_filter: int = 256,
                 dp_kernel: int = 3, dp_dropout: float = 0.5, mel_loss: str = "l1",
                 mel_mean: float = 0.0, mel_std: float = 1.0):
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
        if mel_loss not in ("l1", "mse"):
            raise ValueError(f"FastSpeech: mel_loss must be 'l1' or 'mse', got {mel_loss!r}")
        if not mel_std > 0:
            raise ValueError(f"FastSpeech: mel_std must be positive, got {mel_std!r}")
        self.mel_settings = dict(PRESETS[mel_preset]) if mel_preset else {"n_mels": n_mels}
        self.vocab_size, self.n_mels, self.mel_loss = vocab_size, n_mels, mel_loss
        self.mel_mean, self.mel_std = float(mel_mean), float(mel_std)

        self.embed = nn.Embedding(vocab_size, hidden, padding_idx=0)
        block = lambda: FFTBlock(hidden, heads, conv_kernel, filter_size, attention, dropout)  # noqa: E731
        self.encoder = nn.ModuleList(block() for _ in range(encoder_layers))
        self.prior = nn.Linear(hidden, n_mels)           # mu of N(mu_i, I) for MAS (Glow-TTS)
        self.duration = DurationPredictor(hidden, dp_filter, dp_kernel, dp_dropout)
        self.decoder = nn.ModuleList(block() for _ in range(decoder_layers))
        self.mel_out = nn.Linear(hidden, n_mels)

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
            {"prior", "duration", "mel", "total": scalars, "durations": [B, T_text] long (MAS)}.
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
        h_frames = torch.bmm(path.transpose(1, 2), h)           # = length_regulate(h, durations)
        y_hat = self.decode(h_frames, mel_lengths)
        fmask = sequence_mask(mel_lengths, y.shape[-1])[:, None, :].to(y.dtype)
        err = (y_hat - y).abs() if self.mel_loss == "l1" else (y_hat - y) ** 2
        mel_l = (err * fmask).sum() / (fmask.sum() * self.n_mels)
        return {"prior": prior, "duration": dur, "mel": mel_l, "total": prior + dur + mel_l,
                "durations": durations}

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict_durations(self, tokens, token_lengths=None, speed: float = 1.0):
        """Frames per token [B, T_text]: round(exp(log_dur) / speed), at least 1 on valid tokens."""
        token_lengths = self._check_tokens(tokens, token_lengths)
        h, _, log_dur, mask = self.encode(tokens, token_lengths)
        d = alignment.round_durations(log_dur.exp(), speed).clamp_min(1) * mask.squeeze(-1).long()
        return d, h

    @torch.no_grad()
    def synthesize(self, tokens, token_lengths=None, speed: float = 1.0):
        """tokens [B, T_text] -> (mel [B, n_mels, T] log-mel, zero-padded past mel_lengths [B])."""
        d, h = self.predict_durations(tokens, token_lengths, speed)
        h_frames, mel_lengths = alignment.length_regulate(h, d)
        y = self.decode(h_frames, mel_lengths)
        mask = sequence_mask(mel_lengths, y.shape[-1])[:, None, :].to(y.dtype)
        return (y * self.mel_std + self.mel_mean) * mask, mel_lengths
