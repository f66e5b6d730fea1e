import threading

import librosa
import numpy as np
import pytest

from audiokit.text.espeak import EspeakError, EspeakNG

TEXT = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def engine():
    return EspeakNG()


def _median_f0(wav, sr):
    f0 = librosa.yin(wav, fmin=60, fmax=500, sr=sr, frame_length=1024)
    voiced = librosa.feature.rms(y=wav, frame_length=1024, hop_length=256)[0][: f0.size] > 0.02
    return float(np.median(f0[voiced]))


def test_singleton_and_rate(engine):
    assert EspeakNG() is engine
    assert engine.sample_rate == 22050


def test_synthesize_speech(engine):
    wav, sr = engine.synthesize(TEXT)
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert sr == 22050
    assert 1.5 < wav.size / sr < 6.0
    assert 0.05 < np.abs(wav).max() <= 1.0
    # speech-like: most energy below 4 kHz
    spec = np.abs(np.fft.rfft(wav)) ** 2
    f = np.fft.rfftfreq(wav.size, 1 / sr)
    assert spec[f < 4000].sum() / spec.sum() > 0.8


def test_rate_and_pitch_parameters(engine):
    slow, sr = engine.synthesize(TEXT, rate=120)
    fast, _ = engine.synthesize(TEXT, rate=300)
    assert fast.size < 0.7 * slow.size
    low, _ = engine.synthesize(TEXT, voice="en-us", pitch=10, pitch_range=0)
    high, _ = engine.synthesize(TEXT, voice="en-us", pitch=90, pitch_range=0)
    assert _median_f0(high, sr) > 1.3 * _median_f0(low, sr)


def test_variants_are_distinct_speakers(engine):
    male, sr = engine.synthesize(TEXT, voice="en-us+m3", pitch_range=0)
    female, _ = engine.synthesize(TEXT, voice="en-us+f2", pitch_range=0)
    assert _median_f0(female, sr) > 1.4 * _median_f0(male, sr)
    gb, _ = engine.synthesize(TEXT, voice="en-gb")  # language code resolved to its voice file
    assert gb.size > 0


def test_list_voices(engine):
    english = engine.list_voices("en")
    assert any("en-us" in v["languages"] for v in english)
    assert all(any(lang.startswith("en") for lang in v["languages"]) for v in english)
    assert {"m3", "f2"} <= set(engine.variants)


def test_errors(engine):
    with pytest.raises(EspeakError, match="unknown eSpeak NG voice 'xx-nowhere'"):
        engine.synthesize(TEXT, voice="xx-nowhere")
    with pytest.raises(EspeakError, match="variant 'zz9'"):
        engine.synthesize(TEXT, voice="en+zz9")
    with pytest.raises(EspeakError, match="empty"):
        engine.synthesize("   ")
    with pytest.raises(EspeakError, match="rate"):
        engine.synthesize(TEXT, rate=5)
    # the engine still works after errors
    assert engine.synthesize("Still fine.")[0].size > 0


def test_library_load_failure(tmp_path):
    saved = EspeakNG._instance
    EspeakNG._instance = None
    try:
        with pytest.raises(EspeakError, match="cannot load libespeak-ng"):
            EspeakNG(library_path=str(tmp_path / "missing.so"), data_path=str(tmp_path))
        with pytest.raises(EspeakError, match="data directory not found"):
            EspeakNG(library_path="x.so", data_path=str(tmp_path / "nope"))
    finally:
        EspeakNG._instance = saved


def test_threads_serialise(engine):
    out, errors = [], []

    def work(i):
        try:
            out.append(engine.synthesize(f"Sentence number {i}.", voice="en-us+m1")[0].size)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(out) == 6 and min(out) > 0.5 * 22050
