"""MP-SENet losses against direct numpy / naive-loop references."""

import math

import numpy as np
import pytest
import torch

from audiokit.enh.losses import (DEFAULT_WEIGHTS, MPSENetLoss, anti_wrapping, complex_loss,
                                 consistency_loss, metric_generator_loss, phase_losses)
from audiokit.frontend.stft import mag_pha_istft, mag_pha_stft


def test_anti_wrapping_matches_numpy_formula():
    x = np.random.default_rng(0).uniform(-25, 25, size=1000)
    ref = np.abs(x - 2 * np.pi * np.round(x / (2 * np.pi)))
    np.testing.assert_allclose(anti_wrapping(torch.from_numpy(x)).numpy(), ref, rtol=0, atol=1e-12)
    assert ref.max() <= np.pi + 1e-12
    # even and 2 pi periodic
    t = torch.from_numpy(x)
    torch.testing.assert_close(anti_wrapping(-t), anti_wrapping(t))
    torch.testing.assert_close(anti_wrapping(t + 6 * math.pi), anti_wrapping(t), atol=1e-9, rtol=0)


def _naive_phase_losses(ref, est):
    """Loops over the definitions: IP per bin, GD along frequency, IAF along time."""
    def faw(v):
        return abs(v - 2 * np.pi * round(v / (2 * np.pi)))
    B, F, T = ref.shape
    ip = np.mean([faw(ref[b, f, t] - est[b, f, t]) for b in range(B) for f in range(F) for t in range(T)])
    gd = np.mean([faw((ref[b, f + 1, t] - ref[b, f, t]) - (est[b, f + 1, t] - est[b, f, t]))
                  for b in range(B) for f in range(F - 1) for t in range(T)])
    iaf = np.mean([faw((ref[b, f, t + 1] - ref[b, f, t]) - (est[b, f, t + 1] - est[b, f, t]))
                   for b in range(B) for f in range(F) for t in range(T - 1)])
    return ip, gd, iaf


def test_phase_losses_match_naive_loops():
    rng = np.random.default_rng(1)
    ref = rng.uniform(-np.pi, np.pi, size=(2, 9, 7))
    est = rng.uniform(-np.pi, np.pi, size=(2, 9, 7))
    got = phase_losses(torch.from_numpy(ref), torch.from_numpy(est))
    for g, r in zip(got, _naive_phase_losses(ref, est)):
        assert abs(g.item() - r) < 1e-5


def test_phase_losses_zero_for_identical_and_invariant_to_2pi():
    pha = torch.rand(2, 201, 30) * 2 * math.pi - math.pi
    for v in phase_losses(pha, pha.clone()):
        assert v.item() == 0.0
    k = torch.randint(-3, 4, pha.shape).float()
    shifted = pha + 2 * math.pi * k
    for v in phase_losses(pha, shifted):
        assert v.item() < 1e-5
    est = pha + 0.4
    ip, gd, iaf = phase_losses(pha, est)  # constant offset: only IP sees it
    assert abs(ip.item() - 0.4) < 1e-5 and gd.item() < 1e-5 and iaf.item() < 1e-5
    with pytest.raises(ValueError):
        phase_losses(pha, pha[:, :-1])


def test_complex_loss_is_sum_over_re_im():
    a, b = torch.randn(2, 5, 4, 2), torch.randn(2, 5, 4, 2)
    naive = ((a - b) ** 2).sum(-1).mean()
    torch.testing.assert_close(complex_loss(a, b), naive)


def test_consistency_zero_for_real_signal_and_large_otherwise():
    wav = torch.randn(2, 4000) * 0.1
    _, _, com = mag_pha_stft(wav)
    assert consistency_loss(com, wav).item() < 1e-8
    mag, pha, _ = mag_pha_stft(wav)
    pha_rand = torch.rand_like(pha) * 2 * math.pi - math.pi  # random phase: not a valid STFT
    com_rand = torch.stack((mag * torch.cos(pha_rand), mag * torch.sin(pha_rand)), -1)
    wav_rand = mag_pha_istft(mag, pha_rand, length=4000)
    assert consistency_loss(com_rand, wav_rand).item() > 0.1 * complex_loss(com_rand, 0 * com_rand).item()


def test_default_weights_are_the_published_ones():
    assert DEFAULT_WEIGHTS == {"metric": 0.05, "magnitude": 0.9, "phase": 0.3, "complex": 0.1,
                               "time": 0.2, "consistency": 0.1}


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    clean = torch.randn(2, 3000, generator=g) * 0.1
    est = clean + 0.05 * torch.randn(2, 3000, generator=g)
    return clean, mag_pha_stft(clean), est, mag_pha_stft(est)


class _StubDisc(torch.nn.Module):
    def forward(self, ref, est):
        return torch.sigmoid((est - ref).mean(dim=(1, 2)))[:, None]


def test_generator_loss_is_weighted_sum_of_independent_terms():
    clean, (cm, cp, cc), est, (em, ep, ec) = _batch()
    crit = MPSENetLoss({"complex": 0.2, "consistency": 0.2})  # MambAttention's weights
    disc = _StubDisc()
    total, parts = crit.generator_loss(clean, cm, cp, cc, est, em, ep, ec, disc=disc)
    ip, gd, iaf = phase_losses(cp, ep)
    ref = {
        "magnitude": ((cm - em) ** 2).mean(),
        "phase": ip + gd + iaf,
        "complex": ((cc - ec) ** 2).sum(-1).mean(),
        "time": (clean - est).abs().mean(),
        "consistency": consistency_loss(ec, est),
        "metric": ((disc(cm, mag_pha_stft(est)[0]).flatten() - 1) ** 2).mean(),
    }
    w = dict(DEFAULT_WEIGHTS, complex=0.2, consistency=0.2)
    for k, v in ref.items():
        torch.testing.assert_close(parts[k], v)
    torch.testing.assert_close(total, sum(w[k] * v for k, v in ref.items()))
    # metric from precomputed scores gives the same value; without any: term absent
    scores = disc(cm, mag_pha_stft(est)[0])
    total2, _ = crit.generator_loss(clean, cm, cp, cc, est, em, ep, ec, metric_g=scores)
    torch.testing.assert_close(total2, total)
    metric_loss = metric_generator_loss(disc, cm, mag_pha_stft(est)[0])  # 0-dim: L_Metric itself
    total3, _ = crit.generator_loss(clean, cm, cp, cc, est, em, ep, ec, metric_g=metric_loss)
    torch.testing.assert_close(total3, total)
    _, parts3 = crit(clean, cm, cp, cc, est, em, ep, ec)
    assert "metric" not in parts3
    torch.testing.assert_close(metric_generator_loss(disc, cm, em),
                               ((disc(cm, em).flatten() - 1) ** 2).mean())


def test_generator_loss_backpropagates_finite_gradients():
    clean, (cm, cp, cc), est, _ = _batch(1)
    est = est.clone().requires_grad_(True)
    em, ep, ec = mag_pha_stft(est)
    total, _ = MPSENetLoss()(clean, cm, cp, cc, est, em, ep, ec, disc=_StubDisc())
    total.backward()
    assert torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0


def test_bad_weights_rejected():
    with pytest.raises(ValueError, match="unknown"):
        MPSENetLoss({"consistancy": 0.1})
    with pytest.raises(ValueError, match=">= 0"):
        MPSENetLoss({"time": -1.0})
