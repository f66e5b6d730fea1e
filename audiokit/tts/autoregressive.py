"""What the autoregressive TTS models share: the frame-side head, losses and the generation loop.

An autoregressive acoustic model predicts mel frames one decoder step at a time from the text
and the frames before. Two swap points:

* the **backbone** (a subclass of :class:`AutoregressiveTTS`): text encoder + causal decoder,
  with a parallel (teacher-forced) form :meth:`~AutoregressiveTTS.decode` and an incremental
  form :meth:`~AutoregressiveTTS.prefill` / :meth:`~AutoregressiveTTS.step` that carries a
  cache (Transformer-TTS: keys/values; Lina: recurrent states);
* the **head** (:class:`MelHead`): frames -> decoder inputs (pre-net) and decoder states ->
  frames + stop logits, its loss and the post-net. A codec-token head (embeddings of
  codebook entries in, logits per codebook out, cross-entropy) implements the same five
  methods and replaces it.

Frames are grouped by the reduction factor r (Tacotron, Wang et al. 2017, Sec. 3.3): decoder
step t emits frames [t r, (t + 1) r) and is fed the last frame of the previous group (a zero
"go" frame at t = 0). The stop head emits one logit per frame; the target is 1 on the last
frame of each utterance, trained with a positive weight on that frame because it is one in
hundreds (Transformer-TTS, Li et al. 2019, Sec. 3.7: 5-8, else generation never stops).
Generation stops at the first frame whose stop probability exceeds ``threshold`` (0.5) or at
``max_len_ratio`` frames per token.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audiokit.frontend.mel import PRESETS
from audiokit.tts.alignment import sequence_mask


class DecoderPrenet(nn.Module):
    """frames [B, T, n_mels] -> [B, T, d_out]: FC-ReLU-dropout layers, then a linear projection.

    Tacotron 2 (Shen et al. 2018, Sec. 2.2): 2 x 256 units, dropout 0.5 also at inference
    (``always_dropout``), which adds the variation autoregressive decoding needs;
    Transformer-TTS (Sec. 3.4) adds the projection to the model width.
    """

    def __init__(self, n_in: int, d_out: int, hidden: int = 256, layers: int = 2, dropout: float = 0.5,
                 always_dropout: bool = True):
        super().__init__()
        dims = [n_in] + [hidden] * layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.proj = nn.Linear(hidden, d_out)
        self.dropout, self.always_dropout = dropout, always_dropout

    def forward(self, x):
        on = (self.training or self.always_dropout) and self.dropout > 0
        for lin in self.layers:
            x = F.relu(lin(x))
            if on:
                # Explicit fp32 mask, not F.dropout: models trained under bf16 autocast on CUDA
                # learned to see through the fused kernel's masks, which removed this bottleneck
                # and with it the decoder's need to read the text (BENCHMARKS.md).
                keep = torch.rand(x.shape, device=x.device) >= self.dropout
                x = x * keep.to(x.dtype) * (1.0 / (1.0 - self.dropout))
        return self.proj(x)


class Postnet(nn.Module):
    """mel [B, n_mels, T] -> residual [B, n_mels, T]: 5 conv layers (channels, kernel 5, batch
    norm, tanh on all but the last, dropout 0.5) as Tacotron 2 Sec. 2.2 and Transformer-TTS Sec. 3.7."""

    def __init__(self, n_mels: int, channels: int = 512, kernel: int = 5, layers: int = 5, dropout: float = 0.5):
        super().__init__()
        dims = [n_mels] + [channels] * (layers - 1) + [n_mels]
        self.convs = nn.ModuleList(nn.Conv1d(a, b, kernel, padding=kernel // 2) for a, b in zip(dims[:-1], dims[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in dims[1:])
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask=None):
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = norm(conv(x if mask is None else x * mask))
            x = self.drop(torch.tanh(x) if i < len(self.convs) - 1 else x)
        return x if mask is None else x * mask


class MelHead(nn.Module):
    """The frame side of an autoregressive TTS model (the output swap point).

    Shapes (d = model width, r = reduction factor, frames normalised, zero = go frame):

    * :meth:`inputs`: frames [B, n_mels, G r] -> decoder inputs [B, G, d] (go + last frame of
      each group but the last; ``with_last=True``: G + 1 inputs, for prefilling a prompt);
    * :meth:`embed`: one frame [B, n_mels] -> [B, 1, d];
    * :meth:`forward`: states [B, G, d] -> (frames [B, n_mels, G r], stop logits [B, G r]);
    * :meth:`loss`: states, target frames, lengths -> {"mel", "post", "stop"};
    * :meth:`finish`: generated frames [B, n_mels, F] -> frames after the post-net.
    """

    def __init__(self, d_model: int, n_mels: int = 80, reduction: int = 1, prenet_hidden: int = 256,
                 prenet_dropout: float = 0.5, prenet_always_dropout: bool = True, postnet_channels: int = 512,
                 postnet_layers: int = 5, postnet_dropout: float = 0.5, mel_loss: str = "l1",
                 stop_pos_weight: float = 5.0):
        super().__init__()
        if mel_loss not in ("l1", "mse"):
            raise ValueError(f"mel_loss must be 'l1' or 'mse', got {mel_loss!r}")
        if not isinstance(reduction, int) or reduction < 1:
            raise ValueError(f"reduction must be a positive int, got {reduction!r}")
        self.n_mels, self.r, self.mel_loss, self.stop_pos_weight = n_mels, reduction, mel_loss, float(stop_pos_weight)
        self.prenet = DecoderPrenet(n_mels, d_model, prenet_hidden, dropout=prenet_dropout,
                                    always_dropout=prenet_always_dropout)
        self.mel_out = nn.Linear(d_model, n_mels * reduction)
        self.stop_out = nn.Linear(d_model, reduction)
        self.postnet = Postnet(n_mels, postnet_channels, layers=postnet_layers, dropout=postnet_dropout) \
            if postnet_layers > 0 else None

    def inputs(self, frames, with_last: bool = False):
        last = frames[:, :, self.r - 1::self.r]                         # [B, n_mels, G]
        go = frames.new_zeros(frames.shape[0], self.n_mels, 1)
        x = torch.cat([go, last if with_last else last[:, :, :-1]], -1)
        return self.prenet(x.transpose(1, 2))

    def embed(self, frame):
        return self.prenet(frame[:, None, :])

    def forward(self, h):
        B, G, _ = h.shape
        frames = self.mel_out(h).view(B, G, self.r, self.n_mels).reshape(B, G * self.r, self.n_mels)
        return frames.transpose(1, 2), self.stop_out(h).reshape(B, G * self.r)

    def finish(self, frames, lengths=None):
        if self.postnet is None:
            return frames
        mask = None if lengths is None else sequence_mask(lengths, frames.shape[-1])[:, None, :].to(frames.dtype)
        return frames + self.postnet(frames, mask)

    def loss(self, h, target, lengths):
        """target [B, n_mels, G r] normalised (zero past lengths) -> {"mel", "post", "stop"}."""
        frames, stop = self(h)
        mask = sequence_mask(lengths, target.shape[-1]).to(target.dtype)          # [B, F]
        post = self.finish(frames, lengths)
        err = (lambda a: (a - target).abs()) if self.mel_loss == "l1" else (lambda a: (a - target) ** 2)
        denom = mask.sum() * self.n_mels
        mel_l = (err(frames) * mask[:, None]).sum() / denom
        post_l = (err(post) * mask[:, None]).sum() / denom if self.postnet is not None else torch.zeros_like(mel_l)
        return {"mel": mel_l, "post": post_l, "stop": stop_loss(stop, lengths, self.stop_pos_weight)}


def stop_loss(logits, lengths, pos_weight: float):
    """Masked BCE on stop logits [B, F]; target 1 on frame lengths - 1, weighted ``pos_weight``."""
    F_ = logits.shape[-1]
    mask = sequence_mask(lengths, F_).to(logits.dtype)
    target = F.one_hot(lengths - 1, F_).to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none",
                                             pos_weight=logits.new_tensor(pos_weight))
    return (bce * mask).sum() / mask.sum()


class AutoregressiveTTS(nn.Module):
    """Base of the autoregressive TTS models: symbols, mel settings, checks, loss and generation.

    A subclass builds ``self.head`` (a :class:`MelHead`) and implements

    * ``encode(tokens, token_lengths) -> (memory [B, T_text, C], mask [B, T_text] bool)``;
    * ``decode(memory, mask, x [B, G, d]) -> (h [B, G, d], aux dict)``: the parallel form;
    * ``prefill(memory, mask, x [B, G, d]) -> (h [B, G, d], cache)``: the same outputs, also
      returning the cache after position G - 1;
    * ``step(cache, x [B, 1, d], t) -> (h [B, 1, d], cache)``: one decoder step at position t;
    * optionally ``aux_losses(aux, token_lengths, dec_lengths) -> dict`` (added to the loss).

    The training batch is the TTS contract: tokens [B, T] long, token_lengths [B], mel
    [B, n_mels, F] log-mel (un-normalised), mel_lengths [B]; :meth:`forward` returns
    ``{"loss": total, "mel", "post", "stop", ...}``.
    """

    name = "AutoregressiveTTS"

    def _setup_io(self, vocab_size, symbols, n_mels, mel_preset, mel_mean, mel_std):
        if symbols is not None:
            from audiokit.text.symbols import SymbolTable

            table = SymbolTable.from_dict(symbols)
            if vocab_size is not None and vocab_size != len(table):
                raise ValueError(f"{self.name}: vocab_size={vocab_size} disagrees with the symbol table ({len(table)})")
            vocab_size, self.symbols = len(table), table
        else:
            self.symbols = None
        if not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(f"{self.name}: give vocab_size (int >= 2) or symbols, got vocab_size={vocab_size!r}")
        if mel_preset is not None:
            if mel_preset not in PRESETS:
                raise ValueError(f"{self.name}: unknown mel_preset {mel_preset!r}; known: {sorted(PRESETS)}")
            if PRESETS[mel_preset]["n_mels"] != n_mels:
                raise ValueError(f"{self.name}: n_mels={n_mels} but mel_preset {mel_preset!r} has "
                                 f"{PRESETS[mel_preset]['n_mels']}")
        if not mel_std > 0:
            raise ValueError(f"{self.name}: mel_std must be positive, got {mel_std!r}")
        self.mel_settings = dict(PRESETS[mel_preset]) if mel_preset else {"n_mels": n_mels}
        self.vocab_size, self.n_mels = vocab_size, n_mels
        self.mel_mean, self.mel_std = float(mel_mean), float(mel_std)

    # ------------------------------------------------------------------ checks
    def _check_tokens(self, tokens, token_lengths):
        if tokens.dim() != 2 or tokens.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"{self.name}: tokens must be integer [B, T_text], got {tuple(tokens.shape)} {tokens.dtype}")
        if token_lengths is None:
            token_lengths = torch.full((tokens.shape[0],), tokens.shape[1], device=tokens.device)
        token_lengths = token_lengths.to(tokens.device).long()
        if token_lengths.shape != tokens.shape[:1] or (token_lengths < 1).any() or (token_lengths > tokens.shape[1]).any():
            raise ValueError(f"{self.name}: token_lengths must be [B] in 1..{tokens.shape[1]}, got {token_lengths.tolist()}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(f"{self.name}: token ids must be in 0..{self.vocab_size - 1}")
        return tokens.long(), token_lengths

    def _check_mel(self, mel, mel_lengths, batch):
        if mel.dim() != 3 or mel.shape[1] != self.n_mels or mel.shape[0] != batch:
            raise ValueError(f"{self.name}: mel must be [B={batch}, {self.n_mels}, T_mel], got {tuple(mel.shape)}")
        if mel_lengths is None:
            mel_lengths = torch.full((batch,), mel.shape[-1], device=mel.device)
        mel_lengths = mel_lengths.to(mel.device).long()
        if mel_lengths.shape != (batch,) or (mel_lengths < 1).any() or (mel_lengths > mel.shape[-1]).any():
            raise ValueError(f"{self.name}: mel_lengths must be [B] in 1..{mel.shape[-1]}, got {mel_lengths.tolist()}")
        return mel_lengths

    def normalize(self, mel, mel_lengths):
        """Log-mel -> normalised frames, zero past mel_lengths, padded to a multiple of r."""
        r = self.head.r
        y = (mel - self.mel_mean) / self.mel_std
        y = y * sequence_mask(mel_lengths, y.shape[-1])[:, None, :].to(y.dtype)
        return F.pad(y, (0, (-y.shape[-1]) % r))

    # ------------------------------------------------------------------ training
    def aux_losses(self, aux, token_lengths, dec_lengths) -> dict:
        return {}

    def forward(self, tokens, token_lengths, mel, mel_lengths) -> dict:
        """Teacher-forced losses: {"loss": total, "mel", "post", "stop", + the model's own}."""
        tokens, token_lengths = self._check_tokens(tokens, token_lengths)
        mel_lengths = self._check_mel(mel, mel_lengths, tokens.shape[0])
        y = self.normalize(mel, mel_lengths)
        memory, mask = self.encode(tokens, token_lengths)
        h, aux = self.decode(memory, mask, self.head.inputs(y))
        out = self.head.loss(h, y, mel_lengths)
        out.update(self.aux_losses(aux, token_lengths, -(-mel_lengths // self.head.r)))
        out["loss"] = sum(out.values())
        return out

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def teacher_forced(self, tokens, frames, token_lengths=None):
        """Decoder outputs of the parallel form on given normalised frames [B, n_mels, G r]:
        (frames before the post-net [B, n_mels, G r], stop logits [B, G r]). The reference the
        incremental form is tested against."""
        tokens, token_lengths = self._check_tokens(tokens, token_lengths)
        memory, mask = self.encode(tokens, token_lengths)
        h, _ = self.decode(memory, mask, self.head.inputs(frames))
        return self.head(h)

    @torch.no_grad()
    def generate(self, tokens, token_lengths=None, *, prompt=None, max_len_ratio: float = 10.0,
                 max_frames: int | None = None, min_frames: int = 1, threshold: float = 0.5,
                 use_stop: bool = True):
        """Incremental decoding. Returns (normalised frames before the post-net [B, n_mels, F],
        lengths [B], stop probabilities [B, F]).

        Args:
            prompt: optional normalised frames [B, n_mels, P] that the generated frames continue
                (prefilled in one parallel pass; trimmed to a multiple of r; not returned).
            max_len_ratio: at most this many frames per text token (per utterance).
            max_frames: overall cap on generated frames.
            min_frames: no stop before this many frames.
            threshold: stop at the first frame with stop probability above it.
            use_stop: False generates exactly max frames (benchmarks, equality tests).
        """
        tokens, token_lengths = self._check_tokens(tokens, token_lengths)
        r, B = self.head.r, tokens.shape[0]
        memory, mask = self.encode(tokens, token_lengths)
        limit = (max_len_ratio * token_lengths.double()).ceil().long().clamp_min(1)
        if max_frames is not None:
            limit = limit.clamp_max(max_frames)
        steps = int(-(-int(limit.max()) // r))
        if prompt is None:
            prompt = memory.new_zeros(B, self.n_mels, 0)
        elif prompt.dim() != 3 or prompt.shape[:2] != (B, self.n_mels):
            raise ValueError(f"{self.name}: prompt must be [B={B}, {self.n_mels}, P], got {tuple(prompt.shape)}")
        prompt = prompt[:, :, : prompt.shape[-1] // r * r].to(memory.dtype)
        t0 = prompt.shape[-1] // r
        h, cache = self.prefill(memory, mask, self.head.inputs(prompt, with_last=True))
        h = h[:, -1:]
        out, probs = [], []
        lengths = torch.full((B,), -1, dtype=torch.long, device=tokens.device)
        for i in range(steps):
            frames, stop = self.head(h)                       # [B, n_mels, r], [B, r]
            out.append(frames)
            p = torch.sigmoid(stop)
            probs.append(p)
            if use_stop:
                idx = torch.arange(i * r, (i + 1) * r, device=p.device)
                hit = (p > threshold) & (idx[None] + 1 >= min_frames)
                first = torch.where(hit.any(1), hit.float().argmax(1) + i * r + 1, torch.full_like(lengths, -1))
                lengths = torch.where((lengths < 0) & (first > 0), first, lengths)
            over = (lengths < 0) & ((i + 1) * r >= limit)
            lengths = torch.where(over, limit, lengths)
            if bool((lengths >= 0).all()) or i == steps - 1:
                break
            h, cache = self.step(cache, self.head.embed(frames[:, :, -1]), t0 + i + 1)
        frames = torch.cat(out, -1)
        lengths = lengths.clamp(1, frames.shape[-1])
        return frames, lengths, torch.cat(probs, -1)

    @torch.no_grad()
    def synthesize(self, tokens, token_lengths=None, *, speed: float | None = None, steps=None,
                   temperature=None, **kw):
        """tokens [B, T_text] -> (log-mel [B, n_mels, F] zero past lengths, mel_lengths [B]).

        Keyword arguments go to :meth:`generate`; ``prompt`` is log-mel here. ``steps`` and
        ``temperature`` (flow-matching settings) are ignored; ``speed`` has no meaning for a
        model that decides its own durations and must be None or 1.
        """
        if speed not in (None, 1, 1.0):
            raise ValueError(f"{self.name}: speed={speed!r} is not supported (durations are generated, not predicted)")
        if kw.get("prompt") is not None:
            kw["prompt"] = (kw["prompt"] - self.mel_mean) / self.mel_std
        frames, lengths, _ = self.generate(tokens, token_lengths, **kw)
        y = self.head.finish(frames, lengths)
        mask = sequence_mask(lengths, y.shape[-1])[:, None, :].to(y.dtype)
        return (y * self.mel_std + self.mel_mean) * mask, lengths
