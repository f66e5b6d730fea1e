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
