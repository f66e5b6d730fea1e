import numpy as np
import pytest
import soundfile as sf
import torch

from audiokit.audio import AudioError
from audiokit.datadir import DataDir
from audiokit.enh.data import EnhDataset, collate

SR = 16000


@pytest.fixture
def paired(tmp_path):
    """Noisy = clean + 0.1 * ramp, so the crop offset is readable from noisy - clean."""
    rng = np.random.default_rng(0)
    wav, spk1, ramps = {}, {}, {}
    for i, n in enumerate([SR * 2, SR // 2, SR * 3]):
        u = f"u{i}"
        clean = (0.3 * rng.uniform(-1, 1, n)).astype(np.float32)
        ramp = (np.arange(n) / n).astype(np.float32)
        sf.write(tmp_path / f"{u}_c.wav", clean, SR, subtype="FLOAT")
        sf.write(tmp_path / f"{u}_n.wav", clean + 0.1 * ramp, SR, subtype="FLOAT")
        wav[u], spk1[u], ramps[u] = f"{u}_n.wav", f"{u}_c.wav", ramp
    DataDir.write(tmp_path, wav_scp=wav, spk1_scp=spk1)
    return tmp_path, ramps


def test_paired_crop_same_offset_and_padding(paired):
    d, ramps = paired
    ds = EnhDataset(d, SR, segment=1.0, seed=3)
    assert len(ds) == 3 and not ds.on_the_fly
    for i in range(3):
        it = ds[i]
        assert it["noisy"].shape == it["clean"].shape == (SR,)
        ramp = ramps[it["utt_id"]]
        n = it["length"]
        assert n == min(SR, ramp.size)
        diff = (it["noisy"] - it["clean"])[:n].numpy() / 0.1
        offset = int(np.argmin(np.abs(ramp - diff[0])))
        np.testing.assert_allclose(diff, ramp[offset:offset + n], atol=1e-5)
        assert torch.all(it["noisy"][n:] == 0) and torch.all(it["clean"][n:] == 0)


def test_determinism_and_epochs(paired):
    d, _ = paired
    a = EnhDataset(d, SR, segment=0.5, seed=1)
    b = EnhDataset(d, SR, segment=0.5, seed=1)
    assert torch.equal(a[2]["noisy"], b[2]["noisy"])
    a.set_epoch(1)
    assert not torch.equal(a[2]["noisy"], b[2]["noisy"])
    b.set_epoch(1)
    assert torch.equal(a[2]["noisy"], b[2]["noisy"])
    c = EnhDataset(d, SR, segment=0.5, seed=2)
    assert not torch.equal(c[2]["noisy"], b[0]["noisy"])


def test_eval_returns_whole_utterances(paired):
    d, ramps = paired
    ds = EnhDataset(d, SR, segment=0.5, train=False)
    for i in range(3):
        it = ds[i]
        assert it["length"] == it["clean"].numel() == ramps[it["utt_id"]].size


def test_resamples_on_load(tmp_path):
    x = np.sin(np.arange(8000) * 0.1).astype(np.float32) * 0.5
    sf.write(tmp_path / "c.wav", x, 8000, subtype="FLOAT")
    sf.write(tmp_path / "n.wav", x, 8000, subtype="FLOAT")
    DataDir.write(tmp_path, wav_scp={"a": "n.wav"}, spk1_scp={"a": "c.wav"})
    it = EnhDataset(tmp_path, SR, train=False)[0]
    assert it["length"] == 16000


def test_on_the_fly_mixing(tmp_path):
    rng = np.random.default_rng(0)
    clean_dir = tmp_path / "train"
    clean_dir.mkdir()
    for i in range(4):
        sf.write(clean_dir / f"c{i}.wav", (0.2 * rng.standard_normal(SR)).astype(np.float32), SR, subtype="FLOAT")
    # one long noise (read by span), one short (looped), one at 44.1 kHz (resampled)
    sf.write(tmp_path / "long.wav", (0.1 * rng.standard_normal(SR * 5)).astype(np.float32), SR, subtype="FLOAT")
    sf.write(tmp_path / "short.wav", (0.1 * rng.standard_normal(SR // 4)).astype(np.float32), SR, subtype="FLOAT")
    sf.write(tmp_path / "hi.wav", (0.1 * rng.standard_normal(44100 * 2)).astype(np.float32), 44100, subtype="FLOAT")
    DataDir.write(clean_dir, spk1_scp={f"c{i}": f"c{i}.wav" for i in range(4)})
    DataDir.write(tmp_path / "noise", wav_scp={"l": "../long.wav", "s": "../short.wav", "h": "../hi.wav"})
    ds = EnhDataset(clean_dir, SR, segment=0.75, noise=tmp_path / "noise", snr_range=(5, 5), seed=0)
    assert ds.on_the_fly
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            it = ds[i]
            c, n = it["clean"].double().numpy(), (it["noisy"] - it["clean"]).double().numpy()
            assert it["noisy"].numel() == int(0.75 * SR)
            assert abs(10 * np.log10((c ** 2).sum() / (n ** 2).sum()) - 5.0) < 0.01
    ds2 = EnhDataset(clean_dir, SR, segment=0.75, noise=tmp_path / "noise", snr_range=(-5, 15), seed=0)
    snrs = []
    for i in range(4):
        it = ds2[i]
        c, n = it["clean"].double().numpy(), (it["noisy"] - it["clean"]).double().numpy()
        snrs.append(10 * np.log10((c ** 2).sum() / (n ** 2).sum()))
        assert torch.equal(it["noisy"], ds2[i]["noisy"])  # deterministic
    assert all(-5.01 < s < 15.01 for s in snrs) and np.ptp(snrs) > 1


def test_collate_pads_to_longest(paired):
    d, _ = paired
    ds = EnhDataset(d, SR, train=False)
    batch = collate([ds[0], ds[1]])
    assert batch["noisy"].shape == batch["clean"].shape == (2, 2 * SR)
    assert batch["lengths"].tolist() == [2 * SR, SR // 2]
    assert batch["utt_id"] == ["u0", "u1"]
    assert torch.all(batch["noisy"][1, SR // 2:] == 0)
    loader = torch.utils.data.DataLoader(EnhDataset(d, SR, segment=0.25), batch_size=3, collate_fn=collate)
    assert next(iter(loader))["noisy"].shape == (3, 4000)


def test_bad_file_names_it(paired):
    d, _ = paired
    (d / "u1_n.wav").write_bytes(b"RIFF not really a wav")
    ds = EnhDataset(d, SR, segment=0.5)
    with pytest.raises(AudioError, match="u1_n.wav"):
        ds[1]


def test_bad_directories(tmp_path):
    sf.write(tmp_path / "c.wav", np.zeros(100, np.float32), SR)
    DataDir.write(tmp_path, spk1_scp={"a": "c.wav"})
    with pytest.raises(ValueError, match="wav.scp"):
        EnhDataset(tmp_path, SR)
    with pytest.raises(ValueError, match="segment"):
        EnhDataset(tmp_path, SR, segment=0, noise=tmp_path / "spk1.scp")
