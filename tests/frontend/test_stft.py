"""audiokit.frontend.stft against librosa.stft / istft and MP-SENet's formulas."""

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from audiokit.frontend.stft import STFT, mag_pha_istft, mag_pha_stft

DATA = Path(__file__).resolve().parents[2] / "../shared/data"
SPEECH = DATA / "pesq_reference" / "speech.wav"  # 16 kHz, 3.1 s
SPEECH2 = DATA / "speechbrain_samples" / "speech" / "separation_processed_16k_source1_0_peak_0.5.wav"


def _read(path, n=None):
    y, sr = sf.read(str(path), dtype="float64")
    assert sr == 16000
    return y[:n] if n else y


def _reference(y, c, n_fft=400, hop=100, win=400, center=True):
    """MP-SENet's front-end in numpy on top of librosa.stft.

    torch.stft (and so MP-SENet) pads with reflection; librosa >= 0.10 defaults to
    zero padding, so the pad mode is set explicitly.
    """
    X = librosa.stft(y, n_fft=n_fft, hop_length=hop, win_length=win, window="hann",
                     center=center, pad_mode="reflect")
    mag = np.sqrt(X.real ** 2 + X.imag ** 2 + 1e-9) ** c
    pha = np.arctan2(X.imag + 1e-10, X.real + 1e-5)
    return mag, pha, np.stack((mag * np.cos(pha), mag * np.sin(pha)), axis=-1)


@pytest.mark.parametrize("center", [True, False], ids=["center", "nocenter"])
@pytest.mark.parametrize("c", [0.3, 1.0], ids=["c0.3", "c1"])
def test_matches_librosa_float64(center, c):
    y = _read(SPEECH, 16000)
    mag, pha, com = mag_pha_stft(torch.from_numpy(y), compress_factor=c, center=center)
    rmag, rpha, rcom = _reference(y, c, center=center)
    assert mag.shape == rmag.shape == (201, (1 + 16000 // 100) if center else (1 + (16000 - 400) // 100))
    assert com.shape == rcom.shape
    np.testing.assert_allclose(mag.numpy(), rmag, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(com.numpy(), rcom, rtol=1e-9, atol=1e-12)
    # phase: compare on the circle (values at +-pi may flip sides)
    np.testing.assert_allclose(np.cos(pha.numpy() - rpha), 1.0, atol=1e-12)
    assert float(pha.abs().max()) <= np.pi


def test_matches_librosa_float32():
    y = _read(SPEECH, 16000)
    mag, pha, com = mag_pha_stft(torch.from_numpy(y).float())
    assert mag.dtype == torch.float32
    rmag, _, rcom = _reference(y, 0.3)
    # float32 rounding of |X| ~ 1e-7 * max|X| is amplified by |X|**0.3 in quiet bins
    np.testing.assert_allclose(mag.numpy(), rmag, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(com.numpy(), rcom, atol=2e-4 * np.abs(rcom).max())


def test_perfect_reconstruction_real_speech():
    y = torch.from_numpy(_read(SPEECH)).float()
    mag, pha, _ = mag_pha_stft(y)
    rec = mag_pha_istft(mag, pha, length=y.numel())
    assert rec.shape == y.shape
    err = (rec - y).abs().max().item()
    snr = 10 * torch.log10(y.pow(2).sum() / (rec - y).pow(2).sum()).item()
    assert err < 1e-4, err
    assert snr > 70, snr


def test_istft_matches_librosa_istft():
    y = _read(SPEECH, 8000)
    mag, pha, _ = mag_pha_stft(torch.from_numpy(y))
    X = (mag.numpy() ** (1 / 0.3)) * np.exp(1j * pha.numpy())
    ref = librosa.istft(X, hop_length=100, win_length=400, n_fft=400, window="hann",
                        center=True, length=8000)
    ours = mag_pha_istft(mag, pha, length=8000).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)


def test_batch_equals_per_item():
    a = torch.from_numpy(_read(SPEECH, 12345)).float()
    b = torch.from_numpy(_read(SPEECH2, 12345)).float()
    mag, pha, com = mag_pha_stft(torch.stack((a, b)))
    assert mag.shape == (2, 201, 1 + 12345 // 100) and com.shape == mag.shape + (2,)
    rec = mag_pha_istft(mag, pha, length=12345)
    for i, x in enumerate((a, b)):
        m1, p1, c1 = mag_pha_stft(x)  # unbatched: no batch axis
        assert m1.shape == (201, 1 + 12345 // 100)
        torch.testing.assert_close(mag[i], m1)
        torch.testing.assert_close(com[i], c1)
        torch.testing.assert_close(rec[i], mag_pha_istft(m1, p1, length=12345))


def test_module_matches_functions_and_window_is_buffer():
    m = STFT()
    assert m.state_dict() == {}  # non-persistent window
    assert "window" in dict(m.named_buffers())
    y = torch.from_numpy(_read(SPEECH, 4000)).float()[None]
    for a, b in zip(m(y), mag_pha_stft(y)):
        torch.testing.assert_close(a, b)
    mag, pha, _ = m(y)
    assert mag.shape[-1] == m.num_frames(4000)
    torch.testing.assert_close(m.inverse(mag, pha, length=4000), mag_pha_istft(mag, pha, length=4000))


def test_gradients_finite_at_silence():
    wav = torch.zeros(2, 1600, requires_grad=True)
    mag, pha, com = mag_pha_stft(wav)
    assert torch.isfinite(mag).all() and torch.isfinite(pha).all()
    (mag.sum() + pha.sum() + com.sum()).backward()
    assert torch.isfinite(wav.grad).all()
    mag2 = mag.detach().clone().requires_grad_()
    pha2 = pha.detach().clone().requires_grad_()
    out = mag_pha_istft(mag2, pha2, length=1600)
    out.pow(2).sum().backward()
    assert torch.isfinite(mag2.grad).all() and torch.isfinite(pha2.grad).all()
    # a gradient must actually flow through the compressed magnitude
    wav = torch.from_numpy(_read(SPEECH, 1600)).float().requires_grad_()
    mag_pha_stft(wav)[0].sum().backward()
    assert torch.isfinite(wav.grad).all() and wav.grad.abs().sum() > 0


def test_half_input_is_upcast():
    y = torch.from_numpy(_read(SPEECH, 2000)).float()
    mag16 = mag_pha_stft(y.half())[0]
    assert mag16.dtype == torch.float32
    torch.testing.assert_close(mag16, mag_pha_stft(y.half().float())[0])


@pytest.mark.parametrize("bad, match", [
    (lambda: mag_pha_stft(torch.zeros(1, 2, 1000)), r"\[T\] or \[B, T\]"),
    (lambda: mag_pha_stft(torch.zeros(1000, dtype=torch.int16)), "floating"),
    (lambda: mag_pha_stft(np.zeros(1000)), "torch.Tensor"),
    (lambda: mag_pha_stft(torch.zeros(150)), "n_fft//2"),
    (lambda: mag_pha_stft(torch.zeros(1000), win_length=512), "win_length"),
    (lambda: mag_pha_stft(torch.zeros(1000), compress_factor=0), "compress_factor"),
    (lambda: mag_pha_istft(torch.ones(1, 201, 10), torch.ones(1, 201, 11)), "same shape"),
    (lambda: mag_pha_istft(torch.ones(1, 257, 10), torch.ones(1, 257, 10)), "frequency bins"),
    (lambda: mag_pha_istft(torch.ones(201), torch.ones(201)), r"\[F, frames\]"),
], ids=["3d", "int", "numpy", "short", "win>nfft", "c0", "mismatch", "bins", "1d"])
def test_bad_input_raises_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    y = torch.from_numpy(_read(SPEECH, 16000)).float()[None]
    m = STFT().cuda()
    mag, pha, com = m(y.cuda())
    assert mag.device.type == "cuda"
    cmag, _, ccom = mag_pha_stft(y)
    torch.testing.assert_close(mag.cpu(), cmag, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(com.cpu(), ccom, rtol=1e-4, atol=1e-4)
    rec = m.inverse(mag, pha, length=16000)
    assert (rec.cpu() - y).abs().max() < 1e-4
