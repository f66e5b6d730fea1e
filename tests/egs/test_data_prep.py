import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiokit.datadir import DataDir, read_table, validate_data_dir

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "../shared/data/speechbrain_samples"


def _load(rel, name):
    spec = importlib.util.spec_from_file_location(name, REPO / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


diy = _load("egs/diy/enh/local/data.py", "diy_enh_data")
vbd = _load("egs/voicebank_demand/enh/local/data.py", "vbd_enh_data")


def _snr(noisy_path, clean_path):
    x, _ = sf.read(noisy_path, dtype="float64")
    s, _ = sf.read(clean_path, dtype="float64")
    return 10 * np.log10(np.sum(s ** 2) / np.sum((x - s) ** 2))


# ---------------------------------------------------------------------------- DIY
@pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared sample data not available")
def test_diy_on_shared_samples(tmp_path):
    out = tmp_path / "data"
    # run as the recipe does, as a program
    r = subprocess.run([sys.executable, str(REPO / "egs/diy/enh/local/data.py"), "--clean", str(SAMPLES / "speech"),
                        "--noise", str(SAMPLES / "noise"), "--out", str(out), "--dev-fraction", "0.1",
                        "--test-fraction", "0.1", "--seed", "1"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "split by file" in r.stderr
    train = validate_data_dir(out / "train", required=("spk1.scp", "utt2spk", "utt2dur"))
    train_noise = validate_data_dir(out / "train_noise", check_audio=True)
    n_speech = len(list((SAMPLES / "speech").glob("*.wav")))
    sizes = {}
    for name in ("dev", "test"):
        d = validate_data_dir(out / name, required=("wav.scp", "spk1.scp", "utt2snr", "utt2noise"), check_audio=True)
        sizes[name] = len(d.utt_ids)
        assert not set(d.utt_ids) & set(train.utt_ids)
        # held-out noise: never in the training noise list
        assert not set(d.table("utt2noise").values()) & set(train_noise.utt_ids)
        for u in d.utt_ids:
            noisy, clean = d.audio("wav.scp")[u], d.audio("spk1.scp")[u]
            assert sf.info(noisy).samplerate == 16000
            assert abs(_snr(noisy, clean) - float(d.table("utt2snr")[u])) < 0.1
    assert sizes["dev"] == sizes["test"] == 2
    assert len(train.utt_ids) + sizes["dev"] + sizes["test"] == n_speech
    assert len(train_noise.utt_ids) == 10 - 2  # one noise file held out for dev, one for test
    # the 44.1 kHz ESC-50 noises are listed as they are; the dataset resamples them
    assert any("ESC50" in v for v in read_table(out / "train_noise" / "wav.scp").values())


def _tone(path, sr, seconds, channels=1, f=220.0):
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * f * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.stack([x] * channels, 1) if channels > 1 else x, sr)


def test_diy_splits_by_speaker_folders(tmp_path):
    clean, noise = tmp_path / "clean", tmp_path / "noise"
    for s in range(5):
        for k in range(2):
            _tone(clean / f"spk{s}" / f"utt {k}.flac", 22050, 0.5 + 0.1 * k, f=150 + 30 * s)
    _tone(clean / "spk4" / "stereo.wav", 16000, 0.4, channels=2)
    (clean / "spk0" / "broken.wav").write_bytes(b"not audio")
    rng = np.random.default_rng(0)
    for k in range(2):
        noise.mkdir(exist_ok=True)
        sf.write(noise / f"n{k}.ogg", 0.1 * rng.standard_normal(8000), 8000)
    with pytest.warns(UserWarning) as record:
        summary = diy.prepare(clean, noise, tmp_path / "data", dev_fraction=0.2, test_fraction=0.2, seed=0)
    messages = " ".join(str(w.message) for w in record)
    assert "broken.wav" in messages and "averaged to mono" in messages and "reuse the training noise" in messages
    assert summary["split_by"] == "speaker"
    spk = {name: set(read_table(tmp_path / "data" / name / "utt2spk").values()) for name in ("train", "dev", "test")}
    assert len(spk["dev"]) == len(spk["test"]) == 1 and len(spk["train"]) == 3
    assert not (spk["train"] & spk["dev"]) and not (spk["train"] & spk["test"])
    assert "spk0-utt_0" in read_table(tmp_path / "data" / ("train" if "spk0" in spk["train"] else
                                                          "dev" if "spk0" in spk["dev"] else "test") / "utt2spk")
    for name in ("dev", "test"):
        validate_data_dir(tmp_path / "data" / name, required=("wav.scp", "spk1.scp"), check_audio=True)


def test_diy_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(diy.DataPrepError, match="no audio files"):
        diy.prepare(tmp_path / "empty", tmp_path / "empty", tmp_path / "out")
    _tone(tmp_path / "one" / "a.wav", 16000, 0.2)
    with pytest.raises(diy.DataPrepError, match="not enough"):
        diy.prepare(tmp_path / "one", tmp_path / "one", tmp_path / "out")


# ---------------------------------------------------------------------------- VoiceBank+DEMAND
def _fake_vbd(root, with_text=True):
    utts = {"train": ["p226_001", "p226_002", "p250_001", "p250_002", "p287_001", "p254_010"],
            "test": ["p232_001", "p257_003"]}
    for which, names in utts.items():
        clean_dir, noisy_dir, txt_dir = vbd.LAYOUT[which]
        for i, u in enumerate(names):
            _tone(root / clean_dir / f"{u}.wav", 48000, 0.3 + 0.05 * i)
            _tone(root / noisy_dir / f"{u}.wav", 48000, 0.3 + 0.05 * i, f=300)
            if with_text:
                (root / txt_dir).mkdir(parents=True, exist_ok=True)
                (root / txt_dir / f"{u}.txt").write_text(f"Sentence  {u}.\n")
    return utts


def test_vbd_prepare_fake_tree(tmp_path):
    root = tmp_path / "VBD"
    utts = _fake_vbd(root)
    n = vbd.prepare(root, tmp_path / "data", jobs=1)
    assert n == {"train": 3, "dev": 3, "test": 2}
    data = tmp_path / "data"
    train = validate_data_dir(data / "train", required=("wav.scp", "spk1.scp", "text", "utt2spk"), check_audio=True)
    dev = validate_data_dir(data / "dev", required=("wav.scp", "spk1.scp", "text"), check_audio=True)
    test = validate_data_dir(data / "test", required=("wav.scp", "spk1.scp", "text"), check_audio=True)
    assert set(dev.table("utt2spk").values()) == {"p226", "p287"}
    assert set(train.table("utt2spk").values()) == {"p250", "p254"}
    assert set(test.utt_ids) == set(utts["test"])
    assert test.table("text")["p232_001"] == "Sentence p232_001."
    for d in (train, dev, test):
        for u, p in d.audio("wav.scp").items():
            meta = sf.info(p)
            assert meta.samplerate == 16000
            src = sf.info(root / vbd.LAYOUT["test" if d is test else "train"][1] / f"{u}.wav")
            assert abs(meta.frames - src.frames / 3) <= 1
            assert abs(float(d.table("utt2dur")[u]) - src.duration) < 1e-3
    # 48 -> 16 kHz keeps the 300 Hz tone: compare with an independent FFT peak
    x, _ = sf.read(test.audio("wav.scp")["p232_001"])
    assert abs(np.argmax(np.abs(np.fft.rfft(x))) * 16000 / x.size - 300) < 5
    # a second run reuses the converted files
    mtime = (data / "wav/test/noisy/p232_001.wav").stat().st_mtime_ns
    vbd.prepare(root, data, jobs=1)
    assert (data / "wav/test/noisy/p232_001.wav").stat().st_mtime_ns == mtime


def test_vbd_without_text_and_errors(tmp_path):
    root = tmp_path / "VBD"
    _fake_vbd(root, with_text=False)
    vbd.prepare(root, tmp_path / "data", jobs=1)
    assert not DataDir(tmp_path / "data" / "train").has("text")
    with pytest.raises(vbd.DataPrepError, match="p999"):
        vbd.prepare(root, tmp_path / "data2", dev_speakers=["p999"], jobs=1)
    (root / "noisy_testset_wav" / "p232_001.wav").unlink()
    with pytest.raises(vbd.DataPrepError, match="p232_001"):
        vbd.prepare(root, tmp_path / "data3", jobs=1)
    with pytest.raises(vbd.DataPrepError, match="missing"):
        vbd.prepare(tmp_path / "nowhere", tmp_path / "data4", jobs=1)
