"""TTS dataset: tokens from the front-end, log-mels against librosa, per-item problems, collate, stats."""
import contextlib

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from audiokit.audio import save
from audiokit.datadir import DataDir, DataDirError
from audiokit.frontend.mel import PRESETS
from audiokit.text import Phonemizer, SymbolTable
from audiokit.text.espeak import EspeakNG
from audiokit.tts.data import TTSDataError, TTSDataset, collate, mel_stats, symbol_table

FRONTEND = {"type": "espeak", "language": "en-us"}
MEL = PRESETS["ljspeech_22k"]
TEXTS = {"a1": "The cat sat on the mat.", "a2": "Call me at 9 p.m., Dr. Smith!", "a3": "Hello ☃ world."}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("tts_data")
    wavs = {}
    for utt, text in TEXTS.items():
        wav, sr = EspeakNG().synthesize(text, voice="en-us")
        assert sr == 22050
        wavs[utt] = save(d / "wav" / f"{utt}.wav", torch.from_numpy(wav) * 0.3, sr)
    DataDir.write(d / "ok", wav_scp=wavs, text=TEXTS)
    return d, wavs


def _librosa_logmel(wav):
    y = wav / np.abs(wav).max() * 0.95
    p = (MEL["n_fft"] - MEL["hop_length"]) // 2
    y = np.pad(y, (p, p), mode="reflect")
    S = librosa.stft(y, n_fft=MEL["n_fft"], hop_length=MEL["hop_length"], win_length=MEL["win_length"],
                     window="hann", center=False)
    mag = np.sqrt(np.abs(S) ** 2 + 1e-9)
    fb = librosa.filters.mel(sr=MEL["sample_rate"], n_fft=MEL["n_fft"], n_mels=MEL["n_mels"], fmin=MEL["fmin"],
                             fmax=MEL["fmax"], htk=False, norm="slaney")
    return np.log(np.maximum(fb @ mag, 1e-5))


def test_items_tokens_and_mels(corpus):
    d, wavs = corpus
    table = SymbolTable.standard_ipa()
    with pytest.warns(UserWarning, match="SNOWMAN"):  # dropped by the front-end, reported, item kept
        ds = TTSDataset(d / "ok", FRONTEND, table.to_dict(), MEL)
    assert len(ds) == 3 and not ds.problems
    ph = Phonemizer("en-us")
    for i, utt in enumerate(["a1", "a2", "a3"]):
        item = ds[i]
        assert item["utt"] == utt
        with pytest.warns(UserWarning) if utt == "a3" else contextlib.nullcontext():
            expected = table.encode(ph.tokens(TEXTS[utt]))
        assert item["tokens"].tolist() == expected
        wav, _ = sf.read(wavs[utt], dtype="float64")
        ref = _librosa_logmel(wav)
        assert item["mel"].shape == ref.shape
        np.testing.assert_allclose(item["mel"].numpy(), ref, atol=2e-3)


def test_problems_are_reported_per_utterance(corpus, tmp_path):
    d, wavs = corpus
    texts = {"a1": TEXTS["a1"], "a2": "☃ ☃", "a3": "word " * 200}
    DataDir.write(tmp_path / "bad", wav_scp=wavs, text=texts)
    table = SymbolTable.characters()  # the eSpeak IPA output has symbols this table lacks
    with pytest.raises(TTSDataError) as e:
        TTSDataset(tmp_path / "bad", FRONTEND, table, MEL)
    msg = str(e.value)
    assert "a2" in msg and "a3" in msg and "on_error='skip'" in msg
    ds = TTSDataset(tmp_path / "bad", {"type": "characters", "language": "en-us"}, table, MEL, on_error="skip")
    assert [it[0] for it in ds.items] == ["a1"]
    assert "nothing to say" in ds.problems["a2"] and "each token needs a frame" in ds.problems["a3"]
    with pytest.raises(TTSDataError, match="no usable utterances"):
        TTSDataset(tmp_path / "bad", {"type": "characters", "language": "en-us"}, table, MEL, on_error="skip",
                   max_seconds=0.5)


def test_missing_transcripts_and_text_table(corpus, tmp_path):
    d, wavs = corpus
    DataDir.write(tmp_path / "notext", wav_scp=wavs)
    with pytest.raises(DataDirError, match="no 'text' table"):
        TTSDataset(tmp_path / "notext", FRONTEND, SymbolTable.standard_ipa(), MEL)
    DataDir.write(tmp_path / "partial", wav_scp=wavs, text={"a1": "hello"})
    with pytest.raises(DataDirError, match="no transcript for 2"):
        TTSDataset(tmp_path / "partial", FRONTEND, SymbolTable.standard_ipa(), MEL)


def test_collate_and_mel_stats(corpus):
    d, _ = corpus
    with pytest.warns(UserWarning):
        ds = TTSDataset(d / "ok", FRONTEND, SymbolTable.standard_ipa(), MEL)
    items = [ds[i] for i in range(3)]
    b = collate(items)
    assert b["utt"] == ["a1", "a2", "a3"]
    for i, it in enumerate(items):
        n, f = len(it["tokens"]), it["mel"].shape[1]
        assert b["token_lengths"][i] == n and b["mel_lengths"][i] == f
        assert torch.equal(b["tokens"][i, :n], it["tokens"]) and b["tokens"][i, n:].sum() == 0
        assert torch.equal(b["mel"][i, :, :f], it["mel"]) and b["mel"][i, :, f:].abs().sum() == 0
    allv = np.concatenate([it["mel"].numpy().ravel() for it in items]).astype(np.float64)
    mean, std = mel_stats(ds, None)
    assert mean == pytest.approx(allv.mean(), rel=1e-9) and std == pytest.approx(allv.std(), rel=1e-9)


def test_symbol_tables():
    assert len(symbol_table("ipa")) == len(SymbolTable.standard_ipa())
    t = symbol_table("corpus", FRONTEND, ["hello world", "the cat"])
    ph = Phonemizer("en-us")
    assert set(ph.tokens("hello world")) | set(ph.tokens("the cat")) <= set(t.symbols)
    assert len(t) < 50
    with pytest.raises(ValueError, match="symbols"):
        symbol_table("bytes")
