"""audio.py against soundfile/librosa and its error paths."""

import os

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from audiokit.audio import AudioError, load, resample, save

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
SPEECH = os.path.join(SHARED, "pesq_reference", "speech.wav")


def test_load_matches_soundfile():
    wav, sr = load(SPEECH)
    ref, sr_ref = sf.read(SPEECH, dtype="float32")
    assert sr == sr_ref == 16000 and wav.dtype == torch.float32
    np.testing.assert_array_equal(wav.numpy(), ref)


@pytest.mark.parametrize("ext,subtype,tol", [(".wav", "PCM_16", 1 / 32768), (".flac", "PCM_24", 1e-6),
                                             (".wav", "FLOAT", 0.0)])
def test_save_roundtrip(tmp_path, ext, subtype, tol):
    x = torch.sin(torch.arange(8000) * 0.05) * 0.5
    p = save(tmp_path / f"a{ext}", x, 8000, subtype=subtype)
    y, sr = load(p)
    assert sr == 8000
    assert torch.max(torch.abs(x - y)) <= tol + 1e-9
    assert [f.name for f in tmp_path.iterdir()] == [f"a{ext}"]  # no temp file left behind


def test_resample_matches_librosa_band():
    wav, sr = load(SPEECH)
    y = resample(wav, sr, 8000)
    ref = librosa.resample(wav.numpy(), orig_sr=sr, target_sr=8000, res_type="soxr_hq")
    assert y.shape[-1] == ref.shape[-1]
    # different band-limited filters agree well in the passband energy
    err = np.linalg.norm(y.numpy() - ref) / np.linalg.norm(ref)
    assert err < 0.05
    wav2, sr2 = load(SPEECH, sr=8000)
    assert sr2 == 8000 and torch.allclose(wav2, y)


def test_multichannel(tmp_path):
    st = np.stack([np.ones(100) * 0.5, np.zeros(100)], 1).astype(np.float32)
    sf.write(tmp_path / "st.wav", st, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="2 channels, expected mono"):
        load(tmp_path / "st.wav")
    y, _ = load(tmp_path / "st.wav", downmix=True)
    assert torch.allclose(y, torch.full((100,), 0.25))
    y, _ = load(tmp_path / "st.wav", mono=False)
    assert y.shape == (2, 100)


def test_errors(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        load(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        load(tmp_path / "empty.wav")
    (tmp_path / "text.wav").write_text("not audio at all" * 10)
    with pytest.raises(AudioError, match="not a readable audio file"):
        load(tmp_path / "text.wav")
    sf.write(tmp_path / "nan.wav", np.array([0.0, np.nan, 0.1], np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN/Inf"):
        load(tmp_path / "nan.wav")
    sf.write(tmp_path / "zero.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="no samples"):
        load(tmp_path / "zero.wav")
    good = open(SPEECH, "rb").read()
    (tmp_path / "trunc.wav").write_bytes(good[:30])
    with pytest.raises(AudioError):
        load(tmp_path / "trunc.wav")
    with pytest.raises(AudioError, match="NaN/Inf"):
        save(tmp_path / "bad.wav", torch.tensor([0.0, float("inf")]), 16000)
    assert not (tmp_path / "bad.wav").exists()
    with pytest.raises(AudioError, match="sample rate"):
        save(tmp_path / "x.wav", torch.zeros(10), 0)
    with pytest.raises(AudioError, match="unsupported extension"):
        save(tmp_path / "x.mp3", torch.zeros(10), 16000)


def test_convert_resamples_and_resumes(tmp_path):
    from audiokit.audio import convert

    n = convert(SPEECH, tmp_path / "a.wav", 8000)
    y, sr = load(tmp_path / "a.wav")
    assert sr == 8000 and y.numel() == n == round(sf.info(SPEECH).frames / 2)
    mtime = (tmp_path / "a.wav").stat().st_mtime_ns
    assert convert(SPEECH, tmp_path / "a.wav", 8000) == n
    assert (tmp_path / "a.wav").stat().st_mtime_ns == mtime  # kept, not rewritten
    (tmp_path / "a.wav").write_bytes(b"broken leftover")
    assert convert(SPEECH, tmp_path / "a.wav", 8000) == n
