import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from audiokit.datadir import DataDir, read_table, validate_data_dir

REPO = Path(__file__).resolve().parents[2]


def _load_tool():
    spec = importlib.util.spec_from_file_location("make_mini_corpus", REPO / "tools" / "make_mini_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


mmc = _load_tool()
COUNTS = dict(n_train=12, n_dev=3, n_test=3)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    a = tmp_path_factory.mktemp("corpus_a")
    b = tmp_path_factory.mktemp("corpus_b")
    mmc.generate(a, seed=5, jobs=2, progress=False, **COUNTS)
    mmc.generate(b, seed=5, jobs=2, progress=False, **COUNTS)
    return a, b


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_bytes(corpora):
    a, b = corpora
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys()
    assert [k for k in fa if fa[k] != fb[k]] == []


def test_layout_split_by_speaker_and_valid(corpora):
    a, _ = corpora
    speakers = {}
    for split, n in (("train", 12), ("dev", 3), ("test", 3)):
        d = validate_data_dir(a / split, required=("wav.scp", "spk1.scp", "utt2spk", "text", "utt2dur"),
                              check_audio=True)
        assert len(d.utt_ids) == n
        speakers[split] = set(d.table("utt2spk").values())
        assert all(v.startswith("../wav/") for v in d.table("wav.scp").values())
        for u, p in d.audio("wav.scp").items():
            meta = sf.info(p)
            assert meta.samplerate == 16000 and meta.channels == 1
            assert 1.4 < meta.duration < 4.1
            assert abs(meta.duration - float(d.table("utt2dur")[u])) < 1e-3
    assert len(speakers["train"]) == 6
    assert not (speakers["train"] & speakers["dev"]) and not (speakers["train"] & speakers["test"])
    assert not (speakers["dev"] & speakers["test"])
    noise = validate_data_dir(a / "noise", check_audio=True)
    assert set(noise.utt_ids) == set(DataDir(a / "train").utt_ids)


def test_mixture_snr_matches_record(corpora):
    a, _ = corpora
    for split in ("train", "dev", "test"):
        d = DataDir(a / split)
        noisy, clean, snr = d.audio("wav.scp"), d.audio("spk1.scp"), d.table("utt2snr")
        for u in d.utt_ids:
            x, _ = sf.read(noisy[u], dtype="float64")
            s, _ = sf.read(clean[u], dtype="float64")
            measured = 10 * np.log10(np.sum(s ** 2) / np.sum((x - s) ** 2))
            assert abs(measured - float(snr[u])) < 0.1, (u, measured, snr[u])
            assert -5 <= float(snr[u]) <= 15
            assert np.abs(x).max() < 1.0
        assert set(d.table("utt2noise").values()) <= set(mmc.NOISE_TYPES)


def test_texts_come_from_sentence_list(corpora):
    a, _ = corpora
    sentences = set(mmc.SENTENCES.read_text().splitlines())
    for split in ("train", "test"):
        for text in read_table(a / split / "text").values():
            # an utterance is one or more whole sentences
            assert any(text.startswith(s) for s in sentences)


def _slope_db_per_octave(x, sr):
    f, p = scipy.signal.welch(x, sr, nperseg=4096)
    band = (f > 100) & (f < 4000)
    return np.polyfit(np.log2(f[band]), 10 * np.log10(p[band]), 1)[0]


@pytest.mark.parametrize("kind,slope", [("white", 0.0), ("pink", -3.01), ("brown", -6.02)])
def test_coloured_noise_spectra(kind, slope):
    x = mmc.make_noise(kind, 16000 * 8, 16000, np.random.default_rng(0), [], [])
    assert abs(np.sqrt(np.mean(x.astype(np.float64) ** 2)) - 1) < 1e-3
    assert abs(_slope_db_per_octave(x, 16000) - slope) < 0.5


def test_hum_has_mains_harmonics():
    x = mmc.make_noise("hum", 16000 * 4, 16000, np.random.default_rng(1), [], [])
    f, p = scipy.signal.welch(x, 16000, nperseg=16000)
    peak = f[np.argmax(p)]
    base = 50.0 if min(abs(peak % 50), 50 - peak % 50) < 1 else 60.0
    assert min(abs(peak % base), base - peak % base) < 1.5


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="min_dur"):
        mmc.generate(tmp_path, min_dur=3, max_dur=2, progress=False)
    with pytest.raises(ValueError, match="n-dev"):
        mmc.generate(tmp_path, n_dev=-1, progress=False)
