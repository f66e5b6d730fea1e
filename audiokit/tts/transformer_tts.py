"""Transformer-TTS (Li et al. 2019, "Neural Speech Synthesis with Transformer Network", AAAI).

As published (Sec. 3, Fig. 3):

* phoneme embedding (512) -> encoder pre-net: 3 conv layers (512 channels, kernel 5, batch
  norm, ReLU, dropout) and a linear projection (Sec. 3.3; the projection recentres the ReLU
  output before the positional encoding is added);
* scaled positional encoding x_i = prenet(p_i) + alpha PE(i), PE the sinusoids of Vaswani et
  al. 2017 (Eq. 1-2 there) and alpha a trainable scalar, one for the encoder and one for the
  decoder (Sec. 3.2);
* decoder pre-net: 2 fully connected layers of 256 with ReLU and dropout kept at inference, then
  a projection to 512 (Sec. 3.4; :class:`~audiokit.tts.autoregressive.DecoderPrenet`);
* 6 encoder and 6 decoder layers, 8 heads, post-norm residual blocks as the Transformer
  (Sec. 3.5-3.6); the feed-forward size is the Transformer base's 2048;
* mel linear, stop linear and a 5-layer convolutional post-net (Sec. 3.7); stop loss BCE with a
  positive weight on the final frame (5-8 in the paper).

What mature implementations (ESPnet-TTS, Hayashi et al. 2020) add because the recipe is
fragile, as options: a guided-attention loss (Tachibana et al. 2018, Eq. 7 there:
W_nt = 1 - exp(-(n/N - t/T)^2 / (2 g^2)), g = 0.4) on the first ``guided_attn_heads``
source-attention heads of the last ``guided_attn_layers`` decoder layers; a reduction factor r
(several frames per decoder step); the Noam schedule (``audiokit.train.optim``, name
``noam``); and stopping at probability 0.5 or a maximum length ratio (:meth:`generate`).

Incremental decoding keeps, per decoder layer, the self-attention keys and values of every
frame so far (a cache that grows by 2 x layers x d floats per frame, in buffers that double
when full) and the source-attention keys and values of the text (computed once).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from audiokit.tts.alignment import sequence_mask
from audiokit.tts.autoregressive import AutoregressiveTTS, MelHead

CONFIGS: dict[str, dict] = {
    # Li et al. 2019: d 512, 6 + 6 layers, 8 heads, pre-nets 512 conv / 256 FC, 5-layer post-net.
    "base": dict(d_model=512, heads=8, encoder_layers=6, decoder_layers=6, ffn=2048, embed_dim=512,
                 enc_prenet_channels=512, prenet_hidden=256, postnet_channels=512),
    "tiny": dict(d_model=32, heads=2, encoder_layers=1, decoder_layers=2, ffn=64, embed_dim=32,
                 enc_prenet_channels=32, prenet_hidden=32, postnet_channels=32),
}


def sinusoids(length: int, dim: int, offset: int = 0, device=None) -> torch.Tensor:
    """[length, dim]: PE(pos, 2i) = sin(pos / 10000^(2i/dim)), PE(pos, 2i+1) = cos(...) (Vaswani Eq. 1-2)."""
    pos = torch.arange(offset, offset + length, device=device, dtype=torch.float32)[:, None]
    inv = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim)
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * inv), torch.cos(pos * inv)
    return pe


class ScaledPositionalEncoding(nn.Module):
    """x [B, T, d] -> x + alpha PE(offset .. offset + T) with a trainable alpha (Sec. 3.2)."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, offset: int = 0):
        return self.drop(x + self.alpha * sinusoids(x.shape[1], x.shape[2], offset, x.device).to(x.dtype))


class EncoderPrenet(nn.Module):
    """tokens [B, T] -> [B, T, d]: embedding, 3 x (conv k5, batch norm, ReLU, dropout), projection (Sec. 3.3)."""

    def __init__(self, vocab: int, embed_dim: int, channels: int, d_model: int, kernel: int = 5,
                 layers: int = 3, dropout: float = 0.5):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed_dim, padding_idx=0)
        dims = [embed_dim] + [channels] * layers
        self.convs = nn.ModuleList(nn.Conv1d(a, b, kernel, padding=kernel // 2) for a, b in zip(dims[:-1], dims[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in dims[1:])
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(channels, d_model)

    def forward(self, tokens, mask):
        m = mask[:, None, :].float()
        x = self.embed(tokens).transpose(1, 2)
        for conv, norm in zip(self.convs, self.norms):
            x = self.drop(F.relu(norm(conv(x * m))))
        return self.proj(x.transpose(1, 2))


class Attention(nn.Module):
    """Multi-head attention (Vaswani et al. 2017, Sec. 3.2.2) over given keys/values.

    ``kv(src)`` projects keys and values [B, H, S, dh] once (the decoder caches them);
    ``forward(x, k, v, mask)`` attends queries from x [B, N, d]; mask [B, N or 1, S] bool, True
    = may attend. ``need_weights`` also returns the probabilities [B, H, N, S].
    """

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def _split(self, x):
        return x.view(x.shape[0], x.shape[1], self.h, self.dh).transpose(1, 2)

    def kv(self, src):
        return self._split(self.k(src)), self._split(self.v(src))

    def forward(self, x, k, v, mask=None, need_weights: bool = False):
        q = self._split(self.q(x))
        m = None if mask is None else mask[:, None]
        if need_weights:
            s = q @ k.transpose(-1, -2) / math.sqrt(self.dh)
            if m is not None:
                s = s.masked_fill(~m, float("-inf"))
            w = s.softmax(-1)
            o = w @ v
        else:
            w, o = None, F.scaled_dot_product_attention(q, k, v, attn_mask=m)
        return self.o(o.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)), w


class FeedForward(nn.Sequential):
    def __init__(self, d, ffn, dropout):
        super().__init__(nn.Linear(d, ffn), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ffn, d))


class EncoderLayer(nn.Module):
    """Post-norm self-attention + feed-forward block (Sec. 3.5)."""

    def __init__(self, d, heads, ffn, dropout):
        super().__init__()
        self.attn, self.ff = Attention(d, heads), FeedForward(d, ffn, dropout)
        self.n1, self.n2, self.drop = nn.LayerNorm(d), nn.LayerNorm(d), nn.Dropout(dropout)

    def forward(self, x, mask):
        x = self.n1(x + self.drop(self.attn(x, *self.attn.kv(x), mask)[0]))
        return self.n2(x + self.drop(self.ff(x)))


class DecoderLayer(nn.Module):
    """Post-norm masked self-attention, source attention and feed-forward (Sec. 3.6)."""

    def __init__(self, d, heads, ffn, dropout):
        super().__init__()
        self.self_attn, self.src_attn, self.ff = Attention(d, heads), Attention(d, heads), FeedForward(d, ffn, dropout)
        self.n1, self.n2, self.n3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, self_kv, causal, src_kv, src_mask, need_weights=False):
        x = self.n1(x + self.drop(self.self_attn(x, *self_kv, causal)[0]))
        a, w = self.src_attn(x, *src_kv, src_mask, need_weights)
        x = self.n2(x + self.drop(a))
        return self.n3(x + self.drop(self.ff(x))), w


def guided_attention_loss(attn, text_lengths, dec_lengths, sigma: float = 0.4):
    """Mean of A_nt W_nt over valid (decoder step n, token t) and heads, with
    W_nt = 1 - exp(-(n/N - t/T)^2 / (2 sigma^2)) (Tachibana et al. 2018, Eq. 7). attn [B, H, N, T]."""
    B, _, N, T = attn.shape
    n = torch.arange(N, device=attn.device)[None, :, None] / dec_lengths[:, None, None]
    t = torch.arange(T, device=attn.device)[None, None, :] / text_lengths[:, None, None]
    w = 1 - torch.exp(-((n - t) ** 2) / (2 * sigma ** 2))
    mask = (sequence_mask(dec_lengths, N)[:, :, None] & sequence_mask(text_lengths, T)[:, None, :]).to(attn.dtype)
    return (attn * (w * mask)[:, None]).sum() / (mask.sum() * attn.shape[1])


class TransformerTTS(AutoregressiveTTS):
    """Tokens -> log-mel, autoregressively. See the module docstring for the architecture.

    Args:
        vocab_size / symbols: token ids, or a ``SymbolTable.to_dict()`` kept in the config.
        n_mels, mel_preset, mel_mean, mel_std: output mel settings and normalisation.
        d_model, heads, encoder_layers, decoder_layers, ffn, dropout: Transformer sizes.
        embed_dim, enc_prenet_channels, enc_prenet_dropout: encoder pre-net.
        prenet_hidden, prenet_dropout, prenet_always_dropout: decoder pre-net.
        postnet_channels, postnet_layers: post-net (0 layers: none).
        reduction: frames per decoder step.
        mel_loss: "mse" (the paper) or "l1", on the frames before and after the post-net.
        stop_pos_weight: BCE weight of the final frame.
        guided_attn_weight, guided_attn_sigma, guided_attn_heads, guided_attn_layers: the
            guided-attention loss (weight 0 turns it off).
    """

    name = "TransformerTTS"

    def __init__(self, vocab_size: int | None = None, symbols: dict | None = None, n_mels: int = 80,
                 mel_preset: str | None = "ljspeech_22k", d_model: int = 512, heads: int = 8,
                 encoder_layers: int = 6, decoder_layers: int = 6, ffn: int = 2048, dropout: float = 0.1,
                 embed_dim: int = 512, enc_prenet_channels: int = 512, enc_prenet_dropout: float = 0.5,
                 prenet_hidden: int = 256, prenet_dropout: float = 0.5, prenet_always_dropout: bool = True,
                 postnet_channels: int = 512, postnet_layers: int = 5, reduction: int = 1,
                 mel_loss: str = "mse", stop_pos_weight: float = 5.0, guided_attn_weight: float = 1.0,
                 guided_attn_sigma: float = 0.4, guided_attn_heads: int = 2, guided_attn_layers: int = 2,
                 mel_mean: float = 0.0, mel_std: float = 1.0):
        super().__init__()
        self._setup_io(vocab_size, symbols, n_mels, mel_preset, mel_mean, mel_std)
        if d_model % heads:
            raise ValueError(f"TransformerTTS: d_model={d_model} must be a multiple of heads={heads}")
        if not (0 <= guided_attn_layers <= decoder_layers and 0 <= guided_attn_heads <= heads):
            raise ValueError(f"TransformerTTS: guided attention on {guided_attn_heads} heads of the last "
                             f"{guided_attn_layers} layers, but the decoder has {heads} heads, {decoder_layers} layers")
        self.ga = dict(weight=float(guided_attn_weight), sigma=float(guided_attn_sigma),
                       heads=guided_attn_heads, layers=guided_attn_layers)
        self.enc_prenet = EncoderPrenet(self.vocab_size, embed_dim, enc_prenet_channels, d_model,
                                        dropout=enc_prenet_dropout)
        self.enc_pos = ScaledPositionalEncoding(d_model, dropout)
        self.encoder = nn.ModuleList(EncoderLayer(d_model, heads, ffn, dropout) for _ in range(encoder_layers))
        self.dec_pos = ScaledPositionalEncoding(d_model, dropout)
        self.decoder = nn.ModuleList(DecoderLayer(d_model, heads, ffn, dropout) for _ in range(decoder_layers))
        self.head = MelHead(d_model, n_mels, reduction, prenet_hidden, prenet_dropout, prenet_always_dropout,
                            postnet_channels, postnet_layers, mel_loss=mel_loss, stop_pos_weight=stop_pos_weight)

    def encode(self, tokens, token_lengths):
        mask = sequence_mask(token_lengths, tokens.shape[1])
        x = self.enc_pos(self.enc_prenet(tokens, mask))
        for layer in self.encoder:
            x = layer(x, mask[:, None, :])
        return x, mask

    def _run(self, memory, mask, x, need_weights: bool):
        x = self.dec_pos(x)
        N = x.shape[1]
        causal = torch.ones(N, N, dtype=torch.bool, device=x.device).tril()[None]
        weights, caches = [], []
        for i, layer in enumerate(self.decoder):
            self_kv, src_kv = layer.self_attn.kv(x), layer.src_attn.kv(memory)
            caches.append([self_kv, src_kv])
            want = need_weights and i >= len(self.decoder) - self.ga["layers"]
            x, w = layer(x, self_kv, causal, src_kv, mask[:, None, :], want)
            if want:
                weights.append(w[:, : self.ga["heads"]])
        return x, weights, caches

    def decode(self, memory, mask, x):
        need = self.training and self.ga["weight"] > 0 and self.ga["layers"] > 0 and self.ga["heads"] > 0
        h, weights, _ = self._run(memory, mask, x, need)
        return h, {"attn": weights}

    def aux_losses(self, aux, token_lengths, dec_lengths):
        if not aux["attn"]:
            return {}
        ga = sum(guided_attention_loss(w, token_lengths, dec_lengths, self.ga["sigma"]) for w in aux["attn"])
        return {"guided_attn": self.ga["weight"] * ga / len(aux["attn"])}

    def prefill(self, memory, mask, x):
        h, _, caches = self._run(memory, mask, x, False)
        n = x.shape[1]
        layers = []
        for (k, v), src_kv in caches:
            # Self-attention keys/values in buffers that double when full: appending a frame
            # writes one slot instead of copying the whole cache (which also fragments the heap).
            buf = k.new_zeros(2, *k.shape[:2], max(64, 2 * n), k.shape[-1])
            buf[0, :, :, :n], buf[1, :, :, :n] = k, v
            layers.append({"kv": buf, "src": src_kv})
        return h, {"layers": layers, "n": n, "mask": mask[:, None, :]}

    def step(self, cache, x, t):
        x = self.dec_pos(x, offset=t)
        n = cache["n"]
        for layer, c in zip(self.decoder, cache["layers"]):
            if n == c["kv"].shape[3]:
                c["kv"] = torch.cat([c["kv"], torch.zeros_like(c["kv"])], 3)
            k, v = layer.self_attn.kv(x)
            c["kv"][0, :, :, n], c["kv"][1, :, :, n] = k[:, :, 0], v[:, :, 0]
            x, _ = layer(x, (c["kv"][0, :, :, : n + 1], c["kv"][1, :, :, : n + 1]), None, c["src"], cache["mask"])
        cache["n"] = n + 1
        return x, cache
