"""Chunked PyTorch path of linear attention vs the quadratic oracle (the Triton path: test_triton_interpret.py)."""
import pytest
import torch

from audiokit.kernels.linear_attn import linear_attention, naive_linear_attention

from _kernel_ref import assert_close, grads

# relative-error tolerance per input dtype (float64 checks the algebra, float32 the fp32 path)
TOL = {torch.float64: 1e-10, torch.float32: 1e-4, torch.bfloat16: 3e-2}

CASES = [
    pytest.param(1, 32, False, False, id="N1-D32"),
    pytest.param(63, 32, True, False, id="N63-D32-decay"),
    pytest.param(100, 64, True, True, id="N100-D64-decay-state"),
    pytest.param(130, 128, False, True, id="N130-D128-state"),
    pytest.param(129, 64, False, False, id="N129-D64"),
    pytest.param(64, 128, True, True, id="N64-D128-decay-state"),
]


def _inputs(N, D, decay, state, dtype, B=2, H=2, Dv=None):
    g = torch.Generator().manual_seed(N * 1000 + D)
    Dv = Dv or D
    q, k = (torch.randn(B, H, N, D, generator=g, dtype=dtype) for _ in range(2))
    v = torch.randn(B, H, N, Dv, generator=g, dtype=dtype)
    ld = (-torch.rand(H, generator=g, dtype=torch.float64) * 0.2).to(dtype) if decay else None
    s0 = torch.randn(B, H, D, Dv, generator=g, dtype=dtype) if state else None
    return [x.requires_grad_() if x is not None else None for x in (q, k, v, ld, s0)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("N,D,decay,state", CASES)
def test_chunked_matches_naive(N, D, decay, state, dtype):
    q, k, v, ld, s0 = _inputs(N, D, decay, state, dtype)
    o, sf = linear_attention(q, k, v, log_decay=ld, initial_state=s0, output_final_state=True)
    with torch.no_grad():
        ref_in = [x.double() if x is not None else None for x in (q, k, v, ld, s0)]
    ref_in = [x.requires_grad_() if x is not None else None for x in ref_in]
    o_ref, sf_ref = naive_linear_attention(*ref_in[:3], log_decay=ref_in[3], initial_state=ref_in[4],
                                           output_final_state=True)
    tol = TOL[dtype]
    assert o.dtype == dtype
    assert_close("o", o, o_ref, tol)
    assert_close("final_state", sf, sf_ref, tol)
    do, dsf = torch.randn_like(o_ref), torch.randn_like(sf_ref)
    xs = [x for x in (q, k, v, ld, s0) if x is not None]
    xs_ref = [x for x in ref_in if x is not None]
    for name, a, b in zip("q k v log_decay initial_state".split() if decay else "q k v initial_state".split(),
                          grads((o, sf), (do, dsf), xs), grads((o_ref, sf_ref), (do, dsf), xs_ref)):
        assert_close(f"d{name}", a, b, tol)


def test_bf16_inputs_fp32_accumulation():
    q, k, v, ld, _ = _inputs(100, 64, True, False, torch.bfloat16)
    o, _ = linear_attention(q, k, v, log_decay=ld)
    o_ref, _ = naive_linear_attention(q.double(), k.double(), v.double(), log_decay=ld.double())
    assert o.dtype == torch.bfloat16
    assert_close("o", o, o_ref, TOL[torch.bfloat16])


@pytest.mark.parametrize("decay", [False, True], ids=["plain", "decay"])
def test_non_causal(decay):
    q, k, v, ld, _ = _inputs(70, 32, decay, False, torch.float64)
    o, sf = linear_attention(q, k, v, causal=False, log_decay=ld)
    o_ref, _ = naive_linear_attention(q, k, v, causal=False, log_decay=ld)
    assert sf is None
    assert_close("o", o, o_ref, 1e-10)
    xs = [x for x in (q, k, v, ld) if x is not None]
    do = torch.randn_like(o_ref)
    for a, b in zip(grads((o,), (do,), xs), grads((o_ref,), (do,), xs)):
        assert_close("grad", a, b, 1e-10)


def test_chunked_inference_equals_one_pass():
    q, k, v, ld, _ = _inputs(150, 32, True, False, torch.float64)
    full, s_full = linear_attention(q, k, v, log_decay=ld, output_final_state=True)
    a, s = linear_attention(q[:, :, :77], k[:, :, :77], v[:, :, :77], log_decay=ld, output_final_state=True)
    b, s2 = linear_attention(q[:, :, 77:], k[:, :, 77:], v[:, :, 77:], log_decay=ld, initial_state=s,
                             output_final_state=True)
    assert_close("o", torch.cat([a, b], 2), full, 1e-12)
    assert_close("state", s2, s_full, 1e-12)


def test_decay_changes_result():
    q, k, v, ld, _ = _inputs(40, 32, True, False, torch.float64)
    assert (linear_attention(q, k, v, log_decay=ld)[0] - linear_attention(q, k, v)[0]).abs().max() > 1e-3


@pytest.mark.parametrize("kwargs,match", [
    (dict(k=torch.randn(1, 2, 5, 8)), "k: expected shape"),
    (dict(v=torch.randn(1, 2, 6, 16)), "v: expected shape"),
    (dict(log_decay=torch.zeros(3)), "log_decay"),
    (dict(initial_state=torch.zeros(1, 2, 16, 8)), "initial_state"),
    (dict(causal=False, output_final_state=True), "causal=True"),
    (dict(q=torch.zeros(1, 2, 5, 16, dtype=torch.int64)), "q: expected a float"),
], ids=["k-shape", "v-shape", "decay-shape", "state-shape", "noncausal-state", "int-dtype"])
def test_bad_arguments(kwargs, match):
    args = dict(q=torch.randn(1, 2, 5, 16), k=torch.randn(1, 2, 5, 16), v=torch.randn(1, 2, 5, 16))
    args.update(kwargs)
    q, k, v = args.pop("q"), args.pop("k"), args.pop("v")
    with pytest.raises(ValueError, match=match):
        linear_attention(q, k, v, **args)


def test_decay_gradient_long_sequence_fp32():
    """The log-decay gradient sums (t - s)-weighted terms over the whole sequence: fp32 must stay
    accurate at long N (a global (t+1)-weighted identity lost ~1e4 in condition at N=3001, D=128)."""
    gen = torch.Generator().manual_seed(3001)
    B, H, N, D = 1, 2, 3001, 128
    q, k, v = (torch.randn(B, H, N, D, generator=gen) for _ in range(3))
    ld = torch.tensor([-0.1, -1e-3])          # a short and a long memory
    do = torch.randn(B, H, N, D, generator=gen, dtype=torch.float64)
    xs = [x.clone().requires_grad_() for x in (q, k, v, ld)]
    ref = [x.double().requires_grad_() for x in (q, k, v, ld)]
    o, _ = linear_attention(*xs[:3], log_decay=xs[3])
    o_ref, _ = naive_linear_attention(*ref[:3], log_decay=ref[3])
    for n, a, b in zip("q k v log_decay".split(), grads((o,), (do,), xs), grads((o_ref,), (do,), ref)):
        assert_close(f"d{n}", a, b, 1e-3 if n == "log_decay" else 1e-4)
