"""nn wrappers: shapes, causality, the softmax path vs a hand-written attention, Mamba chunked/step inference."""
import pytest
import torch

from audiokit.nn.attention import MultiHeadAttention, rotary
from audiokit.nn.mamba import BiMamba, Mamba


@pytest.mark.parametrize("kind,causal", [("softmax", True), ("softmax", False), ("linear", True),
                                         ("linear", False), ("gla", True), ("gla", False), ("wersa", False)])
def test_shapes_gradients_and_causality(kind, causal):
    torch.manual_seed(0)
    m = MultiHeadAttention(32, 4, kind, causal=causal).double()
    x = torch.randn(2, 37, 32, dtype=torch.float64, requires_grad=True)
    y = m(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters() if p.requires_grad)
    x2 = x.detach().clone()
    x2[:, 30:] += 1.0
    changed = (m(x2) - y.detach()).abs().amax((0, 2)) > 1e-9
    if causal:
        assert not changed[:30].any() and changed[30:].all()
    else:
        assert changed[:30].any()


def test_softmax_matches_explicit_attention():
    torch.manual_seed(0)
    m = MultiHeadAttention(16, 2, "softmax", causal=True).double()
    x = torch.randn(1, 9, 16, dtype=torch.float64)
    q, k, v = m.qkv(x).view(1, 9, 3, 2, 8).permute(2, 0, 3, 1, 4)
    q, k = rotary(q), rotary(k)
    a = (q @ k.transpose(-1, -2) / 8 ** 0.5).masked_fill(torch.ones(9, 9).triu(1).bool(), float("-inf")).softmax(-1)
    ref = m.out((a @ v).transpose(1, 2).reshape(1, 9, 16))
    torch.testing.assert_close(m(x), ref)


def test_rotary_is_relative():
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 12, 8, dtype=torch.float64), torch.randn(1, 1, 1, 8, dtype=torch.float64)
    qr, kr = rotary(q), rotary(k.expand(1, 1, 12, 8))
    # rotating q and k by the same position leaves their dot product unchanged
    torch.testing.assert_close((qr * kr).sum(-1), (q * k).sum(-1))


def test_bad_kind_and_causal_wersa():
    with pytest.raises(ValueError, match="kind"):
        MultiHeadAttention(16, 2, "flash")
    with pytest.raises(ValueError, match="causal"):
        MultiHeadAttention(16, 2, "wersa", causal=True)


def test_mamba_chunked_and_step_inference_equal_one_pass():
    torch.manual_seed(0)
    m = Mamba(16, d_state=8).double()
    x = torch.randn(2, 40, 16, dtype=torch.float64)
    y_full = m(x)
    y1, s = m(x[:, :17], m.init_state(2), return_state=True)
    y2, s = m(x[:, 17:30], s, return_state=True)
    ys = [y1, y2]
    for t in range(30, 40):
        y_t, s = m.step(x[:, t], s)
        ys.append(y_t[:, None])
    torch.testing.assert_close(torch.cat(ys, 1), y_full)


def test_mamba_residual_is_added_in_the_output_matmul():
    torch.manual_seed(0)
    m = Mamba(12, expand=2).double()
    x, r = torch.randn(2, 9, 12, dtype=torch.float64), torch.randn(2, 9, 12, dtype=torch.float64)
    torch.testing.assert_close(m(x, residual=r), r + m(x))
    b = BiMamba(12, merge="concat", norm="rms", expand=2).double()      # its directions use it
    y_f, y_b = b.pair(x)
    torch.testing.assert_close(y_f, x + b.fwd(b.fwd_norm(x)))
    torch.testing.assert_close(y_b, (x.flip(1) + b.bwd(b.bwd_norm(x.flip(1)))).flip(1))
    with pytest.raises(ValueError, match="residual"):
        m(x, residual=r[:, :5])


def test_mamba_is_causal_and_bimamba_is_not():
    torch.manual_seed(0)
    x = torch.randn(1, 20, 16, dtype=torch.float64)
    x2 = x.clone()
    x2[:, 15:] += 1
    m, b = Mamba(16).double(), BiMamba(16).double()
    assert torch.equal(m(x)[:, :15], m(x2)[:, :15])
    assert not torch.allclose(b(x)[:, :15], b(x2)[:, :15])
    b(x).sum().backward()
    assert b.fwd.A_log.grad is not None and b.bwd.dt_proj.weight.grad is not None


# --- cross-check against mamba-ssm (state-spaces/mamba), where it is installed ---------------

@pytest.fixture(scope="module")
def mamba_ssm():
    """mamba-ssm's pure-PyTorch reference scan and its Mamba module, on any device.

    The package imports its CUDA extension (``selective_scan_cuda``) and, through its language-model
    code, ``transformers`` at import time. Installed without the extension
    (``MAMBA_FORCE_BUILD=TRUE MAMBA_SKIP_CUDA_BUILD=TRUE pip install mamba-ssm --no-build-isolation``)
    its reference path still works: the two modules are loaded with a stand-in for the extension
    and without running the package ``__init__``; nothing is left in ``sys.modules`` afterwards.
    """
    import importlib
    import importlib.util
    import sys
    import types

    spec = importlib.util.find_spec("mamba_ssm")
    if spec is None:
        pytest.skip("mamba-ssm is not installed")
    before = set(sys.modules)
    stubs = {}
    if importlib.util.find_spec("selective_scan_cuda") is None:
        stubs["selective_scan_cuda"] = types.ModuleType("selective_scan_cuda")
    pkg = types.ModuleType("mamba_ssm")
    pkg.__path__ = list(spec.submodule_search_locations)
    stubs["mamba_ssm"] = pkg
    sys.modules.update(stubs)
    try:
        interface = importlib.import_module("mamba_ssm.ops.selective_scan_interface")
        simple = importlib.import_module("mamba_ssm.modules.mamba_simple")
    except ImportError as e:                      # e.g. einops missing
        pytest.skip(f"mamba-ssm's reference modules do not import here: {e}")
    finally:
        for name in set(sys.modules) - before:
            del sys.modules[name]
    return types.SimpleNamespace(selective_scan_ref=interface.selective_scan_ref, simple=simple)


@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "final-state"])
def test_selective_scan_agrees_with_mamba_ssm(mamba_ssm, with_state):
    from audiokit.kernels.selective_scan import selective_scan

    torch.manual_seed(0)
    Bt, D, N, L = 2, 24, 8, 70                    # L spans two chunks of the CPU path
    leaf = lambda *s, scale=1.0: (torch.randn(*s) * scale).requires_grad_()  # noqa: E731
    u, delta, z = leaf(Bt, D, L), leaf(Bt, D, L, scale=0.5), leaf(Bt, D, L)
    A = (-torch.rand(D, N) * 2 - 0.1).requires_grad_()
    B, C, Dskip, bias = leaf(Bt, N, L), leaf(Bt, N, L), leaf(D), leaf(D, scale=0.1)
    ref = mamba_ssm.selective_scan_ref(u, delta, A, B, C, Dskip, z, delta_bias=bias, delta_softplus=True,
                                       return_last_state=with_state)
    ours = selective_scan(u, delta, A, B, C, Dskip, z, delta_bias=bias, delta_softplus=True,
                          output_final_state=with_state)
    y_ref, h_ref = ref if with_state else (ref, None)
    torch.testing.assert_close(ours[0], y_ref, rtol=1e-4, atol=1e-5)
    if with_state:
        torch.testing.assert_close(ours[1], h_ref, rtol=1e-4, atol=1e-5)
    g = torch.randn_like(y_ref)
    args = (u, delta, A, B, C, Dskip, z, bias)
    grads_ref = torch.autograd.grad(y_ref, args, g)
    grads = torch.autograd.grad(ours[0], args, g)
    for name, a, b in zip("u delta A B C D z delta_bias".split(), grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4, msg=lambda m, n=name: f"grad {n}: {m}")


def test_mamba_block_agrees_with_mamba_ssm(mamba_ssm, monkeypatch):
    """The same weights in mamba-ssm's Mamba (its slow path: nn.Conv1d + the reference scan) and
    in audiokit's: same output, also when audiokit runs in two chunks with carried state."""
    simple = mamba_ssm.simple
    monkeypatch.setattr(simple, "selective_scan_fn", mamba_ssm.selective_scan_ref)
    monkeypatch.setattr(simple, "causal_conv1d_fn", None)
    torch.manual_seed(0)
    theirs = simple.Mamba(32, d_state=16, d_conv=4, expand=4, use_fast_path=False)
    ours = Mamba(32, d_state=16, d_conv=4, expand=4)
    assert sorted(n for n, _ in ours.named_parameters()) == sorted(n for n, _ in theirs.named_parameters())
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 45, 32)
    with torch.no_grad():
        y_ref = theirs(x)
        torch.testing.assert_close(ours(x), y_ref, rtol=1e-4, atol=1e-5)
        y1, state = ours(x[:, :20], return_state=True)
        y2 = ours(x[:, 20:], state)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y_ref, rtol=1e-4, atol=1e-5)
