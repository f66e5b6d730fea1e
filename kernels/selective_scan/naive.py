"""Step-by-step reference of the Mamba-1 selective scan (S6): the oracle of the fast paths.

Gu & Dao 2023, "Mamba", Alg. 2 and eq. 2a/4 with zero-order-hold discretisation as in the
reference implementation (A_bar = exp(delta A), B_bar x = delta B x):
    h_t = exp(delta_t A) * h_{t-1} + delta_t B_t x_t,    y_t = C_t h_t + D x_t,    out = y * silu(z).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._utils import acc_dtype


def prepare_delta(delta, delta_bias, delta_softplus):
    if delta_bias is not None:
        delta = delta + delta_bias[..., None].to(delta.dtype)
    return F.softplus(delta) if delta_softplus else delta


def naive_selective_scan(u, delta, A, B, C, D=None, z=None, *, delta_bias=None, delta_softplus=False,
                         initial_state=None, output_final_state=False):
    """Same contract as :func:`audiokit.kernels.selective_scan.selective_scan`; loops over time."""
    dt, out_dtype = acc_dtype(u.dtype), u.dtype
    delta = prepare_delta(delta.to(dt), None if delta_bias is None else delta_bias.to(dt), delta_softplus)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1], dtype=dt) if initial_state is None else initial_state.to(dt)
    ys = []
    for t in range(u.shape[-1]):
        y, h = selective_scan_step(u[..., t], delta[..., t], A, B[..., t], C[..., t], D,
                                   None if z is None else z[..., t], h)
        ys.append(y)
    return torch.stack(ys, -1).to(out_dtype), (h if output_final_state else None)


def selective_scan_step(u, delta, A, B, C, D, z, state):
    """One recurrent step for decoding (delta already biased / softplus-ed).

    u, delta, z: [Bt, D]; A: [D, N]; B, C: [Bt, N]; D: [D] or None; state: [Bt, D, N].
    Returns (y [Bt, D] in the state's dtype, new state)."""
    dt = state.dtype
    u, delta = u.to(dt), delta.to(dt)
    state = torch.exp(delta[..., None] * A.to(dt)) * state + (delta * u)[..., None] * B.to(dt)[:, None, :]
    y = (state * C.to(dt)[:, None, :]).sum(-1)
    if D is not None:
        y = y + D.to(dt) * u
    if z is not None:
        y = y * F.silu(z.to(dt))
    return y, state
