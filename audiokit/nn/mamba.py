"""Mamba-1 block (Gu & Dao 2023, Sec. 3.4 and Fig. 3) with recurrent step-by-step inference.

in_proj -> (x, z); x -> causal depthwise conv1d -> SiLU -> x_proj -> (delta, B, C) ->
selective scan with input-dependent delta/B/C, A = -exp(A_log) (S4D-real init), D skip and
SiLU(z) gating -> out_proj. ``forward`` takes and returns the conv/ssm state, so a long input can
be processed in chunks (or one step at a time with ``step``) with the same result as one pass.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from audiokit.kernels.causal_conv1d import causal_conv1d
from audiokit.kernels.selective_scan import selective_scan, selective_scan_step
from audiokit.nn.norm import RMSNorm


class MambaState(NamedTuple):
    conv: torch.Tensor   # [B, d_inner, d_conv - 1] last inputs of the depthwise conv
    ssm: torch.Tensor    # [B, d_inner, d_state] float32


class Mamba(nn.Module):
    """x [B, L, dim] -> [B, L, dim] (causal).

    Args:
        dim: model width. d_state: SSM state size N. d_conv: conv kernel size. expand: d_inner / dim.
        dt_rank: rank of the delta projection ("auto": ceil(dim / 16)). dt_min, dt_max: range of the
            initial step sizes (log-uniform, as in the paper's reference initialisation).
    """

    def __init__(self, dim: int, d_state: int = 16, d_conv: int = 4, expand: int = 2, dt_rank: int | str = "auto",
                 dt_min: float = 1e-3, dt_max: float = 0.1, bias: bool = False, conv_bias: bool = True):
        super().__init__()
        if d_conv < 1 or d_state < 1 or expand < 1:
            raise ValueError(f"d_state, d_conv, expand: expected >= 1, got {d_state}, {d_conv}, {expand}")
        self.d_inner, self.d_state, self.d_conv = expand * dim, d_state, d_conv
        self.dt_rank = math.ceil(dim / 16) if dt_rank == "auto" else int(dt_rank)
        self.in_proj = nn.Linear(dim, 2 * self.d_inner, bias=bias)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner, bias=conv_bias)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner)
        dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))   # softplus^-1(dt)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(self.d_inner, 1))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, dim, bias=bias)

    def init_state(self, batch: int, device=None) -> MambaState:
        return MambaState(torch.zeros(batch, self.d_inner, self.d_conv - 1, device=device),
                          torch.zeros(batch, self.d_inner, self.d_state, device=device))

    def _ssm_params(self, x):  # x: [B, L, d_inner] after conv
        dt, Bm, Cm = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], -1)
        return dt @ self.dt_proj.weight.T, Bm, Cm

    def forward(self, x: torch.Tensor, state: MambaState | None = None, return_state: bool = False,
                residual: torch.Tensor | None = None):
        """x [B, L, dim] -> y [B, L, dim] (and the new MambaState when return_state).

        residual: [B, L, dim] added to y inside the output projection's matmul (one kernel instead of
        a matmul and a separate add over the whole sequence)."""
        if x.dim() != 3:
            raise ValueError(f"x: expected shape [B, L, dim], got {tuple(x.shape)}")
        if residual is not None and residual.shape != x.shape[:2] + (self.out_proj.out_features,):
            raise ValueError(f"residual: expected shape {tuple(x.shape[:2]) + (self.out_proj.out_features,)}, "
                             f"got {tuple(residual.shape)}")
        xi, z = self.in_proj(x).chunk(2, -1)
        xi = xi.transpose(1, 2)                                             # [B, d_inner, L] channels-last view
        past = state.conv.to(xi.dtype) if state is not None else None
        # Everything stays channels-last on CUDA, so no layout copies: the causal depthwise conv +
        # SiLU reads the in_proj view as is and writes u channels-last, x_proj and dt_proj read it
        # as rows, the scan reads any strides and writes y channels-last (as z is) for out_proj.
        u = causal_conv1d(xi, self.conv1d.weight[:, 0], self.conv1d.bias, initial_state=past)
        dt, Bm, Cm = self._ssm_params(u.transpose(1, 2))
        y, h = selective_scan(u, dt.transpose(1, 2), -torch.exp(self.A_log), Bm.transpose(1, 2),
                              Cm.transpose(1, 2), self.D, z.transpose(1, 2),
                              delta_bias=self.dt_proj.bias, delta_softplus=True,
                              initial_state=None if state is None else state.ssm, output_final_state=return_state)
        if residual is None:
            out = self.out_proj(y.transpose(1, 2))
        else:
            yt = y.transpose(1, 2)
            base = residual if self.out_proj.bias is None else residual + self.out_proj.bias
            out = torch.addmm(base.reshape(-1, base.shape[-1]), yt.reshape(-1, yt.shape[-1]),
                              self.out_proj.weight.t()).view(base.shape)
        if return_state:   # the conv state: the last d_conv - 1 inputs, past ones if the chunk is short
            W1 = self.d_conv - 1
            hist = torch.cat([past if past is not None else xi.new_zeros(*xi.shape[:2], W1),
                              xi[..., max(0, xi.shape[-1] - W1):]], -1)
            return out, MambaState(hist[..., hist.shape[-1] - W1:], h)
        return out

    def step(self, x: torch.Tensor, state: MambaState) -> tuple[torch.Tensor, MambaState]:
        """One decoding step: x [B, dim] -> (y [B, dim], new state); O(1) in the sequence length."""
        xi, z = self.in_proj(x).chunk(2, -1)
        window = torch.cat([state.conv.to(xi.dtype), xi[..., None]], -1)    # [B, d_inner, d_conv]
        u = (window * self.conv1d.weight[:, 0]).sum(-1)
        if self.conv1d.bias is not None:
            u = u + self.conv1d.bias
        u = F.silu(u)
        dt, Bm, Cm = self._ssm_params(u)
        dt = F.softplus(dt + self.dt_proj.bias)
        y, h = selective_scan_step(u, dt, -torch.exp(self.A_log), Bm, Cm, self.D, z, state.ssm)
        return self.out_proj(y.to(x.dtype)), MambaState(window[..., 1:], h)


class BiMamba(nn.Module):
    """Bidirectional Mamba: a forward block plus a block on the time-reversed input.

    x [B, L, dim] -> [B, L, dim] (merge="sum", as in Vision Mamba) or [B, L, 2 * dim]
    (merge="concat": forward and backward outputs side by side, as SEMamba and MambAttention feed
    a 2 * dim -> dim projection). With norm="rms" each direction is the pre-norm residual block of
    Mamba's reference model, x + Mamba(RMSNorm(x)) (the form MambAttention uses); norm=None runs
    the bare Mamba. Other keyword arguments go to both :class:`Mamba` blocks.
    """

    def __init__(self, dim: int, merge: str = "sum", norm: str | None = None, norm_eps: float = 1e-5, **kwargs):
        super().__init__()
        if merge not in ("sum", "concat"):
            raise ValueError(f"merge: expected 'sum' or 'concat', got {merge!r}")
        if norm not in (None, "rms"):
            raise ValueError(f"norm: expected None or 'rms', got {norm!r}")
        self.merge = merge
        self.fwd, self.bwd = Mamba(dim, **kwargs), Mamba(dim, **kwargs)
        if norm == "rms":
            self.fwd_norm, self.bwd_norm = RMSNorm(dim, eps=norm_eps), RMSNorm(dim, eps=norm_eps)
        else:
            self.fwd_norm = self.bwd_norm = None

    @staticmethod
    def _direction(mixer: Mamba, norm: nn.Module | None, x: torch.Tensor) -> torch.Tensor:
        return mixer(x) if norm is None else mixer(norm(x), residual=x)

    def pair(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two directions' outputs (y_forward, y_backward), each [B, L, dim], before merging."""
        y_f = self._direction(self.fwd, self.fwd_norm, x)
        y_b = self._direction(self.bwd, self.bwd_norm, x.flip(1)).flip(1)
        return y_f, y_b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y_f, y_b = self.pair(x)
        return y_f + y_b if self.merge == "sum" else torch.cat([y_f, y_b], -1)
