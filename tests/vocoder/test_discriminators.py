"""Discriminators: output shapes per period/scale, gradients, and the CQT against its definition."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from audiokit.vocoder.discriminators import (ConstantQTransform, MultiPeriodDiscriminator,
                                             MultiScaleDiscriminator,
                                             MultiScaleSubbandCQTDiscriminator)

DATA = Path(__file__).resolve().parents[2] / "../shared/data"


def _check_interface(out, n_sub, batch):
    real, fake, real_feats, fake_feats = out
    assert len(real) == len(fake) == len(real_feats) == len(fake_feats) == n_sub
    for r, f, rf, ff in zip(real, fake, real_feats, fake_feats):
        assert r.shape == f.shape and r.dim() == 2 and r.shape[0] == batch
        assert [a.shape for a in rf] == [a.shape for a in ff]


def test_mpd_shapes_per_period():
    torch.manual_seed(0)
    t = 2000
    d = MultiPeriodDiscriminator()
    y, y_hat = torch.randn(1, 1, t), torch.randn(1, 1, t, requires_grad=True)
    out = d(y, y_hat)
    _check_interface(out, 5, 1)
    for p, score, feats in zip((2, 3, 5, 7, 11), out[0], out[2]):
        h = math.ceil(t / p)
        for _ in range(4):  # four stride-3 convs (kernel 5, padding 2)
            h = (h + 4 - 5) // 3 + 1
        assert score.shape == (1, h * p)
        assert len(feats) == 6 and feats[0].shape == (1, 32, math.ceil(math.ceil(t / p) / 3), p)
    out[1][0].sum().backward()
    assert y_hat.grad is not None and y_hat.grad.abs().sum() > 0


def test_msd_three_scales_first_with_spectral_norm():
    d = MultiScaleDiscriminator()
    out = d(torch.randn(1, 4096), torch.randn(1, 4096))
    _check_interface(out, 3, 1)
    # strides 1*2*2*4*4 = 64 on 4096, 2049 and 1025 samples
    assert [s.shape[1] for s in out[0]] == [64, 33, 17]
    assert all(len(f) == 8 for f in out[2])
    sn = [any("spectral" in str(type(p)).lower() or "_SpectralNorm" in str(p)
              for p in m.parametrizations.weight) for m in
          (d.discriminators[i].disc.convs[0] for i in range(3))]
    assert sn == [True, False, False]
    # the published sizes: MPD 41.1M, MSD 29.6M parameters
    assert sum(p.numel() for p in MultiPeriodDiscriminator().parameters()) == pytest.approx(41.1e6, rel=0.005)
    assert sum(p.numel() for p in d.parameters()) == pytest.approx(29.6e6, rel=0.005)


def _cqt_definition(x, sr, hop, k, b, fmin, frames):
    """Direct evaluation of X[k, m] (ConstantQTransform docstring) with numpy, float64."""
    q = 1.0 / (2 ** (1 / b) - 1)
    f = fmin * 2 ** (k / b)
    n_k = q * sr / f
    t = np.arange(-int(n_k), int(n_k) + 1)
    w = np.where(np.abs(t) < n_k / 2, 0.5 + 0.5 * np.cos(2 * np.pi * t / n_k), 0.0)
    kern = w * np.exp(-2j * np.pi * f * t / sr)
    out = []
    for m in frames:
        idx = m * hop + t
        seg = np.where((idx >= 0) & (idx < x.size), x[np.clip(idx, 0, x.size - 1)], 0.0)
        out.append(math.sqrt(n_k) / w.sum() * np.sum(kern * seg))
    return np.array(out)


@pytest.fixture(scope="module")
def speech_44k():
    import torchaudio.functional as AF

    from audiokit.audio import load

    files = sorted((DATA / "ljspeech_subset" / "wavs").glob("*.flac"))
    if not files:
        pytest.skip("shared LJSpeech subset not available")
    x, sr = load(files[0])
    return AF.resample(x[sr // 2: sr // 2 + sr], sr, 2 * sr).double().numpy(), 2 * sr


def test_cqt_matches_definition(speech_44k):
    x, sr = speech_44k
    b, hop = 24, 256
    cqt = ConstantQTransform(sr, hop, n_octaves=9, bins_per_octave=b)
    z = cqt(torch.from_numpy(x).float()[None])[0].double().numpy()  # [bins, frames, 2]
    assert z.shape == (9 * b, 1 + (x.size - 1) // hop, 2)
    frames = [20, 60, 100, 140]
    got_top = z[8 * b + 5, frames, 0] + 1j * z[8 * b + 5, frames, 1]
    ref_top = _cqt_definition(x, sr, hop, 8 * b + 5, b, 32.70, frames)
    # the top octave runs at the full rate: the definition up to float32 rounding
    np.testing.assert_allclose(got_top, ref_top, rtol=1e-4, atol=1e-4 * np.abs(ref_top).max())
    # a bin near 200 Hz, five decimations down: equal up to the low-pass filters and the
    # rounding of the window length at the lower rate
    k = 2 * b + 15
    got = z[k, frames, 0] + 1j * z[k, frames, 1]
    ref = _cqt_definition(x, sr, hop, k, b, 32.70, frames)
    assert np.abs(got - ref).max() < 1e-3 * np.abs(ref).max()


def test_cqt_rejects_bad_settings():
    with pytest.raises(ValueError, match="divisible"):
        ConstantQTransform(44100, 100, n_octaves=9)
    with pytest.raises(ValueError, match="Nyquist"):
        ConstantQTransform(22050, 256, n_octaves=9)


def test_ms_sb_cqt_discriminator_shapes():
    torch.manual_seed(0)
    d = MultiScaleSubbandCQTDiscriminator(sample_rate=22050)
    y, y_hat = torch.randn(1, 1, 2048) * 0.1, (torch.randn(1, 1, 2048) * 0.1).requires_grad_()
    out = d(y, y_hat)
    _check_interface(out, 3, 1)
    for (hop, b), score, feats in zip(((512, 24), (256, 36), (256, 48)), out[0], out[2]):
        frames = 1 + (2 * 2048 - 1) // hop
        width = 9 * b
        for _ in range(3):  # three (1, 2)-strided convs along frequency
            width = (width - 1) // 2 + 1
        assert score.shape == (1, frames * width)
        assert len(feats) == 5 and feats[0].shape == (1, 32, frames, 9 * b)
    sum(s.mean() for s in out[1]).backward()
    assert y_hat.grad.abs().sum() > 0


def _wn_conv_params(cin, cout, k, groups=1):
    # weight (cin/groups * cout * k) + bias (cout) + weight-norm gain g (cout)
    return cin // groups * cout * k + 2 * cout


def test_narrow_mpd_and_msd_widths():
    mpd_ch, msd_ch, msd_g = (8, 16, 32, 64), (16, 16, 32, 64, 128, 128, 128), (1, 4, 16, 16, 16, 16, 1)
    mpd = MultiPeriodDiscriminator(channels=mpd_ch)
    chans = (1, *mpd_ch)
    per_period = (sum(_wn_conv_params(a, b, 5) for a, b in zip(chans[:-1], chans[1:]))
                  + _wn_conv_params(64, 64, 5) + _wn_conv_params(64, 1, 3))
    assert sum(p.numel() for p in mpd.parameters()) == 5 * per_period
    out = mpd(torch.randn(2, 1, 3000), torch.randn(2, 1, 3000))
    _check_interface(out, 5, 2)
    assert [f.shape[1] for f in out[2][0]] == [8, 16, 32, 64, 64, 1]

    msd = MultiScaleDiscriminator(channels=msd_ch, groups=msd_g)
    ins = (1, *msd_ch[:-1])
    kernels = (15, 41, 41, 41, 41, 41, 5)
    per_scale = (sum(_wn_conv_params(i, o, k, g) for i, o, k, g in zip(ins, msd_ch, kernels, msd_g))
                 + _wn_conv_params(128, 1, 3))
    # the first scale is spectrally normalised: no gain g, but the same weight/bias count
    spectral = per_scale - sum(msd_ch) - 1
    assert sum(p.numel() for p in msd.parameters()) == spectral + 2 * per_scale
    out = msd(torch.randn(1, 4096), torch.randn(1, 4096))
    _check_interface(out, 3, 1)
    assert [s.shape[1] for s in out[0]] == [64, 33, 17]   # strides unchanged
    assert [f.shape[1] for f in out[2][0]] == [*msd_ch, 1]


def test_bad_widths_are_errors():
    with pytest.raises(ValueError, match="4 positive ints"):
        MultiPeriodDiscriminator(channels=(8, 16, 32))
    with pytest.raises(ValueError, match="groups 16 must divide"):
        MultiScaleDiscriminator(channels=(16, 16, 24, 64, 128, 128, 128))
