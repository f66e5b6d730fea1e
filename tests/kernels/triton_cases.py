"""Triton kernels vs the oracles. Not collected on its own (no test_ prefix): test_triton_interpret.py
runs it on CPU under TRITON_INTERPRET=1, and on a GPU machine it runs as
``python -m pytest tests/kernels/triton_cases.py`` on CUDA with half-precision cases added."""
import pytest
import torch
import torch.nn.functional as F

from _triton_env import DEVICE, INTERPRET  # noqa: E402,F401  (first: patches the interpreter)

from audiokit.kernels.gla import naive_gla  # noqa: E402
from audiokit.kernels.gla.triton_chunk import GLAFunction  # noqa: E402
from audiokit.kernels.linear_attn import naive_linear_attention  # noqa: E402
from audiokit.kernels.linear_attn.triton_chunk import LinearAttentionFunction  # noqa: E402

from _kernel_ref import assert_close, grads  # noqa: E402

DTYPES = [torch.float32] if INTERPRET else [torch.float32, torch.bfloat16, torch.float16]
TOL = {torch.float32: 1e-4, torch.float16: 5e-3, torch.bfloat16: 3e-2}
DT_ID = {torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16"}

LA_CASES = [
    pytest.param(7, 32, False, False, id="N7-D32"),
    pytest.param(100, 32, True, True, id="N100-D32-decay-state"),
    pytest.param(130, 64, True, False, id="N130-D64-decay"),
    # 8 chunks: a program starts from the sum of up to 7 earlier segments' states
    pytest.param(460, 32, True, True, id="N460-D32-decay-state"),
    pytest.param(64, 128, False, True, id="N64-D128-state"),
]
if not INTERPRET:
    LA_CASES += [pytest.param(5000, 64, True, True, id="N5000-D64-decay-state"),
                 pytest.param(3001, 128, True, False, id="N3001-D128-decay")]


# "auto": the launchers' own segment split (one chunk per segment at these sizes); "2seg": a few
# programs per head so segments hold several chunks and both the in-segment and the cross-segment
# state passing are exercised.
SEGS = [pytest.param(256, id="auto"), pytest.param(3, id="2seg")]


@pytest.fixture
def seg_target(request, monkeypatch):
    from audiokit.kernels import _triton_utils
    from audiokit.kernels.gla import triton_chunk as gla_tc
    from audiokit.kernels.linear_attn import triton_chunk as la_tc
    target = request.param

    def segments(n, chunk, programs, target_=target):
        return _triton_utils.segments(n, chunk, programs, target_)
    for mod in (la_tc, gla_tc):
        monkeypatch.setattr(mod, "segments", segments)
    return target


def test_runs_the_triton_path():
    from audiokit.kernels.linear_attn import triton_chunk
    kind = type(triton_chunk._scan_fwd_kernel).__name__
    assert kind == ("InterpretedFunction" if INTERPRET else "JITFunction"), kind


@pytest.mark.parametrize("dtype", DTYPES, ids=[DT_ID[d] for d in DTYPES])
@pytest.mark.parametrize("N,D,decay,state", LA_CASES)
@pytest.mark.parametrize("seg_target", SEGS, indirect=True)
def test_linear_attention_triton(N, D, decay, state, dtype, seg_target):
    gen = torch.Generator().manual_seed(N + D)
    B, H = 1, 2
    q, k, v = (torch.randn(B, H, N, D, generator=gen).to(DEVICE, dtype) for _ in range(3))
    ld = (-torch.rand(H, generator=gen) * 0.1).to(DEVICE) if decay else None
    s0 = torch.randn(B, H, D, D, generator=gen).to(DEVICE) if state else None
    xs = [x.requires_grad_() if x is not None else None for x in (q, k, v, ld, s0)]
    o, sf = LinearAttentionFunction.apply(*xs[:4], D ** -0.5, xs[4], True)
    ref = [x.detach().double().requires_grad_() if x is not None else None for x in xs]
    o_ref, sf_ref = naive_linear_attention(*ref[:3], log_decay=ref[3], initial_state=ref[4], output_final_state=True)
    tol = TOL[dtype]
    assert o.dtype == dtype
    assert_close("o", o, o_ref, tol)
    assert_close("final_state", sf, sf_ref, tol)
    do, dsf = torch.randn_like(o_ref), torch.randn_like(sf_ref)
    names = [n for n, x in zip("q k v log_decay initial_state".split(), xs) if x is not None]
    got = grads((o, sf), (do, dsf), [x for x in xs if x is not None])
    want = grads((o_ref, sf_ref), (do, dsf), [r for r in ref if r is not None])
    for n, a, b in zip(names, got, want):
        assert_close(f"d{n}", a, b, tol * (3 if n == "log_decay" else 1))


@pytest.mark.parametrize("N", [130, 300, 600])
@pytest.mark.parametrize("seg_target", SEGS, indirect=True)
def test_linear_attention_triton_fixed_decay(N, seg_target):
    """A decay that needs no gradient (RetNet's fixed rates) takes the backward without the log-decay
    terms; q, k, v and initial-state gradients are unchanged."""
    gen = torch.Generator().manual_seed(N)
    q, k, v = (torch.randn(1, 2, N, 32, generator=gen).to(DEVICE) for _ in range(3))
    ld = (-torch.rand(2, generator=gen) * 0.1).to(DEVICE)
    s0 = torch.randn(1, 2, 32, 32, generator=gen).to(DEVICE)
    xs = [x.requires_grad_() for x in (q, k, v, s0)]
    o, sf = LinearAttentionFunction.apply(*xs[:3], ld, 32 ** -0.5, xs[3], True)
    ref = [x.detach().double().requires_grad_() for x in xs]
    o_ref, sf_ref = naive_linear_attention(*ref[:3], log_decay=ld.double(), initial_state=ref[3],
                                           output_final_state=True)
    assert_close("o", o, o_ref, 1e-4)
    do, dsf = torch.randn_like(o_ref), torch.randn_like(sf_ref)
    for n, a, b in zip("q k v initial_state".split(), grads((o, sf), (do, dsf), xs),
                       grads((o_ref, sf_ref), (do, dsf), ref)):
        assert_close(f"d{n}", a, b, 1e-4)


# strong: a stretch of positions shuts half the channels (log-decay -30 per step), so chunks of the
# factorised fast path and of the exact secondary-chunking path meet in one sequence
GLA_CASES = [
    pytest.param(5, 32, False, False, id="N5-D32"),
    pytest.param(70, 32, True, False, id="N70-D32-state"),
    pytest.param(40, 64, False, False, id="N40-D64"),
    pytest.param(33, 128, True, False, id="N33-D128-state"),
    pytest.param(150, 32, True, True, id="N150-D32-state-strong"),
    # value heads wider than key heads (Lina-style decoders: expand_v = 2 expand_k)
    pytest.param(90, (32, 64), True, False, id="N90-K32-V64-state"),
]
if not INTERPRET:
    GLA_CASES += [pytest.param(3001, 64, True, False, id="N3001-D64-state"),
                  pytest.param(3001, 128, False, True, id="N3001-D128-strong"),
                  pytest.param(700, (64, 128), True, False, id="N700-K64-V128-state")]


@pytest.mark.parametrize("dtype", DTYPES, ids=[DT_ID[d] for d in DTYPES])
@pytest.mark.parametrize("N,D,state,strong", GLA_CASES)
@pytest.mark.parametrize("seg_target", SEGS, indirect=True)
def test_gla_triton(N, D, state, strong, dtype, seg_target):
    K, V = D if isinstance(D, tuple) else (D, D)
    gen = torch.Generator().manual_seed(N + K + V)
    B, H = 1, 2
    q, k = (torch.randn(B, H, N, K, generator=gen).to(DEVICE, dtype) for _ in range(2))
    v = torch.randn(B, H, N, V, generator=gen).to(DEVICE, dtype)
    g = F.logsigmoid(torch.randn(B, H, N, K, generator=gen)) / 4
    if strong:
        g[:, :, N // 3: N // 3 + 20, : K // 2] = -30.0
    g = g.to(DEVICE)
    s0 = torch.randn(B, H, K, V, generator=gen).to(DEVICE) if state else None
    xs = [x.requires_grad_() if x is not None else None for x in (q, k, v, g, s0)]
    o, sf = GLAFunction.apply(*xs[:4], K ** -0.5, xs[4], True)
    ref = [x.detach().double().requires_grad_() if x is not None else None for x in xs]
    o_ref, sf_ref = naive_gla(*ref[:4], initial_state=ref[4], output_final_state=True)
    tol = TOL[dtype]
    assert_close("o", o, o_ref, tol)
    assert_close("final_state", sf, sf_ref, tol)
    do, dsf = torch.randn_like(o_ref), torch.randn_like(sf_ref)
    names = [n for n, x in zip("q k v g initial_state".split(), xs) if x is not None]
    got = grads((o, sf), (do, dsf), [x for x in xs if x is not None])
    want = grads((o_ref, sf_ref), (do, dsf), [r for r in ref if r is not None])
    for n, a, b in zip(names, got, want):
        assert_close(f"d{n}", a, b, tol)


def test_gla_fast_path_needs_the_fallback():
    """The strong-decay case overflows the factorised product alone: the exact path is load-bearing."""
    from audiokit.kernels.gla import triton_chunk as gla_tc
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 1, 64, 32, generator=gen).to(DEVICE) for _ in range(3))
    g = torch.zeros(1, 1, 64, 32)
    g[:, :, 10:30, :16] = -30.0
    args = (q, k, v, g.to(DEVICE), 32 ** -0.5, None, False)
    good = GLAFunction.apply(*args)[0]
    assert torch.isfinite(good).all()
    old = gla_tc.SPAN
    gla_tc.SPAN = 1e30
    try:
        bad = GLAFunction.apply(*args)[0]
    finally:
        gla_tc.SPAN = old
    assert not torch.isfinite(bad).all()


# (L, Dm, N, state, gated, skip): skip = D, delta_bias and softplus on (else none of them, delta > 0)
SS_CASES = [
    pytest.param(1, 4, 4, False, True, True, id="L1"),
    pytest.param(17, 20, 16, True, True, True, id="L17-D20-state-gated"),
    pytest.param(33, 16, 5, False, False, True, id="L33-N5"),
    pytest.param(50, 6, 8, True, False, False, id="L50-D6-state-plain"),
    pytest.param(64, 8, 16, False, True, False, id="L64-gated-plain"),
]
if not INTERPRET:
    SS_CASES += [pytest.param(3001, 64, 16, True, True, True, id="L3001-D64-state-gated"),
                 pytest.param(4096, 200, 16, True, True, True, id="L4096-D200-state-gated"),
                 pytest.param(300, 40, 24, True, True, True, id="L300-D40-N24-state-gated")]  # Triton forward


# "auto": the launcher's own tiles (one chunk at these sizes under the interpreter); "chunks": the
# forward in 32-step segments of 8 channels (4 steps unrolled) storing the state every 32 steps, the
# backward in 32-step chunks of 2 channels and a carry over one-chunk tiles, so states and adjoints
# cross segment, chunk and tile boundaries and channel blocks are ragged; on a GPU "chunks" runs the
# Gluon kernels (the forward, the backward's first pass, and its third in 8-step pieces) and
# "chunks-triton" the Triton ones ("auto" picks per shape). Under the interpreter
# "auto" runs on three cases only (each program is interpreted: seconds apiece).
SS_CFG = [pytest.param(None, id="auto"),
          pytest.param(dict(BLS=32, BDB=2, BDQ=8, nw_q=1, TQ=4, SEGQ=32, WQ=16, gluon=True, gluon_bwd=True,
                            SUB=8, CT=1), id="chunks")]
if not INTERPRET:   # on a GPU the forward is the Gluon kernel (N <= 16); the Triton one too, here
    SS_CFG.append(pytest.param(dict(BLS=32, BDB=2, BDQ=8, nw_q=1, TQ=4, SEGQ=32, WQ=16, gluon=False,
                                    gluon_bwd=False, gluon3=False), id="chunks-triton"))
SS_RUNS = [pytest.param(*case.values, cfg.values[0], id=f"{cfg.id}-{case.id}")
           for cfg in SS_CFG for case in SS_CASES
           if not INTERPRET or cfg.id == "chunks" or case.id in ("L1", "L17-D20-state-gated", "L64-gated-plain")]


@pytest.fixture
def ss_cfg(request, monkeypatch):
    from audiokit.kernels import _triton_utils
    from audiokit.kernels.selective_scan import triton_scan
    if request.param is not None:
        monkeypatch.setattr(triton_scan, "config", lambda Bt, Dm, N, L: dict(
            BN=_triton_utils.block(N, 256), nw_b=4, **request.param))
    return request.param


@pytest.mark.parametrize("dtype", DTYPES, ids=[DT_ID[d] for d in DTYPES])
@pytest.mark.parametrize("L,Dm,N,state,gated,skip,ss_cfg", SS_RUNS, indirect=["ss_cfg"])
def test_selective_scan_triton(L, Dm, N, state, gated, skip, dtype, ss_cfg, monkeypatch):
    from audiokit.kernels.selective_scan import naive_selective_scan
    from audiokit.kernels.selective_scan.ops import triton_selective_scan
    gen = torch.Generator().manual_seed(L * 10 + Dm)
    Bt = 2
    r = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    # from L = 50 on, delta and z are [Bt, L, D] storage seen as [Bt, D, L] (as a Mamba block passes them)
    tr = (lambda x: x.transpose(1, 2).contiguous().transpose(1, 2)) if L >= 50 else (lambda x: x)  # noqa: E731
    delta = r(Bt, Dm, L) if skip else torch.rand(Bt, Dm, L, generator=gen) * 0.5
    xs = dict(u=r(Bt, Dm, L).to(DEVICE, dtype), delta=tr(delta.to(DEVICE, dtype)),
              A=-torch.exp(r(Dm, N)).to(DEVICE), B=r(Bt, N, L).to(DEVICE, dtype), C=r(Bt, N, L).to(DEVICE, dtype),
              D=r(Dm).to(DEVICE) if skip else None, z=tr(r(Bt, Dm, L).to(DEVICE, dtype)) if gated else None,
              delta_bias=r(Dm).to(DEVICE) if skip else None,
              initial_state=r(Bt, Dm, N).to(DEVICE) if state else None)
    xs = {n: (x.requires_grad_() if x is not None else None) for n, x in xs.items()}
    ref = {n: (x.detach().double().requires_grad_() if x is not None else None) for n, x in xs.items()}
    if DEVICE == "cuda" and N <= 16:   # the Gluon forward must not fall back silently
        from audiokit.kernels.selective_scan.triton_scan import _gluon_ok
        assert _gluon_ok(xs["u"], N)
    y, h = triton_selective_scan(xs["u"], xs["delta"], xs["A"], xs["B"], xs["C"], xs["D"], xs["z"],
                                 xs["delta_bias"], skip, xs["initial_state"], True)
    y_ref, h_ref = naive_selective_scan(**ref, delta_softplus=skip, output_final_state=True)
    tol = TOL[dtype]
    assert y.dtype == dtype
    assert_close("y", y, y_ref, tol)
    assert_close("final_state", h, h_ref, tol)
    from audiokit.kernels.selective_scan import triton_scan
    kept, fwd = [], triton_scan.scan_fwd
    monkeypatch.setattr(triton_scan, "scan_fwd", lambda *a: kept.append(a[-1]) or fwd(*a))
    with torch.no_grad():   # inference keeps no states for a backward (though the inputs require grad)
        y_inf, _ = triton_selective_scan(xs["u"], xs["delta"], xs["A"], xs["B"], xs["C"], xs["D"], xs["z"],
                                         xs["delta_bias"], skip, xs["initial_state"], False)
    monkeypatch.setattr(triton_scan, "scan_fwd", fwd)
    assert kept == [False]
    assert_close("y without grad", y_inf, y_ref, tol)
    dy = torch.randn(y_ref.shape, generator=gen, dtype=torch.float64).to(DEVICE)
    dh = torch.randn(h_ref.shape, generator=gen, dtype=torch.float64).to(DEVICE)
    live = [n for n, x in xs.items() if x is not None]
    for n, a, b in zip(live, grads((y, h), (dy, dh), [xs[n] for n in live]),
                       grads((y_ref, h_ref), (dy, dh), [ref[n] for n in live])):
        assert a.dtype == xs[n].dtype, f"d{n}: dtype {a.dtype}, expected {xs[n].dtype}"
        assert_close(f"d{n}", a, b, tol)


# causal depthwise conv (Mamba's short conv): channels-last and channels-first inputs, with and without
# the past inputs, ragged channel and time tiles
CONV_CASES = [
    pytest.param(1, 4, False, False, id="L1"),
    pytest.param(70, 4, True, True, id="L70-state-cl"),
    pytest.param(130, 3, False, True, id="L130-W3-cl"),
    pytest.param(65, 4, True, False, id="L65-state"),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=[DT_ID[d] for d in DTYPES])
@pytest.mark.parametrize("L,W,state,cl", CONV_CASES)
def test_causal_conv1d_triton(L, W, state, cl, dtype):
    from audiokit.kernels.causal_conv1d import naive_causal_conv1d
    from audiokit.kernels.causal_conv1d.triton_conv import CausalConv1dFunction
    gen = torch.Generator().manual_seed(L + W)
    B, D = 2, 40
    x = torch.randn(B, L, D, generator=gen).transpose(1, 2) if cl else torch.randn(B, D, L, generator=gen)
    xs = [x.to(DEVICE, dtype), torch.randn(D, W, generator=gen).to(DEVICE), torch.randn(D, generator=gen).to(DEVICE),
          torch.randn(B, D, W - 1, generator=gen).to(DEVICE, dtype) if state else None]
    xs = [t.requires_grad_() if t is not None else None for t in xs]
    y = CausalConv1dFunction.apply(*xs, True)
    ref = [t.detach().double().requires_grad_() if t is not None else None for t in xs]
    y_ref = naive_causal_conv1d(*ref)
    assert y.dtype == dtype and (y.stride(1) == 1 if cl and L > 1 else y.is_contiguous())
    assert_close("y", y, y_ref, TOL[dtype])
    dy = torch.randn(y_ref.shape, generator=gen, dtype=torch.float64).to(DEVICE)
    live = [t for t in xs if t is not None]
    for n, a, b in zip("x weight bias initial_state".split(), grads((y,), (dy,), live),
                       grads((y_ref,), (dy,), [r for r in ref if r is not None])):
        assert_close(f"d{n}", a, b, TOL[dtype])

