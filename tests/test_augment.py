import numpy as np
import pytest
import torch

from audiokit.augment import active_rms, fit_length, mix_at_snr, rms, scale_to_rms_db, snr_db


def _ref_snr(clean, noise):
    clean, noise = np.asarray(clean, np.float64), np.asarray(noise, np.float64)
    return 10 * np.log10(np.sum(clean ** 2) / np.sum(noise ** 2))


@pytest.mark.parametrize("snr", [-5.0, 0.0, 7.5, 15.0])
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_mix_at_snr_hits_target(snr, kind):
    rng = np.random.default_rng(1)
    clean = (0.1 * np.sin(np.arange(16000) * 0.05) * rng.uniform(0.5, 1, 16000)).astype(np.float32)
    noise = rng.standard_normal(5000).astype(np.float32)  # shorter: must be looped
    if kind == "torch":
        clean, noise = torch.from_numpy(clean), torch.from_numpy(noise)
    mix = mix_at_snr(clean, noise, snr, np.random.default_rng(0))
    assert isinstance(mix.noisy, type(clean))
    assert mix.noisy.shape == clean.shape
    np.testing.assert_allclose(np.asarray(mix.noisy), np.asarray(mix.clean) + np.asarray(mix.noise), atol=1e-6)
    assert abs(_ref_snr(mix.clean, mix.noise) - snr) < 1e-3
    assert mix.gain == 1.0
    np.testing.assert_allclose(np.asarray(mix.clean), np.asarray(clean))


def test_joint_rescale_keeps_snr_and_avoids_clipping():
    rng = np.random.default_rng(2)
    clean = 0.9 * np.sign(rng.standard_normal(8000)).astype(np.float32)
    noise = rng.standard_normal(8000).astype(np.float32)
    mix = mix_at_snr(clean, noise, -5.0, rng)
    assert np.abs(mix.noisy).max() <= 0.99 + 1e-6
    assert mix.gain < 1
    np.testing.assert_allclose(mix.clean, clean * mix.gain, rtol=1e-5)
    assert abs(_ref_snr(mix.clean, mix.noise) + 5.0) < 1e-3


def test_fit_length_loops_and_crops_like_tile():
    noise = np.arange(10, dtype=np.float32)
    rng = np.random.default_rng(3)
    out = fit_length(noise, 25, rng)
    offset = int(np.random.default_rng(3).integers(0, 10))
    np.testing.assert_array_equal(out, np.tile(noise, 5)[offset:offset + 25])
    assert fit_length(noise, 4).tolist() == [0, 1, 2, 3]


def test_active_level_ignores_silence():
    sr = 16000
    tone = 0.2 * np.sin(2 * np.pi * 200 * np.arange(sr) / sr)
    x = np.concatenate([tone, np.zeros(3 * sr)]).astype(np.float32)
    assert abs(active_rms(x, sr) - 0.2 / np.sqrt(2)) < 1e-3
    assert abs(rms(x) - 0.2 / np.sqrt(2) / 2) < 1e-3
    # active level puts the noise 6 dB higher than whole-signal level for this signal
    noise = np.random.default_rng(0).standard_normal(x.size).astype(np.float32)
    whole = mix_at_snr(x, noise, 0.0, level="whole", sample_rate=sr)
    active = mix_at_snr(x, noise, 0.0, level="active", sample_rate=sr)
    assert abs(snr_db(whole.clean, whole.noise) - 0.0) < 1e-3
    assert abs(snr_db(active.clean, active.noise) - (-20 * np.log10(2))) < 0.05


def test_scale_to_rms_db():
    x = np.random.default_rng(4).standard_normal(1000).astype(np.float32)
    y = scale_to_rms_db(x, -26.0)
    assert abs(20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2))) + 26.0) < 1e-4


def test_errors():
    x = np.ones(100, np.float32)
    with pytest.raises(ValueError, match="noise is silent"):
        mix_at_snr(x, np.zeros(10, np.float32), 0.0)
    with pytest.raises(ValueError, match="clean signal is silent"):
        mix_at_snr(np.zeros(100, np.float32), x, 0.0)
    with pytest.raises(ValueError, match="1-D"):
        mix_at_snr(np.ones((2, 100), np.float32), x, 0.0)
    with pytest.raises(ValueError, match="level"):
        mix_at_snr(x, x, 0.0, level="p56")
    with pytest.raises(ValueError, match="finite"):
        mix_at_snr(x, x, float("nan"))
