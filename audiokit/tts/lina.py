"""Lina-Speech-style autoregressive TTS: gated-linear-attention decoder, mel output.

Lina-Speech (Lemerle et al. 2024, arXiv 2410.23320) replaces the self-attention of a codec
language model with gated linear attention (GLA; Yang et al. 2024), so generation carries a
fixed-size recurrent state instead of a growing key/value cache. The wiring follows the paper's
model description and its public code (the ``AttentiveGLA`` model with "blind" cross-attention):

* **text encoder**, non-causal: embedding, then pre-norm blocks of rotary softmax
  self-attention and a SwiGLU feed-forward;
* **audio decoder**, causal: a first stack of pre-norm GLA blocks, one **position-aware
  cross-attention**, a second stack of GLA blocks. The cross-attention is where the model
  aligns: queries from the audio states attend (softmax, one head) over the text keys and
  read *positional embeddings* of the text positions instead of content, a small recurrent GLA
  block runs over those position read-outs along the audio frames (so the read position can
  only move as a learned recurrence allows), and a second attention with those states as
  queries and the positional embeddings as keys reads the *text values*; the result is added
  to the residual stream. Positions are sinusoidal (unbounded text length) or, as the paper's
  released model, convolutional: a learned table smoothed by a depthwise convolution of
  kernel 31 (``pos_type="conv"``, at most ``max_text_len`` tokens);
* **GLA block**: x + GLA(LN(x)), then x + SwiGLU(LN(x)). The GLA layer (GLA paper Sec. 4.4,
  as in flash-linear-attention's layer): q, k (width d expand_k), v and output gate (d
  expand_v) projections, optional causal short convolution (kernel 4, SiLU) on q, k, v, a
  low-rank data-dependent gate alpha_t = exp(logsigmoid(W2 W1 x_t) / 16), the recurrence
  S_t = diag(alpha_t) S_{t-1} + k_t^T v_t, o_t = q_t S_t (GLA Eq. 3), a per-head RMSNorm
  times SiLU of the output gate, and an output projection;
* **output**: the codec head is replaced by mel frames (no pretrained codec here): a
  :class:`~audiokit.tts.autoregressive.MelHead` (pre-net with dropout, mel and stop linears,
  post-net; L1 + post-net L1 + positive-weighted stop BCE). It is one module, so a codec
  head can take its place.

Generation (:meth:`~audiokit.tts.autoregressive.AutoregressiveTTS.generate`): the go frame
(and any prompt) is prefilled with the chunked GLA op, returning each layer's final state;
every further frame is one :func:`~audiokit.kernels.gla.gla_step` per layer carrying that
state, so time and memory per frame do not grow with the output.

**Initial-state tuning** (Lina-Speech's IST, after RWKV's state tuning): every weight
frozen, each GLA layer of the two audio stacks starts from a learned state
S0 = 0.02 sum_r k_r (x) v_r (rank 1 by default) instead of zeros; see
:class:`InitialState` and :mod:`audiokit.tts.adapt`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from audiokit.kernels.gla import gated_linear_attention, gla_step
from audiokit.nn.attention import MultiHeadAttention
from audiokit.tts.alignment import sequence_mask
from audiokit.tts.autoregressive import AutoregressiveTTS, MelHead
from audiokit.tts.transformer_tts import guided_attention_loss, sinusoids
from audiokit.nn.norm import RMSNorm

CONFIGS: dict[str, dict] = {
    # The public code's LibriLight configuration (d 1024, 6 + 6 GLA layers, 4 heads, 9-layer text
    # encoder, blind cross-attention with 512-wide positions; about 230M parameters with the codec
    # embeddings and logits, which the mel head replaces), with the released checkpoint's
    # convolutional positions and short convolutions.
    "paper": dict(d_model=1024, heads=4, layers=6, text_layers=9, text_heads=4, d_pos=512, pos_type="conv",
                  short_conv=True),
    # The public code's LJSpeech sizes (d 256, 3 + 3 layers, 4-layer text encoder).
    "ljspeech": dict(d_model=256, heads=4, layers=3, text_layers=4, text_heads=4, d_pos=256),
    "tiny": dict(d_model=32, heads=2, layers=1, text_layers=1, text_heads=2, d_pos=16, gate_rank=4,
                 prenet_hidden=32, postnet_channels=32),
}


class SwiGLU(nn.Module):
    """x [.., d] -> [.., d]: W_out (SiLU(W_g x) * W_u x), hidden 4d/3 (Shazeer 2020)."""

    def __init__(self, d: int):
        super().__init__()
        self.hidden = d * 4 // 3
        self.p_in = nn.Linear(d, 2 * self.hidden)
        self.p_out = nn.Linear(self.hidden, d)

    def forward(self, x):
        gate, up = self.p_in(x).chunk(2, -1)
        return self.p_out(F.silu(gate) * up)


class ShortConv(nn.Module):
    """Causal depthwise convolution + SiLU over time. x [B, N, C], state [B, C, kernel - 1] (the
    last inputs) -> (y [B, N, C], new state)."""

    def __init__(self, dim: int, kernel: int = 4):
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel, groups=dim, bias=False)
        self.k = kernel

    def forward(self, x, state=None):
        x = x.transpose(1, 2)
        if state is None:
            state = x.new_zeros(x.shape[0], x.shape[1], self.k - 1)
        full = torch.cat([state, x], -1)
        return F.silu(self.conv(full)).transpose(1, 2), full[..., full.shape[-1] - (self.k - 1):]


class GLA(nn.Module):
    """Gated linear attention layer (Yang et al. 2024, Sec. 4.4). x [B, N, d] -> [B, N, d].

    State: {"S": [B, H, K, V] float32, "conv": (q, k, v) short-conv states or None}.
    :meth:`forward` is the parallel (chunked) form from an initial state, :meth:`step` one frame.
    """

    def __init__(self, d: int, heads: int, expand_k: float = 1.0, expand_v: float = 2.0, gate_rank: int = 16,
                 gate_normalizer: float = 16.0, short_conv: bool = False, conv_size: int = 4):
        super().__init__()
        self.key_dim, self.value_dim = int(d * expand_k), int(d * expand_v)
        if self.key_dim % heads or self.value_dim % heads:
            raise ValueError(f"GLA: key/value widths {self.key_dim}/{self.value_dim} must be multiples of heads={heads}")
        self.h, self.dk, self.dv = heads, self.key_dim // heads, self.value_dim // heads
        self.q_proj = nn.Linear(d, self.key_dim, bias=False)
        self.k_proj = nn.Linear(d, self.key_dim, bias=False)
        self.v_proj = nn.Linear(d, self.value_dim, bias=False)
        self.g_proj = nn.Linear(d, self.value_dim, bias=False)
        self.gk_proj = nn.Sequential(nn.Linear(d, gate_rank, bias=False), nn.Linear(gate_rank, self.key_dim))
        self.o_proj = nn.Linear(self.value_dim, d, bias=False)
        self.norm = RMSNorm(self.dv, eps=1e-5)
        self.gate_normalizer = gate_normalizer
        self.convs = nn.ModuleList(ShortConv(w, conv_size) for w in (self.key_dim, self.key_dim, self.value_dim)) \
            if short_conv else None
        for m in self.modules():   # flash-linear-attention's GLA initialisation
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight, gain=2 ** -2.5)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _heads(self, x, dim):
        return x.view(x.shape[0], x.shape[1], self.h, dim).transpose(1, 2)

    def _qkvg(self, x, conv_state):
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if self.convs is not None:
            conv_state = conv_state or (None, None, None)
            (q, cq), (k, ck), (v, cv) = (c(t, s) for c, t, s in zip(self.convs, (q, k, v), conv_state))
            conv_state = (cq, ck, cv)
        g = F.logsigmoid(self.gk_proj(x)) / self.gate_normalizer
        return self._heads(q, self.dk), self._heads(k, self.dk), self._heads(v, self.dv), self._heads(g, self.dk), conv_state

    def _out(self, o, x):
        B, N = x.shape[:2]
        gate = F.silu(self.g_proj(x)).view(B, N, self.h, self.dv)
        return self.o_proj((self.norm(o.transpose(1, 2).to(x.dtype)) * gate).reshape(B, N, self.value_dim))

    def forward(self, x, state=None):
        state = state or {}
        q, k, v, g, conv = self._qkvg(x, state.get("conv"))
        S0 = state.get("S")
        if S0 is not None:
            S0 = S0.expand(x.shape[0], -1, -1, -1).to(q.dtype).contiguous()
        o, S = gated_linear_attention(q, k, v, g, initial_state=S0, output_final_state=True)
        return self._out(o, x), {"S": S, "conv": conv}

    def step(self, x, state):
        """One frame x [B, 1, d] with the state after the previous frame (recurrent form)."""
        q, k, v, g, conv = self._qkvg(x, state.get("conv"))
        S = state.get("S")
        if S is None:
            S = x.new_zeros(x.shape[0], self.h, self.dk, self.dv, dtype=torch.float32)
        o, S = gla_step(q[:, :, 0], k[:, :, 0], v[:, :, 0], g[:, :, 0], S.expand(x.shape[0], -1, -1, -1))
        return self._out(o[:, :, None], x), {"S": S, "conv": conv}


class GLABlock(nn.Module):
    """Pre-norm residual block: x + GLA(LN x), then x + SwiGLU(LN x)."""

    def __init__(self, d, heads, dropout=0.0, **gla):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.tmix, self.cmix = GLA(d, heads, **gla), SwiGLU(d)
        self.drop = nn.Dropout(dropout)

    def _ff(self, x, a):
        x = x + self.drop(a)
        return x + self.drop(self.cmix(self.n2(x)))

    def forward(self, x, state=None):
        a, state = self.tmix(self.n1(x), state)
        return self._ff(x, a), state

    def step(self, x, state):
        a, state = self.tmix.step(self.n1(x), state)
        return self._ff(x, a), state


class TextBlock(nn.Module):
    """Pre-norm non-causal self-attention (rotary) + SwiGLU block of the text encoder."""

    def __init__(self, d, heads, attention, dropout):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = MultiHeadAttention(d, heads, kind=attention, rotary=True)
        self.ff = SwiGLU(d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask):
        x = x + self.drop(self.attn(self.n1(x), mask))
        return x + self.drop(self.ff(self.n2(x)))


class ConvPositions(nn.Module):
    """Positions 0..T-1 -> [T, d]: a learned table smoothed by a depthwise convolution (kernel 31)."""

    def __init__(self, d: int, max_len: int, kernel: int = 31):
        super().__init__()
        self.table = nn.Embedding(max_len, d)
        self.conv = nn.Conv1d(d, d, kernel, groups=d, padding=kernel // 2)

    def forward(self, T: int, device):
        if T > self.table.num_embeddings:
            raise ValueError(f"LinaTTS: {T} text tokens exceed max_text_len={self.table.num_embeddings} "
                             "of the convolutional positions (use pos_type='sinusoidal' for unbounded text)")
        return self.conv(self.table(torch.arange(T, device=device)).T[None])[0].T


class PositionalCrossAttention(nn.Module):
    """Lina's position-aware ("blind") cross-attention. y [B, N, d] audio states, text c [B, T, d]:

    p = softmax(LN(W_q y) LN(W_k c)^T / sqrt d) P,   p' = GLABlock(p) (recurrent over frames),
    out = softmax(p' P^T / sqrt d_pos) LN(W_v c),    P = embeddings of the text positions.
    """

    def __init__(self, d, d_pos, heads, dropout=0.0, attn_dropout=0.0, pos_type="sinusoidal", max_text_len=2048, **gla):
        super().__init__()
        if pos_type not in ("sinusoidal", "conv"):
            raise ValueError(f"LinaTTS: pos_type must be 'sinusoidal' or 'conv', got {pos_type!r}")
        self.conv_pos = ConvPositions(d_pos, max_text_len) if pos_type == "conv" else None
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.ln_q, self.ln_k, self.ln_v = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.pos_net = GLABlock(d_pos, heads, dropout, **gla)
        self.d_pos, self.attn_dropout = d_pos, attn_dropout

    def memory(self, c, mask):
        """Text-side tensors, computed once per utterance."""
        T = c.shape[1]
        pos = self.conv_pos(T, c.device) if self.conv_pos is not None else sinusoids(T, self.d_pos, device=c.device)
        pos = pos.to(c.dtype).expand(c.shape[0], -1, -1)
        return {"k": self.ln_k(self.k(c)), "v": self.ln_v(self.v(c)), "pos": pos, "mask": mask[:, None, :]}

    def _attend(self, q, k, v, mask):
        s = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
        w = s.masked_fill(~mask, float("-inf")).softmax(-1)
        return F.dropout(w, self.attn_dropout, self.training) @ v, w

    def forward(self, y, mem, state=None, step=False, need_weights=False):
        """-> (out, state), or (out, state, w) with ``need_weights``: w [B, N, T] the weights with
        which each frame reads the text (the second attention), for a guided-attention loss."""
        p, _ = self._attend(self.ln_q(self.q(y)), mem["k"], mem["pos"], mem["mask"])
        p, state = self.pos_net.step(p, state) if step else self.pos_net(p, state)
        out, w = self._attend(p, mem["pos"], mem["v"], mem["mask"])
        return (out, state, w) if need_weights else (out, state)


class InitialState(nn.Module):
    """Learned initial states of L GLA layers: S0_l = scale sum_r k_{l,r} (x) v_{l,r} (Lina-Speech IST).

    k [L, R, H, K] ~ N(0, 1) and v [L, R, H, V] ~ 0.02 N(0, 1) at the start, as the public code
    initialises them. :meth:`forward` -> [L, H, K, V].
    """

    def __init__(self, layers: int, heads: int, key_dim: int, value_dim: int, rank: int = 1, scale: float = 0.02):
        super().__init__()
        if rank < 1:
            raise ValueError(f"InitialState: rank must be >= 1, got {rank}")
        self.scale = float(scale)
        self.k = nn.Parameter(torch.randn(layers, rank, heads, key_dim))
        self.v = nn.Parameter(torch.randn(layers, rank, heads, value_dim) * scale)

    def forward(self):
        return self.scale * torch.einsum("lrhk,lrhv->lhkv", self.k, self.v)


class LinaTTS(AutoregressiveTTS):
    """Tokens -> log-mel with a GLA decoder; see the module docstring.

    Args:
        vocab_size / symbols: token ids, or a ``SymbolTable.to_dict()`` kept in the config.
        n_mels, mel_preset, mel_mean, mel_std: output mel settings and normalisation.
        d_model, heads, layers: width, GLA heads, GLA blocks in each of the two audio stacks.
        expand_k, expand_v, gate_rank, short_conv, conv_size: GLA layer (Lina's code: 1, 2, 16).
        text_layers, text_heads, text_attention: text encoder ("softmax" as Lina; any kind of
            :class:`~audiokit.nn.attention.MultiHeadAttention`).
        d_pos: width of the cross-attention's positional embeddings and its GLA block.
        pos_type, max_text_len: "sinusoidal" positions, or "conv" (learned, at most max_text_len tokens).
        dropout, attn_dropout: residual-branch and cross-attention dropout.
        prenet_hidden, prenet_dropout, prenet_always_dropout, postnet_channels, postnet_layers,
        reduction, mel_loss, stop_pos_weight: the mel head.
        guided_attn_weight, guided_attn_sigma: a guided-attention loss (Tachibana et al. 2018, Eq. 7)
            on the weights with which frames read the text; 0 (Lina-Speech) turns it off.
    """

    name = "LinaTTS"

    def __init__(self, vocab_size: int | None = None, symbols: dict | None = None, n_mels: int = 80,
                 mel_preset: str | None = "ljspeech_22k", d_model: int = 256, heads: int = 4, layers: int = 3,
                 expand_k: float = 1.0, expand_v: float = 2.0, gate_rank: int = 16, short_conv: bool = False,
                 conv_size: int = 4, text_layers: int = 4, text_heads: int = 4, text_attention: str = "softmax",
                 d_pos: int = 256, pos_type: str = "sinusoidal", max_text_len: int = 2048, dropout: float = 0.1, attn_dropout: float = 0.1, prenet_hidden: int = 256,
                 prenet_dropout: float = 0.5, prenet_always_dropout: bool = True, postnet_channels: int = 512,
                 postnet_layers: int = 5, reduction: int = 1, mel_loss: str = "l1", stop_pos_weight: float = 5.0,
                 guided_attn_weight: float = 0.0, guided_attn_sigma: float = 0.4,
                 mel_mean: float = 0.0, mel_std: float = 1.0):
        super().__init__()
        self._setup_io(vocab_size, symbols, n_mels, mel_preset, mel_mean, mel_std)
        if guided_attn_weight < 0 or guided_attn_sigma <= 0:
            raise ValueError(f"LinaTTS: guided_attn_weight must be >= 0 and guided_attn_sigma > 0, got "
                             f"{guided_attn_weight}, {guided_attn_sigma}")
        self.ga = dict(weight=float(guided_attn_weight), sigma=float(guided_attn_sigma))
        gla = dict(expand_k=expand_k, expand_v=expand_v, gate_rank=gate_rank, short_conv=short_conv,
                   conv_size=conv_size)
        self.embed = nn.Embedding(self.vocab_size, d_model, padding_idx=0)
        self.text = nn.ModuleList(TextBlock(d_model, text_heads, text_attention, dropout) for _ in range(text_layers))
        self.text_norm = nn.LayerNorm(d_model)
        self.enc = nn.ModuleList(GLABlock(d_model, heads, dropout, **gla) for _ in range(layers))
        self.cross = PositionalCrossAttention(d_model, d_pos, heads, dropout, attn_dropout, pos_type, max_text_len, **gla)
        self.dec = nn.ModuleList(GLABlock(d_model, heads, dropout, **gla) for _ in range(layers))
        self.head = MelHead(d_model, n_mels, reduction, prenet_hidden, prenet_dropout, prenet_always_dropout,
                            postnet_channels, postnet_layers, mel_loss=mel_loss, stop_pos_weight=stop_pos_weight)
        self.initial_state: InitialState | None = None

    # ------------------------------------------------------------------ initial-state tuning
    @property
    def gla_layers(self) -> list[GLA]:
        """The GLA layers that carry a tunable initial state: both audio stacks, in order."""
        return [b.tmix for b in (*self.enc, *self.dec)]

    def new_initial_state(self, rank: int = 1, scale: float = 0.02) -> InitialState:
        g = self.gla_layers[0]
        p = next(self.parameters())
        return InitialState(len(self.gla_layers), g.h, g.dk, g.dv, rank, scale).to(p.device)

    def set_initial_state(self, state: InitialState | None):
        """Install (or remove, with None) learned initial states used by training and generation."""
        if state is not None:
            g = self.gla_layers[0]
            want = (len(self.gla_layers), g.h, g.dk, g.dv)
            if (state.k.shape[0], *state.k.shape[2:]) != want[:3] or state.v.shape[-1] != g.dv:
                raise ValueError(f"LinaTTS: initial state for [layers, heads, K, V] = {list(want)} expected, got "
                                 f"k {tuple(state.k.shape)}, v {tuple(state.v.shape)}")
        self.initial_state = state

    def _initial(self):
        if self.initial_state is None:
            return [None] * len(self.gla_layers)
        return [{"S": s[None]} for s in self.initial_state()]

    # ------------------------------------------------------------------ backbone
    def encode(self, tokens, token_lengths):
        mask = sequence_mask(token_lengths, tokens.shape[1])
        x = self.embed(tokens) * mask[..., None]
        for blk in self.text:
            x = blk(x, mask)
        return self.text_norm(x), mask

    def prefill(self, memory, mask, x):
        init = self._initial()
        states, n = [], len(self.enc)
        for blk, s0 in zip(self.enc, init[:n]):
            x, s = blk(x, s0)
            states.append(s)
        mem = self.cross.memory(memory, mask)
        a, cross_state, w = self.cross(x, mem, need_weights=True)
        x = x + a
        for blk, s0 in zip(self.dec, init[n:]):
            x, s = blk(x, s0)
            states.append(s)
        return x, {"gla": states, "cross": cross_state, "mem": mem, "attn": w}

    def decode(self, memory, mask, x):
        h, cache = self.prefill(memory, mask, x)
        return h, {"attn": cache["attn"]}

    def aux_losses(self, aux, token_lengths, dec_lengths) -> dict:
        """Guided attention on the frames' reading of the text (off unless guided_attn_weight > 0;
        not in Lina-Speech, which trains on far more data: a small corpus needs the push to align)."""
        if self.ga["weight"] == 0 or aux.get("attn") is None:
            return {}
        loss = guided_attention_loss(aux["attn"][:, None], token_lengths, dec_lengths, self.ga["sigma"])
        return {"guided_attn": self.ga["weight"] * loss}

    def step(self, cache, x, t):
        n, states = len(self.enc), cache["gla"]
        for i, blk in enumerate(self.enc):
            x, states[i] = blk.step(x, states[i])
        a, cache["cross"] = self.cross(x, cache["mem"], cache["cross"], step=True)
        x = x + a
        for i, blk in enumerate(self.dec):
            x, states[n + i] = blk.step(x, states[n + i])
        return x, cache
