"""Chunked selective scan vs the step-by-step oracle."""
import pytest
import torch

from audiokit.kernels.selective_scan import naive_selective_scan, selective_scan, selective_scan_step

from _kernel_ref import assert_close, grads

TOL = {torch.float64: 1e-10, torch.float32: 1e-4}


def _inputs(L, Dm, N, dtype, state, gated, Bt=2):
    gen = torch.Generator().manual_seed(L * 10 + Dm)
    u, delta, z = (torch.randn(Bt, Dm, L, generator=gen, dtype=dtype) for _ in range(3))
    A = -torch.exp(torch.randn(Dm, N, generator=gen, dtype=dtype))
    B, C = (torch.randn(Bt, N, L, generator=gen, dtype=dtype) for _ in range(2))
    D, db = (torch.randn(Dm, generator=gen, dtype=dtype) for _ in range(2))
    s0 = torch.randn(Bt, Dm, N, generator=gen, dtype=dtype) if state else None
    xs = dict(u=u, delta=delta, A=A, B=B, C=C, D=D, z=z if gated else None, delta_bias=db, initial_state=s0)
    return {n: (x.requires_grad_() if x is not None else None) for n, x in xs.items()}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("L,Dm,N,state,gated", [
    pytest.param(1, 4, 4, False, True, id="L1"),
    pytest.param(17, 8, 16, True, True, id="L17-state-gated"),
    pytest.param(50, 16, 8, False, False, id="L50-ungated"),
    pytest.param(64, 6, 16, True, False, id="L64-state"),
])
def test_chunked_matches_naive(L, Dm, N, state, gated, dtype):
    xs = _inputs(L, Dm, N, dtype, state, gated)
    ref = {n: (x.detach().double().requires_grad_() if x is not None else None) for n, x in xs.items()}
    y, h = selective_scan(**xs, delta_softplus=True, output_final_state=True)
    y_ref, h_ref = naive_selective_scan(**ref, delta_softplus=True, output_final_state=True)
    assert_close("y", y, y_ref, TOL[dtype])
    assert_close("final_state", h, h_ref, TOL[dtype])
    dy, dh = torch.randn_like(y_ref), torch.randn_like(h_ref)
    live = [n for n, x in xs.items() if x is not None]
    for n, a, b in zip(live, grads((y, h), (dy, dh), [xs[n] for n in live]),
                       grads((y_ref, h_ref), (dy, dh), [ref[n] for n in live])):
        assert_close(f"d{n}", a, b, TOL[dtype])


def test_chunked_inference_and_step_equal_one_pass():
    xs = {n: (x.detach() if x is not None else None) for n, x in _inputs(40, 8, 4, torch.float64, False, True).items()}
    y, h = selective_scan(**xs, delta_softplus=True, output_final_state=True)
    part = {n: (x[..., :23] if n in ("u", "delta", "B", "C", "z") else x) for n, x in xs.items()}
    y1, s = selective_scan(**part, delta_softplus=True, output_final_state=True)
    ys = [y1]
    delta = torch.nn.functional.softplus(xs["delta"] + xs["delta_bias"][:, None])
    for t in range(23, 40):
        y_t, s = selective_scan_step(xs["u"][..., t], delta[..., t], xs["A"], xs["B"][..., t], xs["C"][..., t],
                                     xs["D"], xs["z"][..., t], s)
        ys.append(y_t[..., None])
    assert_close("y", torch.cat(ys, -1), y, 1e-12)
    assert_close("state", s, h, 1e-12)


def test_bad_arguments():
    u = torch.randn(1, 4, 5)
    with pytest.raises(ValueError, match="A: expected shape"):
        selective_scan(u, u, torch.zeros(3, 2), torch.zeros(1, 2, 5), torch.zeros(1, 2, 5))
    with pytest.raises(ValueError, match="C: expected shape"):
        selective_scan(u, u, torch.zeros(4, 2), torch.zeros(1, 2, 5), torch.zeros(1, 3, 5))
