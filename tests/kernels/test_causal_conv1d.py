"""Causal depthwise conv: the reference against an explicit loop, chunking with state, bad input."""
import pytest
import torch

from audiokit.kernels._utils import KernelArgumentError
from audiokit.kernels.causal_conv1d import causal_conv1d, naive_causal_conv1d


def _loop(x, w, b, past):
    """y[b, d, t] = silu(b[d] + sum_k w[d, k] x[b, d, t - W + 1 + k]), x before 0 from past."""
    B, D, L = x.shape
    W = w.shape[1]
    xe = torch.cat([past, x], -1)
    y = torch.empty(B, D, L, dtype=x.dtype)
    for t in range(L):
        y[:, :, t] = b + (w * xe[:, :, t:t + W]).sum(-1)
    return y * torch.sigmoid(y)


@pytest.mark.parametrize("L,W", [(1, 4), (3, 4), (37, 4), (20, 1), (9, 3)])
def test_reference_matches_loop_and_chunks(L, W):
    gen = torch.Generator().manual_seed(L * 7 + W)
    B, D = 2, 5
    x = torch.randn(B, D, L, generator=gen, dtype=torch.float64)
    w, b = torch.randn(D, W, generator=gen, dtype=torch.float64), torch.randn(D, generator=gen, dtype=torch.float64)
    past = torch.randn(B, D, W - 1, generator=gen, dtype=torch.float64)
    y = causal_conv1d(x, w, b, initial_state=past)
    torch.testing.assert_close(y, _loop(x, w, b, past))
    torch.testing.assert_close(causal_conv1d(x, w, b), _loop(x, w, b, torch.zeros_like(past)))
    # two chunks, the second starting from the last W - 1 inputs before it, equal one pass
    cut = L // 2
    if cut >= 1:
        xe = torch.cat([past, x[..., :cut]], -1)
        y2 = causal_conv1d(x[..., cut:], w, b, initial_state=xe[..., xe.shape[-1] - (W - 1):])
        torch.testing.assert_close(torch.cat([causal_conv1d(x[..., :cut], w, b, initial_state=past), y2], -1), y)
    lin = naive_causal_conv1d(x, w, b, past, silu=False)
    torch.testing.assert_close(lin * torch.sigmoid(lin), y)


def test_bad_arguments():
    x = torch.randn(1, 4, 6)
    with pytest.raises(KernelArgumentError, match="weight"):
        causal_conv1d(x, torch.randn(3, 4))
    with pytest.raises(KernelArgumentError, match="initial_state"):
        causal_conv1d(x, torch.randn(4, 4), initial_state=torch.randn(1, 4, 2))
    with pytest.raises(KernelArgumentError, match="L must be > 0"):
        causal_conv1d(torch.randn(1, 4, 0), torch.randn(4, 4))
