"""MP-SENet generator: size, shapes, enhance(), batch independence, AMP, save/load, and a
tiny overfit run on a real noisy/clean pair."""

from pathlib import Path

import pytest
import torch

from audiokit.audio import load
from audiokit.enh.losses import MPSENetLoss
from audiokit.enh.mpsenet import DenseEncoder, MaskDecoder, MPSENet, PhaseDecoder
from audiokit.frontend.stft import mag_pha_stft
from audiokit.registry import load_model, save_model

SHARED = Path(__file__).resolve().parents[2] / "../shared/data"
MINI = dict(dense_channel=16, num_tsblocks=2)  # smaller configuration of the same model


@pytest.fixture(scope="module")
def mini():
    torch.manual_seed(0)
    return MPSENet(**MINI).eval()


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_full_configuration_has_published_size():
    model = MPSENet()  # paper defaults
    assert abs(n_params(model) - 2.05e6) / 2.05e6 < 0.03
    assert model.sample_rate == 16000


def test_submodules_shapes():
    x = torch.randn(2, 2, 7, 201)
    h = DenseEncoder(2, 8, depth=2)(x)
    assert h.shape == (2, 8, 7, 100)
    assert MaskDecoder(8, 201, beta=2.0, depth=2)(h).shape == (2, 201, 7)
    pha = PhaseDecoder(8, 201, depth=2)(h)
    assert pha.shape == (2, 201, 7) and pha.abs().max() <= torch.pi


@pytest.mark.parametrize("length", [401, 4567])
def test_forward_shapes_odd_lengths(mini, length):
    mag, pha, _ = mag_pha_stft(torch.randn(2, length))
    with torch.no_grad():
        m, p, c = mini(mag, pha)
    assert m.shape == p.shape == mag.shape and c.shape == (*mag.shape, 2)
    assert torch.isfinite(c).all()
    assert (m >= 0).all() and (m <= 2.0 * mag + 1e-6).all()  # mask in (0, beta = 2)


def test_even_number_of_bins():
    model = MPSENet(dense_channel=8, num_tsblocks=1, n_fft=510, hop_length=128, win_length=510).eval()
    mag, pha, _ = mag_pha_stft(torch.randn(1, 3000), 510, 128, 510)
    assert mag.shape[1] == 256
    with torch.no_grad():
        assert model(mag, pha)[0].shape == mag.shape


def test_enhance_keeps_shape_and_rank(mini):
    for wav in (torch.randn(4001) * 0.1, torch.randn(3, 2003) * 0.1, torch.randn(37)):
        out = mini.enhance(wav)
        assert out.shape == wav.shape and torch.isfinite(out).all()


def test_enhance_rms_normalisation_makes_it_scale_equivariant(mini):
    # enhance() normalises the input RMS and restores it, so gain passes straight through.
    # A power-of-two gain keeps the normalised input bit-identical: the wrapped-phase input
    # jumps by 2 pi under tiny rounding changes, so other gains agree only approximately.
    wav = torch.randn(2, 3000) * 0.05
    torch.testing.assert_close(mini.enhance(4.0 * wav), 4.0 * mini.enhance(wav),
                               rtol=1e-6, atol=1e-7)
    raw = mini.stft.inverse(*mini(*mini.stft(4.0 * wav)[:2])[:2], length=3000)
    assert (raw - 4.0 * mini.enhance(wav)).abs().max() > 1e-3  # the model alone is not


def test_enhance_equals_manual_pipeline(mini):
    wav = torch.randn(1, 3000) * 0.2
    rms = wav.square().mean().sqrt()  # 1 / rms = sqrt(T / sum x^2), MP-SENet's norm_factor
    mag, pha, _ = mag_pha_stft(wav / rms)
    with torch.no_grad():
        m, p, _ = mini(mag, pha)
    expected = mini.stft.inverse(m, p, length=3000) * rms
    torch.testing.assert_close(mini.enhance(wav), expected, rtol=1e-4, atol=1e-6)


def test_batch_items_do_not_interact(mini):
    # Attention must run along time/frequency, never across the batch (cf. the public
    # code's batch_first bug): changing item 1 leaves item 0's output unchanged.
    a, b = torch.randn(1, 3000), torch.randn(1, 3000)
    out1 = mini.enhance(torch.cat([a, b]))
    out2 = mini.enhance(torch.cat([a, 3 * torch.randn(1, 3000)]))
    torch.testing.assert_close(out1[0], out2[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out1[0], mini.enhance(a)[0], rtol=1e-4, atol=1e-5)


def test_time_attention_reaches_distant_frames(mini):
    mag, pha, _ = mag_pha_stft(torch.randn(1, 6000))
    mag2 = mag.clone()
    mag2[..., -5:] *= 3.0  # change the last frames only
    with torch.no_grad():
        d = (mini(mag, pha)[0] - mini(mag2, pha)[0])[..., :20].abs().max()
    assert d > 1e-6  # the first frames see the change


def test_autocast_bf16_cpu_is_finite_and_fp32_outputs(mini):
    mag, pha, _ = mag_pha_stft(torch.randn(1, 3200))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        m, p, c = mini(mag, pha)
    assert m.dtype == p.dtype == c.dtype == torch.float32
    assert torch.isfinite(c).all()


def test_bad_inputs_are_rejected(mini):
    with pytest.raises(ValueError, match="frequency bins"):
        mini(torch.rand(1, 200, 10), torch.rand(1, 200, 10))
    with pytest.raises(ValueError, match=r"\[B, F, T\]"):
        mini(torch.rand(200, 10), torch.rand(200, 10))
    with pytest.raises(ValueError, match="enhance"):
        mini.enhance(torch.randn(2, 3, 400))
    with pytest.raises(ValueError, match="divisible"):
        MPSENet(dense_channel=10, num_heads=4)


def test_registry_save_load_roundtrip(tmp_path, mini):
    save_model(mini, tmp_path / "m", {"model": {"name": "mpsenet", **MINI}})
    loaded = load_model(tmp_path / "m")
    wav = torch.randn(2, 3000) * 0.1
    torch.testing.assert_close(loaded.enhance(wav), mini.enhance(wav))


def noisy_clean_pair(n_samples=16000, snr_db=5.0):
    speech, sr = load(SHARED / "speechbrain_samples/speech/separation_source1_0.wav")
    noise, sr_n = load(SHARED / "speechbrain_samples/noise/noise_noise2.wav")
    assert sr == sr_n == 16000
    s, n = speech[8000:8000 + n_samples], noise[:n_samples]
    noisy = s + n * (s.norm() / n.norm()) * 10 ** (-snr_db / 20)
    scale = torch.sqrt(n_samples / noisy.square().sum())  # MP-SENet's RMS normalisation
    return (noisy * scale)[None], (s * scale)[None]


def test_tiny_overfit_on_real_pair():
    torch.manual_seed(0)
    noisy, clean = noisy_clean_pair(8000)  # 0.5 s keeps the test a few seconds on 2 cores
    model = MPSENet(dense_channel=8, num_tsblocks=1, num_heads=2, dense_depth=2, dropout=0.0)
    crit = MPSENetLoss()
    opt = torch.optim.Adam(model.parameters(), 5e-3)
    c_mag, c_pha, c_com = model.stft(clean)
    n_mag, n_pha, _ = model.stft(noisy)
    losses = []
    for _ in range(25):
        mag, pha, com = model(n_mag, n_pha)
        wav = model.stft.inverse(mag, pha, length=clean.shape[-1])
        loss, parts = crit.generator_loss(clean, c_mag, c_pha, c_com, wav, mag, pha, com)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.6 * losses[0], losses
