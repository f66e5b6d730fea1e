"""audiokit.frontend.mel against librosa's mel filters and a librosa-based HiFi-GAN log-mel."""

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from audiokit.frontend.mel import PRESETS, MelSpectrogram, hz_to_mel, mel_filterbank, mel_to_hz

DATA = Path(__file__).resolve().parents[2] / "../shared/data"
LJ = DATA / "ljspeech_subset" / "wavs" / "LJ001-0002.flac"  # 22.05 kHz, 1.9 s
SB16 = DATA / "speechbrain_samples" / "speech" / "separation_processed_16k_source1_0_peak_0.5.wav"


@pytest.mark.parametrize("sr, n_fft, n_mels, fmin, fmax", [
    (22050, 1024, 80, 0.0, 8000.0),
    (24000, 1024, 100, 0.0, 12000.0),
    (22050, 1024, 80, 0.0, None),
    (16000, 512, 40, 20.0, 7600.0),
    (44100, 2048, 128, 30.0, None),
    (16000, 400, 80, 0.0, 8000.0),
], ids=["lj", "libritts", "lj-fullband", "16k-40", "44k-128", "16k-odd-fft"])
def test_filterbank_matches_librosa(sr, n_fft, n_mels, fmin, fmax):
    ours = mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                              htk=False, norm="slaney")
    assert ours.shape == ref.shape == (n_mels, n_fft // 2 + 1)
    assert ours.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-6)
    assert (ours.numpy() > 0).sum() == (ref > 0).sum()


def test_mel_scale_matches_librosa():
    f = np.array([0.0, 100.0, 999.0, 1000.0, 1001.0, 4000.0, 11025.0])
    np.testing.assert_allclose(hz_to_mel(f), librosa.hz_to_mel(f, htk=False), rtol=1e-12)
    m = librosa.hz_to_mel(f)
    np.testing.assert_allclose(mel_to_hz(m), librosa.mel_to_hz(m, htk=False), rtol=1e-12)


def _librosa_logmel(y, sr, n_fft, hop, win, n_mels, fmin, fmax):
    """HiFi-GAN's recipe built from librosa pieces."""
    p = (n_fft - hop) // 2
    X = librosa.stft(np.pad(y, (p, p), mode="reflect"), n_fft=n_fft, hop_length=hop,
                     win_length=win, window="hann", center=False)
    mag = np.sqrt(X.real ** 2 + X.imag ** 2 + 1e-9)
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return np.log(np.maximum(basis.astype(np.float64) @ mag, 1e-5))


@pytest.mark.parametrize("path, preset", [(LJ, "ljspeech_22k"), (SB16, None)], ids=["lj22k", "sb16k"])
def test_logmel_matches_librosa_on_speech(path, preset):
    y, sr = sf.read(str(path), dtype="float32")
    if preset:
        mel = MelSpectrogram.from_preset(preset)
        assert mel.sample_rate == sr
    else:
        mel = MelSpectrogram(sample_rate=sr, n_fft=512, hop_length=128, win_length=480,
                             n_mels=64, fmin=50.0, fmax=7000.0)
        y = y[: sr * 2]
    s = mel.settings()
    ref = _librosa_logmel(y.astype(np.float64), sr, s["n_fft"], s["hop_length"], s["win_length"],
                          s["n_mels"], s["fmin"], s["fmax"])
    out = mel(torch.from_numpy(y))
    assert out.shape == ref.shape == (s["n_mels"], mel.num_frames(len(y)))
    assert out.min() >= np.log(1e-5) - 1e-6
    # float64: the same algorithm, so agreement to rounding
    err64 = np.abs(mel(torch.from_numpy(y).double()).numpy() - ref).max()
    assert err64 < 1e-6, err64
    # float32: STFT rounding is ~1e-7 of the loudest bin, i.e. large *relative* error in bins
    # near the 1e-5 floor; in the log domain that error is relative, so bound it by level.
    err = np.abs(out.numpy() - ref)
    assert err[ref > np.log(1e-4)].max() < 2e-4, err[ref > np.log(1e-4)].max()
    assert err.max() < 2e-3, err.max()


def test_frame_count_formula():
    mel = MelSpectrogram()  # HiFi-GAN V1: n_fft 1024, hop 256
    for T in (1024, 1025, 22050, 256 * 40, 256 * 40 + 255):
        frames = mel(torch.randn(T)).shape[-1]
        assert frames == mel.num_frames(T) == 1 + (T + 2 * 384 - 1024) // 256 == T // 256
    centred = MelSpectrogram(center=True)
    assert centred(torch.randn(5000)).shape[-1] == 1 + 5000 // 256 == centred.num_frames(5000)


def test_batch_equals_per_item_and_buffers():
    mel = MelSpectrogram.from_preset("libritts_24k")
    assert mel.mel_basis.shape == (100, 513) and mel.state_dict() == {}
    assert {"window", "mel_basis"} <= dict(mel.named_buffers()).keys()
    x = torch.randn(3, 6000) * 0.1
    out = mel(x)
    assert out.shape == (3, 100, 6000 // 256)
    for i in range(3):
        torch.testing.assert_close(out[i], mel(x[i]))


def test_settings_and_presets():
    assert MelSpectrogram.from_preset("ljspeech_22k").settings() == dict(
        sample_rate=22050, n_fft=1024, hop_length=256, win_length=1024, n_mels=80,
        fmin=0.0, fmax=8000.0)
    lt = MelSpectrogram.from_preset("libritts_24k").settings()
    assert (lt["sample_rate"], lt["n_mels"], lt["fmax"], lt["n_fft"], lt["hop_length"]) == (
        24000, 100, 12000.0, 1024, 256)
    assert MelSpectrogram().settings() == MelSpectrogram.from_preset("ljspeech_22k").settings()
    assert MelSpectrogram(fmax=None).settings()["fmax"] == 11025.0
    assert set(PRESETS) == {"ljspeech_22k", "libritts_24k"}


def test_gradient_finite_at_silence():
    x = torch.zeros(1, 4096, requires_grad=True)
    MelSpectrogram()(x).sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("bad, match", [
    (lambda: mel_filterbank(22050, 1024, 80, 0, 12000), "Nyquist"),
    (lambda: mel_filterbank(22050, 1024, 80, 8000, 4000), "fmin < fmax"),
    (lambda: mel_filterbank(22050, 1024, 0), "n_mels"),
    (lambda: MelSpectrogram.from_preset("vctk"), "unknown preset"),
    (lambda: MelSpectrogram(win_length=2048), "win_length"),
    (lambda: MelSpectrogram()(torch.zeros(2, 1, 4096)), r"\[T\] or \[B, T\]"),
    (lambda: MelSpectrogram()(torch.zeros(100)), "too short"),
    (lambda: MelSpectrogram()(torch.zeros(4096, dtype=torch.int32)), "floating"),
], ids=["nyquist", "fmin>fmax", "nmels0", "preset", "win", "3d", "short", "int"])
def test_bad_input_raises_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    x = torch.randn(2, 8000) * 0.1
    mel = MelSpectrogram()
    ref = mel(x)
    out = mel.cuda()(x.cuda())
    torch.testing.assert_close(out.cpu(), ref, rtol=1e-4, atol=1e-4)
