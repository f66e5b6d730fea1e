"""VB-DemandEx, DNS 2020 and EARS-WHAM v2 data preparation on small fake trees in each layout."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiokit.datadir import DataDir, validate_data_dir

from ._recipes import copy_recipe, run

REPO = Path(__file__).resolve().parents[2]


def _load(rel, name):
    spec = importlib.util.spec_from_file_location(name, REPO / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


vbx = _load("egs/vb_demandex/enh/local/data.py", "vbx_enh_data")
dns = _load("egs/dns2020/enh/local/data.py", "dns2020_enh_data")
ears = _load("egs/ears_wham/enh/local/data.py", "ears_wham_enh_data")


def _tone(path, sr, seconds, f=220.0, noise=0.0, seed=0):
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * f * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    x = x + noise * np.random.default_rng(seed).standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, sr)


def _snr(noisy_path, clean_path):
    x, _ = sf.read(noisy_path, dtype="float64")
    s, _ = sf.read(clean_path, dtype="float64")
    return 10 * np.log10(np.sum(s ** 2) / np.sum((x - s) ** 2))


# ---------------------------------------------------------------------------- VB-DemandEx
def _fake_vbx(root):
    spk = {"train": ["p226", "p250", "p254", "p287"], "test": ["p232", "p257"]}
    for which, speakers in spk.items():
        for s_i, s in enumerate(speakers):
            for k in range(4):
                u = f"{s}_{k + 1:03d}"
                _tone(root / vbx.CLEAN[which] / f"{u}.wav", 48000, 0.25 + 0.02 * k, f=150 + 40 * s_i)
                (root / vbx.TEXT[which]).mkdir(parents=True, exist_ok=True)
                (root / vbx.TEXT[which] / f"{u}.txt").write_text(f"Say {u}.\n")
    for e_i, env in enumerate(("DKITCHEN", "TBUS")):
        rng = np.random.default_rng(e_i)
        (root / "DEMAND" / env).mkdir(parents=True)
        sf.write(root / "DEMAND" / env / "ch01.wav", 0.05 * rng.standard_normal(16000 * 3), 16000)


def test_vb_demandex_fake_tree(tmp_path):
    root = tmp_path / "corpus"
    _fake_vbx(root)
    n = vbx.prepare(root, root / "DEMAND", tmp_path / "data", seed=3)
    assert n["noise_types"] == ["DKITCHEN", "TBUS", "babble", "ssn"]
    assert (n["train"], n["dev"], n["test"]) == (8, 8, 8)
    data = tmp_path / "data"
    dirs = {s: validate_data_dir(data / s, required=("wav.scp", "spk1.scp", "utt2snr", "utt2noise", "text"),
                                 check_audio=True) for s in ("train", "dev", "test")}
    # validation speakers come from the training speakers, never from the test set
    assert set(dirs["dev"].table("utt2spk").values()) == {"p226", "p287"}
    assert set(dirs["train"].table("utt2spk").values()) == {"p250", "p254"}
    assert set(dirs["test"].table("utt2spk").values()) == {"p232", "p257"}
    for d in dirs.values():
        snrs = d.table("utt2snr")
        # balanced: 8 utterances over 4 noise types -> each type exactly twice
        counts = np.unique(list(d.table("utt2noise").values()), return_counts=True)[1]
        assert counts.tolist() == [2, 2, 2, 2]
        for u in d.utt_ids:
            assert float(snrs[u]) in vbx.DEFAULT_SNRS
            noisy, clean = d.audio("wav.scp")[u], d.audio("spk1.scp")[u]
            assert sf.info(noisy).samplerate == 16000
            # 16-bit files: SNR measured from the files within 0.1 dB of the target
            assert abs(_snr(noisy, clean) - float(snrs[u])) < 0.1
    # deterministic: a fresh build with the same seed writes the same audio and conditions
    vbx.prepare(root, root / "DEMAND", tmp_path / "again", seed=3)
    for s in ("test",):
        a, b = DataDir(data / s), DataDir(tmp_path / "again" / s)
        assert a.table("utt2noise") == b.table("utt2noise") and a.table("utt2snr") == b.table("utt2snr")
        for u in a.utt_ids:
            assert np.array_equal(sf.read(a.audio("wav.scp")[u])[0], sf.read(b.audio("wav.scp")[u])[0])


def test_vb_demandex_noise_parts_are_disjoint(tmp_path):
    root = tmp_path / "DEMAND"
    (root / "OOFFICE").mkdir(parents=True)
    x = np.arange(16000 * 2) / (16000 * 2) - 0.5  # a ramp: each sample value says where it came from
    sf.write(root / "OOFFICE" / "ch01.wav", x, 16000, subtype="FLOAT")
    parts = vbx._demand_parts(root, (0.7, 0.1, 0.2), 16000)["OOFFICE"]
    assert [p.size for p in parts.values()] == [22400, 3200, 6400]
    assert parts["train"].max() < parts["dev"].min() and parts["dev"].max() < parts["test"].min()


def test_vb_demandex_errors(tmp_path):
    root = tmp_path / "corpus"
    _fake_vbx(root)
    with pytest.raises(vbx.DataPrepError, match="p999"):
        vbx.prepare(root, root / "DEMAND", tmp_path / "o", dev_speakers=["p999"])
    with pytest.raises(vbx.DataPrepError, match="ch01.wav"):
        vbx.prepare(root, tmp_path / "nowhere", tmp_path / "o")
    with pytest.raises(vbx.DataPrepError, match="missing"):
        vbx.prepare(tmp_path / "nowhere", root / "DEMAND", tmp_path / "o")


def test_vb_demandex_stage0(tmp_path):
    corpus = tmp_path / "corpus"
    _fake_vbx(corpus)
    d = copy_recipe(tmp_path, "vb_demandex")
    r = run(d, "--stage", "0", "--stop_stage", "0", "--corpus", str(corpus))
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(DataDir(d / "data" / "dev").audio("wav.scp")) == 8


# ---------------------------------------------------------------------------- DNS 2020
def _fake_dns(root):
    base = root / "DNS-Challenge" / dns.SUBDIR
    for n, snr in ((0, 5), (7, 15), (12, 0)):
        _tone(base / "clean" / f"clean_fileid_{n}.wav", 16000, 0.5, seed=n)
        _tone(base / "noisy" / f"clnsp{n}_train_69005_1_snr{snr}_tl-21_fileid_{n}.wav", 16000, 0.5,
              noise=0.05, seed=n)
    return base


def test_dns2020_fake_tree(tmp_path):
    base = _fake_dns(tmp_path / "corpus")
    assert dns.prepare(tmp_path / "corpus", tmp_path / "data") == 3
    d = validate_data_dir(tmp_path / "data" / "test", required=("wav.scp", "spk1.scp", "utt2snr"), check_audio=True)
    assert d.utt_ids == ["fileid_0000", "fileid_0007", "fileid_0012"]
    assert d.audio("spk1.scp")["fileid_0007"].name == "clean_fileid_7.wav"
    assert d.audio("wav.scp")["fileid_0007"].name.endswith("_fileid_7.wav")
    assert d.table("utt2snr")["fileid_0012"] == "0"
    (base / "noisy" / "clnsp7_train_69005_1_snr15_tl-21_fileid_7.wav").unlink()
    with pytest.raises(dns.DataPrepError, match=r"only clean: \[7\]"):
        dns.prepare(tmp_path / "corpus", tmp_path / "data2")
    with pytest.raises(dns.DataPrepError, match="no clean/ and noisy/"):
        dns.prepare(tmp_path / "nowhere", tmp_path / "data3")


def test_dns2020_stage0_and_model_dir_rule(tmp_path):
    _fake_dns(tmp_path / "corpus")
    d = copy_recipe(tmp_path, "dns2020")
    r = run(d, "--stage", "0", "--stop_stage", "0", "--corpus", str(tmp_path / "corpus"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(DataDir(d / "data" / "test").audio("wav.scp")) == 3
    r = run(d, "--stage", "2", "--corpus", str(tmp_path / "corpus"))
    assert r.returncode == 2 and "--model_dir" in r.stderr


# ---------------------------------------------------------------------------- EARS-WHAM v2
def _fake_ears(root):
    base = root / "EARS-WHAM"
    for spk, ids in (("p102", (1, 2)), ("p105", (17,))):
        for i in ids:
            _tone(base / "test" / "clean" / spk / f"{i:05d}.wav", 48000, 0.3, f=300, seed=i)
            _tone(base / "test" / "noisy" / spk / f"{i:05d}_{i - 3.5:.1f}dB.wav", 48000, 0.3, f=300,
                  noise=0.05, seed=i)
    return base


def test_ears_wham_fake_tree(tmp_path):
    base = _fake_ears(tmp_path / "corpus")
    assert ears.prepare(tmp_path / "corpus", tmp_path / "data", jobs=1) == 3
    d = validate_data_dir(tmp_path / "data" / "test", required=("wav.scp", "spk1.scp", "utt2snr"), check_audio=True)
    assert d.utt_ids == ["p102_00001", "p102_00002", "p105_00017"]
    assert d.table("utt2snr")["p105_00017"] == "13.5"
    assert d.table("utt2spk")["p105_00017"] == "p105"
    x, sr = sf.read(d.audio("spk1.scp")["p102_00001"])
    assert sr == 16000 and abs(x.size - 0.3 * 16000) <= 1
    # 48 -> 16 kHz keeps the 300 Hz tone (independent FFT peak)
    assert abs(np.argmax(np.abs(np.fft.rfft(x))) * 16000 / x.size - 300) < 5
    (base / "test" / "noisy" / "p102" / "00002_-1.5dB.wav").rename(base / "test" / "noisy" / "p102" / "00002.wav")
    with pytest.raises(ears.DataPrepError, match="00002.wav"):
        ears.prepare(tmp_path / "corpus", tmp_path / "data2")


def test_ears_wham_stage0(tmp_path):
    _fake_ears(tmp_path / "corpus")
    d = copy_recipe(tmp_path, "ears_wham")
    r = run(d, "--stage", "0", "--stop_stage", "1", "--corpus", str(tmp_path / "corpus"),
            "--model_dir", str(tmp_path / "some_model"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "stage 1: skipped" in r.stdout
    assert len(DataDir(d / "data" / "test").audio("spk1.scp")) == 3
