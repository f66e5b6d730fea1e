"""WERSA: Haar filtering vs PyWavelets, linear-time attention vs the quadratic oracle."""
import numpy as np
import pytest
import pywt
import torch

from audiokit.kernels.wersa import haar_filter, naive_wersa, wersa_attention

from _kernel_ref import assert_close, grads


@pytest.mark.parametrize("levels", [1, 3], ids=["J1", "J3"])
def test_haar_filter_matches_pywavelets(levels):
    gen = torch.Generator().manual_seed(levels)
    x = torch.randn(1, 2, 64, 3, generator=gen, dtype=torch.float64)
    w = torch.rand(2, levels + 1, generator=gen, dtype=torch.float64)
    y = haar_filter(x, w, levels)
    for h in range(2):
        for c in range(3):
            coeffs = pywt.wavedec(x[0, h, :, c].numpy(), "haar", level=levels)  # [cA_J, cD_J, ..., cD_1]
            scaled = [coeffs[0] * w[h, levels].item()] + [coeffs[i] * w[h, levels - i].item()
                                                          for i in range(1, levels + 1)]
            np.testing.assert_allclose(y[0, h, :, c].numpy(), pywt.waverec(scaled, "haar"), atol=1e-12)
    assert_close("identity", haar_filter(x, torch.ones(2, levels + 1, dtype=torch.float64), levels), x, 1e-14)


@pytest.mark.parametrize("N", [37, 128], ids=["N37", "N128"])
def test_wersa_matches_quadratic(N):
    gen = torch.Generator().manual_seed(N)
    B, H, d, m, J = 2, 2, 16, 32, 3
    q, k, v = (torch.randn(B, H, N, d, generator=gen, dtype=torch.float64).requires_grad_() for _ in range(3))
    w = torch.rand(B, H, J + 1, generator=gen, dtype=torch.float64).requires_grad_()
    omega = torch.randn(H, m, d, generator=gen, dtype=torch.float64)
    bw = (1 + torch.rand(H, generator=gen, dtype=torch.float64) * 4).requires_grad_()
    o = wersa_attention(q, k, v, w, omega, bw, levels=J)
    o_ref = naive_wersa(q, k, v, w, omega, bw, levels=J)
    assert_close("o", o, o_ref, 1e-10)
    do = torch.randn_like(o_ref)
    for n, a, b in zip("q k v level_weights bandwidth".split(), grads((o,), (do,), [q, k, v, w, bw]),
                       grads((o_ref,), (do,), [q, k, v, w, bw])):
        assert_close(f"d{n}", a, b, 1e-9)


def test_bad_arguments():
    q = torch.randn(1, 2, 8, 4)
    with pytest.raises(ValueError, match="level_weights"):
        wersa_attention(q, q, q, torch.ones(2, 3), torch.randn(2, 8, 4), torch.ones(2), levels=3)
