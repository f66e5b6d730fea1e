"""Vocoder segment dataset: peak normalisation, hop-aligned random crops, energy statistics."""

import librosa
import numpy as np
import pytest
import soundfile as sf

from audiokit.frontend.mel import MelSpectrogram
from audiokit.vocoder.data import VocoderDataset, collate, energy_stats

SR = 22050


@pytest.fixture
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for i, n in enumerate([SR, SR // 2, 3000]):
        x = (rng.standard_normal(n) * 0.1 * (i + 1)).astype(np.float32)
        sf.write(tmp_path / f"u{i}.wav", x, SR, subtype="FLOAT")
        lines.append(f"u{i} u{i}.wav")
    (tmp_path / "wav.scp").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_crop_is_a_peak_normalised_slice(corpus):
    ds = VocoderDataset(corpus, SR, segment=4096, hop_length=256, seed=3)
    full, _ = sf.read(corpus / "u0.wav", dtype="float32")
    ref = full / np.abs(full).max() * 0.95
    item = ds[0]
    seg = item["wav"].numpy()
    assert seg.shape == (4096,) and item["length"] == 4096
    starts = [s for s in range(len(ref) - 4096 + 1) if abs(ref[s] - seg[0]) < 1e-6]
    assert any(np.allclose(ref[s:s + 4096], seg, atol=1e-6) for s in starts)
    assert ds[0]["wav"].equal(item["wav"])                # same (seed, epoch, index)
    ds.set_epoch(1)
    assert not ds[0]["wav"].equal(item["wav"])            # a new epoch draws a new crop


def test_short_item_padded_and_eval_whole(corpus):
    ds = VocoderDataset(corpus, SR, segment=4096, hop_length=256)
    short = ds[2]
    assert short["length"] == 3000 and short["wav"].shape == (4096,) and short["wav"][3000:].abs().sum() == 0
    assert abs(float(short["wav"].abs().max()) - 0.95) < 1e-6
    whole = VocoderDataset(corpus, SR, segment=None, train=False)[1]
    assert whole["length"] == SR // 2 and whole["wav"].shape == (SR // 2,)
    b = collate([ds[0], ds[2]])
    assert b["wav"].shape == (2, 4096) and b["lengths"].tolist() == [4096, 3000]


def test_bad_segment_is_an_error(corpus):
    with pytest.raises(ValueError, match="multiple of hop_length"):
        VocoderDataset(corpus, SR, segment=4000, hop_length=256)


def test_energy_stats_against_librosa(corpus):
    ds = VocoderDataset(corpus, SR, segment=4096)
    mel = MelSpectrogram(SR, 1024, 256, 1024, 80, 0.0, 8000.0)
    lo, hi = energy_stats(ds, mel, progress=False)
    basis = librosa.filters.mel(sr=SR, n_fft=1024, n_mels=80, fmin=0.0, fmax=8000.0)  # Slaney
    es = []
    for i in range(3):
        x, _ = sf.read(corpus / f"u{i}.wav", dtype="float64")
        x = x / np.abs(x).max() * 0.95
        xp = np.pad(x, (1024 - 256) // 2, mode="reflect")
        mag = np.abs(librosa.stft(xp, n_fft=1024, hop_length=256, win_length=1024, center=False))
        es.append(np.sqrt(np.maximum(basis @ mag, 1e-5).sum(0)))
    e = np.concatenate(es)
    assert lo == pytest.approx(e.min(), rel=1e-3) and hi == pytest.approx(e.max(), rel=1e-3)
