"""Monotonic alignment search: the vectorised path and the Triton kernel against the naive oracle,
alignment properties, the optimum against brute-force enumeration, and argument errors."""
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from audiokit.kernels._utils import KernelArgumentError
from audiokit.kernels.mas import monotonic_alignment_search, naive_monotonic_alignment_search
from audiokit.kernels.mas.vectorized import vectorized_monotonic_alignment_search


def _case(B, T, M, seed, ties=False, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    v = torch.randint(-2, 1, (B, T, M), generator=g).to(dtype) if ties else torch.randn(B, T, M, generator=g).to(dtype)
    tx = torch.randint(1, T + 1, (B,), generator=g)
    tx[0] = T
    ty = torch.stack([torch.randint(int(a), M + 1, (), generator=g) for a in tx])
    ty[-1] = M
    return v, tx, ty


def _brute_force_best(v, tx, ty):
    """Max over all monotonic surjective alignments: durations d_i >= 1 summing to ty."""
    best = float("-inf")
    for cuts in itertools.combinations(range(1, ty), tx - 1):
        bounds = (0,) + cuts + (ty,)
        s = sum(float(v[i, bounds[i]:bounds[i + 1]].double().sum()) for i in range(tx))
        best = max(best, s)
    return best


def _check_alignment(path, tx, ty):
    for b in range(path.shape[0]):
        p = path[b]
        t, m = int(tx[b]), int(ty[b])
        assert set(p.unique().tolist()) <= {0.0, 1.0}
        assert p[t:].sum() == 0 and p[:, m:].sum() == 0, "padding must be zero"
        a = p[:t, :m]
        assert torch.equal(a.sum(0), torch.ones(m, dtype=a.dtype)), "each frame has exactly one token"
        assert (a.sum(1) >= 1).all(), "each token has at least one frame"
        tok = a.argmax(0)
        assert tok[0] == 0 and tok[-1] == t - 1
        assert ((tok[1:] - tok[:-1]) >= 0).all() and ((tok[1:] - tok[:-1]) <= 1).all(), "monotonic, no skips"


@pytest.mark.parametrize("B,T,M", [(1, 1, 1), (3, 5, 9), (4, 17, 40), (2, 31, 33), (3, 1, 12), (5, 23, 64)])
@pytest.mark.parametrize("ties", [False, True])
def test_vectorized_equals_oracle(B, T, M, ties):
    v, tx, ty = _case(B, T, M, seed=B + T + M, ties=ties)
    ref = naive_monotonic_alignment_search(v, tx, ty)
    out = monotonic_alignment_search(v, tx, ty)
    assert torch.equal(out, ref)
    _check_alignment(out, tx, ty)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_dtypes(dtype):
    v, tx, ty = _case(3, 12, 30, seed=3, dtype=dtype)
    out = monotonic_alignment_search(v, tx, ty)
    assert out.dtype == dtype
    assert torch.equal(out, naive_monotonic_alignment_search(v, tx, ty))


def test_optimum_matches_brute_force():
    for seed in range(6):
        v, tx, ty = _case(3, 4, 9, seed=seed)
        path = monotonic_alignment_search(v.double(), tx, ty)
        for b in range(3):
            got = float((v[b].double() * path[b]).sum())
            assert got == pytest.approx(_brute_force_best(v[b], int(tx[b]), int(ty[b])), abs=1e-9)


def test_hand_cases():
    v = torch.tensor([[[0.0, 5.0, 0.0], [0.0, 0.0, 0.0]]])
    assert monotonic_alignment_search(v).tolist() == [[[1, 1, 0], [0, 0, 1]]]
    # All ties: frames stay on the later token (Glow-TTS reference tie rule), so token 0 gets one frame.
    z = torch.zeros(1, 3, 6)
    assert monotonic_alignment_search(z).tolist() == [[[1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1]]]
    # A clear diagonal-ish optimum with per-item lengths and padding.
    w = torch.full((1, 3, 7), -10.0)
    for i, frames in enumerate([(0, 1), (2,), (3, 4)]):
        w[0, i, list(frames)] = 0.0
    out = monotonic_alignment_search(w, torch.tensor([3]), torch.tensor([5]))
    assert out[0].tolist() == [[1, 1, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 0, 0]]


def test_equal_lengths_force_diagonal():
    v, _, _ = _case(2, 9, 9, seed=1)
    out = monotonic_alignment_search(v)
    assert torch.equal(out, torch.eye(9).expand(2, 9, 9))


def test_cpu_path_is_fast():
    v, tx, ty = _case(8, 100, 500, seed=0)
    vectorized_monotonic_alignment_search(v[:1, :5, :5], tx[:1].clamp(max=5), ty[:1].clamp(max=5))  # warm-up
    t0 = time.perf_counter()
    out = monotonic_alignment_search(v, tx, ty)
    dt = time.perf_counter() - t0
    _check_alignment(out, tx, ty)
    assert dt < 1.0, f"B=8, T_text=100, T_mel=500 took {dt:.3f} s"
    # one item against the oracle at this size
    assert torch.equal(out[:1], naive_monotonic_alignment_search(v[:1], tx[:1], ty[:1]))


def test_no_grad():
    v = torch.randn(2, 4, 8, requires_grad=True)
    assert not monotonic_alignment_search(v).requires_grad


@pytest.mark.parametrize("args,match", [
    ((torch.zeros(4, 8),), "value: expected shape"),
    ((torch.zeros(2, 4, 8, dtype=torch.long),), "value: expected a float"),
    ((torch.zeros(2, 0, 8),), "T_text > 0"),
    ((torch.zeros(2, 4, 8), torch.tensor([4, 4, 4])), r"text_lengths: expected shape \[B\]"),
    ((torch.zeros(2, 4, 8), torch.tensor([4.0, 4.0])), "text_lengths: expected an integer"),
    ((torch.zeros(2, 4, 8), torch.tensor([0, 4])), r"text_lengths: expected values in \[1, T_text = 4\]"),
    ((torch.zeros(2, 4, 8), torch.tensor([5, 4])), r"text_lengths: expected values in \[1, T_text = 4\]"),
    ((torch.zeros(2, 4, 8), torch.tensor([4, 4]), torch.tensor([9, 8])), r"mel_lengths: expected values in \[1, T_mel = 8\]"),
    ((torch.zeros(2, 4, 8), torch.tensor([4, 4]), torch.tensor([8, 3])), r"item\(s\) \[1\] have fewer mel frames"),
    ((torch.zeros(1, 9, 8),), "fewer mel frames than text tokens"),
])
def test_bad_arguments(args, match):
    with pytest.raises(KernelArgumentError, match=match):
        monotonic_alignment_search(*args)
    assert issubclass(KernelArgumentError, ValueError)


def test_triton_kernel_under_interpreter():
    """The Triton kernels on CPU through Triton's interpreter, in a fresh process (TRITON_INTERPRET
    must be set before triton is imported)."""
    here = Path(__file__).parent
    env = dict(os.environ, TRITON_INTERPRET="1", CUDA_VISIBLE_DEVICES="")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(here / "triton_cases_mas.py")], env=env, cwd=here, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "12 passed" in r.stdout, r.stdout[-2000:]
