"""Matcha-TTS decoder: published size, OT-CFM loss and Euler sampling against the exact field,
padding invariance, and FastSpeech with decoder=cfm."""
import pytest
import torch

from audiokit.tts.cfm_decoder import CONFIGS, CFMDecoder, MaskedGroupNorm
from audiokit.tts.fastspeech import CONFIGS as FS_CONFIGS
from audiokit.tts.fastspeech import FastSpeech
from audiokit.vocoder.flow_matching import SIGMA_MIN

TINY_FS = dict(vocab_size=20, n_mels=80, **FS_CONFIGS["tiny"], decoder="cfm", cfm=CONFIGS["tiny"])
# 16 mel bands and no preset: the same maths at a fraction of the CPU time
SMALL_FS = {**TINY_FS, "n_mels": 16, "mel_preset": None}


pytestmark = pytest.mark.usefixtures("one_thread")


def _n(m):
    return sum(p.numel() for p in m.parameters())


def test_matcha_config_has_the_published_size():
    # Matcha-TTS LJSpeech: 18.2M parameters (Mehta et al. 2024, Table 1); 178 symbols as theirs.
    m = FastSpeech(vocab_size=178, **FS_CONFIGS["matcha"])
    assert abs(_n(m) - 18.2e6) < 0.05e6, _n(m)
    assert 10.9e6 < _n(m.cfm) < 11.1e6


class _Oracle(torch.nn.Module):
    """The exact conditional field towards a known x1 along the OT path."""

    def __init__(self, x1):
        super().__init__()
        self.x1 = x1

    def forward(self, x, mask, mu, t):
        t = t.reshape(-1, 1, 1) if t.dim() else t
        x0 = (x - t * self.x1) / (1 - (1 - SIGMA_MIN) * t)
        return (self.x1 - (1 - SIGMA_MIN) * x0) * mask


def test_loss_is_zero_for_the_exact_field_and_mean_square_target_for_zero():
    torch.manual_seed(0)
    dec = CFMDecoder(80, **CONFIGS["tiny"])
    x1 = torch.randn(3, 80, 50) * 2 + 1
    mask = torch.ones(3, 1, 50)
    dec.estimator = _Oracle(x1)
    assert dec.loss(x1, mask, torch.zeros_like(x1)) < 1e-8
    dec.estimator = _Oracle(x1)
    dec.estimator.forward = lambda x, m, mu, t: torch.zeros_like(x)
    # |u|^2 = |x1 - (1 - s) x0|^2 with x0 ~ N(0, I) independent: E = mean(x1^2) + (1 - s)^2
    losses = torch.stack([dec.loss(x1, mask, x1) for _ in range(20)])
    assert losses.mean().item() == pytest.approx((x1 ** 2).mean().item() + (1 - SIGMA_MIN) ** 2, rel=0.02)


def test_euler_sampling_follows_the_straight_ot_path():
    torch.manual_seed(0)
    dec = CFMDecoder(80, **CONFIGS["tiny"])
    x1 = torch.randn(2, 80, 12)
    mask = torch.ones(2, 1, 12)
    dec.estimator = _Oracle(x1)
    # straight paths: Euler is exact at any step count; the end point is x1 + sigma_min * z
    for steps in (1, 3, 10):
        out = dec.sample(torch.zeros_like(x1), mask, steps=steps, temperature=1.0)
        torch.testing.assert_close(out, x1, atol=1e-3, rtol=0)
    torch.testing.assert_close(dec.sample(x1, mask, steps=2, temperature=0.0), x1, atol=1e-5, rtol=1e-5)


def test_masked_group_norm_matches_group_norm_on_the_valid_frames():
    torch.manual_seed(0)
    n = MaskedGroupNorm(4, 16)
    x = torch.randn(2, 16, 10)
    mask = torch.ones(2, 1, 10)
    mask[1, :, 6:] = 0
    out = n(x, mask)
    ref = torch.nn.functional.group_norm(x[1:, :, :6], 4, n.weight, n.bias, n.eps)
    torch.testing.assert_close(out[1:, :, :6], ref)


@pytest.mark.parametrize("attention", ["softmax", "linear", "gla"])
def test_estimator_padding_invariance(attention):
    torch.manual_seed(0)
    dec = CFMDecoder(80, **{**CONFIGS["tiny"], "channels": (32, 32, 32)}, attention=attention).double().eval()
    T = [23, 14]
    x = torch.randn(2, 80, 23, dtype=torch.float64)
    mu = torch.randn(2, 80, 23, dtype=torch.float64)
    mask = (torch.arange(23)[None] < torch.tensor(T)[:, None]).double()[:, None]
    t = torch.tensor([0.3, 0.7], dtype=torch.float64)
    out = dec.estimator(x, mask, mu, t)
    assert out.shape == x.shape and out[1, :, 14:].abs().sum() == 0
    single = dec.estimator(x[1:, :, :14], mask[1:, :, :14], mu[1:, :, :14], t[1:])
    torch.testing.assert_close(out[1:, :, :14], single, rtol=1e-7, atol=1e-9)


def test_fastspeech_cfm_forward_synthesize_and_round_trip(tmp_path):
    from audiokit.registry import load_model, save_model

    torch.manual_seed(0)
    m = FastSpeech(**SMALL_FS)
    tokens = torch.randint(1, 20, (2, 7))
    tokens[1, 4:] = 0
    tl, ml = torch.tensor([7, 4]), torch.tensor([21, 11])
    mel = torch.randn(2, 16, 21)
    out = m(tokens, tl, mel, ml)
    assert set(out) == {"loss", "prior", "duration", "cfm", "durations"}
    torch.testing.assert_close(out["loss"], out["prior"] + out["duration"] + out["cfm"])
    out["loss"].backward()
    assert m.embed.weight.grad.abs().sum() > 0 and m.cfm.estimator.proj.weight.grad.abs().sum() > 0
    m.eval()
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    y, lens = m.synthesize(tokens, tl, steps=2, generator=g())
    assert y.shape == (2, 16, int(lens.max())) and y[1, :, lens[1]:].abs().sum() == 0
    torch.testing.assert_close(m.synthesize(tokens, tl, steps=2, generator=g())[0], y)
    assert not torch.allclose(m.synthesize(tokens, tl, steps=4, generator=g())[0], y)
    # temperature 0: no noise, the same mel whatever the seed
    a = m.synthesize(tokens, tl, steps=2, temperature=0.0, generator=torch.Generator().manual_seed(5))[0]
    torch.testing.assert_close(m.synthesize(tokens, tl, steps=2, temperature=0.0)[0], a)
    # one utterance alone gives what it gets in the padded batch
    torch.testing.assert_close(m.synthesize(tokens[1:, :4], steps=2, temperature=0.0)[0],
                               a[1:, :, : lens[1]], rtol=1e-4, atol=1e-4)
    cfg = {"name": "fastspeech", **SMALL_FS}
    save_model(m, tmp_path, {"model": cfg})
    m2 = load_model(tmp_path)
    torch.testing.assert_close(m2.synthesize(tokens, tl, steps=2, generator=g())[0], y)


def test_fastspeech_cfm_overfits_two_utterances():
    torch.manual_seed(0)
    m = FastSpeech(**{**SMALL_FS, "dropout": 0.0, "dp_dropout": 0.0})
    tokens = torch.randint(1, 20, (2, 6))
    tl, ml = torch.tensor([6, 6]), torch.tensor([18, 18])
    protos = torch.randn(20, 16)
    mel = torch.stack([protos[tokens[b]].repeat_interleave(3, 0).T for b in range(2)])
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    hist = []
    for _ in range(60):
        out = m(tokens, tl, mel, ml)
        hist.append(out["cfm"].item())
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    # a zero field scores E|u|^2 = mean(x1^2) + 1; learning mu -> x1 must beat it clearly
    zero_field = (mel ** 2).mean().item() + 1
    assert sum(hist[-10:]) / 10 < 0.85 * zero_field < sum(hist[:3]) / 3, (zero_field, hist[:10], hist[-10:])


def test_bad_decoder_and_temperature():
    with pytest.raises(ValueError, match="decoder"):
        FastSpeech(vocab_size=10, decoder="diffusion")
    m = FastSpeech(**TINY_FS).eval()
    with pytest.raises(ValueError, match="temperature"):
        m.synthesize(torch.tensor([[1, 2, 3]]), temperature=-1.0)
    with pytest.raises(ValueError, match="steps"):
        m.synthesize(torch.tensor([[1, 2, 3]]), steps=0)
