"""audiokit.frontend.wavelet against PyWavelets (mode='periodization')."""

import numpy as np
import pytest
import pywt
import torch

from audiokit.frontend.wavelet import haar_dwt, haar_idwt

CASES = [(16, 1), (16, 4), (17, 1), (17, 3), (1000, 5), (1001, 6), (3, 2), (2, 1), (255, 8)]
IDS = [f"T{t}-L{l}" for t, l in CASES]


# pywt warns for levels beyond floor(log2 T) ("boundary effects"); those cases are deliberate.
@pytest.mark.filterwarnings("ignore:Level value of:UserWarning")
@pytest.mark.parametrize("T, levels", CASES, ids=IDS)
def test_matches_pywt_wavedec(T, levels):
    rng = np.random.default_rng(T * 10 + levels)
    x = rng.standard_normal((2, 3, T))
    ours = haar_dwt(torch.from_numpy(x), levels)
    ref = pywt.wavedec(x, "haar", mode="periodization", level=levels, axis=-1)
    assert len(ours) == len(ref) == levels + 1
    for o, r in zip(ours, ref):
        assert tuple(o.shape) == r.shape
        np.testing.assert_allclose(o.numpy(), r, rtol=0, atol=1e-6)
    # float32 too, the dtype models use
    ours32 = haar_dwt(torch.from_numpy(x).float(), levels)
    for o, r in zip(ours32, ref):
        assert o.dtype == torch.float32
        np.testing.assert_allclose(o.numpy(), r, rtol=0, atol=1e-5)


@pytest.mark.parametrize("T, levels", CASES, ids=IDS)
def test_perfect_reconstruction_and_pywt_waverec(T, levels):
    x = torch.randn(4, T, dtype=torch.float64, generator=torch.Generator().manual_seed(T))
    coeffs = haar_dwt(x, levels)
    ref = pywt.waverec([c.numpy() for c in coeffs], "haar", mode="periodization", axis=-1)
    full = haar_idwt(coeffs)
    assert tuple(full.shape) == ref.shape
    np.testing.assert_allclose(full.numpy(), ref, rtol=0, atol=1e-12)
    rec = haar_idwt(coeffs, length=T)
    assert rec.shape == x.shape
    torch.testing.assert_close(rec, x, rtol=0, atol=1e-12)


def test_energy_preserved_and_1d():
    x = torch.randn(1024)
    coeffs = haar_dwt(x, 10)
    assert [c.numel() for c in coeffs] == [1, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    energy = sum(c.double().pow(2).sum() for c in coeffs)
    torch.testing.assert_close(energy, x.double().pow(2).sum(), rtol=1e-5, atol=0)


def test_gradcheck():
    x = torch.randn(2, 11, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: tuple(haar_dwt(t, 3)), (x,))
    coeffs = [c.detach().requires_grad_() for c in haar_dwt(x.detach(), 3)]
    assert torch.autograd.gradcheck(lambda *c: haar_idwt(list(c), length=11), tuple(coeffs))


@pytest.mark.parametrize("bad, match", [
    (lambda: haar_dwt(torch.zeros(4, 0), 1), "non-empty last axis"),
    (lambda: haar_dwt(torch.tensor(1.0), 1), "non-empty last axis"),
    (lambda: haar_dwt(torch.zeros(8), 0), "levels"),
    (lambda: haar_dwt(torch.zeros(8, dtype=torch.int64), 1), "floating"),
    (lambda: haar_dwt(np.zeros(8), 1), "torch.Tensor"),
    (lambda: haar_idwt([torch.zeros(4)]), "at least 2"),
    (lambda: haar_idwt([torch.zeros(2, 4), torch.zeros(3, 4)]), "leading shape"),
    (lambda: haar_idwt([torch.zeros(4), torch.zeros(5)]), "must be equal"),
    (lambda: haar_idwt([torch.zeros(2), torch.zeros(2), torch.zeros(7)]), "coeffs\\[2\\]"),
    (lambda: haar_idwt([torch.zeros(2), torch.zeros(2)], length=2), "length must be 4 or 3"),
], ids=["empty", "scalar", "levels0", "int", "numpy", "short-list", "lead", "cA-cD", "detail", "length"])
def test_bad_input_raises_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    x = torch.randn(3, 1001)
    ref = haar_dwt(x, 4)
    out = haar_dwt(x.cuda(), 4)
    for o, r in zip(out, ref):
        torch.testing.assert_close(o.cpu(), r)
    torch.testing.assert_close(haar_idwt(out, length=1001).cpu(), x, rtol=0, atol=1e-5)
