"""Triton forward of the causal depthwise conv + SiLU; its backward recomputes through the reference.

One program: batch row, BD channels, BL steps. The W shifted input tiles are loaded straight from
x in its own layout (the W - 1 steps before the tile from the previous tile's range, or from the
initial state before t = 0), so a channels-last input needs no transposed copy and no padded
copy; the output is written in the input's layout. Inference is a single memory-bound pass where the
reference costs a concatenation, a depthwise conv and a SiLU pass. The backward (training) runs
the reference convolution's autograd on the saved inputs: the same gradients as before, at the
cost of a second forward.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._triton_utils import empty_bdl
from .naive import naive_causal_conv1d


@triton.jit
def _conv_fwd_kernel(x, w, b, s0, y, sx_b, sx_d, sx_l, sy_b, sy_d, sy_l, D, L,
                     W: tl.constexpr, BD: tl.constexpr, BL: tl.constexpr,
                     HAS_BIAS: tl.constexpr, HAS_S0: tl.constexpr, SILU: tl.constexpr):
    i_d, i_l, i_b = tl.program_id(0), tl.program_id(1), tl.program_id(2).to(tl.int64)
    rd = i_d * BD + tl.arange(0, BD)[:, None]
    rt = i_l * BL + tl.arange(0, BL)[None, :]
    md = rd < D
    acc = tl.zeros([BD, BL], dtype=tl.float32)
    if HAS_BIAS:
        acc += tl.load(b + rd, mask=md, other=0.0).to(tl.float32)
    for k in tl.static_range(W):
        t = rt - (W - 1) + k                               # input step read by tap k
        xv = tl.load(x + i_b * sx_b + rd * sx_d + t * sx_l, mask=md & (t >= 0) & (t < L), other=0.0)
        if HAS_S0:                                         # steps before 0 come from the past inputs
            xv += tl.load(s0 + (i_b * D + rd) * (W - 1) + (t + W - 1), mask=md & (t < 0) & (t + W - 1 >= 0),
                          other=0.0).to(xv.dtype)
        acc += tl.load(w + rd * W + k, mask=md, other=0.0).to(tl.float32) * xv.to(tl.float32)
    if SILU:
        acc = acc / (1.0 + tl.exp(-acc))
    tl.store(y + i_b * sy_b + rd * sy_d + rt * sy_l, acc.to(y.dtype.element_ty), mask=md & (rt < L))


def conv_fwd(x, weight, bias, s0, silu):
    Bt, D, L = x.shape
    W = weight.shape[1]
    y = empty_bdl(x, Bt, D, L)          # in x's layout: channels-last for a Mamba block's in_proj view
    BD, BL = 32, 64
    wc = weight.contiguous()
    s0c = s0.contiguous() if s0 is not None else wc
    _conv_fwd_kernel[(triton.cdiv(D, BD), triton.cdiv(L, BL), Bt)](
        x, wc, bias if bias is not None else wc, s0c, y, *x.stride(), *y.stride(), D, L,
        W, BD, BL, bias is not None, s0 is not None, silu, num_warps=4)
    return y


class CausalConv1dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, initial_state, silu):
        ctx.save_for_backward(x, weight, bias, initial_state)
        ctx.silu = silu
        return conv_fwd(x, weight, bias, initial_state, silu)

    @staticmethod
    def backward(ctx, dy):
        x, weight, bias, s0 = ctx.saved_tensors
        leaves = [t.detach().requires_grad_() if t is not None and need else None
                  for t, need in zip((x, weight, bias, s0), ctx.needs_input_grad[:4])]
        args = [lf if lf is not None else (t.detach() if t is not None else None)
                for lf, t in zip(leaves, (x, weight, bias, s0))]
        with torch.enable_grad():
            y = naive_causal_conv1d(*args, silu=ctx.silu)
        wanted = [lf for lf in leaves if lf is not None]
        got = iter(torch.autograd.grad(y, wanted, dy) if wanted else ())
        return (*[next(got) if lf is not None else None for lf in leaves], None)
