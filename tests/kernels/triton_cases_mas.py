"""Triton MAS kernel vs the oracle. Not collected on its own (no test_ prefix): test_mas.py runs it
on CPU under TRITON_INTERPRET=1, and on a GPU machine it runs as
``python -m pytest tests/kernels/triton_cases_mas.py`` on CUDA with larger cases added."""
import pytest
import torch

from _triton_env import DEVICE, INTERPRET  # noqa: E402,F401  (first: patches the interpreter)

from audiokit.kernels.mas import monotonic_alignment_search, naive_monotonic_alignment_search  # noqa: E402
from audiokit.kernels.mas.triton_mas import triton_monotonic_alignment_search  # noqa: E402
from audiokit.kernels.mas.vectorized import vectorized_monotonic_alignment_search  # noqa: E402


CASES = [(1, 1, 1), (3, 5, 9), (4, 17, 40), (2, 31, 33), (3, 1, 12), (2, 40, 70)]
if not INTERPRET:
    CASES += [(8, 100, 500), (4, 1000, 3000), (2, 1500, 1500)]


def _lengths(B, T, M, g):
    tx = torch.randint(1, T + 1, (B,), generator=g)
    tx[0] = T  # one full-length item
    ty = torch.stack([torch.randint(int(a), M + 1, (), generator=g) for a in tx])
    ty[-1] = M
    return tx, ty


@pytest.mark.parametrize("B,T,M", CASES, ids=lambda x: str(x))
@pytest.mark.parametrize("kind", ["randn", "ties"])
def test_triton_equals_oracle(B, T, M, kind):
    g = torch.Generator().manual_seed(B * 1000 + T * 10 + M)
    if kind == "ties":  # few distinct small integers: exact ties everywhere, the tie rule decides
        v = torch.randint(-2, 1, (B, T, M), generator=g).float()
    else:
        v = torch.randn(B, T, M, generator=g)
    tx, ty = _lengths(B, T, M, g)
    if T > 200:  # the Python oracle is too slow here; the vectorised path equals it on smaller cases
        ref = vectorized_monotonic_alignment_search(v, tx, ty)
    else:
        ref = naive_monotonic_alignment_search(v, tx, ty)
    out = triton_monotonic_alignment_search(v.to(DEVICE), tx.to(DEVICE), ty.to(DEVICE))
    assert out.dtype == v.dtype and out.device.type == DEVICE
    assert torch.equal(out.cpu(), ref)


@pytest.mark.skipif(INTERPRET, reason="dispatch goes to Triton only for CUDA tensors")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_public_op_on_cuda(dtype):
    g = torch.Generator().manual_seed(7)
    v = torch.randn(5, 60, 150, generator=g).to(dtype)
    tx, ty = _lengths(5, 60, 150, g)
    out = monotonic_alignment_search(v.to(DEVICE), tx.to(DEVICE), ty.to(DEVICE))
    assert out.dtype == dtype
    assert torch.equal(out.cpu(), naive_monotonic_alignment_search(v, tx, ty))
