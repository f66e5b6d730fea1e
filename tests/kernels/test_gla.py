"""Chunked PyTorch path of gated linear attention vs the step-by-step oracle."""
import pytest
import torch
import torch.nn.functional as F

from audiokit.kernels.gla import gated_linear_attention, gla_step, naive_gla

from _kernel_ref import assert_close, grads

TOL = {torch.float64: 1e-10, torch.float32: 1e-4}

CASES = [
    pytest.param(1, 32, False, id="N1-D32"),
    pytest.param(17, 32, True, id="N17-D32-state"),
    pytest.param(100, 64, True, id="N100-D64-state"),
    pytest.param(130, 128, False, id="N130-D128"),
    pytest.param(64, 64, False, id="N64-D64"),
]


def _inputs(N, D, state, dtype, B=2, H=2, strong=False):
    gen = torch.Generator().manual_seed(N * 100 + D)
    q, k, v = (torch.randn(B, H, N, D, generator=gen, dtype=dtype) for _ in range(3))
    # GLA's gate: logsigmoid(x) / 16; the "strong" variant decays by up to e^-30 per step
    g = F.logsigmoid(torch.randn(B, H, N, D, generator=gen, dtype=dtype)) * (30.0 if strong else 1 / 16)
    s0 = torch.randn(B, H, D, D, generator=gen, dtype=dtype) if state else None
    return [x.requires_grad_() if x is not None else None for x in (q, k, v, g, s0)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("N,D,state", CASES)
def test_chunked_matches_naive(N, D, state, dtype):
    xs = _inputs(N, D, state, dtype)
    o, sf = gated_linear_attention(*xs[:4], initial_state=xs[4], output_final_state=True)
    ref = [x.detach().double().requires_grad_() if x is not None else None for x in xs]
    o_ref, sf_ref = naive_gla(*ref[:4], initial_state=ref[4], output_final_state=True)
    assert_close("o", o, o_ref, TOL[dtype])
    assert_close("final_state", sf, sf_ref, TOL[dtype])
    do, dsf = torch.randn_like(o_ref), torch.randn_like(sf_ref)
    names = "q k v g initial_state".split()
    live = [(n, x, r) for n, x, r in zip(names, xs, ref) if x is not None]
    for (n, _, _), a, b in zip(live, grads((o, sf), (do, dsf), [x for _, x, _ in live]),
                               grads((o_ref, sf_ref), (do, dsf), [r for _, _, r in live])):
        assert_close(f"d{n}", a, b, TOL[dtype])


def test_strong_decay_is_stable():
    xs = _inputs(90, 32, False, torch.float32, strong=True)
    o, _ = gated_linear_attention(*xs[:4])
    o_ref, _ = naive_gla(*[x.detach().double() for x in xs[:4]])
    assert_close("o", o, o_ref, 1e-4)


def test_step_form_and_chunked_inference():
    q, k, v, g, _ = [x.detach() if x is not None else None for x in _inputs(50, 32, False, torch.float64)]
    full, s_full = gated_linear_attention(q, k, v, g, output_final_state=True)
    a, s = gated_linear_attention(q[:, :, :31], k[:, :, :31], v[:, :, :31], g[:, :, :31], output_final_state=True)
    outs = [a]
    for t in range(31, 50):
        o_t, s = gla_step(q[:, :, t], k[:, :, t], v[:, :, t], g[:, :, t], s)
        outs.append(o_t[:, :, None])
    assert_close("o", torch.cat(outs, 2), full, 1e-12)
    assert_close("state", s, s_full, 1e-12)


def test_bad_arguments():
    q = torch.randn(1, 2, 5, 16)
    with pytest.raises(ValueError, match="g: expected shape"):
        gated_linear_attention(q, q, q, torch.zeros(1, 2, 5, 8))
    with pytest.raises(ValueError, match="initial_state"):
        gated_linear_attention(q, q, q, q, initial_state=torch.zeros(2, 16, 16))


def test_gate_gradient_long_sequence_fp32():
    """dg_t sums over every later position; fp32 must stay accurate at long N (N=3001, D=128). The
    float64 reference is the chunked path in float64, equal to the step oracle to 1e-10 above (the
    step loop itself takes minutes at this size)."""
    gen = torch.Generator().manual_seed(3001)
    B, H, N, D = 1, 1, 3001, 128
    q, k, v = (torch.randn(B, H, N, D, generator=gen) for _ in range(3))
    g = F.logsigmoid(torch.randn(B, H, N, D, generator=gen)) / 16
    do = torch.randn(B, H, N, D, generator=gen, dtype=torch.float64)
    xs = [x.clone().requires_grad_() for x in (q, k, v, g)]
    ref = [x.double().requires_grad_() for x in (q, k, v, g)]
    o, _ = gated_linear_attention(*xs)
    o_ref, _ = gated_linear_attention(*ref)
    for n, a, b in zip("q k v g".split(), grads((o,), (do,), xs), grads((o_ref,), (do,), ref)):
        assert_close(f"d{n}", a, b, 1e-3 if n == "g" else 1e-4)
