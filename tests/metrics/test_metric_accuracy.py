"""PESQ, STOI, SI-SDR and SDR against their independent references."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiokit.metrics import DEFAULT_METRICS, METRICS, MetricError, parse_metrics
from audiokit.metrics.pesq import pesq_nb, pesq_wb
from audiokit.metrics.score import score_pair
from audiokit.metrics.sdr import sdr, si_sdr
from audiokit.metrics.stoi import estoi, stoi

DATA = Path(__file__).resolve().parents[2] / "../shared/data"
PESQ_REF = DATA / "pesq_reference"
SPEECH = DATA / "speechbrain_samples/speech"


def _read(path):
    x, sr = sf.read(str(path), dtype="float64")
    return x, sr


@pytest.fixture(scope="module")
def pesq_pair():
    ref, sr = _read(PESQ_REF / "speech.wav")
    deg, sr2 = _read(PESQ_REF / "speech_bab_0dB.wav")
    assert sr == sr2 == 16000
    return ref, deg, sr


@pytest.fixture(scope="module")
def speech_pairs():
    """Real speech with real babble, and real speech filtered + noisy (SDR's 512-tap case)."""
    rng = np.random.default_rng(1)
    ref, deg, _ = _read(PESQ_REF / "speech.wav")[0], _read(PESQ_REF / "speech_bab_0dB.wav")[0], None
    x, _ = _read(SPEECH / "single-mic_example1.wav")
    filtered = np.convolve(x, [0.6, 0.3, -0.1, 0.05])[: x.size] + 0.02 * rng.standard_normal(x.size)
    return [(ref, deg), (x, filtered)]


def test_pesq_matches_the_pesq_projects_own_values(pesq_pair):
    ref, deg, sr = pesq_pair
    assert pesq_wb(ref, deg, sr) == pytest.approx(1.0832337141036987, abs=1e-4)
    assert pesq_nb(ref, deg, sr) == pytest.approx(1.6072081327438354, abs=1e-4)


def test_pesq_through_score_pair_with_float32_tensors(pesq_pair):
    ref, deg, sr = pesq_pair
    out = score_pair(torch.from_numpy(ref).float(), torch.from_numpy(deg).float(), sr, ["pesq_wb", "pesq_nb"])
    assert out["pesq_wb"] == pytest.approx(1.0832337141036987, abs=1e-4)
    assert out["pesq_nb"] == pytest.approx(1.6072081327438354, abs=1e-4)


def test_pesq_at_a_higher_rate_is_scored_at_16k(pesq_pair):
    from audiokit.audio import resample

    ref, deg, sr = pesq_pair
    up = [resample(torch.from_numpy(s), sr, 48000).numpy() for s in (ref, deg)]
    # Resampled 16k -> 48k -> 16k: the score moves only by the resampler's ripple.
    assert score_pair(*up, 48000, ["pesq_wb"])["pesq_wb"] == pytest.approx(1.0832, abs=0.02)
    assert METRICS["pesq_nb"].rate_for(48000) == 16000
    assert METRICS["pesq_nb"].rate_for(8000) == 8000
    with pytest.raises(MetricError, match="refusing to upsample"):
        METRICS["pesq_wb"].rate_for(8000)


def test_stoi_and_estoi_equal_pystoi(speech_pairs):
    from pystoi import stoi as ref_stoi

    for ref, est in speech_pairs:
        assert stoi(ref, est, 16000) == pytest.approx(ref_stoi(ref, est, 16000), abs=1e-12)
        assert estoi(ref, est, 16000) == pytest.approx(ref_stoi(ref, est, 16000, extended=True), abs=1e-12)


def _si_sdr_direct(s, s_hat):
    s = s - s.mean()
    s_hat = s_hat - s_hat.mean()
    target = (s_hat @ s) / (s @ s) * s
    return 10 * np.log10(np.sum(target**2) / np.sum((s_hat - target) ** 2))


def test_si_sdr_matches_the_direct_formula(speech_pairs):
    for ref, est in speech_pairs:
        assert si_sdr(ref, est) == pytest.approx(_si_sdr_direct(ref, est), abs=1e-3)
    ref, est = speech_pairs[1]
    # Invariant to the estimate's scale, not to added noise.
    assert si_sdr(ref, 3.0 * est) == pytest.approx(si_sdr(ref, est), abs=1e-9)


def test_sdr_matches_mir_eval_bss_eval_sources(speech_pairs):
    import mir_eval
    import warnings

    for ref, est in speech_pairs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            expected = mir_eval.separation.bss_eval_sources(ref[None], est[None])[0][0]
        assert sdr(ref, est) == pytest.approx(expected, abs=1e-3)


def test_bad_signals_give_clear_reasons(pesq_pair):
    ref, deg, sr = pesq_pair
    with pytest.raises(MetricError, match="estimate is all zeros"):
        pesq_wb(ref, np.zeros_like(ref), sr)
    with pytest.raises(MetricError, match="No utterances detected"):
        pesq_wb(np.zeros_like(ref), deg, sr)
    bad = deg.copy()
    bad[100] = np.nan
    with pytest.raises(MetricError, match="NaN"):
        si_sdr(ref, bad)
    with pytest.raises(MetricError, match="mono"):
        sdr(np.stack([ref, ref]), deg)
    with pytest.raises(MetricError, match="not finite"):
        si_sdr(ref, ref)  # a perfect estimate has an infinite SI-SDR
    with pytest.raises(MetricError, match="pesq_wb"):
        score_pair(ref, np.zeros_like(ref), sr, "pesq_wb,si_sdr")
    out = score_pair(ref, np.zeros_like(ref), sr, "pesq_wb,stoi", errors="nan")
    assert np.isnan(out["pesq_wb"]) and 0.0 <= out["stoi"] <= 0.1


def test_metric_names_are_checked():
    assert parse_metrics("pesq_wb, stoi,pesq_wb") == ["pesq_wb", "stoi"]
    assert parse_metrics(None) == list(DEFAULT_METRICS)
    assert set(DEFAULT_METRICS) < set(METRICS)  # vocoder metrics only on request
    with pytest.raises(ValueError, match="unknown metric 'pesq'.*pesq_wb"):
        parse_metrics("pesq")
