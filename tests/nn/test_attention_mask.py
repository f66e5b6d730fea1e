"""Key padding mask of MultiHeadAttention: a padded batch equals each sequence run alone."""
import pytest
import torch

from audiokit.nn.attention import KINDS, MultiHeadAttention

CASES = [(k, False) for k in KINDS] + [("softmax", True), ("linear", True), ("gla", True)]


@pytest.mark.parametrize("kind,causal", CASES, ids=[f"{k}-{'causal' if c else 'bidir'}" for k, c in CASES])
def test_padded_batch_equals_unpadded_calls(kind, causal):
    torch.manual_seed(0)
    m = MultiHeadAttention(32, 4, kind, causal=causal).double().eval()
    lengths = [37, 20, 5]
    x = torch.randn(3, 37, 32, dtype=torch.float64)
    mask = torch.arange(37)[None] < torch.tensor(lengths)[:, None]
    x = x.masked_fill(~mask[..., None], 3.0)     # garbage in the padding must not leak
    y = m(x, mask)
    for b, n in enumerate(lengths):
        torch.testing.assert_close(y[b, :n], m(x[b:b + 1, :n])[0], rtol=1e-9, atol=1e-10)
        assert y[b, n:].abs().sum() == 0
    # an all-valid mask is the unmasked call
    torch.testing.assert_close(m(x, torch.ones(3, 37, dtype=torch.bool)), m(x))


def test_mask_gradients_stay_in_valid_positions():
    torch.manual_seed(0)
    m = MultiHeadAttention(16, 2, "softmax").double()
    x = torch.randn(2, 9, 16, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True] * 9, [True] * 4 + [False] * 5])
    m(x, mask).sum().backward()
    assert x.grad[1, 4:].abs().sum() == 0 and x.grad[1, :4].abs().sum() > 0


def test_head_dim_sets_the_inner_width():
    m = MultiHeadAttention(256, 2, "softmax", head_dim=64)
    assert m.qkv.weight.shape == (384, 256) and m.out.weight.shape == (256, 128)
    assert m(torch.randn(1, 5, 256)).shape == (1, 5, 256)
    g = MultiHeadAttention(48, 2, "gla", head_dim=8)
    assert g(torch.randn(2, 7, 48)).shape == (2, 7, 48)


def test_bad_mask():
    m = MultiHeadAttention(16, 2, "linear")
    x = torch.randn(2, 5, 16)
    with pytest.raises(ValueError, match="mask"):
        m(x, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one valid"):
        m(x, torch.tensor([[True] * 5, [False] * 5]))
